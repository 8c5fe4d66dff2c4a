//! The committed journey history (`schemas/journey-history.lock`, pretty JSON) turned into data and back, and the gate that checks journey changes against it: a change that would leave running instances in a state the journey no longer has fails unless the definition says where they go (`[migrate]`).
//!
//! Per journey and version the lock keeps the newest fingerprint and every state the version
//! ever had (instances may be in any of them). Like the schema history, the build never writes
//! it: an unrecorded change fails with `stale-lock`, naming [`crate::config::LOCK_COMMAND`].

use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics};
use crate::ir::journey::{Journey, StateKind};
use crate::ir::{Model, Source};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Name of the journey lock inside the schemas folder.
pub const JOURNEY_LOCK_FILE: &str = "journey-history.lock";

/// Every journey's recorded versions, by journey name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JourneyHistory {
    pub lock_format: u32,
    pub journeys: BTreeMap<String, Vec<JourneyVersion>>,
}

impl Default for JourneyHistory {
    fn default() -> Self {
        JourneyHistory {
            lock_format: 1,
            journeys: BTreeMap::new(),
        }
    }
}

/// One recorded journey version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JourneyVersion {
    pub version: u32,
    /// Fingerprint of the newest definition recorded for this version.
    pub fingerprint: String,
    /// Every non-final state this version has had: where its running instances may be.
    pub states: Vec<String>,
}

impl JourneyHistory {
    /// Read the lock; a missing file is an empty history.
    pub fn load(path: &Path) -> Result<JourneyHistory, Diagnostic> {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                Diagnostic::new(
                    DiagnosticKind::Syntax,
                    Source::new(&file, e.line() as u32, e.column() as u32),
                    format!("the journey history is not a valid lock file: {e}"),
                )
                .help(format!(
                    "restore it from version control (`git checkout -- {file}`)"
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(JourneyHistory::default()),
            Err(e) => Err(Diagnostic::new(
                DiagnosticKind::Io,
                Source::new(file, 0, 0),
                format!("cannot read the journey history: {e}"),
            )
            .help("check the file's permissions")),
        }
    }

    /// Write the lock unless it holds exactly this; returns whether it wrote.
    pub fn save_if_changed(&self, path: &Path) -> Result<bool, Diagnostic> {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
            return Ok(false);
        }
        std::fs::write(path, text).map_err(|e| {
            Diagnostic::new(
                DiagnosticKind::Io,
                Source::new(path.display().to_string(), 0, 0),
                format!("cannot write the journey history: {e}"),
            )
            .help("make sure the schemas directory is writable")
        })?;
        Ok(true)
    }

    pub fn version(&self, journey: &str, version: u32) -> Option<&JourneyVersion> {
        self.journeys
            .get(journey)?
            .iter()
            .find(|v| v.version == version)
    }
}

/// The definition instances of `version` of `journey` run on: that version when the build
/// still has it, else the newest.
fn runs_on<'a>(model: &'a Model, journey: &str, version: u32) -> Option<&'a Journey> {
    let versions: Vec<&Journey> = model
        .journeys
        .iter()
        .filter(|j| j.name == journey)
        .collect();
    versions
        .iter()
        .find(|j| j.version == version)
        .or_else(|| versions.iter().max_by_key(|j| j.version))
        .copied()
}

/// Check the model's journeys against the recorded history; returns the history with them
/// recorded, and a diagnostic for every state running instances may be in that their
/// definition neither has nor maps.
pub fn gate(model: &Model, recorded: &JourneyHistory) -> (JourneyHistory, Diagnostics) {
    let mut diags = Diagnostics::default();
    let mut next = recorded.clone();
    for (name, versions) in &recorded.journeys {
        for v in versions {
            let Some(def) = runs_on(model, name, v.version) else {
                continue;
            };
            for state in &v.states {
                if def.state(state).is_some() {
                    continue;
                }
                match def.migrate.get(state) {
                    Some(to) if def.state(to).is_some() => {}
                    _ => diags.push(
                        Diagnostic::new(
                            DiagnosticKind::StrandedInstances,
                            def.source.clone(),
                            format!(
                                "journey `{name}` version {} no longer has state `{state}`, which running instances of version {} may be in",
                                def.version, v.version
                            ),
                        )
                        .help(format!(
                            "say where they go: add `\"{state}\" = \"<state>\"` under [migrate] (or keep the state)"
                        )),
                    ),
                }
            }
        }
    }
    for j in &model.journeys {
        let entry = next.journeys.entry(j.name.clone()).or_default();
        let states = j
            .states
            .iter()
            .filter(|s| s.kind != StateKind::Final)
            .map(|s| s.name.clone());
        match entry.iter_mut().find(|v| v.version == j.version) {
            Some(v) => {
                v.fingerprint = j.fingerprint.clone();
                v.states.extend(states);
                v.states.sort();
                v.states.dedup();
            }
            None => {
                let mut states: Vec<String> = states.collect();
                states.sort();
                entry.push(JourneyVersion {
                    version: j.version,
                    fingerprint: j.fingerprint.clone(),
                    states,
                });
                entry.sort_by_key(|v| v.version);
            }
        }
    }
    (next, diags)
}

/// One `stale-lock` diagnostic per journey version the lock does not record as it is.
pub fn stale(
    model: &Model,
    recorded: &JourneyHistory,
    next: &JourneyHistory,
    lock: &str,
    help: &str,
) -> Diagnostics {
    let mut diags = Diagnostics::default();
    if recorded == next {
        return diags;
    }
    for j in &model.journeys {
        if recorded.version(&j.name, j.version) == next.version(&j.name, j.version) {
            continue;
        }
        let what = match recorded.version(&j.name, j.version) {
            None => "is not recorded",
            Some(_) => "changed and the change is not recorded",
        };
        diags.push(
            Diagnostic::new(
                DiagnosticKind::StaleLock,
                j.source.clone(),
                format!(
                    "journey `{}` version {} {what} in {lock}",
                    j.name, j.version
                ),
            )
            .help(help),
        );
    }
    diags
}
