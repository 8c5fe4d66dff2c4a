//! Field classifications of the IR in, each event version's de-identification plan out (what reaches analytics and how), plus the build-time review rule: every field of every event is classified, carries an `analytics` rule, or sits inside a sensitive field.
//!
//! A plan is an allow-list read by `emit::analytics` (as `carebus_core::deidentify` data) and,
//! through it, by the analytics sink. A field reaches analytics as:
//! - its `analytics` annotation says (`keep`, `text`, `drop`, `pseudonymize`, `year`,
//!   `age-band`, `prefix-<n>`), checked against its classification and type;
//! - else as its classification implies: `none` written out is kept, `phi` and `pii` dropped;
//! - else, inside a field classified `phi`/`pii` (reached through `"analytics": "fields"`), it
//!   inherits that classification and is dropped;
//! - else it is unreviewed: dropped, and with [`check`] an `error[unclassified-field]`.

use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics};
use crate::ir::{Analytics, Classification, Event, Field, Model, NamedType, Record, Type};
use std::collections::BTreeSet;

/// How a field holds its values (mirrors `carebus_core::deidentify::Shape`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    One,
    List,
    Map,
}

/// How a kept value is indexed (mirrors `carebus_core::deidentify::Scalar`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    Keyword,
    Text,
    Boolean,
    Long,
    Double,
    Date,
    Timestamp,
    Decimal { scale: u32 },
    Opaque,
}

/// What the analytics document holds of one value (mirrors `carebus_core::deidentify::Rule`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    Keep(Scalar),
    Pseudonymize,
    Year,
    AgeBand,
    Prefix(u8),
    Record(Vec<PlanField>),
}

/// One field that reaches analytics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanField {
    /// The member name in the JSON form.
    pub name: String,
    pub shape: Shape,
    pub rule: Rule,
}

/// The plan of one event version: the fields that reach analytics, in schema order.
/// Problems are not reported here (see [`check`]); a field with one is dropped.
pub fn plan(model: &Model, event: &Event) -> Vec<PlanField> {
    let mut sink = Vec::new();
    Planner {
        model,
        problems: &mut sink,
        visiting: BTreeSet::new(),
    }
    .record(&event.record, None)
}

/// The review rule over every event version: each field classified, given an `analytics`
/// rule, or inside a sensitive field, and each rule fitting its field. One diagnostic per
/// field, at the field (a shared record's field is reported once).
pub fn check(model: &Model, diags: &mut Diagnostics) {
    let mut problems = Vec::new();
    for event in &model.events {
        Planner {
            model,
            problems: &mut problems,
            visiting: BTreeSet::new(),
        }
        .record(&event.record, None);
    }
    let mut seen = BTreeSet::new();
    for d in problems {
        if seen.insert((d.source.clone(), d.message.clone())) {
            diags.push(d);
        }
    }
}

struct Planner<'m, 'p> {
    model: &'m Model,
    problems: &'p mut Vec<Diagnostic>,
    /// Records being planned, to stop at a recursive one.
    visiting: BTreeSet<String>,
}

impl Planner<'_, '_> {
    /// The plan of a record's fields; `inherited` is the sensitive classification of the field
    /// holding it, which its unclassified fields take.
    fn record(&mut self, r: &Record, inherited: Option<Classification>) -> Vec<PlanField> {
        if !self.visiting.insert(r.full_name()) {
            return Vec::new();
        }
        let out = r
            .fields
            .iter()
            .filter_map(|f| self.field(r, f, inherited))
            .collect();
        self.visiting.remove(&r.full_name());
        out
    }

    fn problem(&mut self, kind: DiagnosticKind, f: &Field, message: String, help: &str) {
        self.problems
            .push(Diagnostic::new(kind, f.source.clone(), message).help(help));
    }

    fn field(
        &mut self,
        r: &Record,
        f: &Field,
        inherited: Option<Classification>,
    ) -> Option<PlanField> {
        let classification = match inherited {
            Some(c) if !f.classified => c,
            _ => f.classification,
        };
        if !f.classified && f.analytics.is_none() && inherited.is_none() {
            self.problem(
                DiagnosticKind::UnclassifiedField,
                f,
                format!(
                    "field `{}` of `{}` is not classified, so analytics cannot tell whether it may be kept",
                    f.name,
                    r.full_name()
                ),
                "add \"classification\": \"none\" (kept in analytics), \"phi\" or \"pii\" (dropped), or an \"analytics\" rule such as \"pseudonymize\" (docs/analytics.md)",
            );
            return None;
        }
        let sensitive = classification.is_sensitive();
        let rule = f.analytics.unwrap_or(if sensitive {
            Analytics::Drop
        } else {
            Analytics::Keep
        });
        if sensitive && matches!(rule, Analytics::Keep | Analytics::Text) {
            let class = if classification == Classification::Phi {
                "phi"
            } else {
                "pii"
            };
            self.problem(
                DiagnosticKind::BadAnnotation,
                f,
                format!(
                    "field `{}` is classified {class}: analytics cannot keep it as it is",
                    f.name
                ),
                "generalise it (\"year\", \"age-band\", \"prefix-<n>\"), pseudonymise it (\"pseudonymize\") or drop it (\"drop\")",
            );
            return None;
        }
        if rule == Analytics::Drop {
            return None;
        }
        let (shape, inner) = shape_of(&f.ty);
        let value = self.value(f, rule, inner, sensitive.then_some(classification))?;
        Some(PlanField {
            name: f.json_name(),
            shape,
            rule: value,
        })
    }

    /// The rule for one value of type `ty` (the field's type without its array, map or null).
    fn value(
        &mut self,
        f: &Field,
        rule: Analytics,
        ty: &Type,
        sensitive: Option<Classification>,
    ) -> Option<Rule> {
        let record = match ty {
            Type::Named { name } => match self.model.named_type(name) {
                Some(NamedType::Record(r)) => Some(r),
                _ => None,
            },
            _ => None,
        };
        let fits = |ok: bool, what: &str, this: &mut Self| {
            if !ok {
                this.problem(
                    DiagnosticKind::BadAnnotation,
                    f,
                    format!(
                        "`\"analytics\": \"{}\"` needs {what}, but field `{}` is {}",
                        rule.as_str(),
                        f.name,
                        f.ty
                    ),
                    "choose a rule that fits the type (docs/analytics.md), or \"drop\"",
                );
            }
            ok
        };
        match rule {
            Analytics::Drop => None,
            Analytics::Pseudonymize => {
                let ok = matches!(
                    ty,
                    Type::String | Type::Uuid | Type::Int | Type::Long | Type::Proto { .. }
                );
                fits(ok, "a string, uuid or integer", self).then_some(Rule::Pseudonymize)
            }
            Analytics::Year => fits(is_time(ty), "a date or timestamp", self).then_some(Rule::Year),
            Analytics::AgeBand => {
                fits(matches!(ty, Type::Date), "a date (of birth)", self).then_some(Rule::AgeBand)
            }
            Analytics::Prefix(n) => {
                fits(matches!(ty, Type::String), "a string", self).then_some(Rule::Prefix(n))
            }
            Analytics::Text => fits(matches!(ty, Type::String), "a string", self)
                .then_some(Rule::Keep(Scalar::Text)),
            Analytics::Fields => match record {
                Some(r) if !self.visiting.contains(&r.full_name()) => {
                    Some(Rule::Record(self.record(r, sensitive)))
                }
                _ => fits(false, "a (non-recursive) record", self).then_some(Rule::Year),
            },
            Analytics::Keep => match record {
                Some(r) if self.visiting.contains(&r.full_name()) => {
                    self.problem(
                        DiagnosticKind::BadAnnotation,
                        f,
                        format!(
                            "field `{}` holds the recursive record `{}`, which analytics cannot index",
                            f.name,
                            r.full_name()
                        ),
                        "give the field \"analytics\": \"drop\"",
                    );
                    None
                }
                Some(r) => Some(Rule::Record(self.record(r, None))),
                None => self.scalar(f, ty).map(Rule::Keep),
            },
        }
    }

    fn scalar(&mut self, f: &Field, ty: &Type) -> Option<Scalar> {
        Some(match ty {
            Type::String | Type::Uuid => Scalar::Keyword,
            Type::Boolean => Scalar::Boolean,
            Type::Int | Type::Long | Type::Proto { .. } => Scalar::Long,
            // Their JSON form is the Avro number (nanoseconds, or a time of day / a wall-clock
            // time with no zone), kept as such: not an instant a date field could hold.
            Type::TimestampNanos
            | Type::TimeMillis
            | Type::TimeMicros
            | Type::LocalTimestampMillis
            | Type::LocalTimestampMicros
            | Type::LocalTimestampNanos => Scalar::Long,
            Type::Float | Type::Double => Scalar::Double,
            Type::Date => Scalar::Date,
            Type::TimestampMillis | Type::TimestampMicros => Scalar::Timestamp,
            Type::Decimal { scale, .. } => Scalar::Decimal { scale: *scale },
            // Its JSON form is bytes (unscaled integer and scale), no number to index.
            Type::BigDecimal => Scalar::Opaque,
            Type::Named { name } => match self.model.named_type(name) {
                Some(NamedType::Enum(_)) => Scalar::Keyword,
                _ => Scalar::Opaque,
            },
            Type::Union { branches } => {
                let holds_record = branches.iter().any(|b| {
                    matches!(b, Type::Named { name }
                        if matches!(self.model.named_type(name), Some(NamedType::Record(_))))
                });
                if holds_record {
                    self.problem(
                        DiagnosticKind::BadAnnotation,
                        f,
                        format!(
                            "field `{}` is a union holding records, which analytics cannot review field by field",
                            f.name
                        ),
                        "give the field \"analytics\": \"drop\"",
                    );
                    return None;
                }
                Scalar::Opaque
            }
            Type::Null | Type::Bytes | Type::Array { .. } | Type::Map { .. } => Scalar::Opaque,
        })
    }
}

fn is_time(ty: &Type) -> bool {
    matches!(
        ty,
        Type::Date | Type::TimestampMillis | Type::TimestampMicros
    )
}

/// The field's shape and the type of each value: `["null", T]` is one `T`, an array (of
/// optionals) a list, a map a map.
fn shape_of(ty: &Type) -> (Shape, &Type) {
    let ty = ty.optional_inner().unwrap_or(ty);
    match ty {
        Type::Array { items } => (Shape::List, items.optional_inner().unwrap_or(items)),
        Type::Map { values } => (Shape::Map, values.optional_inner().unwrap_or(values)),
        other => (Shape::One, other),
    }
}
