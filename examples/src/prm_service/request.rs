//! JSON request bodies of the PRM API in, typed values out, or the list of fields that are wrong (each named, never its value).

use carebus::{Date, Phi, Timestamp, Uuid};
use carebus_schemas::*;
use serde::Serialize;
use serde_json::Value;

/// What is wrong with one field of a request: its path and why (never the field's value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// JSON path of the field, e.g. `telecom[0].value`.
    pub field: String,
    /// What is wrong and what is expected.
    pub message: String,
}

/// Reads the fields of one request body, collecting an [`Issue`] for each wrong one.
pub struct Body<'a> {
    root: &'a Value,
    issues: Vec<Issue>,
}

impl<'a> Body<'a> {
    /// A reader of `root`; a body that is not a JSON object is one issue (`body`).
    pub fn new(root: &'a Value) -> Body<'a> {
        let mut issues = Vec::new();
        if !root.is_object() {
            issues.push(Issue {
                field: "body".into(),
                message: "must be a JSON object".into(),
            });
        }
        Body { root, issues }
    }

    /// Record that `field` is wrong.
    pub fn issue(&mut self, field: &str, message: impl Into<String>) {
        self.issues.push(Issue {
            field: field.into(),
            message: message.into(),
        });
    }

    /// The value at `path` (`a.b[0].c`), `None` when absent or null.
    pub fn get(&self, path: &str) -> Option<&'a Value> {
        let mut v = self.root;
        for part in path.split('.') {
            v = match part.strip_suffix(']').and_then(|p| p.split_once('[')) {
                Some((name, index)) => v.get(name)?.get(index.parse::<usize>().ok()?)?,
                None => v.get(part)?,
            };
        }
        Some(v).filter(|v| !v.is_null())
    }

    /// Whether the body names `path` (with any value but null).
    pub fn has(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    /// An optional non-empty string.
    pub fn opt_str(&mut self, path: &str) -> Option<String> {
        match self.get(path) {
            None => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(_) => {
                self.issue(path, "must be a non-empty string");
                None
            }
        }
    }

    /// A required non-empty string (empty when missing, with an issue).
    pub fn str(&mut self, path: &str) -> String {
        if !self.has(path) {
            self.issue(path, "is required");
        }
        self.opt_str(path).unwrap_or_default()
    }

    /// An optional true/false.
    pub fn opt_bool(&mut self, path: &str) -> Option<bool> {
        match self.get(path) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.issue(path, "must be true or false");
                None
            }
        }
    }

    /// An optional whole number in `min..=max`.
    pub fn opt_int(&mut self, path: &str, min: i64, max: i64) -> Option<i64> {
        let v = self.get(path)?;
        match v.as_i64().filter(|n| (min..=max).contains(n)) {
            Some(n) => Some(n),
            None => {
                self.issue(path, format!("must be a whole number from {min} to {max}"));
                None
            }
        }
    }

    /// An optional number in `min..=max`.
    pub fn opt_number(&mut self, path: &str, min: f64, max: f64) -> Option<f64> {
        let v = self.get(path)?;
        match v.as_f64().filter(|n| (min..=max).contains(n)) {
            Some(n) => Some(n),
            None => {
                self.issue(path, format!("must be a number from {min} to {max}"));
                None
            }
        }
    }

    /// The aggregate version the caller expects (`expectedVersion`), for the optimistic check.
    pub fn expected_version(&mut self) -> Option<u64> {
        self.opt_int("expectedVersion", 1, i64::MAX)
            .and_then(|n| u64::try_from(n).ok())
    }

    /// An optional RFC 3339 date-time with a time zone.
    pub fn opt_time(&mut self, path: &str) -> Option<Timestamp> {
        let text = self.opt_str(path)?;
        let parsed = Timestamp::parse_rfc3339(&text);
        if parsed.is_none() {
            self.issue(
                path,
                "must be a date-time with a time zone, e.g. 2026-03-01T09:30:00Z",
            );
        }
        parsed
    }

    /// A required RFC 3339 date-time.
    pub fn time(&mut self, path: &str) -> Timestamp {
        if !self.has(path) {
            self.issue(path, "is required");
        }
        self.opt_time(path).unwrap_or_default()
    }

    /// An optional calendar date `YYYY-MM-DD`, not in the future.
    pub fn opt_date(&mut self, path: &str) -> Option<Date> {
        let text = self.opt_str(path)?;
        let today = Timestamp::now().0.div_euclid(86_400_000_000);
        let parsed = parse_date(&text).filter(|d| i64::from(d.0) <= today);
        if parsed.is_none() {
            self.issue(path, "must be a past date YYYY-MM-DD, e.g. 1961-04-17");
        }
        parsed
    }

    /// An optional UUID.
    pub fn opt_uuid(&mut self, path: &str) -> Option<Uuid> {
        let text = self.opt_str(path)?;
        let parsed = Uuid::parse(&text).ok();
        if parsed.is_none() {
            self.issue(path, "must be a UUID");
        }
        parsed
    }

    /// An optional enum symbol (case and `-`/`_` insensitive), listing `allowed` when wrong.
    pub fn opt_symbol<T>(
        &mut self,
        path: &str,
        parse: impl Fn(&str) -> Option<T>,
        allowed: &str,
    ) -> Option<T> {
        let text = self.opt_str(path)?;
        let parsed = parse(&text.to_ascii_uppercase().replace('-', "_"));
        if parsed.is_none() {
            self.issue(path, format!("must be one of {allowed}"));
        }
        parsed
    }

    /// A required enum symbol.
    pub fn symbol<T>(
        &mut self,
        path: &str,
        parse: impl Fn(&str) -> Option<T>,
        allowed: &str,
    ) -> Option<T> {
        if !self.has(path) {
            self.issue(path, format!("is required: one of {allowed}"));
        }
        self.opt_symbol(path, parse, allowed)
    }

    /// How many items the array at `path` has (an issue when it is not an array).
    pub fn len(&mut self, path: &str) -> usize {
        match self.get(path) {
            None => 0,
            Some(Value::Array(items)) => items.len(),
            Some(_) => {
                self.issue(path, "must be an array");
                0
            }
        }
    }

    /// A reference to a person or place: the id at `path`, of FHIR type `kind`.
    pub fn reference(&mut self, path: &str, kind: &str) -> Option<Reference> {
        self.opt_str(path).map(|id| Reference {
            r#type: kind.into(),
            id,
            display: None,
        })
    }

    /// Contact points at `path` (`[{system, value, use?, rank?}]`).
    pub fn telecom(&mut self, path: &str) -> Vec<ContactPoint> {
        (0..self.len(path))
            .map(|i| {
                let at = format!("{path}[{i}]");
                ContactPoint {
                    system: self
                        .symbol(
                            &format!("{at}.system"),
                            ContactPointSystem::from_symbol,
                            "phone, fax, email, pager, url, sms, other",
                        )
                        .unwrap_or(ContactPointSystem::Other),
                    value: Phi::new(self.str(&format!("{at}.value"))),
                    r#use: self.opt_symbol(
                        &format!("{at}.use"),
                        ContactPointUse::from_symbol,
                        "home, work, temp, old, mobile",
                    ),
                    rank: self
                        .opt_int(&format!("{at}.rank"), 1, i64::from(i32::MAX))
                        .and_then(|n| i32::try_from(n).ok()),
                }
            })
            .collect()
    }

    /// The practitioner id at `field`, or, when the body names no one, the service itself.
    pub fn actor(&mut self, field: &str) -> Reference {
        self.reference(field, "Practitioner")
            .unwrap_or_else(|| Reference {
                r#type: "Device".into(),
                id: super::SERVICE.into(),
                display: Some("PRM service".into()),
            })
    }

    /// The issues, or `value` when there are none.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<Issue>> {
        if self.issues.is_empty() {
            Ok(value)
        } else {
            Err(self.issues)
        }
    }

    /// Whether an issue was found so far.
    pub fn failed(&self) -> bool {
        !self.issues.is_empty()
    }
}

/// `YYYY-MM-DD` as a date.
fn parse_date(text: &str) -> Option<Date> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    Date::from_ymd(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// The allowed gender symbols, as the API spells them.
pub const GENDERS: &str = "male, female, other, unknown";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrong_fields_are_named_without_their_values() {
        let body = json!({ "firstName": 7, "dateOfBirth": "Jane's birthday", "telecom": [{ "system": "pigeon" }] });
        let mut b = Body::new(&body);
        b.str("firstName");
        b.str("lastName");
        b.opt_date("dateOfBirth");
        b.telecom("telecom");
        let issues = b.finish(()).unwrap_err();
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "firstName",
                "lastName",
                "dateOfBirth",
                "telecom[0].system",
                "telecom[0].value"
            ]
        );
        assert!(issues.iter().all(|i| !i.message.contains("Jane")));
        assert!(issues.iter().all(|i| !i.message.contains("pigeon")));
    }

    #[test]
    fn dates_are_calendar_dates_in_the_past() {
        assert_eq!(parse_date("1961-04-17"), Date::from_ymd(1961, 4, 17));
        assert_eq!(parse_date("1961-02-30"), None);
        assert_eq!(parse_date("1961-4-17"), None);
        let body = json!({ "d": "2999-01-01" });
        let mut b = Body::new(&body);
        assert_eq!(b.opt_date("d"), None);
        assert!(b.failed());
    }

    #[test]
    fn a_body_that_is_not_an_object_is_one_issue() {
        let body = json!([1, 2]);
        let issues = Body::new(&body).finish(()).unwrap_err();
        assert_eq!(issues[0].field, "body");
    }
}
