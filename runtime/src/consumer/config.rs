//! Consumer settings from code, `CAREBUS_CONSUMER_*` environment variables and the `[consumer]` table of a TOML file turned into one `ConsumerConfig`.
//!
//! | TOML key (`[consumer]`) | environment | default |
//! |---|---|---|
//! | `group_id` | `CAREBUS_CONSUMER_GROUP_ID` | (from code) |
//! | `topics` (comma list) | `CAREBUS_CONSUMER_TOPICS` | the handler's topic |
//! | `mode` (`sequential`, `key-ordered:<N>`) | `CAREBUS_CONSUMER_MODE` | `sequential` |
//! | `retry_attempts` | `CAREBUS_CONSUMER_RETRY_ATTEMPTS` | 3 |
//! | `retry_topic_delays_ms` (comma list) | `CAREBUS_CONSUMER_RETRY_TOPIC_DELAYS_MS` | none |
//! | `dead_letter` | `CAREBUS_CONSUMER_DEAD_LETTER` | true |
//! | `unknown_events` (`skip`, `dead-letter`) | `CAREBUS_CONSUMER_UNKNOWN_EVENTS` | `skip` |
//! | `commit_interval_ms`, `poll_timeout_ms`, `shutdown_deadline_ms` | `CAREBUS_CONSUMER_…` | 1000, 100, 30000 |
//! | `max_buffered` | `CAREBUS_CONSUMER_MAX_BUFFERED` | 1000 |
//! | `offset_reset` (`earliest`, `latest`) | `CAREBUS_CONSUMER_OFFSET_RESET` | `earliest` |
//! | `polling_thread` | `CAREBUS_CONSUMER_POLLING_THREAD` | true |
//! | `ce_type_prefixes` (comma list) | `CAREBUS_CONSUMER_CE_TYPE_PREFIXES` | none: CloudEvents `type` must be the event type's name |
//! | `[consumer.properties]` | `CAREBUS_CONSUMER_PROP_<NAME>` (`_` → `.`, lowercased) | — |

use crate::cloudevents::CeTypes;
use crate::config::{ConfigError, Settings, list, millis, parse};
use crate::publisher::RetryPolicy;
use crate::transport::{OffsetReset, SubscribeConfig};
use std::collections::BTreeMap;
use std::time::Duration;

/// How records are handed to the handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessingMode {
    /// One record at a time, in partition order.
    Sequential,
    /// Records of one key in order; different keys concurrently, at most `max_in_flight`.
    KeyOrdered {
        /// Records handled at once, across keys (at least 1).
        max_in_flight: usize,
    },
}

/// What the consumer does with an event type or version it does not know (a producer is ahead
/// of it: a new event on the topic, or a newer version than the consumer was built with).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnknownEvents {
    /// Commit past it and count it (`carebus_unknown_events_skipped_total{topic}`): adding an
    /// event to a topic does not disturb the consumers that do not handle it.
    #[default]
    Skip,
    /// Send it to the dead-letter topic with reason `poison-pill:unknown-event-type-or-version`
    /// (or `…:unknown-fingerprint`), to be redriven once the consumer knows it.
    DeadLetter,
}

/// How a [`Consumer`](crate::Consumer) runs.
#[derive(Clone, Debug)]
pub struct ConsumerConfig {
    /// Consumer group id (`group.id`): members of one group share the partitions and the committed
    /// offsets.
    pub group_id: String,
    /// Topics to read; empty = the handler's topic.
    pub topics: Vec<String>,
    /// Sequential (default) or key-ordered parallel.
    pub mode: ProcessingMode,
    /// In-place retries of retriable handler errors.
    pub retry: RetryPolicy,
    /// Delays of the retry topics `<topic>.retry.1`, `.retry.2`, ...; empty = no retry topics.
    pub retry_topic_delays: Vec<Duration>,
    /// Send failed records and poison pills to `<topic>.dlq` (else stop on them).
    pub dead_letter: bool,
    /// Event types or versions the handler's topic enum does not know.
    pub unknown_events: UnknownEvents,
    /// How often stored offsets are committed (default 1 s; must not be zero).
    pub commit_interval: Duration,
    /// Longest wait for a record in one poll, and how often a consumer paused by backpressure
    /// polls to stay in its group (default 100 ms; must not be zero).
    pub poll_timeout: Duration,
    /// How long in-flight handlers may run after shutdown is signalled (default 30 s); unfinished
    /// records are redelivered.
    pub shutdown_deadline: Duration,
    /// Records read but unfinished before the partitions are paused (backpressure).
    pub max_buffered: usize,
    /// Where the group starts in partitions without a committed offset (default earliest).
    pub offset_reset: OffsetReset,
    /// Read records on a thread of their own while the poll loop handles the ones read before.
    /// Taking a record from librdkafka costs about as much as handling it, so the two halves
    /// run on two cores; it costs a thread and one copy of each record's bytes. Off: the poll
    /// loop reads each record itself, lent, never copied.
    pub polling_thread: bool,
    /// Which event type each CloudEvents `type` names: plain names always, plus the mapped
    /// and prefixed (reverse-DNS) ones configured here (`ce_type_prefixes` in files).
    pub ce_types: CeTypes,
    /// Transport properties passed through (librdkafka for Kafka).
    pub properties: BTreeMap<String, String>,
}

impl ConsumerConfig {
    /// Defaults for group `group_id`: sequential, 3 in-place attempts (100 ms to 2 s), no retry
    /// topics, dead letters on, unknown events skipped.
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerConfig {
            group_id: group_id.into(),
            topics: Vec::new(),
            mode: ProcessingMode::Sequential,
            retry: RetryPolicy {
                attempts: 3,
                initial_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                multiplier: 2.0,
            },
            retry_topic_delays: Vec::new(),
            dead_letter: true,
            unknown_events: UnknownEvents::Skip,
            commit_interval: Duration::from_secs(1),
            poll_timeout: Duration::from_millis(100),
            shutdown_deadline: Duration::from_secs(30),
            max_buffered: 1000,
            offset_reset: OffsetReset::Earliest,
            polling_thread: true,
            ce_types: CeTypes::new(),
            properties: BTreeMap::new(),
        }
    }

    /// The topics to subscribe to: the main topics and their retry topics.
    pub(crate) fn subscription(&self, default_topic: &str) -> SubscribeConfig {
        let main: Vec<String> = if self.topics.is_empty() {
            vec![default_topic.to_string()]
        } else {
            self.topics.clone()
        };
        let mut topics = main.clone();
        for t in &main {
            for level in 1..=self.retry_topic_delays.len() {
                topics.push(crate::dead_letter::retry_topic(t, level));
            }
        }
        SubscribeConfig {
            group_id: self.group_id.clone(),
            topics,
            offset_reset: self.offset_reset,
            properties: self.properties.clone(),
        }
    }
}

/// A duration that must not be zero (the consumer ticks at it).
fn positive_millis(key: &str, value: &str) -> Result<Duration, ConfigError> {
    let d = millis(key, value)?;
    if d.is_zero() {
        return Err(ConfigError::value(key, "at least 1 millisecond"));
    }
    Ok(d)
}

/// `[consumer]` in files; `CAREBUS_CONSUMER_<KEY>` in the environment.
impl Settings for ConsumerConfig {
    const SECTION: &'static str = "consumer";
    const ENV_PREFIX: &'static str = "CAREBUS_CONSUMER_";

    fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        match key {
            "group_id" => self.group_id = value.into(),
            "topics" => self.topics = list(value),
            "mode" => {
                self.mode = match value.trim() {
                    "sequential" => ProcessingMode::Sequential,
                    other => match other.strip_prefix("key-ordered:") {
                        Some(n) => ProcessingMode::KeyOrdered {
                            max_in_flight: parse(key, n, "key-ordered:<max in flight>")?,
                        },
                        None => {
                            return Err(ConfigError::value(
                                key,
                                "sequential or key-ordered:<max in flight>",
                            ));
                        }
                    },
                }
            }
            "retry_attempts" => self.retry.attempts = parse(key, value, "a whole number")?,
            "retry_topic_delays_ms" => {
                self.retry_topic_delays = list(value)
                    .iter()
                    .map(|v| millis(key, v))
                    .collect::<Result<_, _>>()?
            }
            "dead_letter" => self.dead_letter = parse(key, value, "true or false")?,
            "unknown_events" => {
                self.unknown_events = match value.trim() {
                    "skip" => UnknownEvents::Skip,
                    "dead-letter" => UnknownEvents::DeadLetter,
                    _ => return Err(ConfigError::value(key, "skip or dead-letter")),
                }
            }
            "commit_interval_ms" => self.commit_interval = positive_millis(key, value)?,
            "poll_timeout_ms" => self.poll_timeout = positive_millis(key, value)?,
            "shutdown_deadline_ms" => self.shutdown_deadline = millis(key, value)?,
            "max_buffered" => self.max_buffered = parse(key, value, "a whole number")?,
            "polling_thread" => self.polling_thread = parse(key, value, "true or false")?,
            "ce_type_prefixes" => {
                for prefix in list(value) {
                    self.ce_types = std::mem::take(&mut self.ce_types).prefix(prefix);
                }
            }
            "offset_reset" => {
                self.offset_reset = match value.trim() {
                    "earliest" => OffsetReset::Earliest,
                    "latest" => OffsetReset::Latest,
                    _ => return Err(ConfigError::value(key, "earliest or latest")),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn properties(&mut self, table: &str) -> Option<&mut BTreeMap<String, String>> {
        (table == "properties").then_some(&mut self.properties)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_malformed_properties_are_errors_naming_the_key() {
        let key_of = |text: &str| match ConsumerConfig::new("g").apply_toml(text) {
            Err(ConfigError::Value { key, .. }) => key,
            other => panic!("expected a value error, got {other:?}"),
        };
        assert_eq!(
            key_of(
                "[consumer]
mood = \"calm\""
            ),
            "consumer.mood"
        );
        assert_eq!(
            key_of(
                "[consumer]
properties = 3"
            ),
            "consumer.properties"
        );
    }

    #[test]
    fn toml_then_environment() {
        let mut c = ConsumerConfig::new("g");
        c.apply_toml(
            "[consumer]\nmode = \"key-ordered:16\"\nretry_topic_delays_ms = [1000, 60000]\n\
             [consumer.properties]\n\"fetch.min.bytes\" = \"1024\"",
        )
        .unwrap();
        c.apply_env([(
            "CAREBUS_CONSUMER_DEAD_LETTER".to_string(),
            "false".to_string(),
        )])
        .unwrap();
        assert_eq!(c.mode, ProcessingMode::KeyOrdered { max_in_flight: 16 });
        assert_eq!(
            c.retry_topic_delays,
            [Duration::from_secs(1), Duration::from_secs(60)]
        );
        assert!(!c.dead_letter);
        assert!(c.polling_thread);
        c.apply_env([(
            "CAREBUS_CONSUMER_POLLING_THREAD".to_string(),
            "false".to_string(),
        )])
        .unwrap();
        assert!(!c.polling_thread);
        assert_eq!(c.properties["fetch.min.bytes"], "1024");
        assert!(c.apply_toml("[consumer]\nmode = \"fast\"").is_err());
        assert!(
            c.apply_toml("[consumer]\ncommit_interval_ms = 0").is_err(),
            "a zero interval would make the consumer's ticker panic"
        );
        assert!(c.apply_toml("[consumer]\ngroupid = \"x\"").is_err());
    }
}
