//! The compatibility gate's history lock (`schemas/schema-history.lock`) turned into per-step verdicts the event pages show.
//!
//! The catalog only reports what the gate recorded; it never recomputes compatibility. A step
//! the lock does not mention is shown as "not recorded".

use carebus_codegen::history as lock;
use std::collections::BTreeMap;
use std::path::Path;

/// What the gate recorded for one version step of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepVerdict {
    pub compatible: bool,
    /// The compatibility mode the step was checked under, e.g. `BACKWARD_TRANSITIVE`.
    pub mode: Option<String>,
    /// Why the step is incompatible (which field, which rule), when recorded.
    pub reasons: Vec<String>,
}

/// Recorded verdicts by (event name, from version, to version).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    steps: BTreeMap<(String, u32, u32), StepVerdict>,
    /// Fingerprints (16 hex digits) of the revisions recorded per (event, version), oldest first.
    revisions: BTreeMap<(String, u32), Vec<String>>,
    /// Every recorded schema, by event, version and revision (oldest first).
    schemas: Vec<RecordedSchema>,
}

/// One schema the gate recorded: what the static Schema Registry serves for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedSchema {
    pub event: String,
    pub version: u32,
    pub fingerprint: u64,
    pub format: carebus_codegen::ir::SchemaFormat,
    /// The record's (message's) full name, e.g. `healthcare.patient.PatientCreated`.
    pub full_name: String,
    /// The canonical text (Avro: the Parsing Canonical Form).
    pub canonical: String,
}

impl History {
    /// Reads the gate's lock file. A missing file is an empty history (every step then shows
    /// "not recorded").
    pub fn read(path: &Path) -> Result<History, String> {
        let recorded = lock::History::load(path).map_err(|d| {
            format!(
                "{}; the catalog only reads this file, the build writes it",
                d.render(None)
            )
        })?;
        Ok(History::from_lock(&recorded))
    }

    /// The verdicts the gate recorded for each version against the one before it.
    pub fn from_lock(recorded: &lock::History) -> History {
        let mut history = History::default();
        for (event, versions) in &recorded.events {
            for v in &versions.versions {
                history.revisions.insert(
                    (event.clone(), v.version),
                    v.revisions.iter().map(|r| r.fingerprint.clone()).collect(),
                );
                history.schemas.extend(v.revisions.iter().filter_map(|r| {
                    Some(RecordedSchema {
                        event: event.clone(),
                        version: v.version,
                        fingerprint: u64::from_str_radix(&r.fingerprint, 16).ok()?,
                        format: r.format,
                        full_name: r.ir.record.full_name(),
                        canonical: r.schema.clone(),
                    })
                }));
                if let Some(previous) = &v.previous {
                    history.insert(
                        event,
                        previous.version,
                        v.version,
                        StepVerdict {
                            compatible: previous.compatible,
                            mode: Some(previous.mode.as_str().to_string()),
                            reasons: previous.reasons.clone(),
                        },
                    );
                }
            }
        }
        history
    }

    pub fn insert(&mut self, event: &str, from: u32, to: u32, verdict: StepVerdict) {
        self.steps.insert((event.to_string(), from, to), verdict);
    }

    /// The verdict for the step `from` → `to` of `event`, when the gate recorded one.
    pub fn step(&self, event: &str, from: u32, to: u32) -> Option<&StepVerdict> {
        self.steps.get(&(event.to_string(), from, to))
    }

    /// Records the revisions (fingerprints, oldest first) of one event version.
    pub fn insert_revisions(&mut self, event: &str, version: u32, fingerprints: Vec<String>) {
        self.revisions
            .insert((event.to_string(), version), fingerprints);
    }

    /// The fingerprints of the recorded revisions of one event version, oldest first.
    pub fn revisions(&self, event: &str, version: u32) -> &[String] {
        self.revisions
            .get(&(event.to_string(), version))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Every recorded schema, by event, version and revision (oldest first).
    pub fn schemas(&self) -> &[RecordedSchema] {
        &self.schemas
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.revisions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carebus_codegen::ir::Compatibility;

    #[test]
    fn verdicts_come_from_each_versions_previous_step() {
        let mut recorded = lock::History::default();
        recorded.events.insert(
            "PatientCreated".into(),
            lock::EventHistory {
                versions: vec![
                    lock::VersionHistory {
                        version: 1,
                        revisions: vec![],
                        previous: None,
                    },
                    lock::VersionHistory {
                        version: 2,
                        revisions: vec![],
                        previous: Some(lock::VersionCompatibility {
                            version: 1,
                            mode: Compatibility::Full,
                            compatible: false,
                            reasons: vec!["field `mrn` was added without a default".into()],
                        }),
                    },
                ],
            },
        );
        let history = History::from_lock(&recorded);
        let step = history.step("PatientCreated", 1, 2).unwrap();
        assert!(!step.compatible);
        assert_eq!(step.mode.as_deref(), Some("FULL"));
        assert_eq!(step.reasons, ["field `mrn` was added without a default"]);
        assert!(history.step("PatientCreated", 0, 1).is_none());
        assert!(history.revisions("PatientCreated", 2).is_empty());
    }

    #[test]
    fn a_missing_lock_is_an_empty_history() {
        let history = History::read(Path::new("/nonexistent/schema-history.lock")).unwrap();
        assert!(history.is_empty());
    }
}
