//! Avro schema files (`.avsc`) in, IR events and named types out — with a diagnostic, pointing at file:line:column, for every problem found.
//!
//! Two passes: the first collects every named type defined in any file (so files may reference
//! each other's types in any order), the second converts each file to IR, resolving references
//! and checking annotations. Defaults are checked last, when every named type is known.

use super::defaults;
use super::json::{self, Json, Member, Spanned};
use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics, suggest};
use crate::ir::{
    Analytics, Classification, Compatibility, Enum, EnumSymbol, Event, Field, Fixed, NamedType,
    Record, SchemaFormat, Source, Type,
};
use std::collections::BTreeMap;

mod logical;

/// Keys the Avro specification gives meaning to.
pub const AVRO_KEYS: &[&str] = &[
    "type",
    "name",
    "namespace",
    "doc",
    "aliases",
    "fields",
    "symbols",
    "default",
    "order",
    "items",
    "values",
    "size",
    "logicalType",
    "precision",
    "scale",
];
/// carebus annotations allowed on an event's top-level record.
pub const EVENT_ANNOTATIONS: &[&str] = &[
    "event_version",
    "aggregate_type",
    "aggregate_id",
    "topic",
    "compatibility",
    "deprecated",
];
/// carebus annotations allowed on a named record (not an event's) or an enum.
pub const TYPE_ANNOTATIONS: &[&str] = &["deprecated"];
/// carebus annotations allowed on a field.
pub const FIELD_ANNOTATIONS: &[&str] = &["classification", "analytics", "examples", "deprecated"];
const RECORD_KEYS: &[&str] = &["type", "name", "namespace", "doc", "aliases", "fields"];
/// `logicalType`, `precision` and `scale` are accepted on a field and checked by
/// `logical::field_logical` (Avro ignores them there).
const FIELD_KEYS: &[&str] = &[
    "name",
    "type",
    "doc",
    "default",
    "order",
    "aliases",
    "logicalType",
    "precision",
    "scale",
];
const PRIMITIVES: &[&str] = &[
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// One `.avsc` file: its path (as shown in diagnostics) and text.
#[derive(Clone, Debug)]
pub struct AvroSource {
    pub path: String,
    pub text: String,
}

/// What the Avro loader produces.
#[derive(Clone, Debug, Default)]
pub struct AvroOutput {
    pub events: Vec<Event>,
    pub types: Vec<NamedType>,
    /// The record named `carebus.EventEnvelope`, when one of the files defines it.
    pub envelope: Option<Record>,
    /// Problems that do not stop the build (ignored logical types).
    pub warnings: Vec<Diagnostic>,
}

/// Load a set of `.avsc` files that may reference each other's named types.
pub fn load(files: &[AvroSource]) -> Result<AvroOutput, Diagnostics> {
    let mut diags = Diagnostics::default();
    let mut trees = Vec::new();
    for f in files {
        match json::parse(&f.path, &f.text) {
            Ok(t) => trees.push((f.path.clone(), t)),
            Err(d) => diags.push(d),
        }
    }
    // Pass 1: every named type's full name.
    let mut known = BTreeMap::new();
    for (_, tree) in &trees {
        collect_names(tree, "", &mut known);
    }
    let mut cx = Cx {
        known,
        diags,
        types: BTreeMap::new(),
        pending_defaults: Vec::new(),
        file: String::new(),
    };
    let mut out = AvroOutput::default();
    for (path, tree) in &trees {
        cx.file = path.clone();
        let text = files
            .iter()
            .find(|f| &f.path == path)
            .map(|f| f.text.as_str())
            .unwrap_or("");
        cx.top_level(tree, text, &mut out);
    }
    // Defaults are checked once every named type is known.
    let types: Vec<NamedType> = cx.types.values().cloned().collect();
    for (ty, default, src) in std::mem::take(&mut cx.pending_defaults) {
        if let Err(why) = defaults::check(&ty, &default, &types) {
            cx.diags.push(
                Diagnostic::new(
                    DiagnosticKind::BadDefault,
                    src,
                    format!(
                        "default {} does not match the field's type: {why}",
                        short(&default)
                    ),
                )
                .help(defaults::help(&ty)),
            );
        }
    }
    out.types = types
        .into_iter()
        .filter(|t| {
            out.envelope
                .as_ref()
                .is_none_or(|e| e.full_name() != t.full_name())
        })
        .collect();
    let recursion = super::recursion::mark(&out.events, &mut out.types);
    cx.diags.0.extend(recursion.0);
    for e in &mut out.events {
        let (text, canonical) =
            super::canonical::self_contained_and_canonical(&e.record, &out.types, Some(e));
        e.schema_text = text;
        e.fingerprint = crate::fingerprint::crc64_avro(canonical.as_bytes());
        e.canonical_form = canonical;
    }
    if cx.diags.iter().all(|d| d.kind.is_warning()) {
        out.warnings = cx.diags.0;
        Ok(out)
    } else {
        Err(cx.diags)
    }
}

fn short(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(40).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

fn full_name(name: &str, ns: &str) -> (String, String) {
    match name.rsplit_once('.') {
        Some((n_ns, short)) => (n_ns.to_string(), short.to_string()),
        None => (ns.to_string(), name.to_string()),
    }
}

fn join(ns: &str, name: &str) -> String {
    if ns.is_empty() {
        name.to_string()
    } else {
        format!("{ns}.{name}")
    }
}

fn collect_names(node: &Spanned, ns: &str, known: &mut BTreeMap<String, String>) {
    match &node.value {
        Json::Array(items) => items.iter().for_each(|i| collect_names(i, ns, known)),
        Json::Object(_) => {
            let kind = node.get("type").and_then(|m| m.value.as_str());
            let mut inner_ns = ns.to_string();
            if let (Some("record" | "error" | "enum" | "fixed"), Some(name)) =
                (kind, node.get("name").and_then(|m| m.value.as_str()))
            {
                let explicit = node
                    .get("namespace")
                    .and_then(|m| m.value.as_str())
                    .unwrap_or(ns);
                let (n_ns, short) = full_name(name, explicit);
                known
                    .entry(join(&n_ns, &short))
                    .or_insert_with(|| kind.unwrap_or("record").to_string());
                inner_ns = n_ns;
            }
            if let Some(t) = node.get("type")
                && !matches!(t.value.value, Json::String(_))
            {
                collect_names(&t.value, &inner_ns, known);
            }
            for key in ["items", "values"] {
                if let Some(m) = node.get(key) {
                    collect_names(&m.value, &inner_ns, known);
                }
            }
            if let Some(fields) = node.get("fields").and_then(|m| m.value.as_array()) {
                for f in fields {
                    if let Some(t) = f.get("type") {
                        collect_names(&t.value, &inner_ns, known);
                    }
                }
            }
        }
        _ => {}
    }
}

struct Cx {
    /// Full name → kind, from pass 1.
    known: BTreeMap<String, String>,
    diags: Diagnostics,
    types: BTreeMap<String, NamedType>,
    pending_defaults: Vec<(Type, serde_json::Value, Source)>,
    file: String,
}

impl Cx {
    fn src(&self, p: json::Pos) -> Source {
        Source::new(self.file.clone(), p.line, p.column)
    }
    fn err(
        &mut self,
        kind: DiagnosticKind,
        p: json::Pos,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        let d = Diagnostic::new(kind, self.src(p), msg).help(help);
        self.diags.push(d);
    }

    fn top_level(&mut self, tree: &Spanned, text: &str, out: &mut AvroOutput) {
        let is_record = matches!(
            tree.get("type").and_then(|m| m.value.as_str()),
            Some("record" | "error")
        );
        let has_event_keys = tree.as_object().is_some_and(|ms| {
            ms.iter()
                .any(|m| EVENT_ANNOTATIONS.contains(&m.key.as_str()) && m.key != "deprecated")
        });
        if is_record && has_event_keys {
            if let Some(rec) = self.record(tree, "", true)
                && let Some(ev) = self.event(tree, rec, text)
            {
                if out
                    .events
                    .iter()
                    .any(|e| e.full_name() == ev.full_name() && e.version == ev.version)
                {
                    self.err(
                        DiagnosticKind::DuplicateName,
                        tree.pos,
                        format!(
                            "event `{}` version {} is defined twice",
                            ev.name, ev.version
                        ),
                        "each file holds one version; bump `event_version` in the newer one",
                    );
                } else {
                    out.events.push(ev);
                }
            }
            return;
        }
        let before = self.diags.len();
        let ty = self.ty(tree, "");
        if let Type::Named { name } = &ty {
            if name == "carebus.EventEnvelope"
                && let Some(NamedType::Record(r)) = self.types.get(name)
            {
                out.envelope = Some(r.clone());
            }
        } else if self.diags.len() == before {
            self.err(
                DiagnosticKind::InvalidSchema,
                tree.pos,
                "a schema file must define a named type (record, enum or fixed)",
                "wrap the type in a record with a name, or move it into the field that uses it",
            );
        }
    }

    fn event(&mut self, tree: &Spanned, record: Record, text: &str) -> Option<Event> {
        let get = |k: &str| tree.get(k);
        let mut ok = true;
        let version = match get("event_version") {
            None => 1,
            Some(m) => match &m.value.value {
                Json::Number(n)
                    if n.as_u64()
                        .is_some_and(|v| (1..=u32::MAX as u64).contains(&v)) =>
                {
                    n.as_u64().unwrap_or(1) as u32
                }
                _ => {
                    self.err(
                        DiagnosticKind::BadAnnotation,
                        m.value.pos,
                        "`event_version` must be a whole number from 1",
                        "write e.g. \"event_version\": 2",
                    );
                    ok = false;
                    1
                }
            },
        };
        let string_ann = |cx: &mut Cx, k: &str| -> Option<(String, json::Pos)> {
            let m = get(k)?;
            match m.value.as_str() {
                Some(s) if !s.trim().is_empty() => Some((s.to_string(), m.value.pos)),
                _ => {
                    cx.err(
                        DiagnosticKind::BadAnnotation,
                        m.value.pos,
                        format!("`{k}` must be a non-empty string"),
                        format!("write e.g. \"{k}\": \"...\""),
                    );
                    None
                }
            }
        };
        let aggregate_type = string_ann(self, "aggregate_type");
        if aggregate_type.is_none() && get("aggregate_type").is_none() {
            self.err(
                DiagnosticKind::BadAnnotation,
                tree.pos,
                format!("event `{}` has no `aggregate_type`", record.name),
                "add e.g. \"aggregate_type\": \"Patient\" to the record",
            );
            ok = false;
        }
        let aggregate_id = match string_ann(self, "aggregate_id") {
            Some((name, pos)) => {
                if record.field(&name).is_none() {
                    let names: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
                    let help = match suggest(&name, names.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("name one of the record's fields: {}", names.join(", ")),
                    };
                    self.err(
                        DiagnosticKind::MissingAggregateId,
                        pos,
                        format!(
                            "`aggregate_id` names `{name}`, which is not a field of `{}`",
                            record.name
                        ),
                        help,
                    );
                    ok = false;
                }
                name
            }
            None => {
                if get("aggregate_id").is_none() {
                    self.err(
                        DiagnosticKind::MissingAggregateId,
                        tree.pos,
                        format!("event `{}` does not say which field holds its aggregate id", record.name),
                        "add \"aggregate_id\": \"<field name>\" to the record (the field whose value is the partition key, e.g. patientId)",
                    );
                }
                ok = false;
                String::new()
            }
        };
        let topic = string_ann(self, "topic").map(|t| t.0).unwrap_or_default();
        let compatibility = match get("compatibility") {
            None => Compatibility::default(),
            Some(m) => match m.value.as_str().and_then(Compatibility::parse) {
                Some(c) => c,
                None => {
                    let all: Vec<&str> = Compatibility::ALL.iter().map(|c| c.as_str()).collect();
                    let help = match m
                        .value
                        .as_str()
                        .and_then(|s| suggest(s, all.iter().copied()))
                    {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("use one of {}", all.join(", ")),
                    };
                    self.err(
                        DiagnosticKind::BadAnnotation,
                        m.value.pos,
                        "unknown compatibility mode",
                        help,
                    );
                    ok = false;
                    Compatibility::default()
                }
            },
        };
        let deprecated = string_ann(self, "deprecated").map(|d| d.0);
        if !ok {
            return None;
        }
        let _ = text;
        let domain = record
            .namespace
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_string();
        Some(Event {
            rust: Default::default(),
            name: record.name.clone(),
            namespace: record.namespace.clone(),
            version,
            domain,
            format: SchemaFormat::Avro,
            doc: record.doc.clone(),
            aggregate_type: aggregate_type.map(|a| a.0).unwrap_or_default(),
            aggregate_id,
            topic,
            compatibility,
            deprecated,
            source: record.source.clone(),
            record,
            schema_text: String::new(),
            canonical_form: String::new(),
            fingerprint: 0,
        })
    }

    fn check_keys(
        &mut self,
        members: &[Member],
        allowed: &[&str],
        annotations: &[&str],
        what: &str,
    ) {
        for m in members {
            let k = m.key.as_str();
            if allowed.contains(&k) || annotations.contains(&k) {
                continue;
            }
            let candidates = allowed
                .iter()
                .chain(annotations.iter())
                .copied()
                .chain(EVENT_ANNOTATIONS.iter().copied())
                .chain(FIELD_ANNOTATIONS.iter().copied());
            let help = match suggest(k, candidates) {
                Some(s) => format!("did you mean `{s}`?"),
                None if AVRO_KEYS.contains(&k) => {
                    format!("`{k}` has no meaning on {what}; remove it")
                }
                None => format!(
                    "carebus annotations on {what} are: {}; remove `{k}` or fix its spelling",
                    if annotations.is_empty() {
                        "none".to_string()
                    } else {
                        annotations.join(", ")
                    }
                ),
            };
            let d = Diagnostic::new(
                DiagnosticKind::UnknownAnnotation,
                self.src(m.key_pos),
                format!("unknown key `{k}` on {what}"),
            )
            .help(help);
            self.diags.push(d);
        }
    }

    fn name_of(&mut self, node: &Spanned, what: &str) -> Option<(String, json::Pos)> {
        match node.get("name") {
            Some(m) => {
                match m.value.as_str() {
                    Some(n) if valid_name(n.rsplit('.').next().unwrap_or("")) => {
                        Some((n.to_string(), m.value.pos))
                    }
                    _ => {
                        self.err(DiagnosticKind::InvalidSchema, m.value.pos, format!("invalid {what} name"), "names start with a letter or `_` and contain only letters, digits and `_`");
                        None
                    }
                }
            }
            None => {
                self.err(
                    DiagnosticKind::InvalidSchema,
                    node.pos,
                    format!("{what} without a `name`"),
                    format!("add \"name\": \"...\" to the {what}"),
                );
                None
            }
        }
    }

    /// (namespace, short name) of a named type: its `name`, qualified by its `namespace`, by
    /// the dots in its name, or by the enclosing namespace `ns` (Avro's rules).
    fn qualified_name(&mut self, node: &Spanned, ns: &str, what: &str) -> Option<(String, String)> {
        let (name, _) = self.name_of(node, what)?;
        let explicit = node
            .get("namespace")
            .and_then(|m| m.value.as_str())
            .unwrap_or(ns);
        Some(full_name(&name, explicit))
    }

    fn doc(&mut self, node: &Spanned) -> Option<String> {
        let m = node.get("doc")?;
        match m.value.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.err(
                    DiagnosticKind::InvalidSchema,
                    m.value.pos,
                    "`doc` must be a string",
                    "write the documentation as one string",
                );
                None
            }
        }
    }

    /// The `deprecated` annotation: the reason, a string.
    fn deprecated(&mut self, node: &Spanned) -> Option<String> {
        let m = node.get("deprecated")?;
        match m.value.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.err(
                    DiagnosticKind::BadAnnotation,
                    m.value.pos,
                    "`deprecated` must be a string giving the reason",
                    "write e.g. \"deprecated\": \"use contactPoints instead\"",
                );
                None
            }
        }
    }

    fn aliases(&mut self, node: &Spanned) -> Vec<String> {
        let Some(m) = node.get("aliases") else {
            return Vec::new();
        };
        match m.value.as_array() {
            Some(items) if items.iter().all(|i| i.as_str().is_some()) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            _ => {
                self.err(
                    DiagnosticKind::InvalidSchema,
                    m.value.pos,
                    "`aliases` must be an array of names",
                    "write e.g. \"aliases\": [\"oldName\"]",
                );
                Vec::new()
            }
        }
    }

    /// Convert a record definition. `top` = the file's top-level record (may carry event annotations).
    fn record(&mut self, node: &Spanned, ns: &str, top: bool) -> Option<Record> {
        let members = node.as_object().unwrap_or(&[]);
        self.check_keys(
            members,
            RECORD_KEYS,
            if top {
                EVENT_ANNOTATIONS
            } else {
                TYPE_ANNOTATIONS
            },
            "a record",
        );
        // An event's deprecation is the event's (`Event::deprecated`).
        let deprecated = if top { None } else { self.deprecated(node) };
        let (rns, short) = self.qualified_name(node, ns, "record")?;
        let doc = self.doc(node);
        let aliases = self.aliases(node);
        let Some(fields_m) = node.get("fields") else {
            self.err(
                DiagnosticKind::InvalidSchema,
                node.pos,
                format!("record `{short}` has no `fields`"),
                "add \"fields\": [ ... ] (an empty array is allowed)",
            );
            return None;
        };
        let Some(field_nodes) = fields_m.value.as_array() else {
            self.err(
                DiagnosticKind::InvalidSchema,
                fields_m.value.pos,
                "`fields` must be an array",
                "write \"fields\": [ {\"name\": ..., \"type\": ...} ]",
            );
            return None;
        };
        let mut fields: Vec<Field> = Vec::new();
        for fnode in field_nodes {
            if let Some(f) = self.field(fnode, &rns) {
                if fields.iter().any(|g| g.name == f.name) {
                    self.err(
                        DiagnosticKind::DuplicateName,
                        fnode.pos,
                        format!("field `{}` appears twice in record `{short}`", f.name),
                        "rename or remove one of them",
                    );
                } else {
                    fields.push(f);
                }
            }
        }
        Some(Record {
            rust: Default::default(),
            cycle: Vec::new(),
            deprecated,
            name: short,
            namespace: rns,
            doc,
            aliases,
            fields,
            source: self.src(node.pos),
        })
    }

    fn field(&mut self, node: &Spanned, ns: &str) -> Option<Field> {
        let Some(members) = node.as_object() else {
            self.err(
                DiagnosticKind::InvalidSchema,
                node.pos,
                "a field must be an object",
                "write {\"name\": \"...\", \"type\": ...}",
            );
            return None;
        };
        self.check_keys(members, FIELD_KEYS, FIELD_ANNOTATIONS, "a field");
        let (name, _) = self.name_of(node, "field")?;
        let Some(t) = node.get("type") else {
            self.err(
                DiagnosticKind::InvalidSchema,
                node.pos,
                format!("field `{name}` has no `type`"),
                "add \"type\": ... (e.g. \"string\")",
            );
            return None;
        };
        let ty = self.ty(&t.value, ns);
        self.field_logical(node, &name, &ty);
        let doc = self.doc(node);
        let aliases = self.aliases(node);
        let default = node.get("default").map(|m| {
            self.pending_defaults
                .push((ty.clone(), m.value.to_value(), self.src(m.value.pos)));
            m.value.to_value()
        });
        let classification = match node.get("classification") {
            None => Classification::None,
            Some(m) => {
                match m.value.as_str().and_then(Classification::parse) {
                    Some(c) => c,
                    None => {
                        self.err(DiagnosticKind::BadAnnotation, m.value.pos, "`classification` must be \"phi\", \"pii\" or \"none\"", "PHI: health data or data identifying a patient; PII: other personal data");
                        Classification::None
                    }
                }
            }
        };
        let classified = node.get("classification").is_some();
        let analytics = node.get("analytics").and_then(|m| {
            let parsed = m.value.as_str().and_then(Analytics::parse);
            if parsed.is_none() {
                self.err(
                    DiagnosticKind::BadAnnotation,
                    m.value.pos,
                    format!("`analytics` must be one of: {}", Analytics::SPELLINGS),
                    "what reaches analytics of this field: see docs/analytics.md",
                );
            }
            parsed
        });
        let examples = match node.get("examples") {
            None => Vec::new(),
            Some(m) => match m.value.as_array() {
                Some(items) => items.iter().map(Spanned::to_value).collect(),
                None => {
                    self.err(
                        DiagnosticKind::BadAnnotation,
                        m.value.pos,
                        "`examples` must be an array of example values",
                        "write e.g. \"examples\": [\"1990-01-01\"]",
                    );
                    Vec::new()
                }
            },
        };
        let deprecated = self.deprecated(node);
        if let Some(m) = node.get("order")
            && !matches!(
                m.value.as_str(),
                Some("ascending" | "descending" | "ignore")
            )
        {
            self.err(
                DiagnosticKind::InvalidSchema,
                m.value.pos,
                "`order` must be \"ascending\", \"descending\" or \"ignore\"",
                "remove it or use one of those values",
            );
        }
        Some(Field {
            rust: Default::default(),
            name,
            doc,
            ty,
            default,
            aliases,
            classification,
            classified,
            analytics,
            examples,
            deprecated,
            proto_number: None,
            source: self.src(node.pos),
        })
    }

    fn resolve(&mut self, name: &str, ns: &str, pos: json::Pos) -> Type {
        let candidates = if name.contains('.') {
            vec![name.to_string()]
        } else {
            vec![join(ns, name), name.to_string()]
        };
        for c in &candidates {
            if self.known.contains_key(c) {
                return Type::Named { name: c.clone() };
            }
        }
        let short_matches: Vec<&String> = self
            .known
            .keys()
            .filter(|k| k.rsplit('.').next() == Some(name))
            .collect();
        let help = if let Some(full) = short_matches.first() {
            format!("`{name}` is defined as `{full}`; refer to it by its full name")
        } else {
            let all: Vec<&str> = PRIMITIVES
                .iter()
                .copied()
                .chain(self.known.keys().map(String::as_str))
                .collect();
            let short_names: Vec<&str> = self
                .known
                .keys()
                .filter_map(|k| k.rsplit('.').next())
                .collect();
            match suggest(name, all.iter().copied()).or_else(|| suggest(name, short_names.iter().copied())) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "use a primitive type (null, boolean, int, long, float, double, bytes, string) or the full name of a record, enum or fixed defined in schemas/".into(),
            }
        };
        self.err(
            DiagnosticKind::UnknownType,
            pos,
            format!("unknown type `{name}`"),
            help,
        );
        Type::Null
    }

    /// Convert a type expression.
    fn ty(&mut self, node: &Spanned, ns: &str) -> Type {
        match &node.value {
            Json::String(s) => match s.as_str() {
                "null" => Type::Null,
                "boolean" => Type::Boolean,
                "int" => Type::Int,
                "long" => Type::Long,
                "float" => Type::Float,
                "double" => Type::Double,
                "bytes" => Type::Bytes,
                "string" => Type::String,
                other => self.resolve(other, ns, node.pos),
            },
            Json::Array(items) => {
                let mut branches: Vec<Type> = Vec::new();
                for item in items {
                    if matches!(item.value, Json::Array(_)) {
                        self.err(
                            DiagnosticKind::InvalidSchema,
                            item.pos,
                            "a union may not directly contain another union",
                            "flatten the branches into one union",
                        );
                        continue;
                    }
                    let t = self.ty(item, ns);
                    let same_kind = branches.iter().any(|b| match (b, &t) {
                        (Type::Named { name: a }, Type::Named { name: b }) => a == b,
                        (Type::Named { .. }, _) | (_, Type::Named { .. }) => false,
                        // `date` and `int` are both an int: a union holds one of them.
                        (a, b) => {
                            std::mem::discriminant(logical::underlying(a))
                                == std::mem::discriminant(logical::underlying(b))
                        }
                    });
                    if same_kind {
                        self.err(
                            DiagnosticKind::DuplicateName,
                            item.pos,
                            "a union may hold each type only once",
                            "remove the repeated branch (a logical type counts as the type it annotates: `date` is an `int`)",
                        );
                    } else {
                        branches.push(t);
                    }
                }
                if branches.is_empty() {
                    self.err(
                        DiagnosticKind::InvalidSchema,
                        node.pos,
                        "empty union",
                        "a union needs at least one branch, e.g. [\"null\", \"string\"]",
                    );
                }
                Type::Union { branches }
            }
            Json::Object(members) => self.complex(node, members, ns),
            _ => {
                self.err(DiagnosticKind::InvalidSchema, node.pos, format!("a type must be a name, an object or a union array, not {}", node.kind()), "write e.g. \"string\", {\"type\": \"array\", \"items\": \"string\"} or [\"null\", \"string\"]");
                Type::Null
            }
        }
    }

    fn complex(&mut self, node: &Spanned, members: &[Member], ns: &str) -> Type {
        let Some(t) = node.get("type") else {
            self.err(
                DiagnosticKind::InvalidSchema,
                node.pos,
                "type object without `type`",
                "add \"type\": ...",
            );
            return Type::Null;
        };
        let kind = match t.value.as_str() {
            Some(k) => k.to_string(),
            None => return self.ty(&t.value, ns),
        };
        match kind.as_str() {
            "record" | "error" => {
                let Some(rec) = self.record(node, ns, false) else {
                    return Type::Null;
                };
                self.register(NamedType::Record(rec), node.pos)
            }
            "enum" => {
                self.check_keys(
                    members,
                    &[
                        "type",
                        "name",
                        "namespace",
                        "doc",
                        "aliases",
                        "symbols",
                        "default",
                    ],
                    TYPE_ANNOTATIONS,
                    "an enum",
                );
                let Some((ens, short)) = self.qualified_name(node, ns, "enum") else {
                    return Type::Null;
                };
                let mut symbols: Vec<EnumSymbol> = Vec::new();
                match node.get("symbols").map(|m| (&m.value, m.value.as_array())) {
                    Some((_, Some(items))) => {
                        for (i, s) in items.iter().enumerate() {
                            match s.as_str() {
                                Some(sym) if valid_name(sym) => {
                                    if symbols.iter().any(|x| x.name == sym) {
                                        self.err(DiagnosticKind::DuplicateName, s.pos, format!("symbol `{sym}` appears twice in enum `{short}`"), "remove the repeated symbol");
                                    } else {
                                        symbols.push(EnumSymbol { name: sym.to_string(), number: i as i32, doc: None });
                                    }
                                }
                                _ => self.err(DiagnosticKind::InvalidSchema, s.pos, "invalid enum symbol", "symbols start with a letter or `_` and contain only letters, digits and `_`"),
                            }
                        }
                    }
                    Some((v, None)) => self.err(
                        DiagnosticKind::InvalidSchema,
                        v.pos,
                        "`symbols` must be an array of names",
                        "write \"symbols\": [\"A\", \"B\"]",
                    ),
                    None => self.err(
                        DiagnosticKind::InvalidSchema,
                        node.pos,
                        format!("enum `{short}` has no `symbols`"),
                        "add \"symbols\": [ ... ]",
                    ),
                }
                let default = node.get("default").and_then(|m| match m.value.as_str() {
                    Some(d) if symbols.iter().any(|s| s.name == d) => Some(d.to_string()),
                    _ => {
                        let names: Vec<&str> = symbols.iter().map(|s| s.name.as_str()).collect();
                        self.err(
                            DiagnosticKind::BadDefault,
                            m.value.pos,
                            format!("the default of enum `{short}` is not one of its symbols"),
                            format!("use one of: {}", names.join(", ")),
                        );
                        None
                    }
                });
                let e = Enum {
                    rust: Default::default(),
                    deprecated: self.deprecated(node),
                    name: short,
                    namespace: ens,
                    doc: self.doc(node),
                    aliases: self.aliases(node),
                    symbols,
                    default,
                    open: false,
                    source: self.src(node.pos),
                };
                self.register(NamedType::Enum(e), node.pos)
            }
            "fixed" => {
                self.check_keys(
                    members,
                    &[
                        "type",
                        "name",
                        "namespace",
                        "doc",
                        "aliases",
                        "size",
                        "logicalType",
                        "precision",
                        "scale",
                    ],
                    &[],
                    "a fixed",
                );
                let Some((fns, short)) = self.qualified_name(node, ns, "fixed") else {
                    return Type::Null;
                };
                let size = match node.get("size").map(|m| (&m.value, m.value.value.clone())) {
                    Some((_, Json::Number(n)))
                        if n.as_u64().is_some_and(|s| s <= u32::MAX as u64) =>
                    {
                        n.as_u64().unwrap_or(0) as u32
                    }
                    Some((v, _)) => {
                        self.err(
                            DiagnosticKind::InvalidSchema,
                            v.pos,
                            "`size` must be a non-negative whole number",
                            "write e.g. \"size\": 16",
                        );
                        0
                    }
                    None => {
                        self.err(
                            DiagnosticKind::InvalidSchema,
                            node.pos,
                            format!("fixed `{short}` has no `size`"),
                            "add \"size\": <bytes>",
                        );
                        0
                    }
                };
                let logical = self.logical_fixed(node, size);
                let f = Fixed {
                    rust: Default::default(),
                    name: short,
                    namespace: fns,
                    doc: self.doc(node),
                    aliases: self.aliases(node),
                    size,
                    logical,
                    source: self.src(node.pos),
                };
                self.register(NamedType::Fixed(f), node.pos)
            }
            "array" => {
                self.check_keys(
                    members,
                    &["type", "items", "default", "doc"],
                    &[],
                    "an array type",
                );
                match node.get("items") {
                    Some(m) => Type::Array {
                        items: Box::new(self.ty(&m.value, ns)),
                    },
                    None => {
                        self.err(
                            DiagnosticKind::InvalidSchema,
                            node.pos,
                            "array type without `items`",
                            "add \"items\": <type>",
                        );
                        Type::Null
                    }
                }
            }
            "map" => {
                self.check_keys(
                    members,
                    &["type", "values", "default", "doc"],
                    &[],
                    "a map type",
                );
                match node.get("values") {
                    Some(m) => Type::Map {
                        values: Box::new(self.ty(&m.value, ns)),
                    },
                    None => {
                        self.err(
                            DiagnosticKind::InvalidSchema,
                            node.pos,
                            "map type without `values`",
                            "add \"values\": <type>",
                        );
                        Type::Null
                    }
                }
            }
            prim => {
                self.check_keys(
                    members,
                    &["type", "logicalType", "precision", "scale", "doc"],
                    &[],
                    "a type",
                );
                let base = self.ty(&t.value, ns);
                self.logical_primitive(node, prim, base)
            }
        }
    }

    /// Record a named type definition; the same name defined twice must be identical.
    fn register(&mut self, t: NamedType, pos: json::Pos) -> Type {
        let name = t.full_name();
        match self.types.get(&name) {
            Some(existing) if !same_definition(existing, &t) => {
                let at = existing.source().clone();
                self.err(
                    DiagnosticKind::DuplicateName,
                    pos,
                    format!("type `{name}` is defined twice with different contents (first at {at})"),
                    "define it once (shared types live in schemas/avro/common/) and refer to it by its full name",
                );
            }
            Some(_) => {}
            None => {
                self.types.insert(name.clone(), t);
            }
        }
        Type::Named { name }
    }
}

/// Two definitions are the same if they differ only in where they were written.
fn same_definition(a: &NamedType, b: &NamedType) -> bool {
    fn strip(t: &NamedType) -> serde_json::Value {
        let mut v = serde_json::to_value(t).unwrap_or_default();
        strip_sources(&mut v);
        v
    }
    fn strip_sources(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.remove("source");
                m.values_mut().for_each(strip_sources);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip_sources),
            _ => {}
        }
    }
    strip(a) == strip(b)
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
