//! An event's envelope and JSON data in, its de-identified analytics document out: the generated plan (`carebus_core::deidentify`) applied field by field, identifiers pseudonymised with the deployment's HMAC-SHA256 key.

use carebus_core::deidentify::{EventPlan, FieldRule, Rule, Shape};
use carebus_core::envelope::Envelope;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

/// The shortest pseudonymisation key accepted, in bytes (HMAC-SHA256's block of security).
pub const MIN_KEY_BYTES: usize = 32;

/// Applies de-identification plans with one deployment's pseudonymisation key. Cheap to clone.
#[derive(Clone)]
pub struct Deidentifier {
    /// HMAC-SHA256 keyed once; each value hashes from a copy of this state.
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for Deidentifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deidentifier { key: <redacted> }")
    }
}

/// Why a pseudonymisation key was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Fewer than [`MIN_KEY_BYTES`] bytes.
    #[error(
        "the analytics pseudonymisation key has {0} bytes, fewer than {MIN_KEY_BYTES}: generate one per deployment with `openssl rand -base64 32`"
    )]
    TooShort(usize),
    /// Not base64 text.
    #[error("the analytics pseudonymisation key is not base64 text: {0}")]
    NotBase64(#[from] base64::DecodeError),
}

impl Deidentifier {
    /// A de-identifier keyed with `key` (at least [`MIN_KEY_BYTES`] random bytes, one key per
    /// deployment: the same key keeps pseudonyms stable, so one patient's events still join;
    /// a new key starts new pseudonyms).
    pub fn new(key: &[u8]) -> Result<Deidentifier, KeyError> {
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort(key.len()));
        }
        let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .map_err(|_| KeyError::TooShort(key.len()))?;
        Ok(Deidentifier { keyed })
    }

    /// A de-identifier keyed with base64 text (as `CAREBUS_ANALYTICS_KEY` holds it).
    pub fn from_base64(text: &str) -> Result<Deidentifier, KeyError> {
        use base64::Engine;
        let key = base64::engine::general_purpose::STANDARD.decode(text.trim())?;
        Deidentifier::new(&key)
    }

    /// The pseudonym of an identifier: HMAC-SHA256 of its text, lowercase hex.
    pub fn pseudonym(&self, text: &str) -> String {
        let mut mac = self.keyed.clone();
        mac.update(text.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The analytics document of one event: the envelope's non-identifying facts, the
    /// aggregate id pseudonymised, and the event's data under its event type, as `plan` allows.
    ///
    /// ```text
    /// {"@timestamp": "...", "eventId": "...", "eventType": "PatientCreated", "eventVersion": 2,
    ///  "topic": "...", "tenantId": "...", "aggregateType": "Patient", "aggregateKey": "<hmac>",
    ///  "correlationId": "...", "causationId": "...", "source": "...",
    ///  "PatientCreated": {"patientId": "<hmac>", "dateOfBirth": "30-39", ...}}
    /// ```
    pub fn document(&self, plan: &EventPlan, envelope: &Envelope, data: &Value) -> Value {
        let mut doc = Map::with_capacity(12);
        let time = envelope.event_time;
        doc.insert("@timestamp".into(), carebus_core::JsonCodec::to_json(&time));
        doc.insert("eventId".into(), Value::from(envelope.event_id.as_str()));
        doc.insert("eventType".into(), Value::from(plan.event_type));
        doc.insert("eventVersion".into(), Value::from(plan.version));
        doc.insert("topic".into(), Value::from(plan.topic));
        if let Some(t) = &envelope.tenant_id {
            doc.insert("tenantId".into(), Value::from(t.as_str()));
        }
        doc.insert(
            "aggregateType".into(),
            Value::from(envelope.aggregate_type.as_str()),
        );
        doc.insert(
            "aggregateKey".into(),
            Value::from(self.pseudonym(&envelope.aggregate_id)),
        );
        if let Some(c) = &envelope.correlation_id {
            doc.insert("correlationId".into(), Value::from(c.as_str()));
        }
        if let Some(c) = &envelope.causation_id {
            doc.insert("causationId".into(), Value::from(c.as_str()));
        }
        doc.insert(
            "source".into(),
            Value::from(envelope.metadata.source.as_str()),
        );
        let at = EventDate::of(time);
        doc.insert(
            plan.event_type.into(),
            Value::Object(self.record(plan.fields, data, at)),
        );
        Value::Object(doc)
    }

    /// The fields of `data` that `fields` names, each transformed; nothing else.
    fn record(&self, fields: &[FieldRule], data: &Value, at: EventDate) -> Map<String, Value> {
        let mut out = Map::with_capacity(fields.len());
        let Value::Object(data) = data else {
            return out;
        };
        for f in fields {
            let Some(value) = data.get(f.name) else {
                continue;
            };
            let kept = match (f.shape, value) {
                (_, Value::Null) => Some(Value::Null),
                (Shape::One, v) => self.value(f.rule, v, at),
                (Shape::List, Value::Array(items)) => Some(Value::Array(
                    items
                        .iter()
                        .filter_map(|v| self.value(f.rule, v, at))
                        .collect(),
                )),
                (Shape::Map, Value::Object(entries)) => Some(Value::Object(
                    entries
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone(), self.value(f.rule, v, at)?)))
                        .collect(),
                )),
                // A value of another shape than the schema's: not what the plan reviewed.
                _ => None,
            };
            if let Some(v) = kept {
                out.insert(f.name.to_owned(), v);
            }
        }
        out
    }

    /// One value transformed by `rule`; `None` when it does not have the reviewed form (it is
    /// then left out rather than passed through).
    fn value(&self, rule: Rule, v: &Value, at: EventDate) -> Option<Value> {
        match rule {
            Rule::Keep(_) => Some(v.clone()),
            Rule::Record(fields) => Some(Value::Object(self.record(fields, v, at))),
            Rule::Pseudonymize => match v {
                Value::Null => Some(Value::Null),
                Value::String(s) => Some(Value::from(self.pseudonym(s))),
                Value::Number(n) => Some(Value::from(self.pseudonym(&n.to_string()))),
                _ => None,
            },
            Rule::Year => year_of(v).map(Value::from),
            Rule::AgeBand => {
                let born = v.as_str().and_then(parse_date)?;
                Some(Value::from(age_band(born, at)))
            }
            Rule::Prefix(n) => v
                .as_str()
                .map(|s| Value::from(s.chars().take(usize::from(n)).collect::<String>())),
        }
    }
}

/// The calendar date of the event's time, which ages are computed at.
#[derive(Clone, Copy, Debug)]
struct EventDate {
    year: i32,
    month_day: (u32, u32),
}

impl EventDate {
    fn of(time: carebus_core::Timestamp) -> EventDate {
        use chrono::Datelike;
        let date = chrono::DateTime::from_timestamp_micros(time.0)
            .unwrap_or_default()
            .date_naive();
        EventDate {
            year: date.year(),
            month_day: (date.month(), date.day()),
        }
    }
}

/// `yyyy-mm-dd` as (year, (month, day)).
fn parse_date(text: &str) -> Option<(i32, (u32, u32))> {
    use chrono::Datelike;
    let d = chrono::NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()?;
    Some((d.year(), (d.month(), d.day())))
}

/// The year of a date (`yyyy-mm-dd`) or an RFC 3339 timestamp.
fn year_of(v: &Value) -> Option<i64> {
    let text = v.as_str()?;
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text),
    };
    let end = digits.find('-')?;
    digits[..end].parse::<i64>().ok().map(|y| sign * y)
}

/// Ten-year bands (`0-9`, `10-19`, ... `80-89`) and `90+` (HIPAA Safe Harbor aggregates every
/// age over 89); a birth date after the event is `unknown`.
fn age_band(born: (i32, (u32, u32)), at: EventDate) -> String {
    let (year, month_day) = born;
    let mut age = at.year - year;
    if at.month_day < month_day {
        age -= 1;
    }
    match age {
        a if a < 0 => "unknown".to_owned(),
        a if a >= 90 => "90+".to_owned(),
        a => {
            let low = a / 10 * 10;
            format!("{low}-{}", low + 9)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carebus_core::deidentify::Scalar;
    use serde_json::json;

    const KEY: &[u8; 32] = b"an example key of 32 bytes......";

    static ADDRESS: &[FieldRule] = &[
        FieldRule {
            name: "state",
            shape: Shape::One,
            rule: Rule::Keep(Scalar::Keyword),
        },
        FieldRule {
            name: "postalCode",
            shape: Shape::One,
            rule: Rule::Prefix(3),
        },
    ];
    static PLAN: EventPlan = EventPlan {
        event_type: "PatientCreated",
        version: 2,
        topic: "healthcare.patients.events",
        fields: &[
            FieldRule {
                name: "patientId",
                shape: Shape::One,
                rule: Rule::Pseudonymize,
            },
            FieldRule {
                name: "dateOfBirth",
                shape: Shape::One,
                rule: Rule::AgeBand,
            },
            FieldRule {
                name: "address",
                shape: Shape::One,
                rule: Rule::Record(ADDRESS),
            },
            FieldRule {
                name: "tags",
                shape: Shape::List,
                rule: Rule::Keep(Scalar::Keyword),
            },
        ],
    };

    fn envelope() -> Envelope {
        Envelope {
            event_id: "e-1".into(),
            event_type: "PatientCreated".into(),
            event_version: 2,
            event_time: carebus_core::Timestamp::parse_rfc3339("2024-06-01T10:00:00Z").unwrap(),
            aggregate_id: "patient-123".into(),
            aggregate_type: "Patient".into(),
            tenant_id: Some("clinic-a".into()),
            ..Envelope::default()
        }
    }

    #[test]
    fn only_planned_fields_reach_the_document_each_transformed() {
        let d = Deidentifier::new(KEY).unwrap();
        let data = json!({
            "patientId": "patient-123",
            "firstName": "John",
            "dateOfBirth": "1990-06-02",
            "address": {"line": ["221 Maple Avenue"], "city": "Springfield", "state": "IL", "postalCode": "62704"},
            "tags": ["a", "b"],
        });
        let doc = d.document(&PLAN, &envelope(), &data);
        let pseudonym = d.pseudonym("patient-123");
        assert_eq!(pseudonym.len(), 64);
        assert_ne!(pseudonym, d.pseudonym("patient-124"));
        assert_eq!(
            doc["PatientCreated"],
            json!({
                "patientId": pseudonym,
                "dateOfBirth": "30-39",
                "address": {"state": "IL", "postalCode": "627"},
                "tags": ["a", "b"],
            })
        );
        assert_eq!(doc["aggregateKey"], json!(pseudonym));
        assert_eq!(doc["tenantId"], json!("clinic-a"));
        let text = doc.to_string();
        for phi in [
            "John",
            "Springfield",
            "221 Maple",
            "62704",
            "1990",
            "patient-123",
        ] {
            assert!(!text.contains(phi), "{phi} leaked into {text}");
        }
    }

    #[test]
    fn the_same_key_gives_the_same_pseudonym_and_another_key_another() {
        let a = Deidentifier::new(KEY).unwrap();
        let b = Deidentifier::new(b"another key of at least 32 bytes").unwrap();
        assert_eq!(a.pseudonym("p"), a.clone().pseudonym("p"));
        assert_ne!(a.pseudonym("p"), b.pseudonym("p"));
        assert!(matches!(
            Deidentifier::new(b"short"),
            Err(KeyError::TooShort(5))
        ));
    }

    #[test]
    fn ages_band_by_decade_with_everyone_over_89_together() {
        let at = EventDate {
            year: 2024,
            month_day: (6, 1),
        };
        assert_eq!(age_band((1990, (6, 1)), at), "30-39");
        assert_eq!(age_band((1990, (6, 2)), at), "30-39");
        assert_eq!(age_band((1994, (6, 2)), at), "20-29");
        assert_eq!(age_band((2024, (1, 1)), at), "0-9");
        assert_eq!(age_band((1934, (6, 1)), at), "90+");
        assert_eq!(age_band((1934, (6, 2)), at), "80-89");
        assert_eq!(age_band((2025, (1, 1)), at), "unknown");
        assert_eq!(year_of(&json!("1990-01-01")), Some(1990));
        assert_eq!(year_of(&json!("2024-12-02T08:05:00Z")), Some(2024));
    }
}
