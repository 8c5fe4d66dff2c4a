//! The workflow engine as a process: the journeys of schemas/journeys/ over Kafka and PostgreSQL (instances, timers and the outbox in the engine's schema), configuration from the environment in, journey events and actions on Kafka out, until SIGTERM or ctrl-c.

use carebus::consumer::Shutdown;
use carebus::kafka::KafkaTransport;
use carebus::postgres::{PgEventStore, PgStoreOptions};
use carebus::store::outbox_relay::OutboxRelay;
use carebus::{ConsumerConfig, PublisherConfig, Service, ServiceReport, Settings};
use carebus_journey::dashboard::Dashboard;
use carebus_journey::{ENGINE_GROUP, Engine, PgInstanceStore};
use carebus_schemas::{
    AiEvent, AppointmentsEvent, ClinicalEvent, JourneysEvent, PatientsEvent, journeys,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The engine process's settings, from the environment.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// PostgreSQL (`CAREBUS_DATABASE_URL`).
    pub database_url: String,
    /// Schema of the engine's tables and outbox (`CAREBUS_ENGINE_DB_SCHEMA`, default `journeys`).
    pub schema: String,
    /// Consumer group (`CAREBUS_ENGINE_GROUP`, default `workflow-engine`).
    pub group: String,
    /// `/metrics`, `/health`, `/ready` (`CAREBUS_ENGINE_ENDPOINT`, default 127.0.0.1:9468; `off`).
    pub endpoint: Option<SocketAddr>,
    /// The journey dashboard, `/journeys` (`CAREBUS_ENGINE_DASHBOARD`, default 127.0.0.1:8085;
    /// `off`).
    pub dashboard: Option<SocketAddr>,
}

impl EngineConfig {
    /// The settings from the environment, with their defaults.
    pub fn from_env() -> Result<EngineConfig, Box<dyn std::error::Error>> {
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
        let address = |name: &str, default: &str| -> Result<Option<SocketAddr>, String> {
            match var(name, default).as_str() {
                "off" => Ok(None),
                value => value.parse().map(Some).map_err(|_| {
                    format!("{name}={value:?} is not an address like {default} or `off`")
                }),
            }
        };
        Ok(EngineConfig {
            database_url: var(
                "CAREBUS_DATABASE_URL",
                "postgres://carebus:carebus@127.0.0.1:15432/carebus_test",
            ),
            schema: var("CAREBUS_ENGINE_DB_SCHEMA", "journeys"),
            group: var("CAREBUS_ENGINE_GROUP", ENGINE_GROUP),
            endpoint: address("CAREBUS_ENGINE_ENDPOINT", "127.0.0.1:9468")?,
            dashboard: address("CAREBUS_ENGINE_DASHBOARD", "127.0.0.1:8085")?,
        })
    }
}

/// Run the engine until SIGTERM or ctrl-c (or a consumer stops on its own), then stop
/// gracefully: consumers commit, timers stop, the relay sends what is left in the outbox.
pub async fn run(
    config: EngineConfig,
    transport: KafkaTransport,
) -> Result<ServiceReport, Box<dyn std::error::Error>> {
    let options = PgStoreOptions {
        schema: Some(config.schema.clone()),
        max_connections: 8,
        ..PgStoreOptions::default()
    };
    let store = PgEventStore::connect_with(&config.database_url, &options)
        .await
        .map_err(|e| {
            format!(
                "workflow engine: cannot open its store in schema {}: {e}",
                config.schema
            )
        })?;
    store.migrate().await?;
    let engine = Engine::builder(PgInstanceStore::new(store.clone()))
        .journeys(journeys::new_patient_onboarding::journeys()?)
        .journeys(journeys::chronic_care::journeys()?)
        .journeys(journeys::referral_booking::journeys()?)
        .emits::<JourneysEvent>()
        .emits::<AiEvent>()
        .build()?;
    let transport = Arc::new(transport);
    let mut service = Service::new(
        "workflow-engine",
        transport.clone(),
        PublisherConfig {
            source: "workflow-engine".into(),
            ..PublisherConfig::load()?
        },
    )?;
    let consumer = ConsumerConfig::new(config.group.clone()).load()?;
    service
        .consume(consumer.clone(), engine.handler::<PatientsEvent>())
        .consume(consumer.clone(), engine.handler::<AppointmentsEvent>())
        .consume(consumer.clone(), engine.handler::<ClinicalEvent>())
        .consume(consumer, engine.handler::<AiEvent>());
    if let Some(addr) = config.endpoint {
        service.serve_endpoint(addr);
    }
    let dashboard = match config.dashboard {
        Some(addr) => Some(
            Dashboard::new(engine.clone())
                .serve(addr)
                .await
                .map_err(|e| {
                    format!(
                        "workflow engine: cannot serve the journey dashboard on {addr}: {e} (set CAREBUS_ENGINE_DASHBOARD to a free address or `off`)"
                    )
                })?,
        ),
        None => None,
    };
    let running = service.start().await?;
    let (stop, stopped) = Shutdown::channel();
    let timers = {
        let engine = engine.clone();
        let stopped = stopped.clone();
        tokio::spawn(async move { engine.run_timers(Duration::from_secs(1), stopped).await })
    };
    let relay = OutboxRelay::new(store, transport, "workflow-engine")
        .poll_interval(Duration::from_millis(20))
        .idle_deadline(Duration::from_secs(10));
    let relay = tokio::spawn(async move {
        let mut stopped = stopped;
        relay.run(async move { stopped.wait().await }).await?;
        relay.run_until_idle().await
    });
    eprintln!(
        "workflow-engine: journeys on Kafka; /metrics on {}; dashboard {}",
        crate::process::metrics_url(running.endpoint()),
        dashboard.as_ref().map_or_else(
            || "off".to_string(),
            |(addr, _)| format!("http://{addr}/journeys")
        )
    );
    let mut signals = Shutdown::on_signals();
    tokio::select! {
        _ = signals.wait() => tracing::info!("stop signal received"),
        _ = running.consumer_stopped() => tracing::error!("a consumer stopped on its own; stopping the engine"),
    }
    let report = running.stop().await?;
    stop.trigger();
    let fired = timers.await?;
    relay.await??;
    if let Some((_, serving)) = dashboard {
        serving.abort();
    }
    tracing::info!(timers_fired = fired, "workflow engine stopped");
    Ok(report)
}
