//! The FHIR service as a process: configuration from the environment in, a FHIR API over the resources it keeps in sync from Kafka out, until SIGTERM or ctrl-c.
//!
//! ```text
//! CAREBUS_KAFKA_BOOTSTRAP=127.0.0.1:19092 \
//! CAREBUS_DATABASE_URL=postgres://carebus:carebus@127.0.0.1:15432/carebus_test \
//! CAREBUS_FHIR_LISTEN=127.0.0.1:8082 cargo run -p carebus-examples --bin fhir-service
//! ```
//! See docs/services/fhir-service.md for every setting.

use carebus_examples::fhir::{FhirConfig, FhirService};
use carebus_examples::process::{self, ProcessError};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    process::main(run()).await
}

async fn run() -> Result<(), ProcessError> {
    let config = FhirConfig::from_env()?;
    let transport = process::kafka_transport()?;
    let service = FhirService::start_from_env(config, transport).await?;
    eprintln!(
        "fhir-service: FHIR API on http://{}, /metrics on {}",
        service.api_addr(),
        process::metrics_url(service.endpoint())
    );
    let report = service.run_until_signalled().await?;
    eprintln!("fhir-service stopped: {report:?}");
    Ok(())
}
