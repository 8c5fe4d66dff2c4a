//! The generated de-identification plans in, OpenSearch index names, index templates (mappings) and the ISM retention policy of each topic out.
//!
//! Each topic's documents go to one index per day of event time, `<prefix>-<topic>-<yyyy.mm.dd>`:
//! an event's index follows from the event itself, so a redelivered event lands on its own
//! document (same index, the event id as document id) whenever it comes back. The topic's index
//! template gives every such index the same strict mapping and the alias `<prefix>-<topic>`;
//! retention deletes whole days (ISM when the cluster has the plugin, the sink's own sweep
//! otherwise).

use carebus_core::deidentify::{EventPlan, FieldRule, Rule, Scalar, Shape};
use serde_json::{Map, Value, json};

/// Names and settings shared by every topic's indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexLayout {
    /// Prefix of every index, template, alias and policy name (default `carebus`).
    pub prefix: String,
    /// Replicas per shard (default 0: the single-node test cluster; raise it in production).
    pub replicas: u32,
    /// Days an index is kept after its day ends (default 365).
    pub retention_days: u32,
}

impl Default for IndexLayout {
    fn default() -> Self {
        IndexLayout {
            prefix: "carebus".into(),
            replicas: 0,
            retention_days: 365,
        }
    }
}

impl IndexLayout {
    /// The alias covering every index of `topic`: what queries and dashboards read.
    pub fn alias(&self, topic: &str) -> String {
        format!("{}-{}", self.prefix, topic.to_ascii_lowercase())
    }

    /// The index of an event of `topic` that happened at `micros` since the Unix epoch.
    pub fn index(&self, topic: &str, micros: i64) -> String {
        let date = chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default();
        format!("{}-{}", self.alias(topic), date.format("%Y.%m.%d"))
    }

    /// The day an index of `topic` holds, when `index` is one.
    pub fn day_of(&self, topic: &str, index: &str) -> Option<chrono::NaiveDate> {
        let day = index.strip_prefix(&self.alias(topic))?.strip_prefix('-')?;
        chrono::NaiveDate::parse_from_str(day, "%Y.%m.%d").ok()
    }

    /// The name of the topic's index template (and of its ISM policy).
    pub fn template_name(&self, topic: &str) -> String {
        self.alias(topic)
    }

    /// The composable index template of `topic` (`PUT _index_template/<name>`): one shard,
    /// the alias, and a strict mapping of the envelope and of each event type's de-identified
    /// data (every version's fields together).
    pub fn template(&self, topic: &str, plans: &[&EventPlan]) -> Value {
        let mut properties = envelope_properties();
        // Newest versions first: where two versions disagree on a field, the newest wins and
        // documents of the other are rejected (and dead-lettered with the reason).
        let mut plans: Vec<&&EventPlan> = plans.iter().filter(|p| p.topic == topic).collect();
        plans.sort_by(|a, b| (a.event_type, b.version).cmp(&(b.event_type, a.version)));
        for plan in plans {
            let entry = properties
                .entry(plan.event_type)
                .or_insert_with(|| json!({"properties": {}}));
            if let Some(Value::Object(existing)) = entry.get_mut("properties") {
                merge(existing, fields(plan.fields));
            }
        }
        json!({
            "index_patterns": [format!("{}-*", self.alias(topic))],
            "priority": 200,
            "template": {
                "settings": {
                    "index": {
                        "number_of_shards": 1,
                        "number_of_replicas": self.replicas,
                        "refresh_interval": "1s",
                    }
                },
                "aliases": { self.alias(topic): {} },
                "mappings": {
                    "dynamic": "strict",
                    "properties": Value::Object(properties),
                }
            },
            "_meta": {
                "generated_by": "carebus-analytics from the schemas' field classifications",
                "topic": topic,
            }
        })
    }

    /// The ISM policy of `topic` (`PUT _plugins/_ism/policies/<name>`): delete each daily
    /// index `retention_days` after it was created, applied to new indices by its template.
    pub fn ism_policy(&self, topic: &str) -> Value {
        json!({
            "policy": {
                "description": format!("carebus analytics retention of {topic}: delete after {} days", self.retention_days),
                "default_state": "hot",
                "states": [
                    {
                        "name": "hot",
                        "actions": [],
                        "transitions": [
                            {"state_name": "delete", "conditions": {"min_index_age": format!("{}d", self.retention_days)}}
                        ]
                    },
                    {"name": "delete", "actions": [{"delete": {}}], "transitions": []}
                ],
                "ism_template": [
                    {"index_patterns": [format!("{}-*", self.alias(topic))], "priority": 100}
                ]
            }
        })
    }
}

/// The envelope part of every document (see `Deidentifier::document`).
fn envelope_properties() -> Map<String, Value> {
    let keyword = || json!({"type": "keyword"});
    let mut p = Map::new();
    p.insert("@timestamp".into(), json!({"type": "date"}));
    for k in [
        "eventId",
        "eventType",
        "topic",
        "tenantId",
        "aggregateType",
        "aggregateKey",
        "correlationId",
        "causationId",
        "source",
    ] {
        p.insert(k.into(), keyword());
    }
    p.insert("eventVersion".into(), json!({"type": "integer"}));
    p
}

/// Add `more` to `into`, keeping what `into` has where both name a field (objects merge).
fn merge(into: &mut Map<String, Value>, more: Map<String, Value>) {
    for (k, v) in more {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => {
                if let (Some(Value::Object(pa)), Some(Value::Object(pb))) =
                    (a.get_mut("properties"), b.get("properties").cloned())
                {
                    merge(pa, pb);
                }
            }
            (Some(_), _) => {}
            (None, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// The mapping of a plan's fields.
pub fn fields(plan: &[FieldRule]) -> Map<String, Value> {
    plan.iter().map(|f| (f.name.to_owned(), field(f))).collect()
}

fn field(f: &FieldRule) -> Value {
    match (f.shape, f.rule) {
        // Map keys are data: an object that takes any key, each value mapped dynamically.
        (Shape::Map, _) => json!({"type": "object", "dynamic": true}),
        (Shape::List, Rule::Record(fields)) => {
            json!({"type": "nested", "properties": Value::Object(self::fields(fields))})
        }
        (_, rule) => value(rule),
    }
}

/// The mapping of one value under `rule` (keyword vs text, dates, decimals, enums, records).
pub fn value(rule: Rule) -> Value {
    match rule {
        Rule::Keep(s) => scalar(s),
        Rule::Pseudonymize | Rule::AgeBand | Rule::Prefix(_) => json!({"type": "keyword"}),
        Rule::Year => json!({"type": "integer"}),
        Rule::Record(fields) => json!({"properties": Value::Object(self::fields(fields))}),
    }
}

fn scalar(s: Scalar) -> Value {
    match s {
        Scalar::Keyword => json!({"type": "keyword", "ignore_above": 1024}),
        Scalar::Text => {
            json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}})
        }
        Scalar::Boolean => json!({"type": "boolean"}),
        Scalar::Long => json!({"type": "long"}),
        Scalar::Double => json!({"type": "double"}),
        Scalar::Date => json!({"type": "date", "format": "strict_date"}),
        Scalar::Timestamp => {
            json!({"type": "date", "format": "strict_date_optional_time||epoch_millis"})
        }
        // `scaled_float` would keep the scale, but it lives in the mapper-extras module, which
        // minimal distributions (the integ-test zip) leave out; the exact text stays in
        // `_source`.
        Scalar::Decimal { .. } => json!({"type": "double"}),
        Scalar::Opaque => json!({"type": "object", "enabled": false}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static QUANTITY: &[FieldRule] = &[
        FieldRule {
            name: "value",
            shape: Shape::One,
            rule: Rule::Keep(Scalar::Decimal { scale: 4 }),
        },
        FieldRule {
            name: "unit",
            shape: Shape::One,
            rule: Rule::Keep(Scalar::Keyword),
        },
    ];
    static V1: EventPlan = EventPlan {
        event_type: "LabResultReceived",
        version: 1,
        topic: "healthcare.clinical.events",
        fields: &[FieldRule {
            name: "issuedAt",
            shape: Shape::One,
            rule: Rule::Keep(Scalar::Long),
        }],
    };
    static V2: EventPlan = EventPlan {
        event_type: "LabResultReceived",
        version: 2,
        topic: "healthcare.clinical.events",
        fields: &[
            FieldRule {
                name: "issuedAt",
                shape: Shape::One,
                rule: Rule::Keep(Scalar::Timestamp),
            },
            FieldRule {
                name: "components",
                shape: Shape::List,
                rule: Rule::Record(QUANTITY),
            },
            FieldRule {
                name: "note",
                shape: Shape::One,
                rule: Rule::Keep(Scalar::Text),
            },
        ],
    };

    #[test]
    fn a_template_maps_each_event_type_under_its_name_newest_version_first() {
        let layout = IndexLayout::default();
        let t = layout.template("healthcare.clinical.events", &[&V1, &V2]);
        let props = &t["template"]["mappings"]["properties"];
        assert_eq!(t["template"]["mappings"]["dynamic"], "strict");
        assert_eq!(
            t["index_patterns"][0],
            "carebus-healthcare.clinical.events-*"
        );
        let lab = &props["LabResultReceived"]["properties"];
        assert_eq!(lab["issuedAt"]["type"], "date");
        assert_eq!(lab["components"]["type"], "nested");
        assert_eq!(
            lab["components"]["properties"]["value"],
            json!({"type": "double"})
        );
        assert_eq!(lab["note"]["type"], "text");
        assert_eq!(props["aggregateKey"]["type"], "keyword");
    }

    #[test]
    fn an_event_lands_in_the_index_of_its_day() {
        let layout = IndexLayout::default();
        let micros = 1_733_126_700_000_000; // 2024-12-02T08:05:00Z
        let index = layout.index("healthcare.Patients.events", micros);
        assert_eq!(index, "carebus-healthcare.patients.events-2024.12.02");
        assert_eq!(
            layout.day_of("healthcare.patients.events", &index),
            chrono::NaiveDate::from_ymd_opt(2024, 12, 2)
        );
        assert_eq!(
            layout.day_of("healthcare.patients.events", "carebus-other-2024.12.02"),
            None
        );
    }
}
