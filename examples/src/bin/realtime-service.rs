//! The real-time service as a process: configuration from the environment in, WebSocket and SSE notification streams fed from Kafka out, until SIGTERM or ctrl-c.
//!
//! ```text
//! CAREBUS_KAFKA_BOOTSTRAP=127.0.0.1:19092 \
//! CAREBUS_REALTIME_TOKEN_KEY=$(openssl rand -hex 32) \
//! CAREBUS_REALTIME_LISTEN=127.0.0.1:8084 cargo run -p carebus-examples --bin realtime-service
//! ```
//! See docs/services/realtime-service.md for every setting.

use carebus::Settings;
use carebus::kafka::{KafkaConfig, KafkaTransport};
use carebus_examples::realtime::{RealtimeConfig, RealtimeService};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let config = RealtimeConfig::from_env()?;
    let kafka = KafkaConfig::new("127.0.0.1:19092").load()?;
    let transport = KafkaTransport::new(kafka)?;
    let service = RealtimeService::start_from_env(config, transport).await?;
    eprintln!(
        "realtime-service: WebSocket on ws://{0}/ws, SSE on http://{0}/events, /metrics on {1}",
        service.api_addr(),
        service
            .endpoint()
            .map_or_else(|| "(off)".to_string(), |a| format!("http://{a}"))
    );
    let report = service.run_until_signalled().await?;
    eprintln!("realtime-service stopped: {report:?}");
    Ok(())
}
