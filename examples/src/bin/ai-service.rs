//! The AI service as a process: configuration from the environment in, NEWS2 and HbA1c-trend answers to analysis requests on Kafka out, until SIGTERM or ctrl-c.
//!
//! ```text
//! CAREBUS_KAFKA_BOOTSTRAP=127.0.0.1:19092 \
//! CAREBUS_DATABASE_URL=postgres://carebus:carebus@127.0.0.1:15432/carebus_test \
//! cargo run -p carebus-examples --bin ai-service
//! ```
//! See docs/services/ai-service.md for every setting.

use carebus_examples::ai::{AiConfig, AiService};
use carebus_examples::process::{self, ProcessError};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    process::main(run()).await
}

async fn run() -> Result<(), ProcessError> {
    let config = AiConfig::from_env()?;
    let transport = process::kafka_transport()?;
    let service = AiService::start_from_env(config, transport).await?;
    eprintln!(
        "ai-service: answering analysis requests; /metrics on {}",
        process::metrics_url(service.endpoint())
    );
    let report = service.run_until_signalled().await?;
    eprintln!("ai-service stopped: {report:?}");
    Ok(())
}
