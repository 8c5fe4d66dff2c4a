//! Protobuf `.proto` files in (compiled by protox, no `protoc`), IR events and named types plus the descriptor set for prost-build out.
//!
//! A message with the `(carebus.topic)` option is an event; every other message becomes a
//! [`NamedType::Record`], every enum an open [`NamedType::Enum`] (unknown numbers are kept).
//! Field names stay as written in the `.proto` (snake_case), so the Rust field name is the
//! same for the domain type and prost's wire type.

use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics};
use crate::ir::{Event, NamedType, Source};
use prost_reflect::{DescriptorPool, MessageDescriptor};
use prost_types::FileDescriptorSet;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod canonical;
mod options;
mod types;

/// What [`load_proto`] produces.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProtoOutput {
    /// The loaded files and every file they import (prost-build needs the imported messages
    /// to resolve references; it writes nothing for Google's well-known types, which map to
    /// `prost_types`, nor for the carebus options), with source info, ready for
    /// `prost_build::Config::compile_fds`.
    pub descriptors: FileDescriptorSet,
    /// Messages with a `(carebus.topic)` option, in file then declaration order.
    pub events: Vec<Event>,
    /// Every other message and every enum, by full name.
    pub types: Vec<NamedType>,
}

/// The package that declares the carebus options; its files are not domain schemas.
pub const OPTIONS_PACKAGE: &str = "carebus";

/// Compile `files` (looked up relative to `include_dirs`, like `protoc -I`) and turn them into
/// IR. Never runs `protoc`. All problems found are returned together.
pub fn load_proto(files: &[PathBuf], include_dirs: &[PathBuf]) -> Result<ProtoOutput, Diagnostics> {
    let mut diags = Diagnostics::default();
    let mut compiler = match protox::Compiler::new(include_dirs) {
        Ok(c) => c,
        Err(e) => {
            diags.push(Diagnostic::new(
                DiagnosticKind::Io,
                Source::default(),
                format!("cannot set up the Protobuf include paths: {e}"),
            ));
            return Err(diags);
        }
    };
    compiler.include_source_info(true).include_imports(true);
    for file in files {
        // protox reports errors as values; the guard only keeps a compiler bug from taking
        // the build script down without saying which file triggered it.
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            compiler.open_file(file).map(|_| ())
        }));
        match opened {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                // A broken file imported by several loaded files is reported once.
                let d = compile_error(&e, file, include_dirs);
                if !diags.0.contains(&d) {
                    diags.push(d);
                }
            }
            Err(_) => diags.push(
                Diagnostic::new(
                    DiagnosticKind::ProtobufSyntax,
                    Source::new(file.display().to_string(), 0, 0),
                    "the Protobuf compiler (protox) crashed on this file",
                )
                .help("simplify the file to find the construct that triggers it, and report it"),
            ),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }

    let pool = compiler.descriptor_pool();
    let files = SchemaFiles::new(&pool, include_dirs);
    let mut out = ProtoOutput {
        descriptors: compiler.file_descriptor_set(),
        ..ProtoOutput::default()
    };
    for file in pool.files() {
        if !files.is_domain(file.name()) {
            continue;
        }
        for message in all_messages(file.messages()) {
            if message.is_map_entry() {
                continue;
            }
            let loaded = types::record(&files, &message, &mut diags);
            match options::event_options(&files, &message, &loaded, &mut diags) {
                Some(opts) => {
                    let canonical_form = canonical::canonical_form(&message);
                    out.events.push(Event {
                        rust: Default::default(),
                        name: loaded.name.clone(),
                        namespace: loaded.namespace.clone(),
                        version: opts.version,
                        domain: domain_of(file.package_name()),
                        format: crate::ir::SchemaFormat::Protobuf,
                        doc: loaded.doc.clone(),
                        aggregate_type: opts.aggregate_type,
                        aggregate_id: opts.aggregate_id,
                        topic: opts.topic,
                        compatibility: opts.compatibility,
                        deprecated: opts.deprecated,
                        source: loaded.source.clone(),
                        schema_text: files.text(file.name()),
                        fingerprint: crate::fingerprint::crc64_avro(canonical_form.as_bytes()),
                        canonical_form,
                        // The event carries the deprecation, not its record.
                        record: crate::ir::Record {
                            deprecated: None,
                            ..loaded
                        },
                    });
                }
                None => out.types.push(NamedType::Record(loaded)),
            }
        }
        for e in file.enums().chain(
            all_messages(file.messages())
                .into_iter()
                .flat_map(|m| m.child_enums().collect::<Vec<_>>()),
        ) {
            out.types
                .push(NamedType::Enum(types::open_enum(&files, &e)));
        }
    }
    out.types.sort_by_key(|t| t.full_name());
    // Messages that contain themselves (through `optional`, `repeated` and map fields) get
    // their cycle, so the generator boxes them as prost does; a required one is an error.
    diags
        .0
        .extend(super::recursion::mark(&out.events, &mut out.types).0);
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}

/// Domain of a package: its last segment (`healthcare.ai` → `ai`).
pub fn domain_of(package: &str) -> String {
    package.rsplit('.').next().unwrap_or_default().to_string()
}

/// Every message of a file, nested ones after their parent.
fn all_messages(top: impl Iterator<Item = MessageDescriptor>) -> Vec<MessageDescriptor> {
    let mut out = Vec::new();
    for m in top {
        let children: Vec<_> = m.child_messages().collect();
        out.push(m);
        out.extend(all_messages(children.into_iter()));
    }
    out
}

/// The compiled files: where each lives on disk, its text and its source locations.
pub(crate) struct SchemaFiles {
    /// Proto file name (`healthcare/ai/analysis.proto`) → path as shown in diagnostics.
    paths: BTreeMap<String, String>,
    pool: DescriptorPool,
}

impl SchemaFiles {
    fn new(pool: &DescriptorPool, include_dirs: &[PathBuf]) -> Self {
        let paths = pool
            .files()
            .map(|f| (f.name().to_string(), display_path(f.name(), include_dirs)))
            .collect();
        SchemaFiles {
            paths,
            pool: pool.clone(),
        }
    }

    /// Files that hold domain schemas: not Google's well-known types, not the carebus options.
    fn is_domain(&self, name: &str) -> bool {
        self.pool.get_file_by_name(name).is_some_and(|f| {
            !f.package_name().starts_with("google.protobuf") && f.package_name() != OPTIONS_PACKAGE
        })
    }

    fn text(&self, name: &str) -> String {
        self.paths
            .get(name)
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// Source location and leading comment of the element at `path` in file `name`.
    pub(crate) fn locate(&self, name: &str, path: &[i32]) -> (Source, Option<String>) {
        let file = self.paths.get(name).cloned().unwrap_or_else(|| name.into());
        let location = self.pool.get_file_by_name(name).and_then(|f| {
            f.file_descriptor_proto()
                .source_code_info
                .as_ref()
                .and_then(|info| info.location.iter().find(|l| l.path == path).cloned())
        });
        match location {
            Some(l) => {
                let one_based = |v: &i32| u32::try_from(*v).map_or(0, |v| v.saturating_add(1));
                let line = l.span.first().map_or(0, one_based);
                let column = l.span.get(1).map_or(0, one_based);
                (
                    Source::new(file, line, column),
                    l.leading_comments.as_deref().and_then(clean_comment),
                )
            }
            None => (Source::new(file, 0, 0), None),
        }
    }
}

/// A leading comment without the space after `//` and surrounding blank lines.
fn clean_comment(raw: &str) -> Option<String> {
    let lines: Vec<&str> = raw
        .lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end())
        .collect();
    let text = lines.join("\n").trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// Where a proto file name lives: the first include dir that has it.
fn display_path(name: &str, include_dirs: &[PathBuf]) -> String {
    include_dirs
        .iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .map_or_else(|| name.to_string(), |p| p.display().to_string())
}

/// Turn a protox error into a diagnostic with file:line:column.
fn compile_error(e: &protox::Error, given: &Path, include_dirs: &[PathBuf]) -> Diagnostic {
    let message = e.to_string();
    let (file, line, column) = match e.file() {
        Some(name) => {
            // protox's Debug form is `name:line:col: message` when it knows the span.
            let debug = format!("{e:?}");
            let (line, column) = debug
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(':'))
                .and_then(|rest| {
                    let mut parts = rest.splitn(3, ':');
                    let line = parts.next()?.trim().parse::<u32>().ok()?;
                    let column = parts.next()?.trim().parse::<u32>().ok()?;
                    Some((line, column))
                })
                .unwrap_or((0, 0));
            (display_path(name, include_dirs), line, column)
        }
        None => (given.display().to_string(), 0, 0),
    };
    let source = Source::new(file, line, column);
    if e.is_file_not_found() {
        return Diagnostic::new(DiagnosticKind::Io, source, message).help(format!(
            "check that the file exists under one of the include directories ({})",
            include_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if e.is_io() {
        return Diagnostic::new(DiagnosticKind::Io, source, message)
            .help("check that the file is readable");
    }
    if let Some(d) = options::option_error(&message, source.clone()) {
        return d;
    }
    if let Some(name) = undefined_name(&message) {
        let help = match crate::diagnostic::suggest(name, SCALARS) {
            Some(s) => format!("did you mean `{s}`?"),
            None => "define the message or enum, import the file that defines it, \
                     or use a scalar type (string, int32, int64, bool, double, bytes, ...)"
                .to_string(),
        };
        return Diagnostic::new(
            DiagnosticKind::UnknownType,
            source,
            format!("unknown type `{name}`"),
        )
        .help(help);
    }
    Diagnostic::new(
        DiagnosticKind::ProtobufSyntax,
        source,
        format!("Protobuf syntax error: {message}"),
    )
    .help("fix the .proto file at this position; the Protobuf language guide (proto3) lists the valid syntax")
}

/// Protobuf's scalar type names, for "did you mean" on unknown types.
const SCALARS: [&str; 15] = [
    "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32",
    "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes",
];

/// `name 'Foo' is not defined` → `Foo`.
fn undefined_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("name '")?;
    let end = rest.find('\'')?;
    rest[end..].contains("is not defined").then(|| &rest[..end])
}
