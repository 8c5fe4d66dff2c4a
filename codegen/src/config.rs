//! Build-script settings in, generated Rust, prost wire types and IR JSON out — the one call a `build.rs` makes — plus the schema-history lock check and update behind `carebus-codegen check` / `lock`.
//!
//! ```no_run
//! // schemas/build.rs: schemas in this crate's folder, output in OUT_DIR.
//! carebus_codegen::Config::new().generate_or_exit();
//! ```
//!
//! The build never writes into the source tree: when `schema-history.lock` does not record
//! the schemas as they are, [`Config::generate`] fails with a diagnostic naming
//! [`LOCK_COMMAND`], which records them ([`Config::lock`]).

use crate::check;
use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics};
use crate::emit;
use crate::history::History;
use crate::ir::{Model, Source};
use crate::journey_lock::{self, JOURNEY_LOCK_FILE, JourneyHistory};
use crate::load;
use std::path::{Path, PathBuf};

/// Name of the generated Rust file in `OUT_DIR`; include it with
/// `include!(concat!(env!("OUT_DIR"), "/carebus_generated.rs"));`.
pub const GENERATED_FILE: &str = "carebus_generated.rs";
/// Name of the IR JSON file in `OUT_DIR` (the catalog reads the same IR).
pub const IR_FILE: &str = "carebus-ir.json";
/// Name of the schema history lock inside the schemas folder.
pub const HISTORY_FILE: &str = "schema-history.lock";
/// The command that records new schema versions and revisions in the lock.
pub const LOCK_COMMAND: &str = "cargo run -p carebus-codegen -- lock";

/// Settings for one generation run. Setters take `&mut self` and return it for chaining.
#[derive(Clone, Debug, Default)]
pub struct Config {
    schemas_dir: Option<PathBuf>,
    out_dir: Option<PathBuf>,
    history: Option<PathBuf>,
    cargo_directives: bool,
    analytics_review: bool,
}

/// What a successful run produced.
#[derive(Debug)]
pub struct Generated {
    pub model: Model,
    pub rust_file: PathBuf,
    pub ir_file: PathBuf,
    /// Problems that do not stop the build (a type name defined in two namespaces).
    pub warnings: Vec<Diagnostic>,
}

/// The schemas loaded and checked against the lock: the history as recorded and as it
/// would be with the schemas as they are.
struct Gated {
    project: load::Project,
    history_path: PathBuf,
    recorded: History,
    next: History,
    journeys_path: PathBuf,
    journeys_recorded: JourneyHistory,
    journeys_next: JourneyHistory,
}

impl Config {
    /// Defaults: schemas in `$CARGO_MANIFEST_DIR` (the build script's crate), output in `$OUT_DIR`, history at
    /// `<schemas>/schema-history.lock`, and `cargo:` directives printed.
    pub fn new() -> Self {
        Config {
            cargo_directives: true,
            ..Config::default()
        }
    }

    /// The folder holding `avro/`, `proto/`, `topics.toml`, `services.toml`, `guides/`.
    pub fn schemas_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.schemas_dir = Some(dir.into());
        self
    }

    /// Where generated files go (default: `$OUT_DIR`).
    pub fn out_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// The schema history lock file (default: `<schemas>/schema-history.lock`).
    pub fn history(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.history = Some(path.into());
        self
    }

    /// Whether to print `cargo:rerun-if-changed` lines (on by default; off for tools and tests).
    pub fn cargo_directives(&mut self, on: bool) -> &mut Self {
        self.cargo_directives = on;
        self
    }

    /// Whether every field of every event must be reviewed for analytics: classified, given an
    /// `analytics` rule, or inside a sensitive field; otherwise `error[unclassified-field]`
    /// (off by default; the project's `schemas/build.rs` turns it on). Unreviewed fields never
    /// reach analytics either way: the generated plans drop them.
    ///
    /// ```no_run
    /// carebus_codegen::Config::new().analytics_review(true).generate_or_exit();
    /// ```
    pub fn analytics_review(&mut self, on: bool) -> &mut Self {
        self.analytics_review = on;
        self
    }

    fn resolved_dir(&self) -> PathBuf {
        match &self.schemas_dir {
            Some(d) => d.clone(),
            None => std::env::var_os("CARGO_MANIFEST_DIR")
                .map_or_else(|| PathBuf::from("."), PathBuf::from),
        }
    }

    fn history_path(&self, dir: &Path) -> PathBuf {
        self.history
            .clone()
            .unwrap_or_else(|| dir.join(HISTORY_FILE))
    }

    /// Load the schemas and run the compatibility gate against the lock (writes nothing).
    fn gated(&self) -> Result<Gated, Diagnostics> {
        let dir = self.resolved_dir();
        let history_path = self.history_path(&dir);
        if self.cargo_directives {
            println!("cargo:rerun-if-changed={}", dir.display());
            println!("cargo:rerun-if-changed={}", history_path.display());
        }
        let project = load::load_project(&dir);
        if self.cargo_directives {
            // Even when loading failed, watch every schema file so fixing one re-runs the build.
            let mut files = Vec::new();
            collect_files(&dir, &mut files);
            for f in files {
                println!("cargo:rerun-if-changed={}", f.display());
            }
        }
        let project = project?;
        if self.analytics_review {
            let mut diags = Diagnostics::default();
            crate::analytics::check(&project.model, &mut diags);
            if !diags.is_empty() {
                return Err(diags);
            }
        }
        let recorded = History::load(&history_path).map_err(|d| Diagnostics(vec![d]))?;
        let (next, mut diags) = check::gate(&project.model, &recorded);
        let journeys_path = dir.join(JOURNEY_LOCK_FILE);
        if self.cargo_directives {
            println!("cargo:rerun-if-changed={}", journeys_path.display());
        }
        let journeys_recorded =
            JourneyHistory::load(&journeys_path).map_err(|d| Diagnostics(vec![d]))?;
        let (journeys_next, journey_diags) = journey_lock::gate(&project.model, &journeys_recorded);
        diags.0.extend(journey_diags.0);
        if !diags.is_empty() {
            return Err(diags);
        }
        Ok(Gated {
            project,
            history_path,
            recorded,
            next,
            journeys_path,
            journeys_recorded,
            journeys_next,
        })
    }

    /// Check that the lock records every event version and revision of the schemas, and that
    /// every change is compatible. Writes nothing (`carebus-codegen check`).
    pub fn check(&self) -> Result<(), Diagnostics> {
        let gated = self.gated()?;
        stale_lock(&gated, &self.resolved_dir())
    }

    /// Record new event versions and compatible revisions in the lock; incompatible changes
    /// fail with their diagnostics and write nothing (`carebus-codegen lock`). Returns whether
    /// the lock changed.
    pub fn lock(&self) -> Result<bool, Diagnostics> {
        let gated = self.gated()?;
        let journeys = gated.journeys_next != gated.journeys_recorded
            && gated
                .journeys_next
                .save_if_changed(&gated.journeys_path)
                .map_err(|d| Diagnostics(vec![d]))?;
        if gated.next == gated.recorded {
            return Ok(journeys);
        }
        let schemas = gated
            .next
            .save_if_changed(&gated.history_path)
            .map_err(|d| Diagnostics(vec![d]))?;
        Ok(schemas || journeys)
    }

    /// Load, check (diagnostics, the compatibility gate, the lock being up to date), and write
    /// the generated files to the output folder. Never writes into the schemas folder.
    pub fn generate(&self) -> Result<Generated, Diagnostics> {
        let out_dir = match &self.out_dir {
            Some(d) => d.clone(),
            None => match std::env::var_os("OUT_DIR") {
                Some(d) => PathBuf::from(d),
                None => {
                    return Err(one(
                        DiagnosticKind::Io,
                        "OUT_DIR is not set",
                        "call Config::out_dir, or run from a build script",
                    ));
                }
            },
        };
        let gated = self.gated()?;
        stale_lock(&gated, &self.resolved_dir())?;
        let project = gated.project;

        // The generated code includes prost's wire structs (its `wire` module) from OUT_DIR.
        if let Some(fds) = &project.descriptors {
            emit::proto::compile_wire_types(fds, &out_dir).map_err(|e| io_error(&out_dir, e))?;
        }
        let code = emit::generate(&project.model);
        let rust_file = out_dir.join(GENERATED_FILE);
        emit::write_if_changed(&rust_file, &code).map_err(|e| io_error(&rust_file, e))?;
        let ir_file = out_dir.join(IR_FILE);
        let ir = serde_json::to_string_pretty(&project.model)
            .map_err(|e| io_error(&ir_file, std::io::Error::other(e)))?;
        emit::write_if_changed(&ir_file, &ir).map_err(|e| io_error(&ir_file, e))?;
        Ok(Generated {
            model: project.model,
            rust_file,
            ir_file,
            warnings: project.warnings,
        })
    }

    /// [`Config::generate`] for build scripts: on problems, print every diagnostic with its
    /// source line and exit with status 1 so cargo shows them and stops the build.
    /// Warnings are printed as `cargo:warning=` lines (cargo shows them and the build goes on).
    pub fn generate_or_exit(&self) -> Generated {
        match self.generate() {
            Ok(g) => {
                let base = self.diagnostics_base();
                for w in &g.warnings {
                    let text = w.render(
                        std::fs::read_to_string(base.join(&w.source.file))
                            .ok()
                            .as_deref(),
                    );
                    for line in text.lines() {
                        if self.cargo_directives {
                            println!("cargo:warning={line}");
                        } else {
                            eprintln!("{line}");
                        }
                    }
                }
                g
            }
            Err(diags) => {
                let base = self.diagnostics_base();
                eprintln!(
                    "{}",
                    diags.render_with(|file| std::fs::read_to_string(base.join(file)).ok())
                );
                std::process::exit(1);
            }
        }
    }
}

impl Config {
    /// Diagnostics name files relative to the schemas folder's parent.
    fn diagnostics_base(&self) -> PathBuf {
        self.resolved_dir()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

/// One diagnostic per event version the lock does not record as it is now, at the event's
/// schema, naming the command that records it.
fn stale_lock(gated: &Gated, dir: &Path) -> Result<(), Diagnostics> {
    if gated.next == gated.recorded {
        return stale_journey_lock(gated, dir);
    }
    let command = if dir.file_name().is_some_and(|n| n == "schemas") {
        LOCK_COMMAND.to_string()
    } else {
        format!("{LOCK_COMMAND} --schemas {}", dir.display())
    };
    // Named as diagnostics name schema files: relative to the schemas folder's parent.
    let shown = dir
        .parent()
        .and_then(|base| gated.history_path.strip_prefix(base).ok())
        .unwrap_or(&gated.history_path);
    let lock = shown.display();
    let help = format!(
        "run `{command}` from the workspace root to record it, then commit {lock} (the build never writes into the source tree)"
    );
    let mut diags = Diagnostics::default();
    for e in &gated.project.model.events {
        let (before, after) = (
            gated.recorded.version(&e.name, e.version),
            gated.next.version(&e.name, e.version),
        );
        if before == after {
            continue;
        }
        let what = match before {
            None => "is not recorded",
            Some(_) => "changed compatibly and the change is not recorded",
        };
        diags.push(
            Diagnostic::new(
                DiagnosticKind::StaleLock,
                e.source.clone(),
                format!("event `{}` version {} {what} in {lock}", e.name, e.version),
            )
            .help(help.clone()),
        );
    }
    if diags.is_empty() {
        diags.push(
            Diagnostic::new(
                DiagnosticKind::StaleLock,
                Source::new(lock.to_string(), 1, 1),
                format!("{lock} does not record the schemas as they are"),
            )
            .help(help),
        );
    }
    Err(diags)
}

/// One diagnostic per journey version the journey lock does not record as it is.
fn stale_journey_lock(gated: &Gated, dir: &Path) -> Result<(), Diagnostics> {
    if gated.journeys_next == gated.journeys_recorded {
        return Ok(());
    }
    let command = if dir.file_name().is_some_and(|n| n == "schemas") {
        LOCK_COMMAND.to_string()
    } else {
        format!("{LOCK_COMMAND} --schemas {}", dir.display())
    };
    let shown = dir
        .parent()
        .and_then(|base| gated.journeys_path.strip_prefix(base).ok())
        .unwrap_or(&gated.journeys_path);
    let lock = shown.display().to_string();
    let help = format!(
        "run `{command}` from the workspace root to record it, then commit {lock} (the build never writes into the source tree)"
    );
    let mut diags = journey_lock::stale(
        &gated.project.model,
        &gated.journeys_recorded,
        &gated.journeys_next,
        &lock,
        &help,
    );
    if diags.is_empty() {
        diags.push(
            Diagnostic::new(
                DiagnosticKind::StaleLock,
                Source::new(lock.clone(), 1, 1),
                format!("{lock} does not record the journeys as they are"),
            )
            .help(help),
        );
    }
    Err(diags)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            if !p
                .file_name()
                .is_some_and(|n| n == "target" || n == "src" || n == "tests")
            {
                collect_files(&p, out);
            }
        } else if p
            .extension()
            .is_some_and(|x| x == "avsc" || x == "proto" || x == "toml" || x == "md")
        {
            out.push(p);
        }
    }
    out.sort();
}

fn one(kind: DiagnosticKind, msg: &str, help: &str) -> Diagnostics {
    Diagnostics(vec![
        Diagnostic::new(kind, Source::default(), msg).help(help),
    ])
}

fn io_error(path: &Path, e: std::io::Error) -> Diagnostics {
    Diagnostics(vec![
        Diagnostic::new(
            DiagnosticKind::Io,
            Source::new(path.display().to_string(), 0, 0),
            format!("cannot write generated output: {e}"),
        )
        .help("check free disk space and permissions of the output directory (OUT_DIR, or Config::out_dir)"),
    ])
}
