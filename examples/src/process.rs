//! What every service binary does around its service, in one place: tracing from `RUST_LOG` (default `info`), the Kafka transport from the `CAREBUS_KAFKA_*` settings, and an error printed with exit code 1.

use carebus::Settings;
use carebus::kafka::{KafkaConfig, KafkaTransport};
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

/// An error a service binary prints before it exits with 1.
pub type ProcessError = Box<dyn std::error::Error>;

/// Set up tracing, run `service` to its end, and turn its outcome into the exit code.
pub async fn main(service: impl Future<Output = Result<(), ProcessError>>) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match service.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The Kafka transport from the layered configuration (`CAREBUS_KAFKA_*`, default broker
/// 127.0.0.1:19092).
pub fn kafka_transport() -> Result<KafkaTransport, ProcessError> {
    let kafka = KafkaConfig::new("127.0.0.1:19092").load()?;
    Ok(KafkaTransport::new(kafka)?)
}

/// How a banner shows the metrics endpoint's address.
pub fn metrics_url(endpoint: Option<SocketAddr>) -> String {
    endpoint.map_or_else(|| "(off)".to_string(), |a| format!("http://{a}"))
}
