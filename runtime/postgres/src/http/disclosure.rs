//! What a response discloses: stored events with their PHI paths redacted for callers without `phi:read`, and the `access_log` row (who, tenant, route, parameters, status, event ids, whether PHI left) each request writes.

use crate::query::rows::backend;
use crate::shred::PhiPolicy;
use carebus_core::event::PayloadFormat;
use carebus_core::wire::JsonForm;
use carebus_store::{StoreError, StoredEvent};
use serde_json::{Map, Value};

/// What a redacted PHI value shows.
pub const REDACTED: &str = "[redacted]";

/// Remove what a caller without `phi:read` may not see: every PHI path of the JSON form
/// becomes [`REDACTED`] (inside lists, each element's), and the binary payload is dropped. An
/// event type this build does not know has unknown PHI paths: its whole JSON form is redacted.
pub fn redact(event: &mut StoredEvent, policy: &PhiPolicy) {
    event.data.clear();
    let Some(json) = event.data_json.as_mut() else {
        return;
    };
    if !policy.knows(&event.event_type, event.event_version) {
        *json = Value::String(REDACTED.to_string());
        return;
    }
    for path in policy.phi_paths(&event.event_type, event.event_version) {
        let segments: Vec<&str> = path.split('.').collect();
        redact_path(json, &segments);
    }
}

/// A row still in carebus's JSON form from before Avro's JSON encoding (`data_json_form =
/// 'carebus-legacy'`) of an Avro event the policy knows: its JSON form upcast with the event's
/// schema, so a response shows one form. One that does not read (sealed or erased PHI) stays
/// as it is, and the response says `"dataJsonForm": "carebus-legacy"`. Runs before redaction.
pub fn upcast_legacy(event: &mut StoredEvent, policy: &PhiPolicy) {
    if event.data_json_form != JsonForm::Legacy {
        return;
    }
    let Some(info) = policy.info(&event.event_type, event.event_version) else {
        return;
    };
    let Some(json) = event.data_json.as_ref() else {
        event.data_json_form = JsonForm::Avro;
        return;
    };
    let upcast = match info.format {
        PayloadFormat::Protobuf => Ok(json.clone()),
        PayloadFormat::Avro => carebus_core::json_legacy::upcast(info.schema, json),
    };
    if let Ok(json) = upcast {
        event.data_json = Some(json);
        event.data_json_form = JsonForm::Avro;
    }
}

/// Whether `event`, shown unredacted, carries a PHI value (for the access log).
pub fn carries_phi(event: &StoredEvent, policy: &PhiPolicy) -> bool {
    let Some(json) = event.data_json.as_ref() else {
        return false;
    };
    if !policy.knows(&event.event_type, event.event_version) {
        return true;
    }
    policy
        .phi_paths(&event.event_type, event.event_version)
        .iter()
        .any(|path| has_value(json, &path.split('.').collect::<Vec<_>>()))
}

fn redact_path(v: &mut Value, path: &[&str]) {
    match v {
        Value::Null => {}
        _ if path.is_empty() => *v = Value::String(REDACTED.to_string()),
        Value::Array(items) => items.iter_mut().for_each(|i| redact_path(i, path)),
        Value::Object(map) => {
            if let Some(child) = map.get_mut(path[0]) {
                redact_path(child, &path[1..]);
            } else if map.len() == 1 {
                // A union's `{"<branch>": value}` (Avro's JSON encoding): the path goes on
                // inside the branch's value.
                map.values_mut().for_each(|inner| redact_path(inner, path));
            }
        }
        // A scalar where the path goes on: the shape is not the schema's; hide it.
        _ => *v = Value::String(REDACTED.to_string()),
    }
}

fn has_value(v: &Value, path: &[&str]) -> bool {
    match v {
        Value::Null => false,
        _ if path.is_empty() => true,
        Value::Array(items) => items.iter().any(|i| has_value(i, path)),
        Value::Object(map) => match map.get(path[0]) {
            Some(c) => has_value(c, &path[1..]),
            // Inside a union's `{"<branch>": value}`.
            None => map.len() == 1 && map.values().any(|inner| has_value(inner, path)),
        },
        _ => true,
    }
}

/// One row of `access_log`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    /// The verified `sub`; `None` when no token was verified.
    pub subject: Option<String>,
    /// The verified tenant; `None` when no token was verified.
    pub tenant: Option<String>,
    /// `GET /events` and the like (the route's template, not the path).
    pub route: &'static str,
    /// Accepted parameters with their values, or only the names (values `null`) when refused.
    pub parameters: Value,
    pub status: u16,
    pub event_ids: Vec<uuid::Uuid>,
    pub phi_disclosed: bool,
}

/// Parameter names only (values `null`): for requests that were refused, whose values are
/// unchecked input. At most 32 names of at most 64 printable characters.
pub(crate) fn names_only(pairs: &[(String, String)]) -> Value {
    let mut map = Map::new();
    for (name, _) in pairs.iter().take(32) {
        let name: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
        map.insert(name, Value::Null);
    }
    Value::Object(map)
}

/// Accepted parameters with their values (a repeated `event_type` as a list).
pub(crate) fn with_values(pairs: &[(String, String)]) -> Value {
    let mut map = Map::new();
    for (name, value) in pairs {
        match map.get_mut(name) {
            Some(Value::Array(list)) => list.push(Value::String(value.clone())),
            Some(first) => {
                let first = first.take();
                map.insert(
                    name.clone(),
                    Value::Array(vec![first, Value::String(value.clone())]),
                );
            }
            None => {
                map.insert(name.clone(), Value::String(value.clone()));
            }
        }
    }
    Value::Object(map)
}

/// Append `entry` to `access_log` on `db` (the request's transaction when it read events).
pub(crate) async fn record<'c>(
    db: impl sqlx::PgExecutor<'c>,
    entry: &Entry,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO access_log (subject, tenant_id, route, parameters, status, event_ids, \
         phi_disclosed) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&entry.subject)
    .bind(&entry.tenant)
    .bind(entry.route)
    .bind(&entry.parameters)
    .bind(i16::try_from(entry.status).unwrap_or(i16::MAX))
    .bind(&entry.event_ids)
    .bind(entry.phi_disclosed)
    .execute(db)
    .await
    .map_err(backend("write access log"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn phi_paths_are_redacted_through_objects_and_lists_and_odd_shapes() {
        let mut v = json!({
            "patientId": "p1",
            "name": {"family": "Rivera", "given": ["Jordan"]},
            "telecom": [{"value": "555-1234", "system": "phone"}, {"value": null}],
            "dateOfBirth": {"$phi": "c2VhbGVk"},
            "email": null,
            "odd": "scalar-where-an-object-was-expected",
        });
        for path in [
            "name.family",
            "telecom.value",
            "dateOfBirth",
            "email",
            "odd.inner",
        ] {
            redact_path(&mut v, &path.split('.').collect::<Vec<_>>());
        }
        assert_eq!(
            v,
            json!({
                "patientId": "p1",
                "name": {"family": REDACTED, "given": ["Jordan"]},
                "telecom": [{"value": REDACTED, "system": "phone"}, {"value": null}],
                "dateOfBirth": REDACTED,
                "email": null,
                "odd": REDACTED,
            })
        );
        let v = json!({"name": {"family": "Rivera"}, "email": null, "telecom": [{"value": null}]});
        assert!(has_value(&v, &["name", "family"]));
        assert!(!has_value(&v, &["email"]));
        assert!(!has_value(&v, &["telecom", "value"]));
        assert!(!has_value(&v, &["missing"]));
    }

    #[test]
    fn phi_paths_are_redacted_inside_avro_json_unions() {
        // An optional nested record and an optional PHI string, in Avro's JSON encoding.
        let mut v = json!({
            "patientId": "p1",
            "name": {"healthcare.common.HumanName": {"family": "Rivera", "given": ["Jordan"]}},
            "nickname": {"string": "Jo"},
            "contact": null,
        });
        assert!(has_value(&v, &["name", "family"]));
        assert!(!has_value(&v, &["contact", "phone"]));
        for path in ["name.family", "nickname", "contact.phone"] {
            redact_path(&mut v, &path.split('.').collect::<Vec<_>>());
        }
        assert_eq!(
            v,
            json!({
                "patientId": "p1",
                "name": {"healthcare.common.HumanName": {"family": REDACTED, "given": ["Jordan"]}},
                "nickname": REDACTED,
                "contact": null,
            })
        );
    }

    #[test]
    fn logged_parameters_keep_values_only_when_accepted() {
        let pairs = vec![
            ("stream".to_string(), "Patient-1".to_string()),
            ("event_type".to_string(), "A".to_string()),
            ("event_type".to_string(), "B".to_string()),
            ("event_type".to_string(), "C".to_string()),
        ];
        assert_eq!(
            with_values(&pairs),
            json!({"stream": "Patient-1", "event_type": ["A", "B", "C"]})
        );
        assert_eq!(
            names_only(&pairs),
            json!({"stream": null, "event_type": null})
        );
    }
}
