//! Observability endpoints: metrics recorded through the `metrics` facade turned into Prometheus text on `/metrics`, plus `/health` and `/ready`, served with axum.
//!
//! Metric names recorded by the runtime:
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `carebus_published_total` | counter | topic |
//! | `carebus_publish_errors_total` | counter | reason (`invalid`, `dead_lettered`, `error`, `transaction`) |
//! | `carebus_publish_retries_total` | counter | |
//! | `carebus_publish_duration_seconds` | histogram | topic |
//! | `carebus_outbox_queued_total`, `carebus_outbox_pending` | counter, gauge | |
//! | `carebus_outbox_bytes`, `carebus_outbox_full_total` | gauge, counter | |
//! | `carebus_circuit_opened_total` | counter | |
//! | `carebus_consumed_total` | counter | topic |
//! | `carebus_handler_errors_total`, `carebus_consume_retries_total` | counter | topic |
//! | `carebus_handle_duration_seconds` | histogram | topic |
//! | `carebus_dead_lettered_total`, `carebus_poison_pills_total` | counter | topic |
//! | `carebus_retry_topic_forwards_total`, `carebus_duplicates_skipped_total` | counter | topic |
//! | `carebus_consumer_lag` | gauge | topic, partition |
//!
//! Install the recorder before publishing and consuming start: publishers and consumers
//! register their per-topic metrics once, at their first event of a topic, and keep the
//! handles.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use carebus::observe::{Health, Readiness, install_prometheus, serve};
//! let metrics = install_prometheus()?;
//! let readiness = Readiness::default();
//! let membership = readiness.member("fhir-service"); // a consumer reports its partitions here
//! let health = Health::default().check("kafka", || async { Ok(()) });
//! let server = serve("0.0.0.0:9464".parse()?, metrics, readiness.clone(), health).await?;
//! readiness.set(true); // started; `/ready` answers 200 once the member has partitions
//! membership.set_assigned(3);
//! # server.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! A [`Service`](crate::Service) does all of this itself.

mod health;
mod readiness;

pub use health::{CHECK_TIMEOUT, CheckFuture, CheckOutcome, Health};
pub use readiness::{Membership, Readiness};

use axum::Router;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// The start of a timed operation for a duration histogram (a publish, a handler call).
/// quanta reads the CPU's time-stamp counter: about 20 ns for a start and its `elapsed`,
/// against about 50 ns with `std::time::Instant`'s clock calls, twice per event.
pub(crate) fn started() -> quanta::Instant {
    quanta::Instant::now()
}

/// Metric handles per topic, registered with the recorder on first use and kept: looking a
/// labelled metric up in the recorder for every event costs more than a fast handler.
pub(crate) struct PerTopic<M>(std::sync::Mutex<Vec<(String, M)>>);

impl<M> Default for PerTopic<M> {
    fn default() -> Self {
        PerTopic(std::sync::Mutex::new(Vec::new()))
    }
}

impl<M> PerTopic<M> {
    /// Use the handles of `topic` (made by `register` the first time) in place: no clone of
    /// them, two atomic counts fewer per event.
    pub(crate) fn with<R>(
        &self,
        topic: &str,
        register: impl FnOnce(&str) -> M,
        use_them: impl FnOnce(&M) -> R,
    ) -> R {
        let mut known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, m)) = known.iter().find(|(t, _)| t == topic) {
            return use_them(m);
        }
        let m = register(topic);
        let r = use_them(&m);
        known.push((topic.to_string(), m));
        r
    }
}

/// The Prometheus recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the Prometheus metrics recorder (is another recorder installed?): {0}")]
pub struct InstallError(String);

/// The process's Prometheus recorder, once installed here.
static PROMETHEUS: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();

/// Install the Prometheus recorder as the process's `metrics` recorder; later calls return the
/// same handle. Fails when another recorder was installed first.
pub fn install_prometheus() -> Result<PrometheusHandle, InstallError> {
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(handle) = PROMETHEUS.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| InstallError(e.to_string()))?;
    describe_metrics();
    Ok(PROMETHEUS.get_or_init(|| handle).clone())
}

/// The `# HELP` line of each metric the runtime records (the table at the top of this module).
fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "carebus_published_total",
        "Events published (delivered to the transport), per topic."
    );
    describe_counter!(
        "carebus_publish_errors_total",
        "Publishes that failed, per reason (invalid, dead_lettered, error, transaction)."
    );
    describe_counter!(
        "carebus_publish_retries_total",
        "Publish attempts retried after a retriable transport error."
    );
    describe_histogram!(
        "carebus_publish_duration_seconds",
        "Time from publish call to delivery report, per topic."
    );
    describe_counter!(
        "carebus_outbox_queued_total",
        "Events parked in the publisher's outbox while the transport was unavailable."
    );
    describe_gauge!(
        "carebus_outbox_pending",
        "Events waiting in the publisher's outbox."
    );
    describe_gauge!(
        "carebus_outbox_bytes",
        "Bytes the publisher's outbox holds."
    );
    describe_counter!(
        "carebus_outbox_full_total",
        "Publishes refused because the outbox was full."
    );
    describe_counter!(
        "carebus_circuit_opened_total",
        "Times the publisher's circuit breaker opened."
    );
    describe_counter!(
        "carebus_consumed_total",
        "Events handled (or skipped as duplicates), per topic."
    );
    describe_counter!(
        "carebus_handler_errors_total",
        "Handler calls that failed, per topic."
    );
    describe_counter!(
        "carebus_consume_retries_total",
        "Handler calls retried in place, per topic."
    );
    describe_histogram!(
        "carebus_handle_duration_seconds",
        "Time a handler took per event, per topic."
    );
    describe_counter!(
        "carebus_dead_lettered_total",
        "Events sent to a dead-letter topic, per source topic."
    );
    describe_counter!(
        "carebus_poison_pills_total",
        "Records that could not be decoded, per topic."
    );
    describe_counter!(
        "carebus_retry_topic_forwards_total",
        "Events forwarded to a retry topic, per source topic."
    );
    describe_counter!(
        "carebus_duplicates_skipped_total",
        "Events skipped as already handled, per topic."
    );
    describe_counter!(
        "carebus_unknown_events_skipped_total",
        "Events of unknown type or version skipped, per topic."
    );
    describe_counter!(
        "carebus_claim_checked_total",
        "Payloads stored apart and sent by reference (claim check)."
    );
    describe_counter!(
        "carebus_forwards_without_payload_total",
        "Retry or dead-letter forwards whose claim-checked payload was gone."
    );
    describe_gauge!(
        "carebus_consumer_lag",
        "Records not yet handled, per assigned topic and partition (from the transport)."
    );
}

/// The running HTTP server.
pub struct ObserveServer {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl ObserveServer {
    /// The address it listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop serving: requests in progress finish, then the listener closes.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Serve on `addr`: `/metrics` (Prometheus text format 0.0.4), `/health` (200 when every
/// check of `health` passes, else 503; a JSON body naming each check and what failed) and
/// `/ready` (200 once `readiness` says so, else 503; a JSON body with each group's partitions).
pub async fn serve(
    addr: SocketAddr,
    metrics: PrometheusHandle,
    readiness: Readiness,
    health: Health,
) -> std::io::Result<ObserveServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let body = metrics.render();
                async move { ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body) }
            }),
        )
        .route(
            "/health",
            get(move || {
                let health = health.clone();
                async move {
                    let checks = health.run().await;
                    let failed: Vec<&str> = checks
                        .iter()
                        .filter(|c| c.error.is_some())
                        .map(|c| c.name.as_str())
                        .collect();
                    let status = if failed.is_empty() {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    let body = serde_json::json!({
                        "status": if failed.is_empty() { "ok" } else { "failing" },
                        "failed": failed,
                        "checks": checks,
                    });
                    (status, axum::Json(body))
                }
            }),
        )
        .route(
            "/ready",
            get(move || {
                let (ready, body) = (readiness.is_ready(), readiness.report());
                async move {
                    let status = if ready {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    (status, axum::Json(body))
                }
            }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "try /metrics, /health or /ready\n") });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "the observability endpoint stopped");
        }
    });
    Ok(ObserveServer { addr, stop, task })
}
