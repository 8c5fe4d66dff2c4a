//! The FHIR service as a process: configuration from the environment in, a FHIR API over the resources it keeps in sync from Kafka out, until SIGTERM or ctrl-c.
//!
//! ```text
//! CAREBUS_KAFKA_BOOTSTRAP=127.0.0.1:19092 \
//! CAREBUS_DATABASE_URL=postgres://carebus:carebus@127.0.0.1:15432/carebus_test \
//! CAREBUS_FHIR_LISTEN=127.0.0.1:8082 cargo run -p carebus-examples --bin fhir-service
//! ```
//! See docs/services/fhir-service.md for every setting.

use carebus::Settings;
use carebus::kafka::{KafkaConfig, KafkaTransport};
use carebus_examples::fhir::{FhirConfig, FhirService};
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
    let config = FhirConfig::from_env()?;
    let kafka = KafkaConfig::new("127.0.0.1:19092").load()?;
    let transport = KafkaTransport::new(kafka)?;
    let service = FhirService::start_from_env(config, transport).await?;
    eprintln!(
        "fhir-service: FHIR API on http://{}, /metrics on {}",
        service.api_addr(),
        service
            .endpoint()
            .map_or_else(|| "(off)".to_string(), |a| format!("http://{a}"))
    );
    let report = service.run_until_signalled().await?;
    eprintln!("fhir-service stopped: {report:?}");
    Ok(())
}
