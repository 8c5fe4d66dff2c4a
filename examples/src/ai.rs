//! The AI service: clinical events and `AnalysisRequested` from Kafka in, NEWS2 and HbA1c-trend results (`AnalysisCompleted` / `AnalysisFailed`) out, with the facts kept in PostgreSQL.
//!
//! - [`news2`] and [`hba1c`]: the analyses as pure functions (published NEWS2 tables, ADA
//!   thresholds).
//! - [`store`]: vital signs, lab results and the handled analysis ids in the schema `ai`.
//! - [`analysis`]: a request and the stored facts as its result or failure.
//! - [`analyst`]: the typed handlers of the clinical and AI topics, the concurrency limit,
//!   the per-request timeout, idempotency by analysis id and request-reply answers.
//!
//! [`AiService::start`] runs it on the runtime's [`Service`]: one shared publisher, one consumer
//! per topic, `/metrics`, `/health` and `/ready` on the observability endpoint, and a graceful
//! stop.

pub mod analysis;
pub mod analyst;
pub mod hba1c;
pub mod news2;
pub mod store;

use carebus::transport::Transport;
use carebus::{
    ConsumerConfig, ProcessingMode, PublisherConfig, RunningService, Service, ServiceError,
    ServiceReport, Settings, TopicEvents,
};
use carebus_schemas::{AiDispatcher, AiEvent, ClinicalDispatcher, ClinicalEvent};
use std::net::SocketAddr;
use std::time::Duration;
use store::AiStore;

/// The service's name: its CloudEvents source and the prefix of its consumer groups.
pub const SERVICE: &str = "ai-service";

/// How the AI service runs; [`AiConfig::from_env`] reads it from the environment.
#[derive(Clone, Debug)]
pub struct AiConfig {
    /// Where `/metrics`, `/health` and `/ready` are served (`CAREBUS_AI_ENDPOINT`, default
    /// 127.0.0.1:9466; `off` serves none).
    pub endpoint: Option<SocketAddr>,
    /// PostgreSQL URL (`CAREBUS_DATABASE_URL`).
    pub database_url: String,
    /// PostgreSQL schema of the service's tables (`CAREBUS_AI_DB_SCHEMA`, default `ai`).
    pub schema: String,
    /// Consumer group prefix (`CAREBUS_AI_GROUP`, default `ai-service`): the groups are
    /// `<prefix>.clinical` and `<prefix>.requests`.
    pub group: String,
    /// Topic of clinical events (`CAREBUS_AI_CLINICAL_TOPIC`).
    pub clinical_topic: String,
    /// Topic of analysis requests and results (`CAREBUS_AI_TOPIC`).
    pub ai_topic: String,
    /// Analyses run at once (`CAREBUS_AI_CONCURRENCY`, default 4).
    pub concurrency: usize,
    /// Longest an analysis may take before it fails with `FAILURE_REASON_MODEL_UNAVAILABLE`
    /// (`CAREBUS_AI_TIMEOUT_MS`, default 5000).
    pub timeout: Duration,
}

impl Default for AiConfig {
    fn default() -> Self {
        AiConfig {
            endpoint: Some(SocketAddr::from(([127, 0, 0, 1], 9466))),
            database_url: crate::fhir::DEFAULT_DATABASE_URL.into(),
            schema: "ai".into(),
            group: SERVICE.into(),
            clinical_topic: ClinicalEvent::TOPIC.into(),
            ai_topic: AiEvent::TOPIC.into(),
            concurrency: 4,
            timeout: Duration::from_secs(5),
        }
    }
}

/// Why the AI service could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AiError {
    /// A setting is not valid.
    #[error("ai-service: {name} = {value:?} is not valid: expected {expected}")]
    Config {
        /// The environment variable.
        name: String,
        /// Its value.
        value: String,
        /// What it should look like.
        expected: &'static str,
    },
    /// The runtime's configuration (publisher, consumer) is not valid.
    #[error("ai-service: {0}")]
    Settings(#[from] carebus::ConfigError),
    /// The store could not be opened or migrated.
    #[error("ai-service: {0}; is PostgreSQL up (`scripts/services up postgres`)?")]
    Store(#[from] store::StoreError),
    /// The runtime's service failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl AiConfig {
    /// Defaults overridden by the `CAREBUS_AI_*` variables and `CAREBUS_DATABASE_URL`.
    pub fn from_env() -> Result<AiConfig, AiError> {
        Self::from_vars(std::env::vars())
    }

    /// Defaults overridden by `vars` (name, value).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<AiConfig, AiError> {
        let mut c = AiConfig::default();
        let invalid = |name: &str, value: &str, expected| AiError::Config {
            name: name.into(),
            value: value.into(),
            expected,
        };
        for (name, value) in vars {
            match name.as_str() {
                "CAREBUS_AI_ENDPOINT" if value == "off" => c.endpoint = None,
                "CAREBUS_AI_ENDPOINT" => {
                    c.endpoint = Some(value.parse().map_err(|_| {
                        invalid(&name, &value, "host:port, e.g. 127.0.0.1:9466, or off")
                    })?)
                }
                "CAREBUS_DATABASE_URL" => c.database_url = value,
                "CAREBUS_AI_DB_SCHEMA" => c.schema = value,
                "CAREBUS_AI_GROUP" => c.group = value,
                "CAREBUS_AI_CLINICAL_TOPIC" => c.clinical_topic = value,
                "CAREBUS_AI_TOPIC" => c.ai_topic = value,
                "CAREBUS_AI_CONCURRENCY" => {
                    c.concurrency = value
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| invalid(&name, &value, "a whole number of at least 1"))?
                }
                "CAREBUS_AI_TIMEOUT_MS" => {
                    c.timeout = Duration::from_millis(value.parse().map_err(|_| {
                        invalid(&name, &value, "milliseconds as a whole number, e.g. 5000")
                    })?)
                }
                _ => {}
            }
        }
        Ok(c)
    }
}

/// A started AI service.
pub struct AiService<T: Transport> {
    service: RunningService<T>,
    store: AiStore,
}

impl<T: Transport> AiService<T> {
    /// Open the store (migrating it), start the two consumers and the observability endpoint.
    /// Consumer settings come from `consumer` (group, topics and, for requests, the processing
    /// mode are set here); the publisher's from `publisher`.
    pub async fn start(
        config: AiConfig,
        transport: T,
        publisher: PublisherConfig,
        consumer: ConsumerConfig,
    ) -> Result<AiService<T>, AiError> {
        let store = AiStore::connect(&config.database_url, &config.schema).await?;
        let mut service = Service::new(SERVICE, transport, publisher)?;
        let analyst = analyst::Analyst::new(
            store.clone(),
            service.publisher().clone(),
            config.ai_topic.clone(),
            config.concurrency,
            config.timeout,
        );
        let group = |suffix: &str, topic: &str| {
            let mut c = consumer.clone();
            c.group_id = format!("{}.{suffix}", config.group);
            c.topics = vec![topic.to_string()];
            c
        };
        let mut requests = group("requests", &config.ai_topic);
        // Requests of different analyses run concurrently; the semaphore bounds the analyses.
        requests.mode = ProcessingMode::KeyOrdered {
            max_in_flight: config.concurrency.max(1) * 2,
        };
        service
            .consume(
                group("clinical", &config.clinical_topic),
                ClinicalDispatcher(analyst::ClinicalRecorder::new(store.clone())),
            )
            .consume(requests, AiDispatcher(analyst));
        if let Some(addr) = config.endpoint {
            service.serve_endpoint(addr);
        }
        let service = service.start().await?;
        tracing::info!(
            concurrency = config.concurrency,
            timeout_ms = config.timeout.as_millis() as u64,
            "ai-service started"
        );
        Ok(AiService { service, store })
    }

    /// Start with the runtime's settings from the environment (`CAREBUS_PUBLISHER_*`,
    /// `CAREBUS_CONSUMER_*`, `CAREBUS_CONFIG`).
    pub async fn start_from_env(config: AiConfig, transport: T) -> Result<Self, AiError> {
        let publisher = PublisherConfig::load()?;
        let consumer = ConsumerConfig::new(config.group.clone()).load()?;
        Self::start(config, transport, publisher, consumer).await
    }

    /// Where `/metrics`, `/health` and `/ready` are served, if they are.
    pub fn endpoint(&self) -> Option<SocketAddr> {
        self.service.endpoint()
    }

    /// The store.
    pub fn store(&self) -> &AiStore {
        &self.store
    }

    /// Run until SIGTERM or ctrl-c (or a consumer fails), then stop gracefully.
    pub async fn run_until_signalled(self) -> Result<ServiceReport, AiError> {
        let mut signals = carebus::Shutdown::on_signals();
        tokio::select! {
            _ = signals.wait() => tracing::info!("stop signal received"),
            _ = self.service.consumer_stopped() => {
                tracing::error!("a consumer stopped on its own; stopping the service");
            }
        }
        self.stop().await
    }

    /// Stop: the consumers finish the requests in flight and commit, the publisher flushes.
    pub async fn stop(self) -> Result<ServiceReport, AiError> {
        Ok(self.service.stop().await?)
    }
}
