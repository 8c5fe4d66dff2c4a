//! The real-time service: appointment, clinical and journey events from Kafka in, per-patient and per-care-team notifications out over WebSocket and server-sent events.
//!
//! - [`notification`]: each event that concerns a person as a notification without PHI
//!   (ids, a kind, a short fixed text; never names, values or free text).
//! - [`hub`]: a bounded replay buffer per patient and care team, ids that only grow, and a
//!   broadcast of new notifications.
//! - [`feed`]: the typed handlers of the three topics.
//! - [`token`]: HS256 tokens naming the patients and teams a client may follow.
//! - [`api`]: `GET /ws`, `GET /events` (SSE) and a browser page.
//!
//! [`RealtimeService::start`] runs it on the runtime's [`Service`]: one shared publisher, one
//! consumer per topic, `/metrics`, `/health` and `/ready` on the observability endpoint, and
//! a graceful stop that closes every open stream.

pub mod api;
pub mod feed;
pub mod hub;
pub mod notification;
pub mod token;

use carebus::transport::Transport;
use carebus::{
    ConsumerConfig, PublisherConfig, RunningService, Service, ServiceError, ServiceReport,
    Settings, TopicEvents,
};
use carebus_schemas::{
    AppointmentsDispatcher, AppointmentsEvent, ClinicalDispatcher, ClinicalEvent,
    JourneysDispatcher, JourneysEvent,
};
use std::net::SocketAddr;
use std::sync::Arc;

/// The service's name: its CloudEvents source and the prefix of its consumer groups.
pub const SERVICE: &str = "realtime-service";

/// The shortest token key accepted (bytes): HS256 keys shorter than the hash are weak.
pub const MIN_KEY_BYTES: usize = 32;

/// How the real-time service runs; [`RealtimeConfig::from_env`] reads it from the environment.
#[derive(Clone)]
pub struct RealtimeConfig {
    /// Where the WebSocket and SSE endpoints listen (`CAREBUS_REALTIME_LISTEN`, default
    /// 127.0.0.1:8084; port 0 picks one).
    pub listen: SocketAddr,
    /// Where `/metrics`, `/health` and `/ready` are served (`CAREBUS_REALTIME_ENDPOINT`,
    /// default 127.0.0.1:9467; `off` serves none).
    pub endpoint: Option<SocketAddr>,
    /// The HMAC key tokens are signed with (`CAREBUS_REALTIME_TOKEN_KEY`, at least
    /// [`MIN_KEY_BYTES`] bytes; required).
    pub token_key: Vec<u8>,
    /// Notifications kept per patient and per care team for clients that reconnect
    /// (`CAREBUS_REALTIME_REPLAY`, default 256).
    pub replay: usize,
    /// Consumer group prefix (`CAREBUS_REALTIME_GROUP`, default `realtime-service`): the
    /// groups are `<prefix>.appointments`, `<prefix>.clinical`, `<prefix>.journeys`.
    pub group: String,
    /// Topic of appointment events (`CAREBUS_REALTIME_APPOINTMENTS_TOPIC`).
    pub appointments_topic: String,
    /// Topic of clinical events (`CAREBUS_REALTIME_CLINICAL_TOPIC`).
    pub clinical_topic: String,
    /// Topic of journey events (`CAREBUS_REALTIME_JOURNEYS_TOPIC`).
    pub journeys_topic: String,
}

impl std::fmt::Debug for RealtimeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimeConfig")
            .field("listen", &self.listen)
            .field("endpoint", &self.endpoint)
            .field("token_key", &"<redacted>")
            .field("replay", &self.replay)
            .field("group", &self.group)
            .field("appointments_topic", &self.appointments_topic)
            .field("clinical_topic", &self.clinical_topic)
            .field("journeys_topic", &self.journeys_topic)
            .finish()
    }
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        RealtimeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8084)),
            endpoint: Some(SocketAddr::from(([127, 0, 0, 1], 9467))),
            token_key: Vec::new(),
            replay: 256,
            group: SERVICE.into(),
            appointments_topic: AppointmentsEvent::TOPIC.into(),
            clinical_topic: ClinicalEvent::TOPIC.into(),
            journeys_topic: JourneysEvent::TOPIC.into(),
        }
    }
}

/// Why the real-time service could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RealtimeError {
    /// A setting is not valid.
    #[error("realtime-service: {name} is not valid: expected {expected}")]
    Config {
        /// The environment variable (its value is not repeated: it may be the key).
        name: String,
        /// What it should look like.
        expected: &'static str,
    },
    /// The runtime's configuration (publisher, consumer) is not valid.
    #[error("realtime-service: {0}")]
    Settings(#[from] carebus::ConfigError),
    /// The endpoints could not listen.
    #[error("realtime-service: cannot serve notifications on {addr}: {source}")]
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

impl RealtimeConfig {
    /// Defaults overridden by the `CAREBUS_REALTIME_*` variables.
    pub fn from_env() -> Result<RealtimeConfig, RealtimeError> {
        Self::from_vars(std::env::vars())
    }

    /// Defaults overridden by `vars` (name, value).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<RealtimeConfig, RealtimeError> {
        let mut c = RealtimeConfig::default();
        let invalid = |name: &str, expected| RealtimeError::Config {
            name: name.into(),
            expected,
        };
        let addr = |name: &str, value: &str| {
            value
                .parse::<SocketAddr>()
                .map_err(|_| invalid(name, "host:port, e.g. 127.0.0.1:8084"))
        };
        for (name, value) in vars {
            match name.as_str() {
                "CAREBUS_REALTIME_LISTEN" => c.listen = addr(&name, &value)?,
                "CAREBUS_REALTIME_ENDPOINT" if value == "off" => c.endpoint = None,
                "CAREBUS_REALTIME_ENDPOINT" => c.endpoint = Some(addr(&name, &value)?),
                "CAREBUS_REALTIME_TOKEN_KEY" => c.token_key = value.into_bytes(),
                "CAREBUS_REALTIME_REPLAY" => {
                    c.replay = value
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| invalid(&name, "a positive number of notifications"))?;
                }
                "CAREBUS_REALTIME_GROUP" => c.group = value,
                "CAREBUS_REALTIME_APPOINTMENTS_TOPIC" => c.appointments_topic = value,
                "CAREBUS_REALTIME_CLINICAL_TOPIC" => c.clinical_topic = value,
                "CAREBUS_REALTIME_JOURNEYS_TOPIC" => c.journeys_topic = value,
                _ => {}
            }
        }
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), RealtimeError> {
        if self.token_key.len() < MIN_KEY_BYTES {
            return Err(RealtimeError::Config {
                name: "CAREBUS_REALTIME_TOKEN_KEY".into(),
                expected: "a secret of at least 32 bytes (e.g. `openssl rand -hex 32`)",
            });
        }
        Ok(())
    }
}

/// A started real-time service.
pub struct RealtimeService<T: Transport> {
    service: RunningService<T>,
    api_addr: SocketAddr,
    api: tokio::task::JoinHandle<()>,
    stopping: tokio::sync::watch::Sender<bool>,
    hub: hub::Hub,
}

impl<T: Transport> RealtimeService<T> {
    /// Start the three consumers, the observability endpoint and the notification endpoints.
    /// Consumer settings come from `consumer` (group and topics are set here); the
    /// publisher's from `publisher`.
    pub async fn start(
        config: RealtimeConfig,
        transport: T,
        publisher: PublisherConfig,
        consumer: ConsumerConfig,
    ) -> Result<RealtimeService<T>, RealtimeError> {
        config.check()?;
        let key = token::TokenKey::new(&config.token_key).map_err(|_| RealtimeError::Config {
            name: "CAREBUS_REALTIME_TOKEN_KEY".into(),
            expected: "a secret usable as an HS256 key",
        })?;
        let first_id = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_micros() as u64);
        let hub = hub::Hub::new(config.replay, first_id);
        let mut service = Service::new(SERVICE, transport, publisher)?;
        let feed = feed::Feed::new(hub.clone());
        let group = |suffix: &str, topic: &str| {
            let mut c = consumer.clone();
            c.group_id = format!("{}.{suffix}", config.group);
            c.topics = vec![topic.to_string()];
            c
        };
        service
            .consume(
                group("appointments", &config.appointments_topic),
                AppointmentsDispatcher(feed.clone()),
            )
            .consume(
                group("clinical", &config.clinical_topic),
                ClinicalDispatcher(feed.clone()),
            )
            .consume(
                group("journeys", &config.journeys_topic),
                JourneysDispatcher(feed),
            );
        if let Some(addr) = config.endpoint {
            service.serve_endpoint(addr);
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| RealtimeError::Listen {
                addr: config.listen,
                source,
            })?;
        let api_addr = listener
            .local_addr()
            .map_err(|source| RealtimeError::Listen {
                addr: config.listen,
                source,
            })?;
        let service = service.start().await?;
        let (stopping, stopped) = tokio::sync::watch::channel(false);
        let router = api::router(Arc::new(api::Api {
            hub: hub.clone(),
            key,
            stopping: stopped.clone(),
        }));
        let api = tokio::spawn(async move {
            let mut stopped = stopped;
            let serving = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            });
            if let Err(e) = serving.await {
                tracing::error!(error = %e, "the notification endpoints stopped");
            }
        });
        tracing::info!(api = %api_addr, "realtime-service started");
        Ok(RealtimeService {
            service,
            api_addr,
            api,
            stopping,
            hub,
        })
    }

    /// Start with the runtime's settings from the environment (`CAREBUS_PUBLISHER_*`,
    /// `CAREBUS_CONSUMER_*`, `CAREBUS_CONFIG`).
    pub async fn start_from_env(
        config: RealtimeConfig,
        transport: T,
    ) -> Result<Self, RealtimeError> {
        let publisher = PublisherConfig::load()?;
        let consumer = ConsumerConfig::new(config.group.clone()).load()?;
        Self::start(config, transport, publisher, consumer).await
    }

    /// Where the WebSocket and SSE endpoints listen.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// Where `/metrics`, `/health` and `/ready` are served, if they are.
    pub fn endpoint(&self) -> Option<SocketAddr> {
        self.service.endpoint()
    }

    /// The recorded notifications.
    pub fn hub(&self) -> &hub::Hub {
        &self.hub
    }

    /// Run until SIGTERM or ctrl-c (or a consumer fails), then stop gracefully.
    pub async fn run_until_signalled(self) -> Result<ServiceReport, RealtimeError> {
        let mut signals = carebus::Shutdown::on_signals();
        tokio::select! {
            _ = signals.wait() => tracing::info!("stop signal received"),
            _ = self.service.consumer_stopped() => {
                tracing::error!("a consumer stopped on its own; stopping the service");
            }
        }
        self.stop().await
    }

    /// Stop: every open stream ends (WebSocket clients get a close frame saying to reconnect
    /// with their last id), the endpoints stop, then the consumers finish and commit.
    pub async fn stop(self) -> Result<ServiceReport, RealtimeError> {
        let _ = self.stopping.send(true);
        let _ = self.api.await;
        Ok(self.service.stop().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_token_key_is_required_and_never_repeated_in_errors() {
        let e = RealtimeConfig::from_vars(vars(&[("CAREBUS_REALTIME_TOKEN_KEY", "short")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CAREBUS_REALTIME_TOKEN_KEY"), "{e}");
        assert!(!e.contains("short"), "{e}");
        assert!(RealtimeConfig::from_vars(vars(&[])).is_err());
    }

    #[test]
    fn settings_come_from_the_environment() {
        let key = "k".repeat(32);
        let c = RealtimeConfig::from_vars(vars(&[
            ("CAREBUS_REALTIME_TOKEN_KEY", &key),
            ("CAREBUS_REALTIME_LISTEN", "127.0.0.1:0"),
            ("CAREBUS_REALTIME_ENDPOINT", "off"),
            ("CAREBUS_REALTIME_REPLAY", "8"),
        ]))
        .unwrap();
        assert_eq!(c.listen.port(), 0);
        assert_eq!(c.endpoint, None);
        assert_eq!(c.replay, 8);
        assert!(!format!("{c:?}").contains(&key));
        let bad = RealtimeConfig::from_vars(vars(&[
            ("CAREBUS_REALTIME_TOKEN_KEY", &key),
            ("CAREBUS_REALTIME_REPLAY", "0"),
        ]));
        assert!(bad.is_err());
    }
}
