//! The model's events and the committed schema history turned into the next history and the diagnostics for every breaking in-place change.
//!
//! For each event version in the model:
//! - (a) not in the history: a deliberate new version (or a new event). It is recorded; its
//!   compatibility with the previous version is recorded as information and never fails.
//! - (b) in the history with the same fingerprint as its latest revision, and the same
//!   resolution-relevant IR (defaults and aliases count; docs, examples, classifications and
//!   source positions do not): nothing to do. The IR comparison matters because the Avro
//!   canonical form, hence the fingerprint, ignores defaults and aliases.
//! - (c) otherwise, an in-place change. It is checked under the
//!   event's mode against the version's recorded revisions (the latest for `BACKWARD`,
//!   `FORWARD`, `FULL`; all of them for the `_TRANSITIVE` forms; Protobuf wire rules against
//!   all of them). Compatible: a revision is appended. Incompatible: one
//!   [`DiagnosticKind::Incompatible`] per broken rule, naming event, field and rule, with help
//!   that says how to declare a new version instead; the history is left as it was.
//!
//! A version in the history that no schema defines any more is an error too: published
//! versions are not removed. Every version's `previous` entry is then recomputed from the
//! latest revisions. [`gate`] writes nothing; persist the result with
//! [`History::save_if_changed`] (only when there are no diagnostics).

use super::{Direction, Finding, Rule, Schema, check_mode};
use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics};
use crate::history::{
    History, LOCK_FILE, Revision, Snapshot, VersionCompatibility, VersionHistory,
};
use crate::ir::{Compatibility, Event, Model, SchemaFormat, Source};
use std::path::Path;

/// Check every event version of `model` against `history`; return the history to write and
/// the problems found. See the module documentation for the semantics.
pub fn gate(model: &Model, history: &History) -> (History, Diagnostics) {
    let mut next = history.clone();
    let mut diagnostics = Diagnostics::default();
    for event in &model.events {
        let Some(recorded) = history.version(&event.name, event.version) else {
            next.record(&event.name, event.version, Revision::of(event, model));
            continue;
        };
        let revision = Revision::of(event, model);
        if recorded.latest().is_some_and(|r| {
            r.fingerprint == revision.fingerprint
                && r.ir.resolution_form() == revision.ir.resolution_form()
        }) {
            continue;
        }
        // The current schema with its source positions, so diagnostics point into it.
        let current = Snapshot::of(event, model);
        let findings = in_place_findings(event, &current, recorded);
        if findings.is_empty() {
            next.record(&event.name, event.version, revision);
        }
        for finding in findings {
            diagnostics.push(breaking_change(model, event, &finding, recorded));
        }
    }
    for (name, recorded) in &history.events {
        for v in &recorded.versions {
            let defined = model
                .events
                .iter()
                .any(|e| e.name == *name && e.version == v.version);
            if !defined {
                diagnostics.push(removed_version(model, name, v));
            }
        }
    }
    for event in next.events.values_mut() {
        refresh_previous(&mut event.versions);
    }
    (next, diagnostics)
}

/// An in-place change checked against the version's recorded revisions.
fn in_place_findings(event: &Event, current: &Snapshot, recorded: &VersionHistory) -> Vec<Finding> {
    if let Some(old) = recorded.latest().filter(|r| r.format != event.format) {
        return vec![format_changed(old.format, event.format, current)];
    }
    let previous: Vec<Schema<'_>> = recorded
        .revisions
        .iter()
        .filter(|r| r.format == event.format)
        .map(|r| r.ir.view())
        .collect();
    check_mode(event.format, event.compatibility, current.view(), &previous)
}

fn format_changed(old: SchemaFormat, new: SchemaFormat, current: &Snapshot) -> Finding {
    Finding {
        direction: Direction::NewReadsOld,
        against: 0,
        incompatibility: super::Incompatibility {
            path: current.record.name.clone(),
            rule: Rule::FormatChanged { old, new },
            writer_source: current.record.source.clone(),
            reader_source: current.record.source.clone(),
        },
    }
}

fn breaking_change(
    model: &Model,
    event: &Event,
    finding: &Finding,
    recorded: &VersionHistory,
) -> Diagnostic {
    let v = event.version;
    let against = finding_revision(finding, recorded);
    let message = format!(
        "`{}` v{v} was changed in place and breaks its {} compatibility: {} (rule `{}`, checked against revision {against} of v{v} in {LOCK_FILE})",
        event.name,
        event.compatibility.as_str(),
        finding.explain(),
        finding.incompatibility.rule.code(),
    );
    let source = Some(finding.source())
        .filter(|s| !s.file.is_empty())
        .unwrap_or(&event.source)
        .clone();
    Diagnostic::new(DiagnosticKind::Incompatible, source, message).help(help(model, event, finding))
}

/// 1-based number of the revision a finding was found against (previous = the version's
/// revisions of the same format, which is all of them unless the format changed).
fn finding_revision(finding: &Finding, recorded: &VersionHistory) -> usize {
    finding
        .against
        .min(recorded.revisions.len().saturating_sub(1))
        + 1
}

/// How to make the change anyway: a new version (or undo it, for an old version), plus the
/// rule's own way out when it has one.
fn help(model: &Model, event: &Event, finding: &Finding) -> String {
    let v = event.version;
    let newest = model.versions(&event.name).last().map_or(v, |e| e.version);
    let file = &event.source.file;
    let mut help = if v < newest {
        format!(
            "v{v} is published and `{file}` is not the newest version: undo the change (`git checkout -- {file}`) and make it in the v{newest} schema or a new version"
        )
    } else if event.format == SchemaFormat::Protobuf {
        format!(
            "declare a new version: keep the published message in `{file}` as it is and add the changed one as a new message with `option (carebus.event_version) = {};`",
            v + 1
        )
    } else {
        let path = Path::new(file);
        let dir = path
            .parent()
            .map(|d| d.display().to_string())
            .filter(|d| !d.is_empty())
            .map_or(String::new(), |d| format!("{d}/"));
        let stem = path
            .file_stem()
            .map_or_else(|| event.name.clone(), |s| s.to_string_lossy().into_owned());
        format!(
            "declare a new version: keep the published v{v} by copying it to `{dir}{stem}.v{v}.avsc` (`git show HEAD:{file} > {dir}{stem}.v{v}.avsc`), then set \"event_version\": {} in `{file}`",
            v + 1
        )
    };
    let field = finding.incompatibility.field();
    let way_out = match (&finding.incompatibility.rule, finding.direction) {
        (Rule::FieldWithoutDefault { .. }, Direction::NewReadsOld) => {
            format!(
                "give `{field}` a default (for an optional field: type [\"null\", …] with \"default\": null)"
            )
        }
        (Rule::FieldWithoutDefault { .. }, Direction::OldReadsNew) => format!("keep `{field}`"),
        (Rule::EnumSymbolsMissing { .. }, _) => "give the enum a `default` symbol".to_string(),
        (Rule::NameChanged { .. }, _) => {
            "list the old name in the renamed type's `aliases`".to_string()
        }
        (Rule::FieldNumberReused { number, old, .. }, _) => format!(
            "give `{field}` a number never used before and add `reserved {number};` and `reserved \"{old}\";` to the message"
        ),
        (Rule::FieldNumberTypeChanged { number, old, .. }, _) => format!(
            "keep field {number} as `{old}` and add the new type as a new field with an unused number"
        ),
        (
            Rule::EnumValueNumberChanged { symbol, old, .. }
            | Rule::EnumValueNumberReused {
                new: symbol,
                number: old,
                ..
            },
            _,
        ) => format!(
            "keep enum numbers stable: {old} stays as published; give `{symbol}` a number never used before"
        ),
        _ => String::new(),
    };
    if !way_out.is_empty() && v == newest {
        help.push_str(&format!("; or {way_out}"));
    }
    help
}

fn removed_version(model: &Model, name: &str, recorded: &VersionHistory) -> Diagnostic {
    let version = recorded.version;
    let remaining = model.versions(name);
    let source = remaining
        .last()
        .map_or_else(|| Source::new(LOCK_FILE, 1, 1), |e| e.source.clone());
    let protobuf = recorded
        .latest()
        .is_some_and(|r| r.format == SchemaFormat::Protobuf);
    let example = remaining
        .last()
        .and_then(|e| Path::new(&e.source.file).file_stem())
        .filter(|_| !protobuf)
        .map_or_else(
            || {
                if protobuf {
                    format!(
                        "the message `{name}` with `option (carebus.event_version) = {version};`"
                    )
                } else {
                    "its schema file".to_string()
                }
            },
            |stem| {
                let stem = stem.to_string_lossy();
                let stem = stem.split(".v").next().unwrap_or(&stem);
                format!("`{stem}.v{version}.avsc` (with \"event_version\": {version})")
            },
        );
    Diagnostic::new(
        DiagnosticKind::Incompatible,
        source,
        format!(
            "`{name}` v{version} is recorded in {LOCK_FILE} but no schema defines it any more; removing a published version strands the stored events and consumers that use it"
        ),
    )
    .help(format!(
        "restore {example}; if v{version} was never published, delete its entry from {LOCK_FILE}"
    ))
}

/// Recompute each version's compatibility with the version before it, from latest revisions.
fn refresh_previous(versions: &mut [VersionHistory]) {
    for i in 1..versions.len() {
        let (before, rest) = versions.split_at_mut(i);
        let (prev, this) = (&before[i - 1], &mut rest[0]);
        let (Some(old), Some(new)) = (prev.latest(), this.latest()) else {
            continue;
        };
        let mode = new.compatibility;
        let checked_as = if mode == Compatibility::None {
            Compatibility::Full
        } else {
            mode
        };
        let findings = if old.format != new.format {
            vec![format_changed(old.format, new.format, &new.ir)]
        } else {
            check_mode(new.format, checked_as, new.ir.view(), &[old.ir.view()])
        };
        this.previous = Some(VersionCompatibility {
            version: prev.version,
            mode,
            compatible: findings.is_empty(),
            reasons: findings.iter().map(Finding::explain).collect(),
        });
    }
}
