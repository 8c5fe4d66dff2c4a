//! `topics.toml` and `services.toml` in, IR topics and services out, with diagnostics at file:line:column for anything malformed.

use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics, suggest};
use crate::ir::{Endpoint, Service, Setting, Source, Topic};
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
    /// `[[service.endpoint]]`: the HTTP API.
    #[serde(default)]
    endpoint: Vec<toml::Spanned<EndpointSpec>>,
    /// `[[service.setting]]`: the environment variables read at start.
    #[serde(default)]
    setting: Vec<toml::Spanned<SettingSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointSpec {
    method: String,
    path: String,
    doc: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingSpec {
    name: String,
    doc: String,
    default: Option<String>,
}

/// The HTTP methods an endpoint may name.
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Why `path` is not a route like `/patients/{id}/merge`, if it is not.
fn path_problem(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return Some("does not start with `/`".into());
    }
    if path.len() > 1 && path.ends_with('/') {
        return Some("ends with `/`".into());
    }
    for segment in path[1..].split('/') {
        if segment.is_empty() && path != "/" {
            return Some("has an empty segment (`//`)".into());
        }
        if let Some(inner) = segment.strip_prefix('{') {
            let Some(name) = inner.strip_suffix('}') else {
                return Some(format!(
                    "segment `{segment}` opens a parameter it does not close"
                ));
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Some(format!(
                    "parameter `{segment}` needs a name of letters, digits and `_`"
                ));
            }
        } else if let Some(c) = segment
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-._~".contains(*c)))
        {
            return Some(format!("segment `{segment}` holds `{c}`"));
        }
    }
    None
}

/// Endpoints and settings of one service, each checked where it is written.
fn http_and_settings(
    path: &str,
    text: &str,
    service: &str,
    endpoints: Vec<toml::Spanned<EndpointSpec>>,
    settings: Vec<toml::Spanned<SettingSpec>>,
    diags: &mut Diagnostics,
) -> (Vec<Endpoint>, Vec<Setting>) {
    let located = |span: std::ops::Range<usize>| {
        let (line, col) = line_col(text, span.start);
        Source::new(path, line, col)
    };
    let mut out_endpoints: Vec<Endpoint> = Vec::new();
    for spanned in endpoints {
        let src = located(spanned.span());
        let e = spanned.into_inner();
        if !METHODS.contains(&e.method.as_str()) {
            let help = match suggest(&e.method.to_ascii_uppercase(), METHODS) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("use one of {}", METHODS.join(", ")),
            };
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::InvalidSchema,
                    src,
                    format!(
                        "unknown HTTP method `{}` on endpoint `{}` of service `{service}`",
                        e.method, e.path
                    ),
                )
                .help(help),
            );
            continue;
        }
        if let Some(problem) = path_problem(&e.path) {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::InvalidSchema,
                    src,
                    format!(
                        "endpoint path `{}` of service `{service}` {problem}",
                        e.path
                    ),
                )
                .help("write the route as the router declares it, e.g. `/patients/{id}/merge`"),
            );
            continue;
        }
        if out_endpoints
            .iter()
            .any(|o| o.method == e.method && o.path == e.path)
        {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::DuplicateName,
                    src,
                    format!(
                        "endpoint `{} {}` of service `{service}` is listed twice",
                        e.method, e.path
                    ),
                )
                .help("merge the two entries"),
            );
            continue;
        }
        out_endpoints.push(Endpoint {
            method: e.method,
            path: e.path,
            doc: e.doc,
        });
    }
    let mut out_settings: Vec<Setting> = Vec::new();
    for spanned in settings {
        let src = located(spanned.span());
        let s = spanned.into_inner();
        let well_formed = !s.name.is_empty()
            && s.name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '*');
        if !well_formed {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::InvalidSchema,
                    src,
                    format!(
                        "setting `{}` of service `{service}` is not an environment variable name",
                        s.name
                    ),
                )
                .help("use capitals, digits and `_` (`*` for a family), e.g. `CAREBUS_PRM_LISTEN`"),
            );
            continue;
        }
        if out_settings.iter().any(|o| o.name == s.name) {
            diags.push(
                Diagnostic::new(
                    DiagnosticKind::DuplicateName,
                    src,
                    format!(
                        "setting `{}` of service `{service}` is listed twice",
                        s.name
                    ),
                )
                .help("merge the two entries"),
            );
            continue;
        }
        out_settings.push(Setting {
            name: s.name,
            doc: s.doc,
            default: s.default,
        });
    }
    (out_endpoints, out_settings)
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
        let (endpoints, settings) =
            http_and_settings(path, text, &s.name, s.endpoint, s.setting, &mut diags);
        out.push(Service {
            name: s.name,
            doc: s.doc,
            produces: s.produces,
            consumes: s.consumes,
            endpoints,
            settings,
            source: src,
        });
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRM: &str = r#"[[service]]
name = "prm-service"

[[service.endpoint]]
method = "POST"
path = "/patients"
doc = "register a patient"

[[service.endpoint]]
method = "FETCH"
path = "/patients/{id}"
doc = "read a patient"

[[service.setting]]
name = "CAREBUS_PRM_LISTEN"
doc = "the HTTP API"
default = "127.0.0.1:8081"
"#;

    #[test]
    fn endpoints_and_settings_are_loaded_in_order() {
        let text = PRM.replace("FETCH", "GET");
        let services = services("services.toml", &text).expect("a valid manifest");
        let prm = &services[0];
        let routes: Vec<(&str, &str)> = prm
            .endpoints
            .iter()
            .map(|e| (e.method.as_str(), e.path.as_str()))
            .collect();
        assert_eq!(routes, [("POST", "/patients"), ("GET", "/patients/{id}")]);
        assert_eq!(prm.settings[0].name, "CAREBUS_PRM_LISTEN");
        assert_eq!(prm.settings[0].default.as_deref(), Some("127.0.0.1:8081"));
    }

    #[test]
    fn an_unknown_method_is_reported_where_the_endpoint_is() {
        let diags = services("services.toml", PRM).expect_err("FETCH is no method");
        assert_eq!(diags.0.len(), 1, "{diags:?}");
        let d = &diags.0[0];
        assert!(
            d.message.contains("unknown HTTP method `FETCH`"),
            "{}",
            d.message
        );
        assert!(d.message.contains("/patients/{id}"), "{}", d.message);
        // The second `[[service.endpoint]]` table starts on line 9.
        assert_eq!(
            (d.source.file.as_str(), d.source.line),
            ("services.toml", 9)
        );
    }

    #[test]
    fn a_lower_case_method_gets_the_upper_case_suggested() {
        let text = PRM.replace("FETCH", "get");
        let diags = services("services.toml", &text).expect_err("methods are upper case");
        assert_eq!(diags.0[0].help.as_deref(), Some("did you mean `GET`?"));
    }

    #[test]
    fn a_malformed_path_is_reported() {
        for (bad, why) in [
            ("patients", "does not start with `/`"),
            ("/patients/{id", "does not close"),
            ("/patients//merge", "empty segment"),
            ("/patients/{}", "needs a name"),
            ("/patients?x=1", "holds `?`"),
        ] {
            let text = PRM.replace("FETCH", "GET").replace("/patients/{id}", bad);
            let diags = services("services.toml", &text).expect_err(bad);
            assert!(
                diags.0[0].message.contains(why),
                "{bad}: {}",
                diags.0[0].message
            );
            assert_eq!(diags.0[0].source.line, 9, "{bad}");
        }
    }

    #[test]
    fn a_setting_that_is_no_variable_name_is_reported() {
        let text = PRM
            .replace("FETCH", "GET")
            .replace("CAREBUS_PRM_LISTEN", "prm listen");
        let diags = services("services.toml", &text).expect_err("not a variable name");
        assert!(
            diags.0[0].message.contains("`prm listen`"),
            "{}",
            diags.0[0].message
        );
        assert_eq!(diags.0[0].source.line, 14);
    }
}
