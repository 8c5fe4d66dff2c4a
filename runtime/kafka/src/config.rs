//! Kafka transport settings (from code, environment or a TOML file) in, librdkafka producer and consumer configurations out.
//!
//! carebus sets safe defaults — idempotent producer, `acks=all`, Kafka's murmur2 partitioner
//! (so the in-process bus and Kafka put a key on the same partition), read-committed consumers
//! that store offsets only after processing — and then applies every property the user passed,
//! untouched, so any librdkafka setting can be changed.

use carebus_core::config::{self, ConfigError, Secret, Settings};
use carebus_core::transport::{OffsetReset, SubscribeConfig};
use rdkafka::ClientConfig;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The bootstrap address used when none is configured (the test broker of `scripts/services`).
pub const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:19092";

/// How long librdkafka waits before fetching again for a partition whose prefetch queue was
/// full (its default is 1,000).
const FETCH_QUEUE_BACKOFF_MS: &str = "10";

/// Payload compression of produced batches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip: smallest batches, most CPU.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4 (the default): fast, with a good ratio for JSON-like payloads.
    #[default]
    Lz4,
    /// Zstandard: a better ratio than LZ4 for a little more CPU.
    Zstd,
}

impl Compression {
    /// The librdkafka `compression.type` value.
    pub fn as_config(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Parse `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    pub fn parse(text: &str) -> Result<Compression, ConfigError> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "none" => Compression::None,
            "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            "lz4" => Compression::Lz4,
            "zstd" => Compression::Zstd,
            other => {
                return Err(ConfigError::value(
                    "compression",
                    format!("none, gzip, snappy, lz4 or zstd (not `{other}`)"),
                ));
            }
        })
    }
}

/// How clients authenticate to the brokers and check their certificates: librdkafka's
/// `security.protocol`, `sasl.*` and `ssl.ca.location`, set before the user's properties. Its
/// `Debug` hides the password.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KafkaSecurity {
    /// `PLAINTEXT` (when None), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    pub protocol: Option<String>,
    /// SASL mechanism; `SCRAM-SHA-512` when a username is set and this is None.
    pub sasl_mechanism: Option<String>,
    /// SASL username (for carebus's secured cluster: the service's name in services.toml).
    pub username: Option<String>,
    /// SASL password: from `sasl_password_file` (preferred) or `CAREBUS_KAFKA_SASL_PASSWORD`.
    pub password: Option<Secret>,
    /// PEM file of the CA that signed the brokers' certificates (`ssl.ca.location`).
    pub ca_location: Option<PathBuf>,
}

impl KafkaSecurity {
    /// The principal the brokers' authorizer sees for these settings: `User:<username>`, or
    /// `User:ANONYMOUS` without SASL (a TLS client certificate's name is not known here).
    pub fn principal(&self) -> String {
        match &self.username {
            Some(user) => format!("User:{user}"),
            None => "User:ANONYMOUS".to_string(),
        }
    }

    /// The librdkafka properties these settings stand for (the password among them: hand
    /// them to librdkafka, never to a log).
    pub fn properties(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(p) = &self.protocol {
            out.push(("security.protocol", p.clone()));
        }
        if let Some(user) = &self.username {
            let mechanism = self.sasl_mechanism.as_deref().unwrap_or("SCRAM-SHA-512");
            out.push(("sasl.mechanisms", mechanism.to_string()));
            out.push(("sasl.username", user.clone()));
        } else if let Some(m) = &self.sasl_mechanism {
            out.push(("sasl.mechanisms", m.clone()));
        }
        if let Some(pw) = &self.password {
            out.push(("sasl.password", pw.expose().to_string()));
        }
        if let Some(ca) = &self.ca_location {
            out.push(("ssl.ca.location", ca.display().to_string()));
        }
        out
    }
}

/// librdkafka properties whose values are secrets: `Debug` of a config shows them hidden.
fn is_secret_property(name: &str) -> bool {
    name.contains("password") || name.contains("secret") || name.ends_with(".key.pem")
}

/// A property map for `Debug`, secret values hidden.
struct ShownProperties<'a>(&'a BTreeMap<String, String>);

impl std::fmt::Debug for ShownProperties<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown = if is_secret_property(k) {
                    "[hidden]"
                } else {
                    v.as_str()
                };
                (k, shown)
            }))
            .finish()
    }
}

/// Settings of the Kafka transport. Its `Debug` hides passwords and secrets.
#[derive(Clone, PartialEq)]
pub struct KafkaConfig {
    /// `bootstrap.servers`, a comma-separated host:port list.
    pub bootstrap: String,
    /// `client.id`, shown in broker logs and metrics.
    pub client_id: String,
    /// `compression.type` of produced batches (default LZ4).
    pub compression: Compression,
    /// Largest record accepted (`message.max.bytes`); larger ones are rejected before sending.
    pub message_max_bytes: usize,
    /// How long a record may wait for its acknowledgement, retries included
    /// (`message.timeout.ms`). Short enough that a dead broker surfaces as an error the
    /// publisher's breaker can act on.
    pub delivery_timeout: Duration,
    /// How long `send` waits for room in the local queue before failing with QueueFull.
    pub queue_timeout: Duration,
    /// `transactional.id` of the transactional producer; a unique one is generated when None.
    pub transactional_id: Option<String>,
    /// librdkafka properties for producers and consumers, applied after carebus's defaults.
    pub properties: BTreeMap<String, String>,
    /// librdkafka properties for producers only.
    pub producer_properties: BTreeMap<String, String>,
    /// librdkafka properties for consumers only.
    pub consumer_properties: BTreeMap<String, String>,
    /// TLS and SASL settings (before `properties`, which may override them).
    pub security: KafkaSecurity,
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("bootstrap", &self.bootstrap)
            .field("client_id", &self.client_id)
            .field("compression", &self.compression)
            .field("message_max_bytes", &self.message_max_bytes)
            .field("delivery_timeout", &self.delivery_timeout)
            .field("queue_timeout", &self.queue_timeout)
            .field("transactional_id", &self.transactional_id)
            .field("properties", &ShownProperties(&self.properties))
            .field(
                "producer_properties",
                &ShownProperties(&self.producer_properties),
            )
            .field(
                "consumer_properties",
                &ShownProperties(&self.consumer_properties),
            )
            .field("security", &self.security)
            .finish()
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap: DEFAULT_BOOTSTRAP.into(),
            client_id: "carebus".into(),
            compression: Compression::default(),
            message_max_bytes: 1_000_000,
            delivery_timeout: Duration::from_secs(30),
            queue_timeout: Duration::from_secs(5),
            transactional_id: None,
            properties: BTreeMap::new(),
            producer_properties: BTreeMap::new(),
            consumer_properties: BTreeMap::new(),
            security: KafkaSecurity::default(),
        }
    }
}

impl KafkaConfig {
    /// Defaults with the given bootstrap servers.
    pub fn new(bootstrap: impl Into<String>) -> KafkaConfig {
        KafkaConfig {
            bootstrap: bootstrap.into(),
            ..KafkaConfig::default()
        }
    }

    /// What every client of this cluster needs — bootstrap servers and security — as
    /// properties, followed by the user's `properties`: for admin clients and tools
    /// ([`crate::admin::TopicAdmin::connect`], [`crate::group_lag`]).
    pub fn client_properties(&self) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = self
            .security
            .properties()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        out.extend(self.properties.clone());
        out
    }

    /// A client configuration with the bootstrap servers, client id and security settings.
    fn base_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap)
            .set("client.id", &self.client_id);
        for (k, v) in self.security.properties() {
            c.set(k, v);
        }
        c
    }

    /// The producer configuration: idempotent, acks=all, murmur2 partitioner, then user
    /// properties (which may override any of it).
    pub fn producer_config(&self) -> ClientConfig {
        let mut c = self.base_config();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("compression.type", self.compression.as_config())
            .set("message.max.bytes", self.message_max_bytes.to_string())
            .set(
                "message.timeout.ms",
                self.delivery_timeout.as_millis().to_string(),
            )
            // 1 ms rather than librdkafka's 5: under load batches fill anyway, and at a steady
            // 2,000 events/s it keeps publish p99 under 10 ms (see `cargo bench --bench kafka`).
            .set("linger.ms", "1");
        for (k, v) in self.properties.iter().chain(&self.producer_properties) {
            c.set(k, v);
        }
        c
    }

    /// The transactional producer's configuration.
    pub fn transactional_config(&self, transactional_id: &str) -> ClientConfig {
        let mut c = self.producer_config();
        c.set("transactional.id", transactional_id);
        c
    }

    /// The consumer configuration for one group member: offsets stored only after
    /// processing and auto-committed, read-committed isolation, then user and subscription
    /// properties.
    pub fn consumer_config(&self, subscribe: &SubscribeConfig) -> ClientConfig {
        let mut c = self.base_config();
        c.set("group.id", &subscribe.group_id)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "false")
            // librdkafka postpones a partition's next fetch by this much once its prefetch
            // queue is over `queued.min.messages` / `queued.max.messages.kbytes`; at its
            // default (1 s) a consumer that drains the queue sooner sits idle until the
            // backoff ends (measured: a typed consumer idle for 600 ms of a 1.6 s run).
            .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)
            // librdkafka's statistics every 5 s carry each partition's lag, which the
            // consumer reports as `carebus_consumer_lag` (a property overrides it; 0 = off).
            .set("statistics.interval.ms", "5000")
            .set(
                "auto.offset.reset",
                match subscribe.offset_reset {
                    OffsetReset::Earliest => "earliest",
                    OffsetReset::Latest => "latest",
                },
            );
        for (k, v) in self
            .properties
            .iter()
            .chain(&self.consumer_properties)
            .chain(&subscribe.properties)
        {
            c.set(k, v);
        }
        c
    }
}

/// `[kafka]` in files (with `[kafka.properties]`, `[kafka.producer]`, `[kafka.consumer]`
/// tables of librdkafka properties); `CAREBUS_KAFKA_<KEY>` in the environment, and
/// `CAREBUS_KAFKA_PROPERTIES` as `key=value` pairs separated by commas or newlines. Security:
/// `security_protocol`, `sasl_mechanism`, `sasl_username`, `sasl_password_file` (a file holding
/// only the password; or `sasl_password`, e.g. `CAREBUS_KAFKA_SASL_PASSWORD`), `ssl_ca_location`.
impl Settings for KafkaConfig {
    const SECTION: &'static str = "kafka";
    const ENV_PREFIX: &'static str = "CAREBUS_KAFKA_";

    fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        match key {
            "bootstrap" => {
                if !value.trim().is_empty() {
                    self.bootstrap = value.trim().to_string();
                }
            }
            "client_id" => self.client_id = value.to_string(),
            "compression" => self.compression = Compression::parse(value)?,
            "message_max_bytes" => {
                self.message_max_bytes = config::parse(key, value, "a whole number of bytes")?
            }
            "delivery_timeout_ms" => self.delivery_timeout = config::millis(key, value)?,
            "queue_timeout_ms" => self.queue_timeout = config::millis(key, value)?,
            "security_protocol" => {
                let p = value.trim().to_ascii_uppercase();
                if !matches!(
                    p.as_str(),
                    "PLAINTEXT" | "SSL" | "SASL_PLAINTEXT" | "SASL_SSL"
                ) {
                    return Err(ConfigError::value(
                        key,
                        "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
                    ));
                }
                self.security.protocol = Some(p);
            }
            "sasl_mechanism" => self.security.sasl_mechanism = Some(value.trim().to_string()),
            "sasl_username" => self.security.username = Some(value.trim().to_string()),
            "sasl_password" => self.security.password = Some(Secret::new(value)),
            "sasl_password_file" => {
                self.security.password = Some(Secret::from_file(&PathBuf::from(value.trim()))?)
            }
            "ssl_ca_location" => self.security.ca_location = Some(PathBuf::from(value.trim())),
            "transactional_id" => {
                self.transactional_id = Some(value.to_string()).filter(|v| !v.is_empty())
            }
            "properties" => {
                for pair in value
                    .split([',', '\n'])
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                {
                    let (k, v) = pair.split_once('=').ok_or_else(|| {
                        ConfigError::value(key, "key=value pairs separated by commas")
                    })?;
                    self.properties
                        .insert(k.trim().to_string(), v.trim().to_string());
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn properties(&mut self, table: &str) -> Option<&mut BTreeMap<String, String>> {
        match table {
            "properties" => Some(&mut self.properties),
            "producer" => Some(&mut self.producer_properties),
            "consumer" => Some(&mut self.consumer_properties),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_defaults_are_safe_and_user_properties_win() {
        let mut cfg = KafkaConfig::new("b:9092");
        cfg.compression = Compression::Zstd;
        cfg.property("linger.ms", "0");
        let c = cfg.producer_config();
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("acks"), Some("all"));
        assert_eq!(c.get("compression.type"), Some("zstd"));
        assert_eq!(c.get("partitioner"), Some("murmur2_random"));
        assert_eq!(c.get("linger.ms"), Some("0"));
        assert_eq!(
            cfg.transactional_config("t-1").get("transactional.id"),
            Some("t-1")
        );
    }

    #[test]
    fn consumers_store_after_processing_and_read_committed() {
        let mut sub = SubscribeConfig::new("g", &["t"]);
        sub.offset_reset = OffsetReset::Latest;
        sub.properties
            .insert("max.poll.interval.ms".into(), "60000".into());
        let c = KafkaConfig::default().consumer_config(&sub);
        assert_eq!(c.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(c.get("enable.auto.commit"), Some("true"));
        assert_eq!(c.get("isolation.level"), Some("read_committed"));
        assert_eq!(c.get("auto.offset.reset"), Some("latest"));
        assert_eq!(c.get("max.poll.interval.ms"), Some("60000"));
        assert_eq!(
            c.get("fetch.queue.backoff.ms"),
            Some(FETCH_QUEUE_BACKOFF_MS)
        );
        sub.properties
            .insert("fetch.queue.backoff.ms".into(), "250".into());
        let c = KafkaConfig::default().consumer_config(&sub);
        assert_eq!(c.get("fetch.queue.backoff.ms"), Some("250"));
    }

    #[test]
    fn file_and_environment_settings_apply() {
        let mut cfg = KafkaConfig::default();
        cfg.apply_toml(
            r#"
[kafka]
bootstrap = "k1:9092,k2:9092"
compression = "gzip"
delivery_timeout_ms = 5000
[kafka.properties]
"socket.keepalive.enable" = true
[kafka.producer]
"linger.ms" = 20
"#,
        )
        .unwrap();
        assert_eq!(cfg.bootstrap, "k1:9092,k2:9092");
        assert_eq!(cfg.compression, Compression::Gzip);
        assert_eq!(cfg.delivery_timeout, Duration::from_secs(5));
        assert_eq!(cfg.properties["socket.keepalive.enable"], "true");
        assert_eq!(cfg.producer_config().get("linger.ms"), Some("20"));
        let vars = [
            ("CAREBUS_KAFKA_BOOTSTRAP", "env:1"),
            ("CAREBUS_KAFKA_PROPERTIES", "a=1, b = 2"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        cfg.apply_env(vars).unwrap();
        assert_eq!(cfg.bootstrap, "env:1");
        assert_eq!(cfg.properties["b"], "2");
        assert!(
            KafkaConfig::default()
                .apply_toml("[kafka]\nbogus = 1")
                .is_err()
        );
        assert!(Compression::parse("brotli").is_err());
    }
}
