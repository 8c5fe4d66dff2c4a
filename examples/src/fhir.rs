//! The FHIR service: patient, appointment and clinical events from Kafka in, FHIR R4 resources in PostgreSQL and a FHIR REST API out.
//!
//! - [`patient`], [`clinical`] (with [`datatypes`]): each event as edits of Patient,
//!   Appointment, Observation, Condition and MedicationRequest resources.
//! - [`store`]: the resources as versioned JSON documents with their history, applied once per
//!   event id and in order per resource by the event's own time.
//! - [`sync`]: the typed handlers of the three topics.
//! - [`api`] and [`ingest`]: the REST API, and POSTed clinical resources as published events.
//!
//! [`FhirService::start`] runs it all on the runtime's [`Service`]: one shared publisher, one
//! consumer per topic, `/metrics`, `/health` and `/ready` on the observability endpoint, and
//! a graceful stop.

pub mod api;
pub mod clinical;
pub mod datatypes;
pub mod ingest;
pub mod patient;
pub mod store;
pub mod sync;

use carebus::transport::Transport;
use carebus::{
    ConsumerConfig, PublisherConfig, RunningService, Service, ServiceError, ServiceReport,
    Settings, TopicEvents,
};
use carebus_schemas::{
    AppointmentsDispatcher, AppointmentsEvent, ClinicalDispatcher, ClinicalEvent,
    PatientsDispatcher, PatientsEvent,
};
use std::net::SocketAddr;
use std::sync::Arc;
use store::FhirStore;

/// The service's name: its CloudEvents source and the prefix of its consumer groups.
pub const SERVICE: &str = "fhir-service";

/// How the FHIR service runs; [`FhirConfig::from_env`] reads it from the environment.
#[derive(Clone, Debug)]
pub struct FhirConfig {
    /// Where the FHIR API listens (`CAREBUS_FHIR_LISTEN`, default 127.0.0.1:8082; port 0 picks one).
    pub listen: SocketAddr,
    /// Where `/metrics`, `/health` and `/ready` are served (`CAREBUS_FHIR_ENDPOINT`, default
    /// 127.0.0.1:9465; `off` serves none).
    pub endpoint: Option<SocketAddr>,
    /// PostgreSQL URL (`CAREBUS_DATABASE_URL`).
    pub database_url: String,
    /// PostgreSQL schema of the resources (`CAREBUS_FHIR_DB_SCHEMA`, default `fhir`).
    pub schema: String,
    /// Consumer group prefix (`CAREBUS_FHIR_GROUP`, default `fhir-service`): the groups are
    /// `<prefix>.patients`, `<prefix>.appointments`, `<prefix>.clinical`.
    pub group: String,
    /// Topic of patient events (`CAREBUS_FHIR_PATIENTS_TOPIC`).
    pub patients_topic: String,
    /// Topic of appointment events (`CAREBUS_FHIR_APPOINTMENTS_TOPIC`).
    pub appointments_topic: String,
    /// Topic of clinical events, read and written by POSTs (`CAREBUS_FHIR_CLINICAL_TOPIC`).
    pub clinical_topic: String,
}

/// The default PostgreSQL URL: the database `scripts/services up postgres` creates.
pub const DEFAULT_DATABASE_URL: &str = "postgres://carebus:carebus@127.0.0.1:15432/carebus_test";

impl Default for FhirConfig {
    fn default() -> Self {
        FhirConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8082)),
            endpoint: Some(SocketAddr::from(([127, 0, 0, 1], 9465))),
            database_url: DEFAULT_DATABASE_URL.into(),
            schema: "fhir".into(),
            group: SERVICE.into(),
            patients_topic: PatientsEvent::TOPIC.into(),
            appointments_topic: AppointmentsEvent::TOPIC.into(),
            clinical_topic: ClinicalEvent::TOPIC.into(),
        }
    }
}

/// Why the FHIR service could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FhirError {
    /// A setting is not valid.
    #[error("fhir-service: {name} = {value:?} is not valid: expected {expected}")]
    Config {
        /// The environment variable.
        name: String,
        /// Its value.
        value: String,
        /// What it should look like.
        expected: &'static str,
    },
    /// The runtime's configuration (publisher, consumer) is not valid.
    #[error("fhir-service: {0}")]
    Settings(#[from] carebus::ConfigError),
    /// The resource store could not be opened or migrated.
    #[error("fhir-service: {0}; is PostgreSQL up (`scripts/services up postgres`)?")]
    Store(#[from] store::StoreError),
    /// The API could not listen.
    #[error("fhir-service: cannot serve the FHIR API on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The runtime's service failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl FhirConfig {
    /// Defaults overridden by the `CAREBUS_FHIR_*` variables and `CAREBUS_DATABASE_URL`.
    pub fn from_env() -> Result<FhirConfig, FhirError> {
        Self::from_vars(std::env::vars())
    }

    /// Defaults overridden by `vars` (name, value).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<FhirConfig, FhirError> {
        let mut c = FhirConfig::default();
        let addr = |name: &str, value: &str| {
            value.parse::<SocketAddr>().map_err(|_| FhirError::Config {
                name: name.into(),
                value: value.into(),
                expected: "host:port, e.g. 127.0.0.1:8082",
            })
        };
        for (name, value) in vars {
            match name.as_str() {
                "CAREBUS_FHIR_LISTEN" => c.listen = addr(&name, &value)?,
                "CAREBUS_FHIR_ENDPOINT" if value == "off" => c.endpoint = None,
                "CAREBUS_FHIR_ENDPOINT" => c.endpoint = Some(addr(&name, &value)?),
                "CAREBUS_DATABASE_URL" => c.database_url = value,
                "CAREBUS_FHIR_DB_SCHEMA" => c.schema = value,
                "CAREBUS_FHIR_GROUP" => c.group = value,
                "CAREBUS_FHIR_PATIENTS_TOPIC" => c.patients_topic = value,
                "CAREBUS_FHIR_APPOINTMENTS_TOPIC" => c.appointments_topic = value,
                "CAREBUS_FHIR_CLINICAL_TOPIC" => c.clinical_topic = value,
                _ => {}
            }
        }
        Ok(c)
    }
}

/// A started FHIR service.
pub struct FhirService<T: Transport> {
    service: RunningService<T>,
    api_addr: SocketAddr,
    api: tokio::task::JoinHandle<()>,
    stop_api: tokio::sync::oneshot::Sender<()>,
    store: FhirStore,
}

impl<T: Transport> FhirService<T> {
    /// Open the store (migrating it), start the three consumers, the observability endpoint
    /// and the FHIR API. Consumer settings come from `CAREBUS_CONSUMER_*` on top of
    /// `consumer` (group and topics are set here); the publisher's from `publisher`.
    pub async fn start(
        config: FhirConfig,
        transport: T,
        publisher: PublisherConfig,
        consumer: ConsumerConfig,
    ) -> Result<FhirService<T>, FhirError> {
        let store = FhirStore::connect(&config.database_url, &config.schema).await?;
        let mut service = Service::new(SERVICE, transport, publisher)?;
        let sync = sync::FhirSync::new(store.clone());
        let group = |suffix: &str, topic: &str| {
            let mut c = consumer.clone();
            c.group_id = format!("{}.{suffix}", config.group);
            c.topics = vec![topic.to_string()];
            c
        };
        service
            .consume(
                group("patients", &config.patients_topic),
                PatientsDispatcher(sync.clone()),
            )
            .consume(
                group("appointments", &config.appointments_topic),
                AppointmentsDispatcher(sync.clone()),
            )
            .consume(
                group("clinical", &config.clinical_topic),
                ClinicalDispatcher(sync),
            );
        if let Some(addr) = config.endpoint {
            service.serve_endpoint(addr);
        }
        let api = Arc::new(api::Api {
            store: store.clone(),
            publisher: service.publisher().clone(),
            clinical_topic: config.clinical_topic.clone(),
        });
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| FhirError::Listen {
                addr: config.listen,
                source,
            })?;
        let api_addr = listener.local_addr().map_err(|source| FhirError::Listen {
            addr: config.listen,
            source,
        })?;
        let service = service.start().await?;
        let (stop_api, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = api::router(api);
        let api = tokio::spawn(async move {
            let serving = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serving.await {
                tracing::error!(error = %e, "the FHIR API stopped");
            }
        });
        tracing::info!(api = %api_addr, "fhir-service started");
        Ok(FhirService {
            service,
            api_addr,
            api,
            stop_api,
            store,
        })
    }

    /// Start with the runtime's settings from the environment (`CAREBUS_PUBLISHER_*`,
    /// `CAREBUS_CONSUMER_*`, `CAREBUS_CONFIG`).
    pub async fn start_from_env(config: FhirConfig, transport: T) -> Result<Self, FhirError> {
        let publisher = PublisherConfig::load()?;
        let consumer = ConsumerConfig::new(config.group.clone()).load()?;
        Self::start(config, transport, publisher, consumer).await
    }

    /// Where the FHIR API listens.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// Where `/metrics`, `/health` and `/ready` are served, if they are.
    pub fn endpoint(&self) -> Option<SocketAddr> {
        self.service.endpoint()
    }

    /// The resource store.
    pub fn store(&self) -> &FhirStore {
        &self.store
    }

    /// Run until SIGTERM or ctrl-c (or a consumer fails), then stop gracefully.
    pub async fn run_until_signalled(self) -> Result<ServiceReport, FhirError> {
        let mut signals = carebus::Shutdown::on_signals();
        tokio::select! {
            _ = signals.wait() => tracing::info!("stop signal received"),
            _ = self.service.consumer_stopped() => {
                tracing::error!("a consumer stopped on its own; stopping the service");
            }
        }
        self.stop().await
    }

    /// Stop: the API stops taking requests and finishes the ones in flight, then the
    /// consumers finish and commit, the publisher flushes.
    pub async fn stop(self) -> Result<ServiceReport, FhirError> {
        let _ = self.stop_api.send(());
        let _ = self.api.await;
        Ok(self.service.stop().await?)
    }
}
