//! The `schemas/` folder in (Avro and Protobuf files, topics and services manifests, guides), one checked IR model out.
//!
//! Errors from every file are collected and reported together; the model is returned only
//! when there are none.

pub mod avro;
pub mod canonical;
pub mod defaults;
pub mod flows;
pub mod journey;
pub mod json;
pub mod manifest;
pub mod proto;
pub mod recursion;

use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics, suggest};
use crate::ir::{Guide, Model, NamedType, Source};
use std::path::{Path, PathBuf};

pub use avro::AvroSource;

/// Everything loaded from a schemas folder: the model plus what the build script needs.
#[derive(Debug, Default)]
pub struct Project {
    pub model: Model,
    /// Every file read, for `cargo:rerun-if-changed`.
    pub files: Vec<PathBuf>,
    /// Compiled Protobuf descriptors (for prost-build), when the folder has `.proto` files.
    pub descriptors: Option<prost_types::FileDescriptorSet>,
    /// Problems that do not stop the build (e.g. a type name defined in two namespaces).
    pub warnings: Vec<Diagnostic>,
}

/// Load only Avro sources (no manifests): for tests and tools. Warnings are dropped; see
/// [`load_avro_sources_with_warnings`].
pub fn load_avro_sources(sources: &[(&str, &str)]) -> Result<Model, Diagnostics> {
    load_avro_sources_with_warnings(sources).map(|(model, _)| model)
}

/// Load only Avro sources (no manifests), with the problems that do not stop the build
/// (ignored logical types, type names defined in two namespaces).
pub fn load_avro_sources_with_warnings(
    sources: &[(&str, &str)],
) -> Result<(Model, Vec<Diagnostic>), Diagnostics> {
    let files: Vec<AvroSource> = sources
        .iter()
        .map(|(p, t)| AvroSource {
            path: p.to_string(),
            text: t.to_string(),
        })
        .collect();
    let out = avro::load(&files)?;
    let mut warnings = out.warnings;
    let mut model = Model {
        events: out.events,
        types: out.types,
        envelope: out.envelope,
        ..Model::default()
    };
    sort(&mut model);
    warnings.extend(crate::rust_names::assign(&mut model));
    Ok((model, warnings))
}

/// Load a whole schemas folder and return the model.
pub fn load_dir(dir: &Path) -> Result<Model, Diagnostics> {
    load_project(dir).map(|p| p.model)
}

fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if p.file_name()
                .is_some_and(|n| n == "target" || n == "tests" || n == "src")
            {
                continue;
            }
            walk(&p, ext, out);
        } else if p.extension().is_some_and(|e| e == ext) {
            out.push(p);
        }
    }
}

/// Path as shown in diagnostics: relative to the folder's parent (e.g. `schemas/avro/x.avsc`)
/// when possible, so messages read the same on every machine.
fn display_path(dir: &Path, p: &Path) -> String {
    let base = dir.parent().unwrap_or(dir);
    p.strip_prefix(base)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

fn read(path: &Path, shown: &str, diags: &mut Diagnostics) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) => {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::Io,
                    Source::new(shown, 0, 0),
                    format!("cannot read the file: {e}"),
                )
                .help("check that it exists and is UTF-8 text"),
            );
            None
        }
    }
}

/// Load a schemas folder: `**/*.avsc`, `**/*.proto`, `topics.toml`, `services.toml`, `guides/*.md`,
/// `journeys/*.toml`, `flows.toml`.
pub fn load_project(dir: &Path) -> Result<Project, Diagnostics> {
    let mut diags = Diagnostics::default();
    let mut project = Project::default();
    let mut avsc = Vec::new();
    walk(dir, "avsc", &mut avsc);
    let mut sources = Vec::new();
    for p in &avsc {
        let shown = display_path(dir, p);
        if let Some(text) = read(p, &shown, &mut diags) {
            sources.push(AvroSource { path: shown, text });
        }
        project.files.push(p.clone());
    }
    match avro::load(&sources) {
        Ok(out) => {
            project.model.events = out.events;
            project.model.types = out.types;
            project.model.envelope = out.envelope;
            project.warnings = out.warnings;
        }
        Err(d) => diags.0.extend(d.0),
    }
    load_protobuf(dir, &mut project, &mut diags);

    let mut mapping = Vec::new();
    let topics_path = dir.join("topics.toml");
    if topics_path.exists() {
        let shown = display_path(dir, &topics_path);
        project.files.push(topics_path.clone());
        if let Some(text) = read(&topics_path, &shown, &mut diags) {
            match manifest::topics(&shown, &text) {
                Ok((t, m)) => {
                    project.model.topics = t;
                    mapping = m;
                }
                Err(d) => diags.0.extend(d.0),
            }
        }
    }
    let services_path = dir.join("services.toml");
    if services_path.exists() {
        let shown = display_path(dir, &services_path);
        project.files.push(services_path.clone());
        if let Some(text) = read(&services_path, &shown, &mut diags) {
            match manifest::services(&shown, &text) {
                Ok(s) => project.model.services = s,
                Err(d) => diags.0.extend(d.0),
            }
        }
    }
    let mut guides = Vec::new();
    walk(&dir.join("guides"), "md", &mut guides);
    for g in guides {
        let shown = display_path(dir, &g);
        project.files.push(g.clone());
        if let Some(text) = read(&g, &shown, &mut diags) {
            let slug = g
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let title = text
                .lines()
                .find_map(|l| l.strip_prefix("# "))
                .unwrap_or(&slug)
                .trim()
                .to_string();
            project.model.guides.push(Guide {
                slug,
                title,
                markdown: text,
            });
        }
    }
    if diags.is_empty() {
        link_topics(
            &mut project.model,
            &mapping,
            topics_path.exists(),
            &mut diags,
        );
        check_services(&project.model, &mut diags);
    }
    if diags.is_empty() {
        load_journeys(dir, &mut project, &mut diags);
    }
    let flows_path = dir.join("flows.toml");
    if diags.is_empty() && flows_path.exists() {
        let shown = display_path(dir, &flows_path);
        project.files.push(flows_path.clone());
        if let Some(text) = read(&flows_path, &shown, &mut diags) {
            match flows::load(&shown, &text, &project.model) {
                Ok(f) => project.model.flows = f,
                Err(d) => diags.0.extend(d.0),
            }
        }
    }
    sort(&mut project.model);
    if diags.is_empty() {
        let ambiguous = crate::rust_names::assign(&mut project.model);
        project.warnings.extend(ambiguous);
        Ok(project)
    } else {
        Err(diags)
    }
}

/// `journeys/*.toml`, checked against the loaded events; two files may not define the same
/// journey version.
fn load_journeys(dir: &Path, project: &mut Project, diags: &mut Diagnostics) {
    let mut files = Vec::new();
    walk(&dir.join("journeys"), "toml", &mut files);
    for p in files {
        let shown = display_path(dir, &p);
        project.files.push(p.clone());
        let Some(text) = read(&p, &shown, diags) else {
            continue;
        };
        match journey::load(&shown, &text, &project.model) {
            Ok(j) => {
                if let Some(other) = project
                    .model
                    .journeys
                    .iter()
                    .find(|o| o.name == j.name && o.version == j.version)
                {
                    diags.push(
                        Diagnostic::new(
                            DiagnosticKind::DuplicateName,
                            j.source.clone(),
                            format!(
                                "journey `{}` version {} is also defined in {}",
                                j.name, j.version, other.source.file
                            ),
                        )
                        .help("give the newer definition the next version number"),
                    );
                    continue;
                }
                project.model.journeys.push(j);
            }
            Err(d) => diags.0.extend(d.0),
        }
    }
}

fn load_protobuf(dir: &Path, project: &mut Project, diags: &mut Diagnostics) {
    let mut protos = Vec::new();
    walk(dir, "proto", &mut protos);
    project.files.extend(protos.iter().cloned());
    if protos.is_empty() {
        return;
    }
    // Imports are written relative to `schemas/proto/` (`import "carebus/options.proto";`).
    let include = if dir.join("proto").is_dir() {
        dir.join("proto")
    } else {
        dir.to_path_buf()
    };
    // Diagnostics and the catalog show paths relative to the schemas folder's parent.
    let base = dir.parent().unwrap_or(dir).to_path_buf();
    let shown = |s: &mut Source| {
        if let Ok(rel) = Path::new(&s.file).strip_prefix(&base) {
            s.file = rel.to_string_lossy().into_owned();
        }
    };
    match proto::load_proto(&protos, &[include]) {
        Ok(mut out) => {
            for e in &mut out.events {
                shown(&mut e.source);
                shown(&mut e.record.source);
                e.record
                    .fields
                    .iter_mut()
                    .for_each(|f| shown(&mut f.source));
            }
            for t in &mut out.types {
                match t {
                    NamedType::Record(r) => {
                        shown(&mut r.source);
                        r.fields.iter_mut().for_each(|f| shown(&mut f.source));
                    }
                    NamedType::Enum(e) => shown(&mut e.source),
                    NamedType::Fixed(f) => shown(&mut f.source),
                }
            }
            project.model.events.extend(out.events);
            project.model.types.extend(out.types);
            project.descriptors = Some(out.descriptors);
        }
        Err(mut d) => {
            d.0.iter_mut().for_each(|x| shown(&mut x.source));
            diags.0.extend(d.0)
        }
    }
}

/// Give every event its topic (annotation or topics.toml `events`), and check they agree.
fn link_topics(
    model: &mut Model,
    mapping: &[(String, String, Source)],
    have_spec: bool,
    diags: &mut Diagnostics,
) {
    let event_names: Vec<String> = model.events.iter().map(|e| e.name.clone()).collect();
    for (topic, event, src) in mapping {
        if !event_names.contains(event) {
            let help = match suggest(event, event_names.iter().map(String::as_str)) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "list only events defined in schemas/".into(),
            };
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::UnknownType,
                    src.clone(),
                    format!("topic `{topic}` lists unknown event `{event}`"),
                )
                .help(help),
            );
        }
    }
    let topic_names: Vec<String> = model.topics.iter().map(|t| t.name.clone()).collect();
    for e in &mut model.events {
        let listed: Vec<&String> = mapping
            .iter()
            .filter(|(_, ev, _)| ev == &e.name)
            .map(|(t, _, _)| t)
            .collect();
        if e.topic.is_empty() {
            match listed.first() {
                Some(t) => e.topic = (*t).clone(),
                None => diags.push(
                    Diagnostic::new(DiagnosticKind::UnknownTopic, e.source.clone(), format!("event `{}` has no topic", e.name))
                        .help("add \"topic\": \"<topic>\" to the record, or list the event under its topic in schemas/topics.toml"),
                ),
            }
            continue;
        }
        if have_spec && !topic_names.contains(&e.topic) {
            let help = match suggest(&e.topic, topic_names.iter().map(String::as_str)) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "add the topic to schemas/topics.toml".into(),
            };
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::UnknownTopic,
                    e.source.clone(),
                    format!(
                        "event `{}` names topic `{}`, which is not in the topics spec",
                        e.name, e.topic
                    ),
                )
                .help(help),
            );
        } else if let Some(other) = listed.iter().find(|t| ***t != e.topic) {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::UnknownTopic,
                    e.source.clone(),
                    format!(
                        "event `{}` says topic `{}` but topics.toml lists it under `{other}`",
                        e.name, e.topic
                    ),
                )
                .help("make the annotation and the topics spec agree"),
            );
        }
    }
}

fn check_services(model: &Model, diags: &mut Diagnostics) {
    let names: Vec<&str> = model.events.iter().map(|e| e.name.as_str()).collect();
    for s in &model.services {
        for e in s.produces.iter().chain(&s.consumes) {
            if !names.contains(&e.as_str()) {
                let help = match suggest(e, names.iter().copied()) {
                    Some(x) => format!("did you mean `{x}`?"),
                    None => "list only events defined in schemas/".into(),
                };
                diags.push(
                    Diagnostic::new(
                        DiagnosticKind::UnknownType,
                        s.source.clone(),
                        format!("service `{}` names unknown event `{e}`", s.name),
                    )
                    .help(help),
                );
            }
        }
    }
}

fn sort(model: &mut Model) {
    model
        .events
        .sort_by(|a, b| (&a.name, a.version).cmp(&(&b.name, b.version)));
    model.types.sort_by_key(|t| t.full_name());
    model.topics.sort_by(|a, b| a.name.cmp(&b.name));
    model.services.sort_by(|a, b| a.name.cmp(&b.name));
    model.guides.sort_by(|a, b| a.slug.cmp(&b.slug));
    model
        .journeys
        .sort_by(|a, b| (&a.name, a.version).cmp(&(&b.name, b.version)));
}
