//! `topics.toml` and `services.toml` in, IR topics and services out, with diagnostics at file:line:column for anything malformed.

use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics, suggest};
use crate::ir::{Service, Source, Topic};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A topic as written in `topics.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicSpec {
    name: String,
    doc: Option<String>,
    partitions: u32,
    replication_factor: u16,
    retention_days: Option<u32>,
    retention_ms: Option<i64>,
    cleanup_policy: Option<String>,
    min_insync_replicas: Option<u16>,
    key: Option<String>,
    /// Retry topics `<name>.retry.1` … `.retry.N` that consumers with retry-topic delays use.
    #[serde(default)]
    retry_levels: u32,
    /// Whether the topic has a dead-letter topic `<name>.dlq` (default true).
    dead_letter: Option<bool>,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    configs: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicsFile {
    #[serde(default)]
    topic: Vec<toml::Spanned<TopicSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceSpec {
    name: String,
    doc: Option<String>,
    #[serde(default)]
    produces: Vec<String>,
    #[serde(default)]
    consumes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServicesFile {
    #[serde(default)]
    service: Vec<toml::Spanned<ServiceSpec>>,
}

/// 1-based (line, column) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32 + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
    (line, col)
}

pub(crate) fn toml_error(path: &str, text: &str, e: &toml::de::Error, what: &str) -> Diagnostic {
    let (line, col) = e.span().map_or((1, 1), |s| line_col(text, s.start));
    let msg = e.message().trim().to_string();
    let kind = if msg.contains("unknown field") {
        DiagnosticKind::UnknownAnnotation
    } else {
        DiagnosticKind::Syntax
    };
    Diagnostic::new(
        kind,
        Source::new(path, line, col),
        format!("invalid {what}: {msg}"),
    )
    .help(format!(
        "see docs/conventions.md and the existing entries of {what} for the expected keys"
    ))
}

/// One `events = [...]` entry of the topics spec: (topic, event name, where the topic is).
pub type TopicListing = (String, String, Source);

/// Topics and, per topic, the events its spec lists.
pub fn topics(path: &str, text: &str) -> Result<(Vec<Topic>, Vec<TopicListing>), Diagnostics> {
    let file: TopicsFile = toml::from_str(text)
        .map_err(|e| Diagnostics(vec![toml_error(path, text, &e, "topics spec")]))?;
    let mut diags = Diagnostics::default();
    let mut out: Vec<Topic> = Vec::new();
    let mut mapping = Vec::new();
    for spanned in file.topic {
        let (line, col) = line_col(text, spanned.span().start);
        let src = Source::new(path, line, col);
        let t = spanned.into_inner();
        if out.iter().any(|o| o.name == t.name) {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::DuplicateName,
                    src.clone(),
                    format!("topic `{}` is listed twice", t.name),
                )
                .help("merge the two entries"),
            );
            continue;
        }
        if t.partitions == 0 || t.replication_factor == 0 {
            diags.push(Diagnostic::new(DiagnosticKind::InvalidSchema, src.clone(), format!("topic `{}` needs at least one partition and a replication factor of at least 1", t.name)).help("set partitions and replication_factor to positive numbers"));
        }
        let compacted = match t.cleanup_policy.as_deref() {
            None | Some("delete") => false,
            Some("compact") => true,
            Some(other) => {
                let help = match suggest(other, ["delete", "compact"]) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "use \"delete\" or \"compact\"".into(),
                };
                diags.push(
                    Diagnostic::new(
                        DiagnosticKind::InvalidSchema,
                        src.clone(),
                        format!("unknown cleanup_policy `{other}` on topic `{}`", t.name),
                    )
                    .help(help),
                );
                false
            }
        };
        let retention_ms = match (t.retention_days, t.retention_ms) {
            (Some(_), Some(_)) => {
                diags.push(
                    Diagnostic::new(
                        DiagnosticKind::InvalidSchema,
                        src.clone(),
                        format!(
                            "topic `{}` sets both retention_days and retention_ms",
                            t.name
                        ),
                    )
                    .help("keep one of them"),
                );
                None
            }
            (Some(d), None) => Some(d as i64 * 86_400_000),
            (None, ms) => ms,
        };
        for e in &t.events {
            mapping.push((t.name.clone(), e.clone(), src.clone()));
        }
        let configs = t
            .configs
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect();
        out.push(Topic {
            rust: Default::default(),
            name: t.name,
            doc: t.doc,
            partitions: t.partitions,
            replication_factor: t.replication_factor,
            retention_ms,
            compacted,
            min_insync_replicas: t.min_insync_replicas,
            configs,
            key: t.key.unwrap_or_else(|| "aggregate id".into()),
            retry_levels: t.retry_levels,
            dead_letter: t.dead_letter.unwrap_or(true),
            source: src,
        });
    }
    if diags.is_empty() {
        Ok((out, mapping))
    } else {
        Err(diags)
    }
}

/// Services from `services.toml`.
pub fn services(path: &str, text: &str) -> Result<Vec<Service>, Diagnostics> {
    let file: ServicesFile = toml::from_str(text)
        .map_err(|e| Diagnostics(vec![toml_error(path, text, &e, "services manifest")]))?;
    let mut diags = Diagnostics::default();
    let mut out: Vec<Service> = Vec::new();
    for spanned in file.service {
        let (line, col) = line_col(text, spanned.span().start);
        let s = spanned.into_inner();
        let src = Source::new(path, line, col);
        if out.iter().any(|o| o.name == s.name) {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::DuplicateName,
                    src,
                    format!("service `{}` is listed twice", s.name),
                )
                .help("merge the two entries"),
            );
            continue;
        }
        out.push(Service {
            name: s.name,
            doc: s.doc,
            produces: s.produces,
            consumes: s.consumes,
            source: src,
        });
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}
