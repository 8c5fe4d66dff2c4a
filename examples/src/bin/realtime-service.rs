//! The real-time service as a process: configuration from the environment in, WebSocket and SSE notification streams fed from Kafka out, until SIGTERM or ctrl-c.
//!
//! ```text
//! CAREBUS_KAFKA_BOOTSTRAP=127.0.0.1:19092 \
//! CAREBUS_REALTIME_TOKEN_KEY=$(openssl rand -hex 32) \
//! CAREBUS_REALTIME_LISTEN=127.0.0.1:8084 cargo run -p carebus-examples --bin realtime-service
//! ```
//! See docs/services/realtime-service.md for every setting.

use carebus_examples::process::{self, ProcessError};
use carebus_examples::realtime::{RealtimeConfig, RealtimeService};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    process::main(run()).await
}

async fn run() -> Result<(), ProcessError> {
    let config = RealtimeConfig::from_env()?;
    let transport = process::kafka_transport()?;
    let service = RealtimeService::start_from_env(config, transport).await?;
    eprintln!(
        "realtime-service: WebSocket on ws://{0}/ws, SSE on http://{0}/events, /metrics on {1}",
        service.api_addr(),
        process::metrics_url(service.endpoint())
    );
    let report = service.run_until_signalled().await?;
    eprintln!("realtime-service stopped: {report:?}");
    Ok(())
}
