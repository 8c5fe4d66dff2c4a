//! Publisher settings from code, `CAREBUS_*` environment variables and a TOML file turned into one `PublisherConfig`.
//!
//! Precedence: defaults < file < environment < code (a setter called after loading wins).
//!
//! | TOML key (`[publisher]`) | environment | default |
//! |---|---|---|
//! | `source` | `CAREBUS_SOURCE` | `carebus` |
//! | `framing` (`single-object`, `json`, `structured-json`) | `CAREBUS_FRAMING` | `single-object` |
//! | `max_message_bytes` | `CAREBUS_MAX_MESSAGE_BYTES` | 1000000 |
//! | `retry_attempts` | `CAREBUS_RETRY_ATTEMPTS` | 5 |
//! | `retry_initial_ms` / `retry_max_ms` | `CAREBUS_RETRY_INITIAL_MS` / `CAREBUS_RETRY_MAX_MS` | 50 / 5000 |
//! | `breaker_failures` / `breaker_open_ms` | `CAREBUS_BREAKER_FAILURES` / `CAREBUS_BREAKER_OPEN_MS` | 5 / 5000 |
//! | `outbox_dir` | `CAREBUS_OUTBOX_DIR` | none (no outbox) |
//! | `outbox_key` | `CAREBUS_OUTBOX_KEY` | none: required with `outbox_dir` (base64 of 32 bytes) |
//! | `outbox_key_file` | `CAREBUS_OUTBOX_KEY_FILE` | none (a file holding the base64 key; `outbox_key` wins) |
//! | `outbox_max_bytes` | `CAREBUS_OUTBOX_MAX_BYTES` | 1073741824 (1 GiB of sealed records) |
//! | `outbox_retry_ms` / `outbox_drain_window` | `CAREBUS_OUTBOX_RETRY_MS` / `CAREBUS_OUTBOX_DRAIN_WINDOW` | 500 / 512 |
//! | `claim_check_dir` | `CAREBUS_CLAIM_CHECK_DIR` | none |
//! | `dead_letter_topic` | `CAREBUS_DEAD_LETTER_TOPIC` | `carebus.publish.dlq` |
//! | `reply_topic` | `CAREBUS_REPLY_TOPIC` | none |
//! | `data_schema_base` | `CAREBUS_DATA_SCHEMA_BASE` | none (no `ce_dataschema`) |
//! | `type_prefix` | `CAREBUS_TYPE_PREFIX` | none: CloudEvents `type` is the event type's name (`PatientCreated`); set, `<prefix>.patient.created` |
//! | `[publisher.properties]` table | `CAREBUS_PROP_<NAME>` (`_` → `.`, lowercased) | — |
//!
//! `properties` are passed through to the transport untouched (librdkafka properties such as
//! `bootstrap.servers`, `compression.type`, `acks` for Kafka).

use super::outbox::{self, OutboxError, OutboxKey};
use crate::config::{self, ConfigError, Settings};
use crate::wire::Framing;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Retries of retriable transport errors: exponential backoff with full jitter.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total (1 = no retry).
    pub attempts: u32,
    /// Ceiling of the first pause (default 50 ms).
    pub initial_backoff: Duration,
    /// Largest pause between attempts (default 5 s).
    pub max_backoff: Duration,
    /// Growth of the pause ceiling per attempt (default 2.0).
    pub multiplier: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
            multiplier: 2.0,
        }
    }
}

impl RetryPolicy {
    /// The pause before attempt `attempt + 1` (attempt counts from 1): a random duration up to
    /// `initial × multiplier^(attempt-1)`, capped at `max_backoff`, and at least a quarter of it.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .multiplier
            .powi(attempt.saturating_sub(1).min(30) as i32);
        let ceiling = self
            .initial_backoff
            .mul_f64(exp.max(1.0))
            .min(self.max_backoff);
        let floor = ceiling / 4;
        floor + (ceiling - floor).mul_f64(fastrand::f64())
    }
}

/// When the circuit breaker opens and for how long.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive retriable failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before one probe is let through (half-open).
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            open_for: Duration::from_secs(5),
        }
    }
}

/// Everything a [`Publisher`](super::Publisher) is configured with.
#[derive(Clone, Debug)]
pub struct PublisherConfig {
    /// CloudEvents `source` / envelope `metadata.source` (the producing service).
    pub source: String,
    /// How event payloads are framed in record values (default Avro single-object).
    pub framing: Framing,
    /// Largest record (key + value + headers) sent as is.
    pub max_message_bytes: usize,
    /// Retries of retriable transport failures (default 5 attempts, 50 ms to 5 s).
    pub retry: RetryPolicy,
    /// When the circuit breaker opens (default after 5 failures in a row, for 5 s).
    pub breaker: BreakerConfig,
    /// Directory of the durable outbox; `None` disables it (events fail instead of waiting).
    /// An outbox needs a key ([`PublisherConfig::outbox_key`] or
    /// [`PublisherConfig::outbox_key_file`]): its records hold event payloads (PHI) and are
    /// encrypted at rest.
    pub outbox_dir: Option<PathBuf>,
    /// The key the outbox's records are encrypted with (AES-256-GCM); `Debug` never shows it.
    pub outbox_key: Option<OutboxKey>,
    /// A file holding the outbox key as base64 (a mounted secret), read when the publisher
    /// opens the outbox; used when `outbox_key` is not set.
    pub outbox_key_file: Option<PathBuf>,
    /// Largest size of the outbox's records (sealed), in bytes (default 1 GiB). A publish that
    /// would need the outbox beyond it fails with `PublishError::OutboxFull`.
    pub outbox_max_bytes: u64,
    /// How often the outbox is retried while the transport is down.
    pub outbox_retry_interval: Duration,
    /// Outbox records in flight at once while the outbox drains. A round stops at its first
    /// failure and is sent again from there; records after the failed one may already be
    /// written (librdkafka writes 1, 4, 5 when 2 and 3 time out), so after such a failure a
    /// partition can hold a record after later ones, then those again. 1 keeps strict order
    /// at one round trip per record.
    pub outbox_drain_window: usize,
    /// Directory of the claim-check store for oversized events; `None` rejects them.
    pub claim_check_dir: Option<PathBuf>,
    /// Topic for events the transport refuses for good; `None` returns the error only.
    pub dead_letter_topic: Option<String>,
    /// Topic replies are read from (request-reply).
    pub reply_topic: Option<String>,
    /// Base URI for `ce_dataschema` (`{base}/{EventType}.v{N}`); none by default.
    pub data_schema_base: Option<String>,
    /// Reverse-DNS prefix of the CloudEvents `type` (`org.example.healthcare` →
    /// `org.example.healthcare.patient.created`); `None` writes the plain event type name.
    /// Consumers read such types with the same prefix in `ConsumerConfig::ce_types`.
    pub type_prefix: Option<String>,
    /// Transport properties passed through (librdkafka properties for Kafka).
    pub properties: BTreeMap<String, String>,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        PublisherConfig {
            source: "carebus".into(),
            framing: Framing::SingleObject,
            max_message_bytes: 1_000_000,
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
            outbox_dir: None,
            outbox_key: None,
            outbox_key_file: None,
            outbox_max_bytes: outbox::DEFAULT_MAX_BYTES,
            outbox_retry_interval: Duration::from_millis(500),
            outbox_drain_window: 512,
            claim_check_dir: None,
            dead_letter_topic: Some("carebus.publish.dlq".into()),
            reply_topic: None,
            data_schema_base: None,
            type_prefix: None,
            properties: BTreeMap::new(),
        }
    }
}

fn num<T: std::str::FromStr>(key: &str, text: &str) -> Result<T, ConfigError> {
    config::parse(key, text, "a whole number")
}

impl PublisherConfig {
    /// Defaults, overridden by the file at `CAREBUS_CONFIG` (if set), then by `CAREBUS_*`.
    pub fn load() -> Result<Self, ConfigError> {
        Settings::load(PublisherConfig::default())
    }

    /// The outbox key: `outbox_key`, else the key in `outbox_key_file`; an error saying how to
    /// set one when neither is (`dir` is the outbox directory, for the message).
    pub fn resolve_outbox_key(&self, dir: &std::path::Path) -> Result<OutboxKey, OutboxError> {
        if let Some(key) = &self.outbox_key {
            return Ok(key.clone());
        }
        let Some(path) = &self.outbox_key_file else {
            return Err(OutboxError::NoKey {
                dir: dir.to_path_buf(),
            });
        };
        let text =
            std::fs::read_to_string(path).map_err(|source| OutboxError::KeyFileUnreadable {
                path: path.clone(),
                source,
            })?;
        OutboxKey::from_base64(&text).map_err(|source| OutboxError::KeyFileInvalid {
            path: path.clone(),
            source,
        })
    }
}

/// `[publisher]` in files; `CAREBUS_<KEY>` in the environment (unknown `CAREBUS_*` variables
/// belong to other components and are left alone).
impl Settings for PublisherConfig {
    const SECTION: &'static str = "publisher";
    const ENV_PREFIX: &'static str = "CAREBUS_";
    const ENV_SKIP: &'static [&'static str] = &["CONFIG"];

    fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        let opt = |v: &str| Some(v.to_string()).filter(|s| !s.is_empty());
        match key {
            "source" => self.source = value.into(),
            "framing" => {
                self.framing = match value {
                    "single-object" | "avro" => Framing::SingleObject,
                    "json" => Framing::Json,
                    "structured-json" => Framing::StructuredJson,
                    // Ids derived from the fingerprints: the catalog's static registry's.
                    "confluent" => Framing::Confluent(carebus_core::wire::SchemaIds::derived()),
                    _ => {
                        return Err(ConfigError::value(
                            key,
                            "single-object, confluent, json or structured-json (Confluent framing with a registry's own ids: set SchemaIds::from_map in code)",
                        ));
                    }
                }
            }
            "max_message_bytes" => self.max_message_bytes = num(key, value)?,
            "retry_attempts" => self.retry.attempts = num(key, value)?,
            "retry_initial_ms" => {
                self.retry.initial_backoff = Duration::from_millis(num(key, value)?)
            }
            "retry_max_ms" => self.retry.max_backoff = Duration::from_millis(num(key, value)?),
            "breaker_failures" => self.breaker.failure_threshold = num(key, value)?,
            "breaker_open_ms" => self.breaker.open_for = Duration::from_millis(num(key, value)?),
            "outbox_dir" => self.outbox_dir = opt(value).map(PathBuf::from),
            "outbox_key" => {
                self.outbox_key = match opt(value) {
                    None => None,
                    // The message names the key's form, never the text given.
                    Some(text) => Some(
                        OutboxKey::from_base64(&text)
                            .map_err(|e| ConfigError::value(key, e.to_string()))?,
                    ),
                }
            }
            "outbox_key_file" => self.outbox_key_file = opt(value).map(PathBuf::from),
            "outbox_max_bytes" => self.outbox_max_bytes = num(key, value)?,
            "outbox_retry_ms" => {
                self.outbox_retry_interval = Duration::from_millis(num(key, value)?)
            }
            "outbox_drain_window" => self.outbox_drain_window = num(key, value)?,
            "claim_check_dir" => self.claim_check_dir = opt(value).map(PathBuf::from),
            "dead_letter_topic" => self.dead_letter_topic = opt(value),
            "reply_topic" => self.reply_topic = opt(value),
            "data_schema_base" => self.data_schema_base = opt(value),
            "type_prefix" => self.type_prefix = opt(value),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn properties(&mut self, table: &str) -> Option<&mut BTreeMap<String, String>> {
        (table == "properties").then_some(&mut self.properties)
    }
}
