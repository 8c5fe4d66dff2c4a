//! Each way a schema change can break its readers, turned into a sentence that names the field and the rule.

use crate::ir::SchemaFormat;
use std::fmt;

/// Which side of a change reads data written by the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Backward: the new schema (reader) reads data written with an old one (writer).
    NewReadsOld,
    /// Forward: an old schema (reader) reads data written with the new one (writer).
    OldReadsNew,
}

impl Direction {
    /// The consequence of breaking a rule in this direction.
    fn consequence(self) -> &'static str {
        match self {
            Direction::NewReadsOld => "so the new schema cannot read old data",
            Direction::OldReadsNew => "so readers of the old schema cannot read new data",
        }
    }
    /// The mode family name, for messages.
    pub fn mode_name(self) -> &'static str {
        match self {
            Direction::NewReadsOld => "backward",
            Direction::OldReadsNew => "forward",
        }
    }
}

/// A broken compatibility rule. Avro rules are stated in reader/writer terms (see
/// [`Rule::explain`] for the old/new wording); Protobuf rules are symmetric.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// The reader has a field the writer lacks, and the reader's field has no default.
    FieldWithoutDefault { field: String },
    /// The writer's type is neither the reader's nor promotable to it.
    TypeNotPromotable { writer: String, reader: String },
    /// Same underlying type, but the reader interprets it through a different logical type.
    LogicalTypeChanged { writer: String, reader: String },
    /// Named types (record, enum, fixed) whose names differ, with no reader alias.
    NameChanged {
        kind: &'static str,
        writer: String,
        reader: String,
    },
    /// Writer enum symbols the reader lacks, and the reader enum has no `default`.
    EnumSymbolsMissing { name: String, symbols: Vec<String> },
    /// A fixed type with a different size.
    FixedSizeChanged {
        name: String,
        writer: u32,
        reader: u32,
    },
    /// A branch of the writer's union that the reader cannot read.
    UnionBranchUnreadable { branch: String },
    /// The reader's union has no branch for the writer's (non-union) type.
    NoMatchingUnionBranch { writer: String },
    /// A type reference that the schema's own named types do not define.
    UnknownNamedType { name: String },
    /// The event moved from Avro to Protobuf or back.
    FormatChanged {
        old: SchemaFormat,
        new: SchemaFormat,
    },
    /// Protobuf: a field number now carries a wire-incompatible type.
    FieldNumberTypeChanged {
        number: u32,
        old: String,
        new: String,
    },
    /// Protobuf: a field number now belongs to a field with another name.
    FieldNumberReused {
        number: u32,
        old: String,
        new: String,
    },
    /// Protobuf: an enum value kept its name but changed its number.
    EnumValueNumberChanged {
        name: String,
        symbol: String,
        old: i32,
        new: i32,
    },
    /// Protobuf: an enum number now names another value.
    EnumValueNumberReused {
        name: String,
        number: i32,
        old: String,
        new: String,
    },
}

const PROMOTIONS: &str =
    "Avro promotes only int→long/float/double, long→float/double, float→double and string↔bytes";

impl Rule {
    /// A short, stable identifier of the rule, e.g. `field-added-without-default`.
    pub fn code(&self) -> &'static str {
        match self {
            Rule::FieldWithoutDefault { .. } => "field-without-default",
            Rule::TypeNotPromotable { .. } => "type-not-promotable",
            Rule::LogicalTypeChanged { .. } => "logical-type-changed",
            Rule::NameChanged { .. } => "name-changed",
            Rule::EnumSymbolsMissing { .. } => "enum-symbol-missing",
            Rule::FixedSizeChanged { .. } => "fixed-size-changed",
            Rule::UnionBranchUnreadable { .. } => "union-branch-unreadable",
            Rule::NoMatchingUnionBranch { .. } => "no-matching-union-branch",
            Rule::UnknownNamedType { .. } => "unknown-named-type",
            Rule::FormatChanged { .. } => "format-changed",
            Rule::FieldNumberTypeChanged { .. } => "field-number-type-changed",
            Rule::FieldNumberReused { .. } => "field-number-reused",
            Rule::EnumValueNumberChanged { .. } => "enum-value-number-changed",
            Rule::EnumValueNumberReused { .. } => "enum-value-number-reused",
        }
    }

    /// The rule in old/new terms, for a check in `direction`: what changed and what breaks.
    pub fn explain(&self, direction: Direction) -> String {
        let so = direction.consequence();
        let back = direction == Direction::NewReadsOld;
        // (old, new) from (writer, reader): backward reads old data with the new schema.
        let old_new = |writer: &str, reader: &str| -> (String, String) {
            if back {
                (writer.to_string(), reader.to_string())
            } else {
                (reader.to_string(), writer.to_string())
            }
        };
        match self {
            Rule::FieldWithoutDefault { field } if back => {
                format!("field `{field}` was added without a default, {so}")
            }
            Rule::FieldWithoutDefault { field } => {
                format!("field `{field}` was removed and the old schema gives it no default, {so}")
            }
            Rule::TypeNotPromotable { writer, reader } => {
                let (old, new) = old_new(writer, reader);
                format!(
                    "type changed from `{old}` to `{new}`, and `{writer}` data cannot be read as `{reader}` ({PROMOTIONS}), {so}"
                )
            }
            Rule::LogicalTypeChanged { writer, reader } => {
                let (old, new) = old_new(writer, reader);
                format!(
                    "logical type changed from `{old}` to `{new}`: the bytes still decode but `{writer}` values would be read as `{reader}` and mean something else, {so}"
                )
            }
            Rule::NameChanged {
                kind,
                writer,
                reader,
            } => {
                let (old, new) = old_new(writer, reader);
                format!(
                    "{kind} `{old}` was renamed to `{new}` and `{reader}` does not list `{writer}` in its `aliases`, {so}"
                )
            }
            Rule::EnumSymbolsMissing { name, symbols } => {
                let list = quoted(symbols);
                if back {
                    format!(
                        "enum `{name}` no longer has symbol(s) {list} and declares no enum `default`, {so}"
                    )
                } else {
                    format!(
                        "enum `{name}` gained symbol(s) {list} and the old enum declares no `default`, {so}"
                    )
                }
            }
            Rule::FixedSizeChanged {
                name,
                writer,
                reader,
            } => {
                let (old, new) = old_new(&writer.to_string(), &reader.to_string());
                format!("fixed `{name}` changed size from {old} to {new} bytes, {so}")
            }
            Rule::UnionBranchUnreadable { branch } if back => {
                format!("union branch `{branch}` was removed, {so} that used it")
            }
            Rule::UnionBranchUnreadable { branch } => format!(
                "union branch `{branch}` was added and the old type cannot hold it, {so} that uses it"
            ),
            Rule::NoMatchingUnionBranch { writer } if back => {
                format!("the new union has no branch that can read the old type `{writer}`, {so}")
            }
            Rule::NoMatchingUnionBranch { writer } => {
                format!("the old union has no branch that can read the new type `{writer}`, {so}")
            }
            Rule::UnknownNamedType { name } => format!(
                "type `{name}` is referenced but not defined in the recorded schema, so the change cannot be checked"
            ),
            Rule::FormatChanged { old, new } => format!(
                "the event's schema format changed from {old:?} to {new:?}; data written in one cannot be read with the other"
            ),
            Rule::FieldNumberTypeChanged { number, old, new } => format!(
                "field number {number} changed type from `{old}` to `{new}`, which is not wire-compatible, so data written with one cannot be decoded with the other"
            ),
            Rule::FieldNumberReused { number, old, new } => format!(
                "field number {number} was `{old}` and is now `{new}`: reusing a number for another field makes stored data decode into the wrong field (and renames break carebus's JSON form)"
            ),
            Rule::EnumValueNumberChanged {
                name,
                symbol,
                old,
                new,
            } => format!(
                "enum value `{name}.{symbol}` changed number from {old} to {new}, so stored values decode as a different symbol"
            ),
            Rule::EnumValueNumberReused {
                name,
                number,
                old,
                new,
            } => format!(
                "enum number {number} of `{name}` was `{old}` and is now `{new}`, so stored values decode as a different symbol"
            ),
        }
    }
}

/// The reader/writer statement of the rule, independent of which schema is newer.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::FieldWithoutDefault { field } => write!(
                f,
                "the reader's field `{field}` has no default and the writer's schema lacks it"
            ),
            Rule::TypeNotPromotable { writer, reader } => write!(
                f,
                "writer type `{writer}` cannot be read as `{reader}` ({PROMOTIONS})"
            ),
            Rule::LogicalTypeChanged { writer, reader } => write!(
                f,
                "writer logical type `{writer}` would be read as `{reader}`"
            ),
            Rule::NameChanged {
                kind,
                writer,
                reader,
            } => write!(
                f,
                "writer {kind} `{writer}` does not match reader {kind} `{reader}` (no alias)"
            ),
            Rule::EnumSymbolsMissing { name, symbols } => write!(
                f,
                "reader enum `{name}` lacks writer symbol(s) {} and has no default",
                quoted(symbols)
            ),
            Rule::FixedSizeChanged {
                name,
                writer,
                reader,
            } => write!(
                f,
                "fixed `{name}` has size {writer} in the writer and {reader} in the reader"
            ),
            Rule::UnionBranchUnreadable { branch } => write!(
                f,
                "the writer's union branch `{branch}` cannot be read by the reader"
            ),
            Rule::NoMatchingUnionBranch { writer } => write!(
                f,
                "the reader's union has no branch for the writer's type `{writer}`"
            ),
            _ => f.write_str(&self.explain(Direction::NewReadsOld)),
        }
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
