//! The PRM service as a process: configuration from the environment in, an HTTP API for patients and appointments whose events reach Kafka through the transactional outbox out, until SIGTERM or ctrl-c.
//!
//! ```text
//! CAREBUS_KAFKA_BOOTSTRAP=127.0.0.1:19092 \
//! CAREBUS_DATABASE_URL=postgres://carebus:carebus@127.0.0.1:15432/carebus_test \
//! CAREBUS_PRM_LISTEN=127.0.0.1:8081 cargo run -p carebus-examples --bin prm-service
//! ```
//! See docs/services/prm-service.md for every setting.

use carebus_examples::prm_service::{PrmConfig, PrmService};
use carebus_examples::process::{self, ProcessError};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    process::main(run()).await
}

async fn run() -> Result<(), ProcessError> {
    let config = PrmConfig::from_env()?;
    let transport = process::kafka_transport()?;
    let service = PrmService::start_from_env(config, transport).await?;
    eprintln!(
        "prm-service: HTTP API on http://{}, /metrics on {}",
        service.api_addr(),
        process::metrics_url(service.endpoint())
    );
    let report = service.run_until_signalled().await?;
    eprintln!("prm-service stopped: {report:?}");
    Ok(())
}
