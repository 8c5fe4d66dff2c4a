//! Problems found in schema files turned into diagnostics: what is wrong, where (file:line:column), and how to fix it.

use crate::ir::Source;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Every kind of problem the generator reports. Each has a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiagnosticKind {
    /// The file is not valid JSON / TOML.
    Syntax,
    /// A Protobuf file does not parse or does not compile.
    ProtobufSyntax,
    /// A type name that is neither primitive nor defined (often a typo).
    UnknownType,
    /// A default value that does not match the field's type.
    BadDefault,
    /// Two definitions with the same name (types, fields, symbols, event versions).
    DuplicateName,
    /// An event without `aggregate_id`, or naming a field that does not exist.
    MissingAggregateId,
    /// An attribute or option key that is neither Avro's nor a carebus annotation.
    UnknownAnnotation,
    /// An annotation with a value of the wrong shape (e.g. classification "secret").
    BadAnnotation,
    /// Structurally invalid schema (e.g. record without fields, enum without symbols).
    InvalidSchema,
    /// A topic referenced by an event is not in the topics spec, or the spec is invalid.
    UnknownTopic,
    /// A schema change breaks its compatibility mode.
    Incompatible,
    /// Reading or writing a file failed.
    Io,
    /// The schema history lock does not record the schemas as they are (a warning-free
    /// build needs `cargo run -p carebus-codegen -- lock`).
    StaleLock,
    /// A recursive record without a way out: every value would contain another one.
    InfiniteRecord,
    /// A warning: a type name defined in more than one namespace, reachable by module path only.
    AmbiguousName,
    /// A warning: a logical type that is unknown, invalid (e.g. `date` on a `string`, a decimal
    /// whose scale exceeds its precision), not supported by carebus, or written on a field
    /// instead of its type. As the Avro specification says, it is ignored: the underlying type
    /// is used.
    IgnoredLogicalType,
    /// A journey state no transition leads to from the initial state.
    UnreachableState,
    /// A non-final journey state with no transition out.
    DeadEnd,
    /// A journey timer that nothing handles, or a cancel of a timer nothing starts.
    UnhandledTimer,
    /// A journey change that leaves running instances in a state the new version lacks.
    StrandedInstances,
    /// A field of an event with neither `classification` nor an `analytics` rule, outside any
    /// sensitive field: analytics cannot tell whether it may be kept.
    UnclassifiedField,
}

impl DiagnosticKind {
    pub fn code(self) -> &'static str {
        match self {
            DiagnosticKind::Syntax => "syntax",
            DiagnosticKind::ProtobufSyntax => "protobuf-syntax",
            DiagnosticKind::UnknownType => "unknown-type",
            DiagnosticKind::BadDefault => "bad-default",
            DiagnosticKind::DuplicateName => "duplicate-name",
            DiagnosticKind::MissingAggregateId => "missing-aggregate-id",
            DiagnosticKind::UnknownAnnotation => "unknown-annotation",
            DiagnosticKind::BadAnnotation => "bad-annotation",
            DiagnosticKind::InvalidSchema => "invalid-schema",
            DiagnosticKind::UnknownTopic => "unknown-topic",
            DiagnosticKind::Incompatible => "incompatible",
            DiagnosticKind::Io => "io",
            DiagnosticKind::StaleLock => "stale-lock",
            DiagnosticKind::InfiniteRecord => "infinite-record",
            DiagnosticKind::AmbiguousName => "ambiguous-name",
            DiagnosticKind::IgnoredLogicalType => "ignored-logical-type",
            DiagnosticKind::UnreachableState => "unreachable-state",
            DiagnosticKind::DeadEnd => "dead-end",
            DiagnosticKind::UnhandledTimer => "unhandled-timer",
            DiagnosticKind::StrandedInstances => "stranded-instances",
            DiagnosticKind::UnclassifiedField => "unclassified-field",
        }
    }

    /// Whether this kind is a warning (reported, the build goes on) rather than an error.
    pub fn is_warning(self) -> bool {
        matches!(
            self,
            DiagnosticKind::AmbiguousName | DiagnosticKind::IgnoredLogicalType
        )
    }

    /// `error` or `warning`, as rendered.
    pub fn severity(self) -> &'static str {
        if self.is_warning() {
            "warning"
        } else {
            "error"
        }
    }
}

/// One problem, pointing at its source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub kind: DiagnosticKind,
    pub source: Source,
    /// What is wrong, e.g. "unknown type `strnig`".
    pub message: String,
    /// How to fix it, e.g. "did you mean `string`?".
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(kind: DiagnosticKind, source: Source, message: impl Into<String>) -> Self {
        Diagnostic {
            kind,
            source,
            message: message.into(),
            help: None,
        }
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Render with the offending source line and a caret, like rustc:
    ///
    /// ```text
    /// error[unknown-type]: unknown type `strnig`
    ///   --> schemas/patient/patient_created.avsc:12:17
    ///    |
    /// 12 |       "type": "strnig",
    ///    |               ^
    ///    = help: did you mean `string`?
    /// ```
    pub fn render(&self, source_text: Option<&str>) -> String {
        let mut out = format!(
            "{}[{}]: {}\n",
            self.kind.severity(),
            self.kind.code(),
            self.message
        );
        let line_no = self.source.line.to_string();
        let pad = " ".repeat(line_no.len());
        out.push_str(&format!("{pad}--> {}\n", self.source));
        if let Some(line) = source_text
            .and_then(|t| t.lines().nth(self.source.line.saturating_sub(1) as usize))
            .filter(|_| self.source.line > 0)
        {
            let caret_at = line
                .chars()
                .take(self.source.column.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect::<String>();
            out.push_str(&format!(
                "{pad} |\n{line_no} | {line}\n{pad} | {caret_at}^\n"
            ));
        }
        if let Some(h) = &self.help {
            out.push_str(&format!("{pad} = help: {h}\n"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}[{}]: {}",
            self.source,
            self.kind.severity(),
            self.kind.code(),
            self.message
        )?;
        if let Some(h) = &self.help {
            write!(f, " (help: {h})")?;
        }
        Ok(())
    }
}

/// All problems of one run; the generator stops a phase when it has any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
    /// Render all, reading each file's text (relative to the working directory) for the
    /// source lines.
    pub fn render(&self) -> String {
        self.render_with(|file| std::fs::read_to_string(file).ok())
    }

    /// Render all, getting each file's text from `text_of` (by the path in its source).
    pub fn render_with(&self, text_of: impl Fn(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for d in &self.0 {
            let text = text_of(&d.source.file);
            out.push_str(&d.render(text.as_deref()));
            out.push('\n');
        }
        let n = self.0.len();
        out.push_str(&format!(
            "carebus: {n} problem{} in the schemas; fix {} and build again\n",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" }
        ));
        out
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Edit distance for "did you mean" suggestions.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = if ca == *cb { 0 } else { 1 };
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate within a small edit distance, for "did you mean `x`?".
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (levenshtein(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            suggest("strnig", ["string", "long", "bytes"]),
            Some("string")
        );
        assert_eq!(
            suggest("aggregateID", ["aggregate_id", "topic"]),
            Some("aggregate_id")
        );
        assert_eq!(suggest("zzzzzz", ["string", "long"]), None);
    }

    #[test]
    fn renders_a_caret_under_the_column() {
        let d = Diagnostic::new(
            DiagnosticKind::UnknownType,
            Source::new("a.avsc", 2, 11),
            "unknown type `strnig`",
        )
        .help("did you mean `string`?");
        let text = "{\n  \"type\": \"strnig\"\n}";
        let r = d.render(Some(text));
        assert!(r.contains("--> a.avsc:2:11"), "{r}");
        assert!(r.contains("2 |   \"type\": \"strnig\""), "{r}");
        assert!(r.contains("  |           ^"), "{r}");
        assert!(r.contains("help: did you mean `string`?"), "{r}");
    }
}
