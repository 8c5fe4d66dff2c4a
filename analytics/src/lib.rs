//! carebus-analytics: events of the carebus topics in, de-identified documents in OpenSearch out — the generated de-identification plans applied ([`deidentify`]), index templates and retention from the same plans ([`mapping`]), an HTTP client of the analytics store ([`opensearch`]) and the consumer group that writes it ([`sink`]).
//!
//! The sink is written against `carebus_core::transport::Transport`, like the runtime's
//! consumer: the Kafka transport in production, the in-process bus in tests. The facts it
//! applies (which fields reach analytics and how) are computed by the generator from the
//! schemas' `classification` and `analytics` annotations and reach this crate as the generated
//! `ANALYTICS` registry of `carebus-schemas`; see docs/analytics.md.
//!
//! A sink over Kafka (`tests/tests/it/analytics_sink.rs` runs one this way):
//!
//! ```ignore
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use carebus_analytics::{AnalyticsSink, Deidentifier, OpenSearch, OpenSearchConfig, SinkConfig, Source};
//! # let transport: carebus::kafka::KafkaTransport = todo!();
//! let sink = AnalyticsSink::new(
//!     transport,
//!     OpenSearch::new(&OpenSearchConfig::from_env())?,
//!     Deidentifier::from_base64(&std::env::var("CAREBUS_ANALYTICS_KEY")?)?,
//!     carebus_schemas::ANALYTICS,
//!     &[Source::of::<carebus_schemas::PatientsEvent>(), Source::of::<carebus_schemas::AppointmentsEvent>()],
//!     SinkConfig::default(),
//! )?;
//! sink.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod deidentify;
pub mod mapping;
pub mod opensearch;
pub mod sink;

pub use deidentify::Deidentifier;
pub use mapping::IndexLayout;
pub use opensearch::{OpenSearch, OpenSearchConfig, OpenSearchError};
pub use sink::{AnalyticsSink, SinkConfig, SinkError, SinkStats, Source};
