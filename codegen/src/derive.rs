//! A hand-written Rust struct with `#[carebus(...)]` attributes in, the same IR a schema file gives and the same `DomainEvent`, Avro and JSON code out — the logic behind `#[derive(DomainEvent)]`.
//!
//! Every attribute problem becomes a `syn::Error` at the offending attribute's span; all are
//! reported together and nothing here panics on user input.
//!
//! ```ignore
//! #[derive(Clone, Debug, carebus::DomainEvent)]
//! #[carebus(namespace = "healthcare.notes", aggregate_type = "Patient",
//!           aggregate_id = "patient_id", topic = "healthcare.notes.events")]
//! /// A clinician wrote a note.
//! struct NoteAdded {
//!     patient_id: String,
//!     #[carebus(classification = "phi")]
//!     text: carebus::Phi<String>,
//! }
//! ```
//!
//! Avro field names are the lowerCamelCase of the Rust field names (`patient_id` → `patientId`).
//! Supported field types: `bool i32 i64 f32 f64 String Vec<u8>`, `carebus::{Uuid, Date,
//! Timestamp, TimestampMillis, Decimal}`, `Option<T>`, `Vec<T>`, `BTreeMap<String, T>`, and
//! `Phi<T>` (outermost, or directly inside `Option`). Nested records and enums are defined in
//! `schemas/` instead, where every service can see them.

use crate::emit;
use crate::ir::{
    Classification, Compatibility, Event, Field, Model, Record, SchemaFormat, Source, Type,
};
use crate::load::canonical;
use heck::ToLowerCamelCase;
use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, GenericArgument, LitStr, PathArguments};

/// Container attribute keys (named constants, as serde does).
pub mod keys {
    pub const NAME: &str = "name";
    pub const NAMESPACE: &str = "namespace";
    pub const VERSION: &str = "version";
    pub const AGGREGATE_TYPE: &str = "aggregate_type";
    pub const AGGREGATE_ID: &str = "aggregate_id";
    pub const TOPIC: &str = "topic";
    pub const COMPATIBILITY: &str = "compatibility";
    pub const DEPRECATED: &str = "deprecated";
    pub const CLASSIFICATION: &str = "classification";
    pub const EXAMPLES: &str = "examples";
    pub const DEFAULT: &str = "default";
    pub const DECIMAL: &str = "decimal";
    pub const CONTAINER: &[&str] = &[
        NAME,
        NAMESPACE,
        VERSION,
        AGGREGATE_TYPE,
        AGGREGATE_ID,
        TOPIC,
        COMPATIBILITY,
        DEPRECATED,
    ];
    pub const FIELD: &[&str] = &[CLASSIFICATION, EXAMPLES, DEPRECATED, DEFAULT, DECIMAL];
}

/// Collects errors so that all are reported at once (like serde's `Ctxt`).
#[derive(Default)]
struct Errors(Vec<syn::Error>);

impl Errors {
    fn at(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.0.push(syn::Error::new(span, msg));
    }
    fn into_result(self) -> Result<(), syn::Error> {
        let mut it = self.0.into_iter();
        match it.next() {
            None => Ok(()),
            Some(mut first) => {
                for e in it {
                    first.combine(e);
                }
                Err(first)
            }
        }
    }
}

/// Expand `#[derive(DomainEvent)]`.
pub fn expand_domain_event(input: &DeriveInput) -> TokenStream {
    match event_model(input) {
        Ok(model) => {
            let ctx = emit::Ctx::new(&model);
            emit::derive_tokens(&ctx)
        }
        Err(e) => e.into_compile_error(),
    }
}

fn doc_of(attrs: &[syn::Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value().trim().to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

fn suggestion(word: &str, candidates: &[&str]) -> String {
    match crate::diagnostic::suggest(word, candidates.iter().copied()) {
        Some(s) => format!("; did you mean `{s}`?"),
        None => format!("; expected one of: {}", candidates.join(", ")),
    }
}

/// The IR of the derived event, or every attribute error.
pub fn event_model(input: &DeriveInput) -> Result<Model, syn::Error> {
    let mut errors = Errors::default();
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => Some(&named.named),
            _ => {
                errors.at(
                    input.ident.span(),
                    "#[derive(DomainEvent)] needs a struct with named fields",
                );
                None
            }
        },
        _ => {
            errors.at(
                input.ident.span(),
                "#[derive(DomainEvent)] works on structs; define enums and unions in schemas/",
            );
            None
        }
    };
    if !input.generics.params.is_empty() {
        errors.at(
            input.generics.span(),
            "a domain event cannot be generic: its schema must be fixed",
        );
    }

    let mut name = input.ident.to_string();
    let mut namespace = String::new();
    let mut version: u32 = 1;
    let mut aggregate_type: Option<String> = None;
    let mut aggregate_id: Option<(String, Span)> = None;
    let mut topic: Option<String> = None;
    let mut compatibility = Compatibility::default();
    let mut deprecated = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("carebus")) {
        let res = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(|i| i.to_string())
                .unwrap_or_default();
            match key.as_str() {
                keys::VERSION => {
                    let lit: syn::LitInt = meta.value()?.parse()?;
                    match lit.base10_parse::<u32>() {
                        Ok(v) if v >= 1 => version = v,
                        _ => errors.at(lit.span(), "`version` must be a whole number from 1"),
                    }
                }
                keys::COMPATIBILITY => {
                    let s: LitStr = meta.value()?.parse()?;
                    match Compatibility::parse(&s.value()) {
                        Some(c) => compatibility = c,
                        None => {
                            let all: Vec<&str> =
                                Compatibility::ALL.iter().map(|c| c.as_str()).collect();
                            errors.at(
                                s.span(),
                                format!(
                                    "unknown compatibility mode `{}`{}",
                                    s.value(),
                                    suggestion(&s.value(), &all)
                                ),
                            );
                        }
                    }
                }
                keys::NAME
                | keys::NAMESPACE
                | keys::AGGREGATE_TYPE
                | keys::AGGREGATE_ID
                | keys::TOPIC
                | keys::DEPRECATED => {
                    let s: LitStr = meta.value()?.parse()?;
                    let v = s.value();
                    if v.trim().is_empty() {
                        errors.at(s.span(), format!("`{key}` must not be empty"));
                    }
                    match key.as_str() {
                        keys::NAME => name = v,
                        keys::NAMESPACE => namespace = v,
                        keys::AGGREGATE_TYPE => aggregate_type = Some(v),
                        keys::AGGREGATE_ID => aggregate_id = Some((v, s.span())),
                        keys::TOPIC => topic = Some(v),
                        _ => deprecated = Some(v),
                    }
                }
                other => {
                    errors.at(
                        meta.path.span(),
                        format!(
                            "unknown carebus attribute `{other}`{}",
                            suggestion(other, keys::CONTAINER)
                        ),
                    );
                    // Skip its value so the remaining keys are still checked.
                    if meta.input.peek(syn::Token![=]) {
                        let _: syn::Expr = meta.value()?.parse()?;
                    }
                }
            }
            Ok(())
        });
        if let Err(e) = res {
            errors.0.push(e);
        }
    }
    let span = input.ident.span();
    if aggregate_type.is_none() {
        errors.at(
            span,
            "missing `#[carebus(aggregate_type = \"...\")]`: name the aggregate, e.g. \"Patient\"",
        );
    }
    if topic.is_none() {
        errors.at(span, "missing `#[carebus(topic = \"...\")]`: name the Kafka topic, e.g. \"healthcare.patients.events\"");
    }

    let mut ir_fields = Vec::new();
    if let Some(fields) = fields {
        for f in fields {
            if let Some(field) = field(f, &mut errors) {
                ir_fields.push(field);
            }
        }
    }
    let record = Record {
        rust: Default::default(),
        cycle: Vec::new(),
        deprecated: None,
        name: name.clone(),
        namespace: namespace.clone(),
        doc: doc_of(&input.attrs),
        aliases: Vec::new(),
        fields: ir_fields,
        source: Source::new(input.ident.to_string(), 0, 0),
    };
    let aggregate_field = match aggregate_id {
        None => {
            errors.at(span, "missing `#[carebus(aggregate_id = \"...\")]`: name the field holding the aggregate id (the partition key)");
            String::new()
        }
        Some((rust_name, at)) => {
            let avro = rust_name.to_lower_camel_case();
            // Without named fields the struct error above already says what is wrong.
            if fields.is_some() && record.field(&avro).is_none() {
                let names: Vec<String> = fields
                    .map(|fs| {
                        fs.iter()
                            .filter_map(|f| f.ident.as_ref().map(|i| i.to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                errors.at(
                    at,
                    format!(
                        "`aggregate_id` names `{rust_name}`, which is not a field of this struct{}",
                        suggestion(&rust_name, &refs)
                    ),
                );
            }
            avro
        }
    };
    errors.into_result()?;

    let domain = namespace.rsplit('.').next().unwrap_or_default().to_string();
    let mut event = Event {
        rust: Default::default(),
        name: record.name.clone(),
        namespace,
        version,
        domain,
        format: SchemaFormat::Avro,
        doc: record.doc.clone(),
        aggregate_type: aggregate_type.unwrap_or_default(),
        aggregate_id: aggregate_field,
        topic: topic.unwrap_or_default(),
        compatibility,
        deprecated,
        source: record.source.clone(),
        record,
        schema_text: String::new(),
        canonical_form: String::new(),
        fingerprint: 0,
    };
    let (text, canonical) =
        canonical::self_contained_and_canonical(&event.record, &[], Some(&event));
    event.fingerprint = crate::fingerprint::crc64_avro(canonical.as_bytes());
    event.schema_text = text;
    event.canonical_form = canonical;
    let mut model = Model {
        events: vec![event],
        ..Model::default()
    };
    crate::rust_names::assign(&mut model);
    // The impls name the user's struct where it stands, not a namespace module.
    for e in &mut model.events {
        e.record.rust.module.clear();
        e.record.rust.name = input.ident.to_string();
    }
    Ok(model)
}

fn field(f: &syn::Field, errors: &mut Errors) -> Option<Field> {
    let ident = f.ident.as_ref()?;
    let rust_name = ident.to_string();
    let rust_name = rust_name
        .strip_prefix("r#")
        .unwrap_or(&rust_name)
        .to_string();
    let avro_name = rust_name.to_lower_camel_case();
    if emit::ident::snake(&avro_name) != emit::ident::snake(&rust_name) {
        errors.at(ident.span(), format!("field `{rust_name}` does not survive the Avro name round trip (`{rust_name}` → `{avro_name}` → `{}`); rename it in snake_case without digits after `_`", emit::ident::snake(&avro_name)));
    }
    let mut classification = Classification::None;
    let mut classified = false;
    let mut examples = Vec::new();
    let mut deprecated = None;
    let mut default = None;
    let mut decimal: Option<(u32, u32)> = None;
    for attr in f.attrs.iter().filter(|a| a.path().is_ident("carebus")) {
        let res = attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(|i| i.to_string()).unwrap_or_default();
            match key.as_str() {
                keys::CLASSIFICATION => {
                    let s: LitStr = meta.value()?.parse()?;
                    match Classification::parse(&s.value()) {
                        Some(c) => {
                            classification = c;
                            classified = true;
                        }
                        None => errors.at(s.span(), format!("unknown classification `{}`{}", s.value(), suggestion(&s.value(), &["phi", "pii", "none"]))),
                    }
                }
                keys::EXAMPLES | keys::DEFAULT => {
                    let s: LitStr = meta.value()?.parse()?;
                    match serde_json::from_str::<serde_json::Value>(&s.value()) {
                        Ok(v) if key == keys::DEFAULT => default = Some(v),
                        Ok(serde_json::Value::Array(items)) => examples = items,
                        Ok(_) => errors.at(s.span(), "`examples` must be a JSON array of example values, e.g. \"[\\\"1990-01-01\\\"]\""),
                        Err(e) => errors.at(s.span(), format!("`{key}` must be JSON text: {e}")),
                    }
                }
                keys::DEPRECATED => {
                    let s: LitStr = meta.value()?.parse()?;
                    deprecated = Some(s.value());
                }
                keys::DECIMAL => {
                    let mut precision = None;
                    let mut scale = 0u32;
                    meta.parse_nested_meta(|inner| {
                        let lit: syn::LitInt = inner.value()?.parse()?;
                        let v: u32 = lit.base10_parse()?;
                        if inner.path.is_ident("precision") {
                            precision = Some(v);
                        } else if inner.path.is_ident("scale") {
                            scale = v;
                        } else {
                            errors.at(inner.path.span(), "`decimal(...)` takes `precision` and `scale`");
                        }
                        Ok(())
                    })?;
                    match precision {
                        Some(p) if (1..=38).contains(&p) && scale <= p => decimal = Some((p, scale)),
                        _ => errors.at(meta.path.span(), "`decimal` needs `precision` from 1 to 38 and `scale` no larger than it, e.g. decimal(precision = 10, scale = 2)"),
                    }
                }
                other => {
                    errors.at(meta.path.span(), format!("unknown carebus field attribute `{other}`{}", suggestion(other, keys::FIELD)));
                    if meta.input.peek(syn::Token![=]) {
                        let _: syn::Expr = meta.value()?.parse()?;
                    }
                }
            }
            Ok(())
        });
        if let Err(e) = res {
            errors.0.push(e);
        }
    }
    let shape = shape_of(&f.ty, decimal, errors)?;
    if shape.phi && classification != Classification::Phi {
        if classification == Classification::None {
            classification = Classification::Phi;
        } else {
            errors.at(
                f.ty.span(),
                "a `Phi<…>` field is classified phi; remove the other classification",
            );
        }
    } else if !shape.phi && classification == Classification::Phi {
        errors.at(f.ty.span(), "a field classified phi must be wrapped: write `carebus::Phi<T>` (or `Option<carebus::Phi<T>>`) so Debug and Display redact it");
    }
    let default = match (default, &shape.ty) {
        (Some(d), _) => Some(d),
        (None, Type::Union { .. }) => Some(serde_json::Value::Null),
        (None, _) => None,
    };
    if let Some(d) = &default
        && let Err(why) = crate::load::defaults::check(&shape.ty, d, &[])
    {
        errors.at(
            f.ty.span(),
            format!("the default does not match the field's type: {why}"),
        );
    }
    Some(Field {
        rust: Default::default(),
        name: avro_name,
        doc: doc_of(&f.attrs),
        ty: shape.ty,
        default,
        aliases: Vec::new(),
        classification,
        examples,
        deprecated,
        proto_number: None,
        classified,
        analytics: None,
        source: Source::new(rust_name, 0, 0),
    })
}

struct Shape {
    ty: Type,
    phi: bool,
}

fn last_segment(ty: &syn::Type) -> Option<(&syn::Ident, Vec<&syn::Type>)> {
    let syn::Type::Path(p) = ty else { return None };
    if p.qself.is_some() {
        return None;
    }
    let seg = p.path.segments.last()?;
    let args = match &seg.arguments {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|g| {
                if let GenericArgument::Type(t) = g {
                    Some(t)
                } else {
                    None
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    Some((&seg.ident, args))
}

fn shape_of(ty: &syn::Type, decimal: Option<(u32, u32)>, errors: &mut Errors) -> Option<Shape> {
    if let Some((id, args)) = last_segment(ty) {
        match (id.to_string().as_str(), args.as_slice()) {
            ("Option", [inner]) => {
                let s = shape_of(inner, decimal, errors)?;
                if matches!(s.ty, Type::Union { .. }) {
                    errors.at(ty.span(), "nested `Option` has no Avro form");
                    return None;
                }
                return Some(Shape {
                    ty: Type::Union {
                        branches: vec![Type::Null, s.ty],
                    },
                    phi: s.phi,
                });
            }
            ("Phi", [inner]) => {
                let s = shape_of(inner, decimal, errors)?;
                if s.phi || matches!(s.ty, Type::Union { .. }) {
                    errors.at(
                        ty.span(),
                        "write `Option<Phi<T>>`, not `Phi<Option<T>>`, and wrap PHI once",
                    );
                    return None;
                }
                return Some(Shape {
                    ty: s.ty,
                    phi: true,
                });
            }
            ("Vec", [inner]) => {
                if let Some((i, a)) = last_segment(inner)
                    && i == "u8"
                    && a.is_empty()
                {
                    return Some(Shape {
                        ty: Type::Bytes,
                        phi: false,
                    });
                }
                let s = shape_of(inner, decimal, errors)?;
                if s.phi {
                    errors.at(
                        inner.span(),
                        "wrap the whole list: `Phi<Vec<T>>`, not `Vec<Phi<T>>`",
                    );
                }
                return Some(Shape {
                    ty: Type::Array {
                        items: Box::new(s.ty),
                    },
                    phi: false,
                });
            }
            ("Box", [_]) => {
                errors.at(
                    ty.span(),
                    "a derived event holds no records, so nothing to box: define a recursive record (one that holds itself) in schemas/, where the generator boxes it",
                );
                return None;
            }
            ("BTreeMap", [key, value]) => {
                if last_segment(key).is_none_or(|(i, _)| i != "String") {
                    errors.at(
                        key.span(),
                        "Avro maps have string keys: use `BTreeMap<String, T>`",
                    );
                }
                let s = shape_of(value, decimal, errors)?;
                return Some(Shape {
                    ty: Type::Map {
                        values: Box::new(s.ty),
                    },
                    phi: false,
                });
            }
            (name, []) => {
                let t = match name {
                    "bool" => Some(Type::Boolean),
                    "i32" => Some(Type::Int),
                    "i64" => Some(Type::Long),
                    "f32" => Some(Type::Float),
                    "f64" => Some(Type::Double),
                    "String" => Some(Type::String),
                    "Uuid" => Some(Type::Uuid),
                    "Date" => Some(Type::Date),
                    "Timestamp" => Some(Type::TimestampMicros),
                    "TimestampMillis" => Some(Type::TimestampMillis),
                    "TimestampNanos" => Some(Type::TimestampNanos),
                    "TimeMillis" => Some(Type::TimeMillis),
                    "TimeMicros" => Some(Type::TimeMicros),
                    "LocalTimestampMillis" => Some(Type::LocalTimestampMillis),
                    "LocalTimestampMicros" => Some(Type::LocalTimestampMicros),
                    "LocalTimestampNanos" => Some(Type::LocalTimestampNanos),
                    "Decimal" => match decimal {
                        Some((precision, scale)) => Some(Type::Decimal { precision, scale }),
                        None => {
                            errors.at(ty.span(), "a `Decimal` field needs `#[carebus(decimal(precision = P, scale = S))]`");
                            return None;
                        }
                    },
                    _ => None,
                };
                if let Some(t) = t {
                    return Some(Shape { ty: t, phi: false });
                }
            }
            _ => {}
        }
    }
    errors.at(
        ty.span(),
        "unsupported field type for a derived event: use bool, i32, i64, f32, f64, String, Vec<u8>, carebus::{Uuid, Date, Timestamp, TimestampMillis, TimestampNanos, TimeMillis, TimeMicros, LocalTimestampMillis, LocalTimestampMicros, LocalTimestampNanos, Decimal}, Option<T>, Vec<T>, BTreeMap<String, T> or Phi<T>; define events with nested records in schemas/",
    );
    None
}
