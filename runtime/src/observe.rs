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
//! use carebus::observe::{Readiness, install_prometheus, serve};
//! let metrics = install_prometheus()?;
//! let readiness = Readiness::default();
//! let server = serve("0.0.0.0:9464".parse()?, metrics, readiness.clone()).await?;
//! readiness.set(true); // once the consumers have joined their groups
//! # server.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! A [`Service`](crate::Service) does all of this itself.

use axum::Router;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Whether the service is ready for traffic (`/ready` answers 200 or 503).
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Mark the service ready (`/ready` answers 200) or not (503).
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }
    /// Whether `/ready` answers 200 now.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
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
    Ok(PROMETHEUS.get_or_init(|| handle).clone())
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

/// Serve `/metrics` (Prometheus text format 0.0.4), `/health` (200 while the process runs) and
/// `/ready` (200 once `readiness` is set, else 503) on `addr`.
pub async fn serve(
    addr: SocketAddr,
    metrics: PrometheusHandle,
    readiness: Readiness,
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
        .route("/health", get(|| async { "ok\n" }))
        .route(
            "/ready",
            get(move || {
                let ready = readiness.is_ready();
                async move {
                    if ready {
                        (StatusCode::OK, "ready\n")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
                    }
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
