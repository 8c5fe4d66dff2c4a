//! Observability endpoints: metrics recorded through the `metrics` facade turned into Prometheus text on `/metrics`, plus `/health` and `/ready`, served by a tiny HTTP/1.1 server on tokio.
//!
//! Metric names recorded by the runtime:
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `carebus_published_total` | counter | topic |
//! | `carebus_publish_errors_total` | counter | reason (`invalid`, `queued`, `dead_lettered`, `error`, `transaction`) |
//! | `carebus_publish_retries_total` | counter | |
//! | `carebus_publish_duration_seconds` | histogram | topic |
//! | `carebus_outbox_queued_total`, `carebus_outbox_pending` | counter, gauge | |
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
//! ```ignore
//! let metrics = carebus::observe::install_prometheus()?;
//! let readiness = Readiness::default();
//! let server = carebus::observe::serve("0.0.0.0:9464".parse()?, metrics, readiness.clone()).await?;
//! readiness.set(true); // once the consumers have joined their groups
//! ```

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The Prometheus recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the Prometheus metrics recorder (is another recorder installed?): {0}")]
pub struct InstallError(String);

/// Install the Prometheus recorder as the process's `metrics` recorder (once per process).
pub fn install_prometheus() -> Result<PrometheusHandle, InstallError> {
    PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| InstallError(e.to_string()))
}

/// The running HTTP server.
pub struct ObserveServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl ObserveServer {
    /// The address it listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// Stop serving.
    pub fn stop(self) {
        self.task.abort();
    }
}

/// Serve `/metrics`, `/health` and `/ready` on `addr`.
pub async fn serve(
    addr: SocketAddr,
    metrics: PrometheusHandle,
    readiness: Readiness,
) -> std::io::Result<ObserveServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (metrics, readiness) = (metrics.clone(), readiness.clone());
            tokio::spawn(async move {
                if let Err(e) = answer(stream, &metrics, &readiness).await {
                    tracing::debug!(error = %e, "observe: request failed");
                }
            });
        }
    });
    Ok(ObserveServer { addr, task })
}

/// Read one request head (up to 8 KiB) and answer it.
async fn answer(
    mut stream: TcpStream,
    metrics: &PrometheusHandle,
    readiness: &Readiness,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content_type, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4", metrics.render()),
        ("GET", "/health") => ("200 OK", "text/plain", "ok\n".to_string()),
        ("GET", "/ready") if readiness.is_ready() => ("200 OK", "text/plain", "ready\n".into()),
        ("GET", "/ready") => (
            "503 Service Unavailable",
            "text/plain",
            "not ready\n".into(),
        ),
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "try /metrics, /health or /ready\n".into(),
        ),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
