//! De-identification plans: what the generator derives from each event version's field classifications (annotations `classification` and `analytics`), as static data the analytics sink applies to the event's JSON form.
//!
//! A plan is an allow-list: only the fields it names reach analytics, each transformed as its
//! [`Rule`] says; every other field (PHI and PII without a generalising rule, and anything a
//! schema does not classify) is dropped. The generated registry `ANALYTICS` lists one
//! [`EventPlan`] per event version; `DomainEvent::ANALYTICS` holds the same fields.

/// What reaches analytics of one field, and how it is indexed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldRule {
    /// The member name in the JSON form (and in the analytics document).
    pub name: &'static str,
    /// How values are arranged: one (possibly null), a list, or a map from string keys.
    pub shape: Shape,
    /// What is written for each value.
    pub rule: Rule,
}

/// How a field holds its values in the JSON form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One value, or null for an absent optional.
    One,
    /// An array; the rule applies to each item.
    List,
    /// A map (JSON object with arbitrary keys); the rule applies to each value, keys are kept.
    Map,
}

/// What the analytics document holds for one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The value as it is (a field classified `none`), indexed as the scalar says.
    Keep(Scalar),
    /// A keyed hash (HMAC-SHA256 with the deployment's key, lowercase hex) of the value's text:
    /// the same identifier gives the same pseudonym, so one patient's events still join.
    Pseudonymize,
    /// A date or timestamp generalised to its calendar year (a number).
    Year,
    /// A birth date generalised to a ten-year age band at the event's time (`"30-39"`; every
    /// age over 89 is `"90+"`).
    AgeBand,
    /// A string cut to its first `n` characters (a postal code to its region prefix).
    Prefix(u8),
    /// A record: its own plan applies to its fields.
    Record(&'static [FieldRule]),
}

/// How a kept value is indexed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    /// A string matched exactly (ids, codes, enum symbols): OpenSearch `keyword`.
    Keyword,
    /// Free text a schema author chose to keep (`"analytics": "text"`): OpenSearch `text`.
    Text,
    /// `boolean`.
    Boolean,
    /// Whole numbers: `long`.
    Long,
    /// Floating point: `double`.
    Double,
    /// A calendar date (`yyyy-MM-dd`): `date`.
    Date,
    /// A timestamp (RFC 3339 text): `date`.
    Timestamp,
    /// A decimal written as text at this scale: `double` (the text stays in `_source`).
    Decimal {
        /// Digits after the point.
        scale: u32,
    },
    /// A value kept but not indexed (a union of several types): stored in `_source` only.
    Opaque,
}

/// The de-identification plan of one event version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventPlan {
    /// Event type name (`PatientCreated`).
    pub event_type: &'static str,
    /// Event version.
    pub version: u32,
    /// The topic the event is published to.
    pub topic: &'static str,
    /// The fields that reach analytics, in schema order.
    pub fields: &'static [FieldRule],
}

impl EventPlan {
    /// The rule of the top-level field `name`, when it reaches analytics.
    pub fn field(&self, name: &str) -> Option<&'static FieldRule> {
        self.fields.iter().find(|f| f.name == name)
    }
}
