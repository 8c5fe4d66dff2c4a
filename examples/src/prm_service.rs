//! The PRM service: HTTP commands for patients and appointments in, events in the PostgreSQL event store and on Kafka (through the transactional outbox relay) out; journey actions and AI results consumed.
//!
//! - [`request`], [`patients`] and [`appointments`]: JSON bodies as typed patient and
//!   appointment events, or the fields that are wrong.
//! - [`records`]: each command's event appended together with the read model in one
//!   transaction, checked against the aggregate's stream version.
//! - [`api`]: the axum routes.
//! - [`journey`]: `ActionTriggered` (book a follow-up, once per action) and
//!   `AnalysisCompleted` (recorded on the patient).
//!
//! [`PrmService::start`] runs it on the runtime's [`Service`]: one shared transport for the
//! consumers and the outbox relay, `/metrics`, `/health` (checking the database) and `/ready`
//! on the observability endpoint, and a graceful stop.

pub mod api;
pub mod appointments;
pub mod journey;
pub mod patients;
pub mod records;
pub mod request;
pub mod views;

use carebus::observe::Health;
use carebus::postgres::PgEventStore;
use carebus::store::outbox_relay::OutboxRelay;
use carebus::transport::Transport;
use carebus::{
    ConsumerConfig, PublisherConfig, RunningService, Service, ServiceError, ServiceReport,
    Settings, TopicEvents,
};
use carebus_schemas::{
    AiDispatcher, AiEvent, AppointmentsEvent, JourneysDispatcher, JourneysEvent, PatientsEvent,
};
use records::{DeskError, PrmRecords};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The service's name: its CloudEvents source, the prefix of its consumer groups and the
/// name of its outbox relay's checkpoint.
pub const SERVICE: &str = "prm-service";

/// The default PostgreSQL URL: the database `scripts/services up postgres` creates.
pub const DEFAULT_DATABASE_URL: &str = "postgres://carebus:carebus@127.0.0.1:15432/carebus_test";

/// How the PRM service runs; [`PrmConfig::from_env`] reads it from the environment.
#[derive(Clone, Debug)]
pub struct PrmConfig {
    /// Where the HTTP API listens (`CAREBUS_PRM_LISTEN`, default 127.0.0.1:8081; port 0 picks one).
    pub listen: SocketAddr,
    /// Where `/metrics`, `/health` and `/ready` are served (`CAREBUS_PRM_ENDPOINT`, default
    /// 127.0.0.1:9464; `off` serves none).
    pub endpoint: Option<SocketAddr>,
    /// PostgreSQL URL (`CAREBUS_DATABASE_URL`).
    pub database_url: String,
    /// PostgreSQL schema of the event store and read model (`CAREBUS_PRM_DB_SCHEMA`, default `prm`).
    pub schema: String,
    /// Consumer group prefix (`CAREBUS_PRM_GROUP`, default `prm-service`): the groups are
    /// `<prefix>.journeys` and `<prefix>.ai`.
    pub group: String,
    /// Topic the patient events are published to (`CAREBUS_PRM_PATIENTS_TOPIC`).
    pub patients_topic: String,
    /// Topic the appointment events are published to (`CAREBUS_PRM_APPOINTMENTS_TOPIC`).
    pub appointments_topic: String,
    /// Topic of journey events, read for `ActionTriggered` (`CAREBUS_PRM_JOURNEYS_TOPIC`).
    pub journeys_topic: String,
    /// Topic of AI events, read for `AnalysisCompleted` (`CAREBUS_PRM_AI_TOPIC`).
    pub ai_topic: String,
    /// How often the outbox relay looks for new events once caught up
    /// (`CAREBUS_PRM_RELAY_POLL_MS`, default 20).
    pub relay_poll: Duration,
}

impl Default for PrmConfig {
    fn default() -> Self {
        PrmConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            endpoint: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            database_url: DEFAULT_DATABASE_URL.into(),
            schema: "prm".into(),
            group: SERVICE.into(),
            patients_topic: PatientsEvent::TOPIC.into(),
            appointments_topic: AppointmentsEvent::TOPIC.into(),
            journeys_topic: JourneysEvent::TOPIC.into(),
            ai_topic: AiEvent::TOPIC.into(),
            relay_poll: Duration::from_millis(20),
        }
    }
}

/// Why the PRM service could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrmError {
    /// A setting is not valid.
    #[error("prm-service: {name} = {value:?} is not valid: expected {expected}")]
    Config {
        /// The environment variable.
        name: String,
        /// Its value.
        value: String,
        /// What it should look like.
        expected: &'static str,
    },
    /// The runtime's configuration (publisher, consumer) is not valid.
    #[error("prm-service: {0}")]
    Settings(#[from] carebus::ConfigError),
    /// The event store or read model could not be opened.
    #[error("{0}; is PostgreSQL up (`scripts/services up postgres`)?")]
    Store(#[from] DeskError),
    /// The API could not listen.
    #[error("prm-service: cannot serve the HTTP API on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The outbox relay stopped with an error.
    #[error("prm-service: the outbox relay stopped: {0}")]
    Relay(carebus::store::StoreError),
    /// The runtime's service failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl PrmConfig {
    /// Defaults overridden by the `CAREBUS_PRM_*` variables and `CAREBUS_DATABASE_URL`.
    pub fn from_env() -> Result<PrmConfig, PrmError> {
        Self::from_vars(std::env::vars())
    }

    /// Defaults overridden by `vars` (name, value).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<PrmConfig, PrmError> {
        let mut c = PrmConfig::default();
        let invalid = |name: &str, value: &str, expected| PrmError::Config {
            name: name.into(),
            value: value.into(),
            expected,
        };
        let addr = |name: &str, value: &str| {
            value
                .parse::<SocketAddr>()
                .map_err(|_| invalid(name, value, "host:port, e.g. 127.0.0.1:8081"))
        };
        for (name, value) in vars {
            match name.as_str() {
                "CAREBUS_PRM_LISTEN" => c.listen = addr(&name, &value)?,
                "CAREBUS_PRM_ENDPOINT" if value == "off" => c.endpoint = None,
                "CAREBUS_PRM_ENDPOINT" => c.endpoint = Some(addr(&name, &value)?),
                "CAREBUS_DATABASE_URL" => c.database_url = value,
                "CAREBUS_PRM_DB_SCHEMA" => c.schema = value,
                "CAREBUS_PRM_GROUP" => c.group = value,
                "CAREBUS_PRM_PATIENTS_TOPIC" => c.patients_topic = value,
                "CAREBUS_PRM_APPOINTMENTS_TOPIC" => c.appointments_topic = value,
                "CAREBUS_PRM_JOURNEYS_TOPIC" => c.journeys_topic = value,
                "CAREBUS_PRM_AI_TOPIC" => c.ai_topic = value,
                "CAREBUS_PRM_RELAY_POLL_MS" => {
                    let ms = value.parse::<u64>().map_err(|_| {
                        invalid(&name, &value, "milliseconds as a whole number, e.g. 20")
                    })?;
                    c.relay_poll = Duration::from_millis(ms.max(1));
                }
                _ => {}
            }
        }
        Ok(c)
    }
}

/// A started PRM service.
pub struct PrmService<T: Transport> {
    service: RunningService<Arc<T>>,
    api_addr: SocketAddr,
    api: tokio::task::JoinHandle<()>,
    stop_api: tokio::sync::oneshot::Sender<()>,
    relay: tokio::task::JoinHandle<Result<(), PrmError>>,
    stop_relay: tokio::sync::oneshot::Sender<()>,
    records: PrmRecords,
}

impl<T: Transport> PrmService<T> {
    /// Open the event store and read model, start the two consumers, the outbox relay, the
    /// observability endpoint and the HTTP API. Consumer settings come from `consumer` (group
    /// and topics are set here); the publisher's (used for retries and dead letters) from
    /// `publisher`.
    pub async fn start(
        config: PrmConfig,
        transport: T,
        publisher: PublisherConfig,
        consumer: ConsumerConfig,
    ) -> Result<PrmService<T>, PrmError> {
        let records = PrmRecords::connect(
            &config.database_url,
            &config.schema,
            &config.patients_topic,
            &config.appointments_topic,
        )
        .await?;
        let transport = Arc::new(transport);
        let mut service = Service::new(SERVICE, transport.clone(), publisher)?;
        let desk = journey::Desk {
            records: records.clone(),
        };
        let group = |suffix: &str, topic: &str| {
            let mut c = consumer.clone();
            c.group_id = format!("{}.{suffix}", config.group);
            c.topics = vec![topic.to_string()];
            c
        };
        service
            .consume(
                group("journeys", &config.journeys_topic),
                JourneysDispatcher(desk.clone()),
            )
            .consume(group("ai", &config.ai_topic), AiDispatcher(desk));
        if let Some(addr) = config.endpoint {
            let pool = records.store().pool().clone();
            let database = move || {
                let pool = pool.clone();
                async move {
                    sqlx::query("SELECT 1")
                        .execute(&pool)
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("SELECT 1 failed: {e}"))
                }
            };
            service
                .serve_endpoint(addr)
                .health(Health::default().check("database", database));
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| PrmError::Listen {
                addr: config.listen,
                source,
            })?;
        let api_addr = listener.local_addr().map_err(|source| PrmError::Listen {
            addr: config.listen,
            source,
        })?;
        let service = service.start().await?;
        let (stop_relay, relay_stopped) = tokio::sync::oneshot::channel::<()>();
        let relay = relay_task(records.store().clone(), transport, &config, relay_stopped);
        let (stop_api, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = api::router(Arc::new(api::Api {
            records: records.clone(),
        }));
        let api = tokio::spawn(async move {
            let serving = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serving.await {
                tracing::error!(error = %e, "the PRM API stopped");
            }
        });
        tracing::info!(api = %api_addr, "prm-service started");
        Ok(PrmService {
            service,
            api_addr,
            api,
            stop_api,
            relay,
            stop_relay,
            records,
        })
    }

    /// Start with the runtime's settings from the environment (`CAREBUS_PUBLISHER_*`,
    /// `CAREBUS_CONSUMER_*`, `CAREBUS_CONFIG`).
    pub async fn start_from_env(config: PrmConfig, transport: T) -> Result<Self, PrmError> {
        let publisher = PublisherConfig::load()?;
        let consumer = ConsumerConfig::new(config.group.clone()).load()?;
        Self::start(config, transport, publisher, consumer).await
    }

    /// Where the HTTP API listens.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// Where `/metrics`, `/health` and `/ready` are served, if they are.
    pub fn endpoint(&self) -> Option<SocketAddr> {
        self.service.endpoint()
    }

    /// The event store and read model.
    pub fn records(&self) -> &PrmRecords {
        &self.records
    }

    /// Run until SIGTERM or ctrl-c (or a consumer or the relay fails), then stop gracefully.
    pub async fn run_until_signalled(mut self) -> Result<ServiceReport, PrmError> {
        let mut signals = carebus::Shutdown::on_signals();
        tokio::select! {
            _ = signals.wait() => tracing::info!("stop signal received"),
            _ = self.service.consumer_stopped() => {
                tracing::error!("a consumer stopped on its own; stopping the service");
            }
            relayed = &mut self.relay => {
                tracing::error!("the outbox relay stopped on its own; stopping the service");
                let _ = self.stop_api.send(());
                let _ = self.api.await;
                let _ = self.service.stop().await;
                return Err(match relayed {
                    Ok(Err(e)) => e,
                    _ => PrmError::Relay(carebus::store::StoreError::Backend {
                        operation: "relay the outbox",
                        message: "the relay task ended".into(),
                        retriable: false,
                        source: None,
                    }),
                });
            }
        }
        self.stop().await
    }

    /// Stop: the API stops taking requests and finishes the ones in flight, the relay sends
    /// what was committed and saves its checkpoint, the consumers finish and commit.
    pub async fn stop(self) -> Result<ServiceReport, PrmError> {
        let _ = self.stop_api.send(());
        let _ = self.api.await;
        let _ = self.stop_relay.send(());
        if let Ok(Err(e)) = self.relay.await {
            tracing::error!(error = %e, "the outbox relay failed");
        }
        Ok(self.service.stop().await?)
    }
}

/// The outbox relay as a task: the store's events onto their topics until `stop`, then a last
/// pass over what is committed.
fn relay_task<T: Transport>(
    store: PgEventStore,
    transport: Arc<T>,
    config: &PrmConfig,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<Result<(), PrmError>> {
    let relay = OutboxRelay::new(store, transport, SERVICE)
        .poll_interval(config.relay_poll)
        .idle_deadline(Duration::from_secs(10));
    tokio::spawn(async move {
        let stats = relay
            .run(async {
                let _ = stop.await;
            })
            .await
            .map_err(PrmError::Relay)?;
        let last = relay.run_until_idle().await.map_err(PrmError::Relay)?;
        tracing::info!(
            relayed = stats.relayed + last.relayed,
            parked = stats.parked + last.parked,
            "outbox relay stopped"
        );
        Ok(())
    })
}
