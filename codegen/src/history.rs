//! The committed schema history (`schemas/schema-history.lock`, pretty JSON) turned into data and back: every event's versions and the revisions each version went through.
//!
//! Each revision keeps the fingerprint, format and mode it was recorded with, the schema's
//! canonical text for people (Avro: the Parsing Canonical Form, which inlines every named
//! type; Protobuf: the canonical descriptor text), and the IR of the record plus the named
//! types it uses, so the gate can check a change against it without the current named types
//! and without re-parsing. The IR is stored in its resolution form (no docs, examples,
//! classifications or source positions): diagnostics always point into the current schema,
//! and the lock stays small and does not change when only a doc does. Events, versions and types are kept in a fixed order, so the file
//! only changes when a schema does. What the gate does with it: [`crate::check::compat`].

use crate::diagnostic::{Diagnostic, DiagnosticKind};
use crate::ir::{Compatibility, Event, Model, NamedType, Record, SchemaFormat, Source, Type};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Where the lock file lives, relative to the workspace root.
pub const LOCK_FILE: &str = "schemas/schema-history.lock";

/// The lock file's format version.
pub const LOCK_FORMAT: u32 = 1;

/// Every event's recorded versions, by event name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub lock_format: u32,
    pub events: BTreeMap<String, EventHistory>,
}

impl Default for History {
    fn default() -> Self {
        History {
            lock_format: LOCK_FORMAT,
            events: BTreeMap::new(),
        }
    }
}

/// The versions of one event, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventHistory {
    pub versions: Vec<VersionHistory>,
}

/// One event version: the revisions it went through (compatible in-place changes), oldest
/// first, and how it relates to the version before it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionHistory {
    pub version: u32,
    pub revisions: Vec<Revision>,
    /// For every version but the first: its latest revision checked against the previous
    /// version's latest revision. Information for the catalog; never fails the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<VersionCompatibility>,
}

impl VersionHistory {
    pub fn latest(&self) -> Option<&Revision> {
        self.revisions.last()
    }
}

/// One recorded schema of an event version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    /// CRC-64-AVRO of the canonical form, 16 lowercase hex digits.
    pub fingerprint: String,
    pub format: SchemaFormat,
    pub compatibility: Compatibility,
    /// The canonical schema text (self-contained), for people reading the lock.
    pub schema: String,
    /// The record and the named types it uses, in resolution form, for the gate.
    pub ir: Snapshot,
}

impl Revision {
    /// The revision an event's current schema would be recorded as.
    pub fn of(event: &Event, model: &Model) -> Revision {
        Revision {
            fingerprint: fingerprint_hex(event.fingerprint),
            format: event.format,
            compatibility: event.compatibility,
            schema: event.canonical_form.clone(),
            ir: Snapshot::of(event, model).resolution_form(),
        }
    }
}

/// Whether a version can be read with / can read the version before it (under the event's
/// mode; `NONE` is checked as `FULL`, as information), and why not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionCompatibility {
    pub version: u32,
    pub mode: Compatibility,
    pub compatible: bool,
    pub reasons: Vec<String>,
}

/// A self-contained schema: the event's record and every named type it reaches, by name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub record: Record,
    pub types: Vec<NamedType>,
}

impl Snapshot {
    /// The event's record and the model's named types it uses, directly or through other
    /// named types, sorted by full name.
    pub fn of(event: &Event, model: &Model) -> Snapshot {
        let mut types: Vec<NamedType> = Vec::new();
        let mut pending: Vec<&Type> = event.record.fields.iter().map(|f| &f.ty).collect();
        while let Some(ty) = pending.pop() {
            match ty {
                Type::Array { items } => pending.push(items),
                Type::Map { values } => pending.push(values),
                Type::Union { branches } => pending.extend(branches),
                Type::Named { name } if !types.iter().any(|t| t.full_name() == *name) => {
                    if let Some(t) = model.named_type(name) {
                        if let NamedType::Record(r) = t {
                            pending.extend(r.fields.iter().map(|f| &f.ty));
                        }
                        types.push(t.clone());
                    }
                }
                _ => {}
            }
        }
        types.sort_by_key(|t| t.full_name());
        // The lock records schemas, not the Rust names the generator gives them.
        let mut record = event.record.clone();
        clear_rust_names(&mut record);
        for t in &mut types {
            match t {
                NamedType::Record(r) => clear_rust_names(r),
                NamedType::Enum(e) => e.rust = Default::default(),
                NamedType::Fixed(f) => f.rust = Default::default(),
            }
        }
        Snapshot { record, types }
    }

    /// The snapshot without what schema resolution ignores (docs, sources, examples,
    /// classifications and analytics rules, deprecations). Two snapshots that differ only there are the same
    /// schema to the gate; a change of a default or an alias is not (and the Avro canonical
    /// form, hence the fingerprint, does not see those).
    pub fn resolution_form(&self) -> Snapshot {
        let mut s = self.clone();
        strip_record(&mut s.record);
        for t in &mut s.types {
            match t {
                NamedType::Record(r) => strip_record(r),
                NamedType::Enum(e) => {
                    e.doc = None;
                    e.deprecated = None;
                    e.source = Source::default();
                    e.symbols.iter_mut().for_each(|s| s.doc = None);
                }
                NamedType::Fixed(f) => {
                    f.doc = None;
                    f.source = Source::default();
                }
            }
        }
        s
    }

    pub fn view(&self) -> crate::check::compat::Schema<'_> {
        crate::check::compat::Schema {
            record: &self.record,
            types: &self.types,
        }
    }
}

fn clear_rust_names(r: &mut Record) {
    r.rust = Default::default();
    r.fields.iter_mut().for_each(|f| f.rust.clear());
}

fn strip_record(r: &mut Record) {
    r.doc = None;
    r.deprecated = None;
    r.source = Source::default();
    for f in &mut r.fields {
        f.doc = None;
        f.source = Source::default();
        f.examples.clear();
        f.classification = Default::default();
        f.classified = false;
        f.analytics = None;
        f.deprecated = None;
    }
}

/// A fingerprint as written in the lock.
pub fn fingerprint_hex(fingerprint: u64) -> String {
    format!("{fingerprint:016x}")
}

impl History {
    /// Read the lock file; a missing file is an empty history (the first build records
    /// everything).
    pub fn load(path: impl AsRef<Path>) -> Result<History, Diagnostic> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(History::default()),
            Err(e) => {
                return Err(Diagnostic::new(
                    DiagnosticKind::Io,
                    Source::new(file, 0, 0),
                    format!("cannot read the schema history: {e}"),
                )
                .help("check the file's permissions, or restore it from version control"));
            }
        };
        Self::parse(&file, &text)
    }

    /// Parse lock-file text; `file` names it in diagnostics.
    pub fn parse(file: &str, text: &str) -> Result<History, Diagnostic> {
        let history: History = serde_json::from_str(text).map_err(|e| {
            Diagnostic::new(
                DiagnosticKind::Syntax,
                Source::new(file, e.line() as u32, e.column() as u32),
                format!("the schema history is not a valid lock file: {e}"),
            )
            .help(format!(
                "the build writes this file; restore it from version control (`git checkout -- {file}`) rather than editing it by hand"
            ))
        })?;
        if history.lock_format != LOCK_FORMAT {
            return Err(Diagnostic::new(
                DiagnosticKind::InvalidSchema,
                Source::new(file, 1, 1),
                format!(
                    "the schema history has lock format {}, this carebus-codegen reads format {LOCK_FORMAT}",
                    history.lock_format
                ),
            )
            .help("build with the carebus-codegen version that wrote the lock, or upgrade this one"));
        }
        Ok(history)
    }

    /// The lock file's text: pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Write the lock file unless it already holds exactly this history. Returns whether
    /// it wrote.
    pub fn save_if_changed(&self, path: impl AsRef<Path>) -> Result<bool, Diagnostic> {
        let path = path.as_ref();
        let text = self.to_json();
        if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
            return Ok(false);
        }
        let io_error = |e: std::io::Error| {
            Diagnostic::new(
                DiagnosticKind::Io,
                Source::new(path.display().to_string(), 0, 0),
                format!("cannot write the schema history: {e}"),
            )
            .help("make sure the schemas directory is writable")
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_error)?;
        }
        std::fs::write(path, text).map_err(io_error)?;
        Ok(true)
    }

    /// The recorded history of one event version.
    pub fn version(&self, event: &str, version: u32) -> Option<&VersionHistory> {
        self.events
            .get(event)?
            .versions
            .iter()
            .find(|v| v.version == version)
    }

    /// Record a revision, creating the event and version as needed; versions stay sorted.
    pub fn record(&mut self, event: &str, version: u32, revision: Revision) {
        let versions = &mut self.events.entry(event.to_string()).or_default().versions;
        match versions.iter_mut().find(|v| v.version == version) {
            Some(v) => v.revisions.push(revision),
            None => {
                versions.push(VersionHistory {
                    version,
                    revisions: vec![revision],
                    previous: None,
                });
                versions.sort_by_key(|v| v.version);
            }
        }
    }
}
