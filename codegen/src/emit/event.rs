//! Events of the IR in, `::carebus_core::DomainEvent` impls out (identity, topic, schema, fingerprint, PHI paths, aggregate id, payload and JSON codecs, validation), plus the decimal checks of every type holding decimals.

use super::{Ctx, RType, RecordDef, allow_deprecated, ident, schema};
use crate::ir::{Event, Model, NamedType, Record, SchemaFormat, Type};
use proc_macro2::TokenStream;
use quote::quote;
use std::collections::BTreeSet;

pub fn items(ctx: &Ctx<'_>) -> TokenStream {
    let events = ctx
        .records
        .iter()
        .filter_map(|d| d.event.map(|e| domain_event(ctx, d, e)));
    let decimals = ctx
        .records
        .iter()
        .filter(|d| ctx.has_decimals(&d.ty))
        .map(|d| record_decimals(ctx, d));
    let unions = ctx.unions.iter().filter(|u| ctx.has_decimals(&u.ty)).map(|u| {
        let name = &u.ty;
        let arms = u.branches.iter().filter_map(|(v, _, shape)| {
            let check = shape.validate(ctx, quote!(value), quote!(path), 1)?;
            Some(quote! { Self::#v(value) => { #check } })
        });
        let allow = allow_deprecated(ctx.union_uses_deprecated(u));
        quote! {
            #allow
            impl #name {
                /// Check every decimal against its schema precision; `path` names this value in errors.
                pub fn validate_decimals(&self, event_type: &'static str, path: &str) -> ::std::result::Result<(), ::carebus_core::ValidationError> {
                    #[allow(clippy::single_match)]
                    match self { #(#arms)* _ => {} }
                    ::std::result::Result::Ok(())
                }
            }
        }
    });
    quote! { #(#events)* #(#decimals)* #(#unions)* }
}

fn record_decimals(ctx: &Ctx<'_>, def: &RecordDef<'_>) -> TokenStream {
    let name = &def.ty;
    let checks = def.record.fields.iter().filter_map(|f| {
        let id = ident::ident(&f.rust);
        let json = &f.name;
        RType::field(ctx, name, f).validate(
            ctx,
            quote!(&self.#id),
            quote!(&::carebus_core::event::json_path(path, #json)),
            0,
        )
    });
    let allow = allow_deprecated(ctx.touches_deprecated(def));
    quote! {
        #allow
        impl #name {
            /// Check every decimal against its schema precision (the type system cannot);
            /// `path` prefixes field names in errors.
            pub fn validate_decimals(&self, event_type: &'static str, path: &str) -> ::std::result::Result<(), ::carebus_core::ValidationError> {
                #(#checks)*
                ::std::result::Result::Ok(())
            }
        }
    }
}

/// Dotted paths of the PHI fields of a record, nested records included.
pub fn phi_paths(model: &Model, r: &Record) -> Vec<String> {
    let mut out = Vec::new();
    let mut visiting = BTreeSet::new();
    collect_phi(model, r, "", &mut visiting, &mut out);
    out
}

fn collect_phi(
    model: &Model,
    r: &Record,
    prefix: &str,
    visiting: &mut BTreeSet<String>,
    out: &mut Vec<String>,
) {
    if !visiting.insert(r.full_name()) {
        return;
    }
    for f in &r.fields {
        let path = if prefix.is_empty() {
            f.name.clone()
        } else {
            format!("{prefix}.{}", f.name)
        };
        if f.classification == crate::ir::Classification::Phi {
            out.push(path);
            continue;
        }
        let mut named = Vec::new();
        named_records(&f.ty, &mut named);
        for n in named {
            if let Some(NamedType::Record(nested)) = model.named_type(n) {
                collect_phi(model, nested, &path, visiting, out);
            }
        }
    }
    visiting.remove(&r.full_name());
}

fn named_records<'t>(ty: &'t Type, out: &mut Vec<&'t str>) {
    match ty {
        Type::Named { name } => out.push(name),
        Type::Array { items } => named_records(items, out),
        Type::Map { values } => named_records(values, out),
        Type::Union { branches } => branches.iter().for_each(|b| named_records(b, out)),
        _ => {}
    }
}

/// `0x1234_5678_9abc_def0`
fn hex_u64(v: u64) -> TokenStream {
    let h = format!("{v:016x}");
    let text = format!("0x{}_{}_{}_{}", &h[0..4], &h[4..8], &h[8..12], &h[12..16]);
    text.parse().unwrap_or_else(|_| quote!(#v))
}

/// A raw string literal (`r#"..."#`) with enough `#`s for the text.
pub(crate) fn raw_str(text: &str) -> TokenStream {
    let mut hashes = String::from("#");
    while text.contains(&format!("\"{hashes}")) {
        hashes.push('#');
    }
    if text.contains('\r') {
        return quote!(#text);
    }
    format!("r{hashes}\"{text}\"{hashes}")
        .parse()
        .unwrap_or_else(|_| quote!(#text))
}

/// The expression giving the aggregate id as a `String` from the field `name`.
fn aggregate_id_expr(ctx: &Ctx<'_>, def: &RecordDef<'_>, event: &Event) -> TokenStream {
    let Some(field) = def.record.field(&event.aggregate_id) else {
        let msg = format!(
            "event {} v{} names aggregate_id `{}`, but has no such field; set `aggregate_id` to one of its fields",
            event.name, event.version, event.aggregate_id
        );
        return quote! { ::std::compile_error!(#msg) };
    };
    let id = ident::ident(&field.rust);
    let shape = RType::field(ctx, &def.ty, field);
    let text = |shape: &RType, e: TokenStream| -> TokenStream {
        match shape {
            RType::Prim(super::rtype::Prim::String) => quote! { #e.clone() },
            RType::Phi(inner) if matches!(**inner, RType::Prim(super::rtype::Prim::String)) => {
                quote! { #e.expose().clone() }
            }
            RType::Phi(_) => quote! { #e.expose().to_string() },
            RType::Named(_) => quote! { #e.symbol().to_owned() },
            _ => quote! { #e.to_string() },
        }
    };
    match &shape {
        RType::Option { inner, .. } => {
            let body = text(inner, quote!(v));
            quote! { self.#id.as_ref().map(|v| #body).unwrap_or_default() }
        }
        other => text(other, quote!(self.#id)),
    }
}

fn domain_event(ctx: &Ctx<'_>, def: &RecordDef<'_>, e: &Event) -> TokenStream {
    let name = &def.ty;
    let (event_type, version, aggregate_type, topic) =
        (&e.name, super::int(e.version), &e.aggregate_type, &e.topic);
    let schema_text = match e.format {
        // The loader stores the self-contained schema (the one the fingerprint is of); a
        // hand-built model may leave it empty, then it is rebuilt from the IR.
        SchemaFormat::Avro if e.schema_text.trim_start().starts_with('{') => e.schema_text.clone(),
        SchemaFormat::Avro => schema::event_schema(ctx.model, e),
        SchemaFormat::Protobuf => e.schema_text.clone(),
    };
    let schema = raw_str(&schema_text);
    let fingerprint = hex_u64(e.fingerprint);
    let phi = phi_paths(ctx.model, &e.record);
    let aggregate_id = aggregate_id_expr(ctx, def, e);
    let (format, encode, decode) = match e.format {
        SchemaFormat::Avro => (
            quote!(::carebus_core::PayloadFormat::Avro),
            quote! { ::carebus_core::AvroCodec::encode_avro(self, out); },
            quote! {
                let mut r = ::carebus_core::avro::Reader::new(bytes);
                let event = <Self as ::carebus_core::AvroCodec>::decode_avro(&mut r)?;
                r.finish()?;
                ::std::result::Result::Ok(event)
            },
        ),
        SchemaFormat::Protobuf => {
            let wire = super::proto::wire_path(&e.record.full_name());
            (
                quote!(::carebus_core::PayloadFormat::Protobuf),
                quote! {
                    let wire = #wire::from(self);
                    out.extend_from_slice(&::carebus_core::__private::prost::Message::encode_to_vec(&wire));
                },
                quote! {
                    let wire = <#wire as ::carebus_core::__private::prost::Message>::decode(bytes)
                        .map_err(|e| ::carebus_core::DecodeError::Protobuf(e.to_string()))?;
                    <Self as ::std::convert::TryFrom<#wire>>::try_from(wire)
                },
            )
        }
    };
    let id_field = &e.aggregate_id;
    let decimals = if ctx.has_decimals(name) {
        quote! { self.validate_decimals(Self::EVENT_TYPE, "")?; }
    } else {
        TokenStream::new()
    };
    let analytics = super::analytics::fields(&crate::analytics::plan(ctx.model, e));
    let allow = allow_deprecated(ctx.touches_deprecated(def));
    quote! {
        #allow
        impl #name {
            /// Registry facts of this event version.
            pub const INFO: ::carebus_core::EventInfo = ::carebus_core::topic::event_info::<Self>();
        }
        #allow
        impl ::carebus_core::DomainEvent for #name {
            const EVENT_TYPE: &'static str = #event_type;
            const EVENT_VERSION: u32 = #version;
            const AGGREGATE_TYPE: &'static str = #aggregate_type;
            const TOPIC: &'static str = #topic;
            const SCHEMA: &'static str = #schema;
            const FINGERPRINT: u64 = #fingerprint;
            const FORMAT: ::carebus_core::PayloadFormat = #format;
            const PHI_FIELDS: &'static [&'static str] = &[#(#phi),*];
            const ANALYTICS: &'static [::carebus_core::deidentify::FieldRule] = #analytics;

            fn aggregate_id(&self) -> ::std::string::String {
                #aggregate_id
            }
            fn encode_payload(&self, out: &mut ::std::vec::Vec<u8>) {
                #encode
            }
            fn decode_payload(bytes: &[u8]) -> ::std::result::Result<Self, ::carebus_core::DecodeError> {
                #decode
            }
            fn to_json(&self) -> ::carebus_core::__private::serde_json::Value {
                <Self as ::carebus_core::JsonCodec>::to_json(self)
            }
            fn from_json(value: &::carebus_core::__private::serde_json::Value) -> ::std::result::Result<Self, ::carebus_core::DecodeError> {
                <Self as ::carebus_core::JsonCodec>::from_json(value, "")
            }
            fn validate(&self) -> ::std::result::Result<(), ::carebus_core::ValidationError> {
                if ::carebus_core::DomainEvent::aggregate_id(self).is_empty() {
                    return ::std::result::Result::Err(::carebus_core::ValidationError {
                        event_type: Self::EVENT_TYPE,
                        field: #id_field.to_owned(),
                        rule: "must not be empty: it is the aggregate id (the partition key)".to_owned(),
                    });
                }
                #decimals
                ::std::result::Result::Ok(())
            }
        }
    }
}
