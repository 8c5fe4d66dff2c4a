//! A service's parts — one shared publisher, its typed consumers, the metrics and health endpoint, the shutdown signal — in, one process that starts them, runs until told to stop and stops them in order out.
//!
//! ```no_run
//! use carebus::bus::Bus;
//! use carebus::{ConsumerConfig, PublisherConfig, Service, Settings};
//! # use carebus::{HandlerContext, HandlerResult, TopicEvents, TopicHandler};
//! # #[derive(Clone, Debug)] struct Never;
//! # impl TopicEvents for Never {
//! #     const TOPIC: &'static str = "t";
//! #     const EVENTS: &'static [carebus::EventInfo] = &[];
//! #     fn decode(t: &str, v: u32, _: &[u8]) -> Result<Self, carebus::DecodeError> { Err(carebus::topic::unknown_event(&[], t, v)) }
//! #     fn decode_fingerprint(fingerprint: u64, _: &[u8]) -> Result<Self, carebus::DecodeError> { Err(carebus::DecodeError::UnknownFingerprint { fingerprint }) }
//! #     fn info(&self) -> &'static carebus::EventInfo { unreachable!() }
//! #     fn aggregate_id(&self) -> String { String::new() }
//! #     fn encode_payload(&self, _: &mut Vec<u8>) {}
//! #     fn to_json(&self) -> serde_json::Value { serde_json::Value::Null }
//! # }
//! # struct FhirSync;
//! # impl TopicHandler for FhirSync {
//! #     type Events = Never;
//! #     async fn handle(&self, _: &HandlerContext, _: Never) -> HandlerResult { Ok(()) }
//! # }
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut service = Service::new(
//!     "fhir-service",
//!     Bus::default(), // or a KafkaTransport
//!     PublisherConfig::load()?,
//! )?;
//! // Handlers that publish get a clone of the one shared publisher.
//! let _publisher = service.publisher().clone();
//! service
//!     .consume(ConsumerConfig::new("fhir-service").load()?, FhirSync)
//!     .serve_endpoint("127.0.0.1:9464".parse()?);
//! let report = service.run().await?; // until SIGTERM or ctrl-c
//! println!("{report:?}");
//! # Ok(())
//! # }
//! ```
//!
//! [`Service::run`] waits for SIGTERM or ctrl-c; [`Service::start`] returns a
//! [`RunningService`] to stop from code (tests, the platform demo). Stopping is graceful:
//! every consumer finishes its in-flight events and commits (up to its `shutdown_deadline`),
//! then the publisher delivers what it holds and flushes.
//!
//! A consumer that stops without being asked (its run failed: a handler panicked, a
//! dead-letter topic could not be written, ...) turns `/ready` to 503 at once, and
//! [`Service::run`] then stops the service and returns that consumer's error, so the process
//! exits and its supervisor restarts it instead of leaving a half-working service up.

use crate::consumer::{Consumer, ConsumerConfig, ConsumerError, RunReport, Shutdown};
use crate::observe::{Health, InstallError, ObserveServer, Readiness};
use crate::publish::PublishError;
use crate::publisher::{Publisher, PublisherConfig};
use crate::topic::TopicHandler;
use crate::transport::Transport;
use futures::future::BoxFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A consumer waiting to be started: its group and the future that runs it.
type PendingConsumer = (
    String,
    Box<dyn FnOnce(Shutdown) -> BoxFuture<'static, Consumed> + Send>,
);

/// A consumer's group and how its run ended.
type Consumed = Result<RunReport, ConsumerError>;

/// One service process: a shared publisher, typed consumers and the observability endpoint.
pub struct Service<T: Transport> {
    name: String,
    publisher: Publisher<T>,
    consumers: Vec<PendingConsumer>,
    endpoint: Option<SocketAddr>,
    readiness: Readiness,
    health: Health,
}

/// What a service's run did, per consumer group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceReport {
    /// Each consumer group that stopped cleanly, with what its run did.
    pub consumers: Vec<(String, RunReport)>,
}

/// Why a service could not start or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The publisher could not be opened (its outbox or claim-check directory).
    #[error("service {service}: the publisher could not start: {source}")]
    Publisher {
        /// The service's name.
        service: String,
        /// Why the publisher could not open.
        #[source]
        source: PublishError,
    },
    /// The metrics recorder could not be installed.
    #[error("service {service}: {source}")]
    Metrics {
        /// The service's name.
        service: String,
        /// Why the recorder could not be installed.
        #[source]
        source: InstallError,
    },
    /// The observability endpoint could not listen.
    #[error("service {service}: cannot serve /metrics, /health and /ready on {addr}: {source}")]
    Endpoint {
        /// The service's name.
        service: String,
        /// The address asked for.
        addr: SocketAddr,
        /// Why it could not listen there.
        #[source]
        source: std::io::Error,
    },
    /// A consumer stopped with an error (it committed nothing it did not finish).
    #[error("service {service}: consumer group {group} stopped: {source}")]
    Consumer {
        /// The service's name.
        service: String,
        /// The consumer group that stopped.
        group: String,
        /// Why it stopped.
        #[source]
        source: ConsumerError,
    },
    /// A consumer task panicked or was cancelled.
    #[error("service {service}: consumer group {group} did not finish: {reason}")]
    Aborted {
        /// The service's name.
        service: String,
        /// The consumer group whose task ended.
        group: String,
        /// The join error's text (panic or cancellation).
        reason: String,
    },
}

impl<T: Transport> Service<T> {
    /// A service named `name` (its CloudEvents `source` unless the config sets one) publishing
    /// and consuming over `transport`.
    pub fn new(
        name: impl Into<String>,
        transport: T,
        mut config: PublisherConfig,
    ) -> Result<Service<T>, ServiceError> {
        let name = name.into();
        if config.source == PublisherConfig::default().source {
            config.source = name.clone();
        }
        let publisher =
            Publisher::new(transport, config).map_err(|source| ServiceError::Publisher {
                service: name.clone(),
                source,
            })?;
        Ok(Service {
            name,
            publisher,
            consumers: Vec::new(),
            endpoint: None,
            readiness: Readiness::default(),
            health: Health::default(),
        })
    }

    /// The service's one publisher; clone it into handlers that publish.
    pub fn publisher(&self) -> &Publisher<T> {
        &self.publisher
    }

    /// Run `handler` in the consumer group of `config` (sharing the service's publisher for
    /// retry and dead-letter topics).
    pub fn consume<H: TopicHandler>(&mut self, config: ConsumerConfig, handler: H) -> &mut Self {
        let group = config.group_id.clone();
        let consumer = Consumer::new(self.publisher.clone(), config)
            .with_membership(self.readiness.member(&group));
        self.consumers.push((
            group,
            Box::new(move |shutdown| {
                Box::pin(async move { consumer.run(handler, shutdown).await })
            }),
        ));
        self
    }

    /// Serve `/metrics`, `/health` and `/ready` on `addr` (port 0 picks a free one; see
    /// [`RunningService::endpoint`]). Installs the Prometheus recorder.
    pub fn serve_endpoint(&mut self, addr: SocketAddr) -> &mut Self {
        self.endpoint = Some(addr);
        self
    }

    /// The connections `/health` checks (the broker, the database the service was given):
    /// see [`Health`]. Without it `/health` answers 200 while the process runs.
    pub fn health(&mut self, health: Health) -> &mut Self {
        self.health = health;
        self
    }

    /// Start everything and run until SIGTERM or ctrl-c, then stop gracefully.
    pub async fn run(self) -> Result<ServiceReport, ServiceError> {
        let mut signals = Shutdown::on_signals();
        let running = self.start().await?;
        tokio::select! {
            _ = signals.wait() => {}
            _ = running.consumer_stopped() => {
                tracing::error!(service = %running.name,
                    "a consumer stopped on its own; stopping the service");
            }
        }
        running.stop().await
    }

    /// Start the endpoint and every consumer; the returned handle stops them.
    pub async fn start(self) -> Result<RunningService<T>, ServiceError> {
        let readiness = self.readiness;
        let server = match self.endpoint {
            Some(addr) => {
                let metrics = crate::observe::install_prometheus().map_err(|source| {
                    ServiceError::Metrics {
                        service: self.name.clone(),
                        source,
                    }
                })?;
                let server = crate::observe::serve(addr, metrics, readiness.clone(), self.health)
                    .await
                    .map_err(|source| ServiceError::Endpoint {
                        service: self.name.clone(),
                        addr,
                        source,
                    })?;
                Some(server)
            }
            None => None,
        };
        let (trigger, shutdown) = Shutdown::channel();
        let watch = ConsumerWatch::default();
        let consumers = self
            .consumers
            .into_iter()
            .map(|(group, run)| {
                let consuming = run(shutdown.clone());
                let (watch, readiness) = (watch.clone(), readiness.clone());
                let (service, name) = (self.name.clone(), group.clone());
                let task = tokio::spawn(async move {
                    let result = consuming.await;
                    if !watch.stopping.load(Ordering::SeqCst) {
                        // Not asked to stop: the service no longer does all its work.
                        readiness.set(false);
                        match &result {
                            Ok(_) => tracing::error!(service = %service, group = %name,
                                "consumer stopped before the service did; not ready"),
                            Err(e) => tracing::error!(service = %service, group = %name,
                                error = %e, "consumer failed; not ready"),
                        }
                        watch.stopped.notify_one();
                    }
                    result
                });
                (group, task)
            })
            .collect();
        readiness.set(true);
        tracing::info!(service = %self.name, "service started");
        Ok(RunningService {
            name: self.name,
            publisher: self.publisher,
            consumers,
            trigger,
            server,
            readiness,
            watch,
        })
    }
}

/// Whether the service is stopping, and a signal for a consumer that stopped on its own.
#[derive(Clone, Default)]
struct ConsumerWatch {
    stopping: Arc<AtomicBool>,
    stopped: Arc<tokio::sync::Notify>,
}

/// A started [`Service`].
pub struct RunningService<T: Transport> {
    name: String,
    publisher: Publisher<T>,
    consumers: Vec<(String, tokio::task::JoinHandle<Consumed>)>,
    trigger: crate::consumer::ShutdownTrigger,
    server: Option<ObserveServer>,
    readiness: Readiness,
    watch: ConsumerWatch,
}

impl<T: Transport> RunningService<T> {
    /// The service's publisher.
    pub fn publisher(&self) -> &Publisher<T> {
        &self.publisher
    }

    /// Where `/metrics`, `/health` and `/ready` are served, if they are.
    pub fn endpoint(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(ObserveServer::local_addr)
    }

    /// Wait until a consumer stops without being asked to (its run failed, or it ended): then
    /// `/ready` already answers 503. [`Service::run`] stops the whole service when that happens,
    /// so the process exits with the consumer's error and its supervisor restarts it.
    pub async fn consumer_stopped(&self) {
        self.watch.stopped.notified().await;
    }

    /// Stop gracefully: `/ready` turns 503, every consumer finishes and commits its in-flight
    /// events, the publisher delivers and flushes, the endpoint closes. The first consumer
    /// error is returned after everything has stopped.
    pub async fn stop(self) -> Result<ServiceReport, ServiceError> {
        self.watch.stopping.store(true, Ordering::SeqCst);
        self.readiness.set(false);
        self.trigger.trigger();
        let mut report = ServiceReport::default();
        let mut first_error = None;
        for (group, task) in self.consumers {
            let error = match task.await {
                Ok(Ok(run)) => {
                    report.consumers.push((group, run));
                    continue;
                }
                Ok(Err(source)) => ServiceError::Consumer {
                    service: self.name.clone(),
                    group,
                    source,
                },
                Err(e) => ServiceError::Aborted {
                    service: self.name.clone(),
                    group,
                    reason: e.to_string(),
                },
            };
            tracing::error!(service = %self.name, error = %error, "consumer stopped with an error");
            first_error.get_or_insert(error);
        }
        self.publisher.close().await;
        if let Some(server) = self.server {
            server.stop().await;
        }
        tracing::info!(service = %self.name, "service stopped");
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }
}
