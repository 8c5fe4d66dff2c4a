//! Old and new revisions of an event schema turned into the incompatibilities between them, under the event's compatibility mode; and the build's compatibility gate over the committed history.
//!
//! # The rules
//! Avro: the specification's "Schema Resolution" ([`can_read`]): records match by unqualified
//! name or a reader alias; fields by name or reader field alias, order irrelevant; a writer
//! field the reader lacks is ignored; a reader field the writer lacks needs a default;
//! promotions int→long/float/double, long→float/double, float→double, string↔bytes; enum
//! symbols the reader lacks need the reader enum's `default`; fixed types keep name and size;
//! arrays and maps recurse; every branch of a writer union must be readable; a reader union
//! needs a branch for the writer's type. Aliases are read from the reader only and are not
//! transitive. carebus adds one rule: a reader that adds or changes a logical type
//! (timestamp-millis → timestamp-micros, a decimal's precision or scale, string → uuid) is
//! incompatible, because the bytes would still decode but mean something else; dropping a
//! logical type (uuid → string) is fine. Verdicts are cross-checked against apache-avro's
//! `SchemaCompatibility` (tests/compat_parity.rs); the one difference is that apache-avro
//! 0.22 ignores a reader record's aliases, which the specification (and Java's checker) honour.
//!
//! Protobuf: wire rules after Buf's WIRE category ([`wire_breaks`]), see [`proto`].
//!
//! # Modes
//! `BACKWARD`: the new schema reads data of the latest previous one. `FORWARD`: the latest
//! previous schema reads the new one's data. `FULL`: both. The `_TRANSITIVE` forms check
//! against every previous schema instead of the latest. `NONE`: no check. Protobuf wire rules
//! are symmetric and always checked against every previous revision (a reused field number
//! is a break whenever it was used). See [`check_mode`].
//!
//! # The gate
//! [`gate()`] compares the model with the committed history (`schemas/schema-history.lock`,
//! [`crate::history`]). Per event version: not recorded yet → a deliberate new version, recorded
//! (its compatibility with the previous version is recorded as information, never a failure);
//! same fingerprint and same resolution-relevant IR → nothing; otherwise an in-place change,
//! checked under the event's mode against the version's recorded revisions: compatible →
//! a revision is appended; incompatible → an `incompatible` diagnostic naming event, field and
//! rule, with help on declaring a new version. A recorded version that no schema defines any
//! more is an error. The gate writes nothing; the caller saves the history it returns.

pub mod avro;
mod gate;
pub mod proto;
mod rule;

pub use avro::can_read;
pub use gate::gate;
pub use proto::wire_breaks;
pub use rule::{Direction, Rule};

use crate::ir::{Compatibility, NamedType, Record, SchemaFormat, Source};
use std::fmt;

/// One schema as the checks see it: the event record and the named types it uses.
#[derive(Clone, Copy, Debug)]
pub struct Schema<'a> {
    pub record: &'a Record,
    pub types: &'a [NamedType],
}

/// One reason a reader cannot read a writer's data.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Incompatibility {
    /// Where, from the event record down, e.g. `PatientCreated.address.postalCode`
    /// (`[]` marks array items, `{}` map values).
    pub path: String,
    pub rule: Rule,
    /// The nearest node of the writer's schema (the field, or its record when absent there).
    pub writer_source: Source,
    /// The nearest node of the reader's schema.
    pub reader_source: Source,
}

impl Incompatibility {
    /// The location in the newer schema of a check in `direction`.
    pub fn newer_source(&self, direction: Direction) -> &Source {
        match direction {
            Direction::NewReadsOld => &self.reader_source,
            Direction::OldReadsNew => &self.writer_source,
        }
    }
    /// The last path segment: the field that breaks the rule.
    pub fn field(&self) -> &str {
        let last = self.path.rsplit('.').next().unwrap_or(&self.path);
        last.trim_end_matches(['[', ']', '{', '}'])
    }
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.path, self.rule)
    }
}

/// An incompatibility found by a mode check: in which direction, against which previous
/// schema (index into the `previous` slice given to [`check_mode`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub direction: Direction,
    pub against: usize,
    pub incompatibility: Incompatibility,
}

impl Finding {
    /// The sentence for a user: path, what changed, what breaks.
    pub fn explain(&self) -> String {
        format!(
            "`{}`: {}",
            self.incompatibility.path,
            self.incompatibility.rule.explain(self.direction)
        )
    }
    pub fn source(&self) -> &Source {
        self.incompatibility.newer_source(self.direction)
    }
}

/// Check `new` against `previous` (oldest first) under `mode`. Each distinct problem is
/// reported once, against the newest previous schema that shows it.
pub fn check_mode(
    format: SchemaFormat,
    mode: Compatibility,
    new: Schema<'_>,
    previous: &[Schema<'_>],
) -> Vec<Finding> {
    let Some(latest) = previous.len().checked_sub(1) else {
        return Vec::new();
    };
    let (backward, forward, transitive) = match mode {
        Compatibility::None => return Vec::new(),
        Compatibility::Backward => (true, false, false),
        Compatibility::BackwardTransitive => (true, false, true),
        Compatibility::Forward => (false, true, false),
        Compatibility::ForwardTransitive => (false, true, true),
        Compatibility::Full => (true, true, false),
        Compatibility::FullTransitive => (true, true, true),
    };
    let mut out: Vec<Finding> = Vec::new();
    for (i, old) in previous.iter().enumerate().rev() {
        let mut found = Vec::new();
        if format == SchemaFormat::Protobuf {
            found.extend(
                wire_breaks(*old, new)
                    .into_iter()
                    .map(|x| (Direction::NewReadsOld, x)),
            );
        } else if transitive || i == latest {
            if backward {
                found.extend(
                    can_read(*old, new)
                        .into_iter()
                        .map(|x| (Direction::NewReadsOld, x)),
                );
            }
            if forward {
                found.extend(
                    can_read(new, *old)
                        .into_iter()
                        .map(|x| (Direction::OldReadsNew, x)),
                );
            }
        }
        for (direction, incompatibility) in found {
            let dup = out.iter().any(|f| {
                f.direction == direction
                    && f.incompatibility.path == incompatibility.path
                    && f.incompatibility.rule == incompatibility.rule
            });
            if !dup {
                out.push(Finding {
                    direction,
                    against: i,
                    incompatibility,
                });
            }
        }
    }
    out
}
