//! The AI service as a process: configuration from the environment in, NEWS2 and HbA1c-trend answers to analysis requests on Kafka out, until SIGTERM or ctrl-c.
//!
//! ```text
//! CAREBUS_KAFKA_BOOTSTRAP=127.0.0.1:19092 \
//! CAREBUS_DATABASE_URL=postgres://carebus:carebus@127.0.0.1:15432/carebus_test \
//! cargo run -p carebus-examples --bin ai-service
//! ```
//! See docs/services/ai-service.md for every setting.

use carebus::Settings;
use carebus::kafka::{KafkaConfig, KafkaTransport};
use carebus_examples::ai::{AiConfig, AiService};
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
    let config = AiConfig::from_env()?;
    let kafka = KafkaConfig::new("127.0.0.1:19092").load()?;
    let transport = KafkaTransport::new(kafka)?;
    let service = AiService::start_from_env(config, transport).await?;
    eprintln!(
        "ai-service: answering analysis requests; /metrics on {}",
        service
            .endpoint()
            .map_or_else(|| "(off)".to_string(), |a| format!("http://{a}"))
    );
    let report = service.run_until_signalled().await?;
    eprintln!("ai-service stopped: {report:?}");
    Ok(())
}
