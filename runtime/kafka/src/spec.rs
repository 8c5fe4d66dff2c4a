//! The topics spec (`schemas/topics.toml`) in, validated per-topic settings and the broker configs they imply out.
//!
//! ```toml
//! [[topic]]
//! name = "healthcare.patients.events"
//! doc = "Patient lifecycle"
//! partitions = 12
//! replication_factor = 3
//! retention_days = 30          # or retention_ms = 2592000000
//! cleanup_policy = "delete"    # or "compact"
//! min_insync_replicas = 2
//! key = "aggregate id (patientId)"
//! events = ["PatientCreated"]
//! [topic.configs]              # passed through verbatim
//! "compression.type" = "zstd"
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Milliseconds in one day, for `retention_days`.
const MS_PER_DAY: i64 = 86_400_000;

/// Every topic the spec declares.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicsSpec {
    pub topics: Vec<TopicSpec>,
}

/// One topic's declared shape.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicSpec {
    pub name: String,
    pub doc: Option<String>,
    pub partitions: i32,
    pub replication_factor: i32,
    /// `retention.ms`; None leaves the broker default.
    pub retention_ms: Option<i64>,
    pub cleanup_policy: CleanupPolicy,
    pub min_insync_replicas: Option<i32>,
    pub key: Option<String>,
    pub events: Vec<String>,
    /// Other topic configs passed through verbatim (e.g. `compression.type`).
    pub configs: BTreeMap<String, String>,
}

/// `cleanup.policy` of a topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CleanupPolicy {
    Delete,
    Compact,
}

impl CleanupPolicy {
    pub fn as_config(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
        }
    }
}

/// Why the spec could not be read; each message names the topic and the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error(
        "cannot read topics spec {path}: {source}; pass --spec <path> or run from the repository root"
    )]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("topics spec {path} is not valid TOML for the expected layout: {message}")]
    Syntax { path: String, message: String },
    #[error("topics spec: {problems}")]
    Invalid { problems: String },
}

#[derive(Deserialize)]
struct RawSpec {
    #[serde(default)]
    topic: Vec<RawTopic>,
}

#[derive(Deserialize)]
struct RawTopic {
    name: String,
    doc: Option<String>,
    partitions: i64,
    replication_factor: i64,
    retention_days: Option<i64>,
    retention_ms: Option<i64>,
    cleanup_policy: Option<CleanupPolicy>,
    min_insync_replicas: Option<i64>,
    key: Option<String>,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    configs: BTreeMap<String, toml::Value>,
}

impl TopicsSpec {
    /// Read and validate the spec file.
    pub fn load(path: &Path) -> Result<TopicsSpec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            SpecError::Syntax { message, .. } => SpecError::Syntax {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parse and validate spec text; every problem is reported, not just the first.
    pub fn parse(text: &str) -> Result<TopicsSpec, SpecError> {
        let raw: RawSpec = toml::from_str(text).map_err(|e| SpecError::Syntax {
            path: "<text>".into(),
            message: e.to_string(),
        })?;
        let mut problems = Vec::new();
        let mut topics: Vec<TopicSpec> = Vec::new();
        for t in raw.topic {
            let before = problems.len();
            let name = t.name.trim().to_string();
            if name.is_empty() || !name.chars().all(valid_topic_char) || name.len() > 249 {
                problems.push(format!(
                    "topic name `{}` must be 1..249 characters of [a-zA-Z0-9._-]",
                    t.name
                ));
            }
            if topics.iter().any(|o| o.name == name) {
                problems.push(format!("topic `{name}` is declared twice"));
            }
            let positive = |what: &str, v: i64, problems: &mut Vec<String>| -> i32 {
                match i32::try_from(v) {
                    Ok(n) if n >= 1 => n,
                    _ => {
                        problems.push(format!(
                            "topic `{name}`: {what} must be at least 1, got {v}"
                        ));
                        1
                    }
                }
            };
            let partitions = positive("partitions", t.partitions, &mut problems);
            let replication_factor =
                positive("replication_factor", t.replication_factor, &mut problems);
            let min_insync_replicas = t
                .min_insync_replicas
                .map(|v| positive("min_insync_replicas", v, &mut problems));
            if let Some(m) = min_insync_replicas
                && m > replication_factor
            {
                problems.push(format!(
                    "topic `{name}`: min_insync_replicas {m} exceeds replication_factor {replication_factor}; no write with acks=all could succeed"
                ));
            }
            let retention_ms = match (t.retention_days, t.retention_ms) {
                (Some(_), Some(_)) => {
                    problems.push(format!(
                        "topic `{name}`: give retention_days or retention_ms, not both"
                    ));
                    None
                }
                (Some(-1), None) => Some(-1),
                (Some(d), None) => match d.checked_mul(MS_PER_DAY) {
                    Some(ms) if d > 0 => Some(ms),
                    _ => {
                        problems.push(format!(
                            "topic `{name}`: retention_days must be positive (or -1 for forever), got {d}"
                        ));
                        None
                    }
                },
                (None, Some(ms)) if ms > 0 || ms == -1 => Some(ms),
                (None, Some(ms)) => {
                    problems.push(format!(
                        "topic `{name}`: retention_ms must be positive (or -1 for forever), got {ms}"
                    ));
                    None
                }
                (None, None) => None,
            };
            let mut configs = BTreeMap::new();
            for (k, v) in t.configs {
                if MANAGED_CONFIGS.contains(&k.as_str()) {
                    problems.push(format!(
                        "topic `{name}`: set `{k}` with its own key ({}), not under [topic.configs]",
                        managed_key_for(&k)
                    ));
                    continue;
                }
                let value = match v {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    _ => {
                        problems.push(format!(
                            "topic `{name}`: config `{k}` must be a string, number or boolean"
                        ));
                        continue;
                    }
                };
                configs.insert(k, value);
            }
            if problems.len() == before {
                topics.push(TopicSpec {
                    name,
                    doc: t.doc,
                    partitions,
                    replication_factor,
                    retention_ms,
                    cleanup_policy: t.cleanup_policy.unwrap_or(CleanupPolicy::Delete),
                    min_insync_replicas,
                    key: t.key,
                    events: t.events,
                    configs,
                });
            }
        }
        if problems.is_empty() {
            Ok(TopicsSpec { topics })
        } else {
            Err(SpecError::Invalid {
                problems: problems.join("; "),
            })
        }
    }
}

/// Topic configs carebus sets from dedicated spec keys.
const MANAGED_CONFIGS: &[&str] = &["retention.ms", "cleanup.policy", "min.insync.replicas"];

fn managed_key_for(config: &str) -> &'static str {
    match config {
        "retention.ms" => "retention_days or retention_ms",
        "cleanup.policy" => "cleanup_policy",
        _ => "min_insync_replicas",
    }
}

fn valid_topic_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

impl TopicSpec {
    /// The broker topic configs this spec asks for, given the replication factor actually
    /// used (min.insync.replicas is clamped to it so acks=all writes stay possible).
    pub fn desired_configs(&self, effective_rf: i32) -> BTreeMap<String, String> {
        let mut out = self.configs.clone();
        out.insert(
            "cleanup.policy".into(),
            self.cleanup_policy.as_config().into(),
        );
        if let Some(ms) = self.retention_ms {
            out.insert("retention.ms".into(), ms.to_string());
        }
        if let Some(m) = self.min_insync_replicas {
            out.insert(
                "min.insync.replicas".into(),
                m.min(effective_rf).to_string(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
[[topic]]
name = "healthcare.patients.events"
partitions = 12
replication_factor = 3
retention_days = 30
cleanup_policy = "delete"
min_insync_replicas = 2
key = "aggregate id"
events = ["PatientCreated"]
[topic.configs]
"compression.type" = "zstd"
"max.message.bytes" = 1048576

[[topic]]
name = "healthcare.journeys.events"
partitions = 6
replication_factor = 3
retention_ms = 1000
cleanup_policy = "compact"
"#;

    #[test]
    fn parses_topics_with_retention_in_days_or_ms_and_passthrough_configs() {
        let spec = TopicsSpec::parse(SPEC).unwrap();
        assert_eq!(spec.topics.len(), 2);
        let p = &spec.topics[0];
        assert_eq!(p.retention_ms, Some(30 * MS_PER_DAY));
        assert_eq!(p.configs["max.message.bytes"], "1048576");
        let c = p.desired_configs(3);
        assert_eq!(c["cleanup.policy"], "delete");
        assert_eq!(c["retention.ms"], "2592000000");
        assert_eq!(c["min.insync.replicas"], "2");
        assert_eq!(c["compression.type"], "zstd");
        assert_eq!(p.desired_configs(1)["min.insync.replicas"], "1");
        let j = &spec.topics[1];
        assert_eq!(j.cleanup_policy, CleanupPolicy::Compact);
        assert_eq!(j.retention_ms, Some(1000));
        assert!(!j.desired_configs(3).contains_key("min.insync.replicas"));
    }

    #[test]
    fn reports_every_problem_with_the_topic_named() {
        let bad = r#"
[[topic]]
name = "a"
partitions = 0
replication_factor = 1
retention_days = 1
retention_ms = 5
[[topic]]
name = "b c"
partitions = 1
replication_factor = 1
min_insync_replicas = 2
[topic.configs]
"retention.ms" = "5"
"#;
        let err = TopicsSpec::parse(bad).unwrap_err().to_string();
        for needle in [
            "`a`: partitions must be at least 1",
            "retention_days or retention_ms, not both",
            "`b c` must be 1..249",
            "min_insync_replicas 2 exceeds replication_factor 1",
            "set `retention.ms` with its own key",
        ] {
            assert!(err.contains(needle), "{needle} missing from: {err}");
        }
    }

    #[test]
    fn the_repository_spec_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/topics.toml");
        let spec = TopicsSpec::load(&path).unwrap();
        assert!(
            spec.topics
                .iter()
                .any(|t| t.name == "healthcare.patients.events")
        );
    }

    #[test]
    fn duplicate_topics_and_bad_cleanup_policy_are_errors() {
        let dup = "[[topic]]\nname='x'\npartitions=1\nreplication_factor=1\n[[topic]]\nname='x'\npartitions=1\nreplication_factor=1\n";
        assert!(
            TopicsSpec::parse(dup)
                .unwrap_err()
                .to_string()
                .contains("declared twice")
        );
        let policy =
            "[[topic]]\nname='x'\npartitions=1\nreplication_factor=1\ncleanup_policy='shred'\n";
        assert!(matches!(
            TopicsSpec::parse(policy),
            Err(SpecError::Syntax { .. })
        ));
    }
}
