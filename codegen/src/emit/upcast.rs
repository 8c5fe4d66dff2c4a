//! Older and newest versions of an event in, `From<Old> for Newest` upcasts out, derived by Avro schema resolution (fields matched by name or alias, new fields take their schema default as Rust code, removed fields dropped, int → long and other promotions).
//!
//! When an upcast cannot be derived (a new field without default, a narrowing change), none is
//! emitted and the topic's handler trait gets a method for that old version instead.

use super::{Ctx, RType, ident, int};
use crate::ir::{Event, NamedType, Type};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use serde_json::Value;

/// Every derivable upcast of an older event version to the newest.
pub fn items(ctx: &Ctx<'_>) -> TokenStream {
    let mut out = TokenStream::new();
    for e in &ctx.model.events {
        let Some(newest) = newest_of(ctx, e) else {
            continue;
        };
        if let Ok(tokens) = upcast(ctx, e, newest) {
            out.extend(tokens);
        }
    }
    out
}

/// The newest version of `e`'s event, when `e` is an older one.
pub fn newest_of<'m>(ctx: &Ctx<'m>, e: &Event) -> Option<&'m Event> {
    let newest = *ctx.model.versions(&e.name).last()?;
    (newest.version != e.version).then_some(newest)
}

/// The `From` impl upcasting `old` to `new`, or why it cannot be derived.
pub fn upcast(ctx: &Ctx<'_>, old: &Event, new: &Event) -> Result<TokenStream, String> {
    let (old_def, new_def) = (ctx.event_def(old), ctx.event_def(new));
    let (old_name, new_name) = (&old_def.ty, &new_def.ty);
    let mut used_old = false;
    let mut inits = Vec::new();
    for f in &new.record.fields {
        let id = ident::ident(&f.rust);
        let new_shape = RType::field(ctx, new_name, f);
        let matched = old
            .record
            .fields
            .iter()
            .find(|o| o.name == f.name || f.aliases.contains(&o.name));
        let value = match (matched, &f.default) {
            (Some(o), _) => {
                let old_id = ident::ident(&o.rust);
                let old_shape = RType::field(ctx, old_name, o);
                used_old = true;
                convert(&old_shape, &new_shape, quote!(old.#old_id), 0).ok_or_else(|| {
                    format!(
                        "field `{}` changed type in a way schema resolution cannot follow",
                        f.name
                    )
                })?
            }
            (None, Some(default)) => default_value(ctx, &f.ty, &new_shape, default)
                .ok_or_else(|| format!("the default of new field `{}` has no Rust form", f.name))?,
            (None, None) => {
                return Err(format!(
                    "field `{}` is new in version {} and has no default",
                    f.name, new.version
                ));
            }
        };
        inits.push(quote! { #id: #value, });
    }
    let param = if used_old { quote!(old) } else { quote!(_old) };
    let doc = format!(
        " Upcast `{}` version {} to version {} by Avro schema resolution: fields matched by name or alias, new fields take their schema default, removed fields are dropped.",
        old.name, old.version, new.version
    );
    let allow =
        super::allow_deprecated(ctx.touches_deprecated(old_def) || ctx.touches_deprecated(new_def));
    Ok(quote! {
        #[doc = #doc]
        #allow
        impl ::std::convert::From<#old_name> for #new_name {
            fn from(#param: #old_name) -> Self {
                Self { #(#inits)* }
            }
        }
    })
}

/// `e` (an owned value of shape `from`) as a value of shape `to`, by the Avro promotions.
fn convert(from: &RType, to: &RType, e: TokenStream, depth: usize) -> Option<TokenStream> {
    use super::rtype::Prim::*;
    if from == to {
        return Some(e);
    }
    let v = format_ident!("v{depth}");
    Some(match (from, to) {
        (RType::Prim(a), RType::Prim(b)) => match (a, b) {
            (Int, Long) => quote!(i64::from(#e)),
            (Int, Double) | (Float, Double) => quote!(f64::from(#e)),
            (Int, Float) | (Long, Float) => quote!(#e as f32),
            (Long, Double) => quote!(#e as f64),
            (String, Bytes) => quote!(#e.into_bytes()),
            _ => return None,
        },
        (RType::Phi(a), RType::Phi(b)) => {
            let inner = convert(a, b, quote!(#e.into_inner()), depth)?;
            quote!(::carebus_core::Phi::new(#inner))
        }
        (a, RType::Phi(b)) => {
            let inner = convert(a, b, e, depth)?;
            quote!(::carebus_core::Phi::new(#inner))
        }
        (RType::Phi(a), b) => convert(a, b, quote!(#e.into_inner()), depth)?,
        (RType::Option { inner: a, .. }, RType::Option { inner: b, .. }) => {
            let body = convert(a, b, quote!(#v), depth + 1)?;
            quote!(#e.map(|#v| #body))
        }
        (a, RType::Option { inner: b, .. }) => {
            let body = convert(a, b, e, depth)?;
            quote!(::std::option::Option::Some(#body))
        }
        (RType::Vec(a), RType::Vec(b)) => {
            let body = convert(a, b, quote!(#v), depth + 1)?;
            quote!(#e.into_iter().map(|#v| #body).collect())
        }
        (RType::Map(a), RType::Map(b)) => {
            let k = format_ident!("k{depth}");
            let body = convert(a, b, quote!(#v), depth + 1)?;
            quote!(#e.into_iter().map(|(#k, #v)| (#k, #body)).collect())
        }
        _ => return None,
    })
}

/// A schema default (JSON, as the Avro spec writes it) as a Rust expression of shape `shape`.
pub fn default_value(ctx: &Ctx<'_>, ty: &Type, shape: &RType, v: &Value) -> Option<TokenStream> {
    use super::rtype::Prim;
    if let RType::Phi(inner) = shape {
        let value = default_value(ctx, ty, inner, v)?;
        return Some(quote!(::carebus_core::Phi::new(#value)));
    }
    Some(match (ty, shape) {
        (Type::Union { branches }, RType::Option { inner, .. }) => {
            // A union's default is of its first branch.
            if branches.first() == Some(&Type::Null) {
                quote!(::std::option::Option::None)
            } else {
                let first = branches.first()?;
                let value = default_value(ctx, first, inner, v)?;
                quote!(::std::option::Option::Some(#value))
            }
        }
        (_, RType::Unit) => quote!(()),
        (_, RType::Prim(p)) => match p {
            Prim::Bool => {
                let b = v.as_bool()?;
                quote!(#b)
            }
            Prim::Int | Prim::Long | Prim::U32 | Prim::U64 => {
                let n = int(v.as_i64()?);
                quote!(#n)
            }
            Prim::Float => {
                let f = Literal::f32_unsuffixed(v.as_f64()? as f32);
                quote!(#f)
            }
            Prim::Double => {
                let f = Literal::f64_unsuffixed(v.as_f64()?);
                quote!(#f)
            }
            Prim::String => {
                let s = v.as_str()?;
                quote!(::std::string::String::from(#s))
            }
            Prim::Bytes => {
                let bytes = avro_bytes(v)?;
                if bytes.is_empty() {
                    quote!(::std::vec::Vec::new())
                } else {
                    quote!(::std::vec![#(#bytes),*])
                }
            }
            Prim::Uuid => {
                let hex: String = v.as_str()?.chars().filter(|c| *c != '-').collect();
                let n = u128::from_str_radix(&hex, 16).ok()?;
                let lit = format!("0x{n:032x}").parse::<TokenStream>().ok()?;
                quote!(::carebus_core::Uuid::from_u128(#lit))
            }
            Prim::Date => {
                let n = int(v.as_i64()?);
                quote!(::carebus_core::Date(#n))
            }
            Prim::Timestamp => {
                let n = int(v.as_i64()?);
                quote!(::carebus_core::Timestamp(#n))
            }
            Prim::TimestampMillis => {
                let n = int(v.as_i64()?);
                quote!(::carebus_core::TimestampMillis(#n))
            }
            Prim::TimestampNanos
            | Prim::TimeMillis
            | Prim::TimeMicros
            | Prim::LocalTimestampMillis
            | Prim::LocalTimestampMicros
            | Prim::LocalTimestampNanos => {
                let n = int(v.as_i64()?);
                let ty = RType::Prim(*p).tokens();
                quote!(#ty(#n))
            }
            Prim::BigDecimal => {
                let bytes = avro_bytes(v)?;
                let (unscaled, scale) = crate::load::defaults::big_decimal_parts(&bytes)?;
                let scale = int(scale);
                quote!(::carebus_core::BigDecimal::from_unscaled_bytes(&[#(#unscaled),*], #scale))
            }
        },
        (_, RType::Decimal { .. }) => {
            let bytes = avro_bytes(v)?;
            if bytes.len() > 16 {
                return None;
            }
            let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
                0xff
            } else {
                0
            };
            let mut full = [fill; 16];
            full[16 - bytes.len()..].copy_from_slice(&bytes);
            let n = int(i128::from_be_bytes(full));
            quote!(::carebus_core::Decimal::new(#n))
        }
        (Type::Array { items }, RType::Vec(inner)) => {
            let values: Vec<TokenStream> = v
                .as_array()?
                .iter()
                .map(|x| default_value(ctx, items, inner, x))
                .collect::<Option<_>>()?;
            if values.is_empty() {
                quote!(::std::vec::Vec::new())
            } else {
                quote!(::std::vec![#(#values),*])
            }
        }
        (Type::Map { values }, RType::Map(inner)) => {
            let entries: Vec<TokenStream> = v
                .as_object()?
                .iter()
                .map(|(k, x)| {
                    let value = default_value(ctx, values, inner, x)?;
                    Some(quote!((::std::string::String::from(#k), #value)))
                })
                .collect::<Option<_>>()?;
            if entries.is_empty() {
                quote!(::std::collections::BTreeMap::new())
            } else {
                quote!(::std::collections::BTreeMap::from([#(#entries),*]))
            }
        }
        (Type::Union { branches }, RType::Named(id)) => {
            let union = ctx.unions.iter().find(|u| &u.ty == id)?;
            let (variant, branch_ty, branch_shape) = union.branches.first()?;
            if branches.first()? == &Type::Null {
                quote!(#id::#variant)
            } else {
                let value = default_value(ctx, branch_ty, branch_shape, v)?;
                quote!(#id::#variant(#value))
            }
        }
        (Type::Named { name }, RType::Named(id)) => match ctx.model.named_type(name)? {
            NamedType::Enum(e) => {
                let symbol = e
                    .symbols
                    .iter()
                    .find(|s| Some(s.name.as_str()) == v.as_str())?;
                let variant = ident::camel_ident(&symbol.name);
                quote!(#id::#variant)
            }
            NamedType::Fixed(_) => {
                let bytes = avro_bytes(v)?;
                quote!(#id([#(#bytes),*]))
            }
            NamedType::Record(r) => {
                let obj = v.as_object()?;
                let fields: Vec<TokenStream> = r
                    .fields
                    .iter()
                    .map(|f| {
                        let value = obj.get(&f.name).or(f.default.as_ref())?;
                        let shape = RType::field(ctx, id, f);
                        let field_id = ident::field_ident(&r.fields, &f.name);
                        let value = default_value(ctx, &f.ty, &shape, value)?;
                        Some(quote!(#field_id: #value))
                    })
                    .collect::<Option<_>>()?;
                quote!(#id { #(#fields),* })
            }
        },
        _ => return None,
    })
}

/// Avro JSON encodes bytes as a string of code points 0-255, one per byte.
fn avro_bytes(v: &Value) -> Option<Vec<u8>> {
    v.as_str()?
        .chars()
        .map(|c| u8::try_from(c as u32).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emit::Ctx;

    fn event(version: u32, fields: &str) -> String {
        format!(
            r#"{{"type": "record", "name": "Thing", "namespace": "t", "event_version": {version},
                "aggregate_type": "Thing", "aggregate_id": "id", "topic": "t.things.events",
                "fields": [{{"name": "id", "type": "string"}}, {fields}]}}"#
        )
    }

    /// The upcast of v1 (`old` fields) to v2 (`new` fields) as compact text, or the reason.
    fn derive(old: &str, new: &str) -> Result<String, String> {
        let shared =
            r#"{"type": "enum", "name": "Level", "namespace": "t", "symbols": ["LOW", "HIGH"]}"#;
        let (v1, v2) = (event(1, old), event(2, new));
        let model = crate::load::load_avro_sources(&[
            ("level.avsc", shared),
            ("thing.v1.avsc", &v1),
            ("thing.avsc", &v2),
        ])
        .unwrap_or_else(|d| panic!("{d}"));
        let ctx = Ctx::new(&model);
        let versions = model.versions("Thing");
        upcast(&ctx, versions[0], versions[1]).map(|t| t.to_string().replace(' ', ""))
    }

    #[test]
    fn derivable_changes_follow_schema_resolution() {
        let table: &[(&str, &str, &str)] = &[
            (
                r#"{"name": "n", "type": "int"}"#,
                r#"{"name": "n", "type": "long"}"#,
                "n:i64::from(old.n)",
            ),
            (
                r#"{"name": "n", "type": "int"}"#,
                r#"{"name": "n", "type": "double"}"#,
                "n:f64::from(old.n)",
            ),
            (
                r#"{"name": "n", "type": "long"}"#,
                r#"{"name": "n", "type": "float"}"#,
                "n:old.nasf32",
            ),
            (
                r#"{"name": "s", "type": "string"}"#,
                r#"{"name": "s", "type": "bytes"}"#,
                "s:old.s.into_bytes()",
            ),
            (
                r#"{"name": "s", "type": "string"}"#,
                r#"{"name": "s", "type": ["null", "string"], "default": null}"#,
                "s:::std::option::Option::Some(old.s)",
            ),
            (
                r#"{"name": "s", "type": "string"}"#,
                r#"{"name": "s", "type": "string", "classification": "phi"}"#,
                "s:::carebus_core::Phi::new(old.s)",
            ),
            (
                r#"{"name": "old", "type": "string"}"#,
                r#"{"name": "renamed", "type": "string", "aliases": ["old"]}"#,
                "renamed:old.old",
            ),
            (
                r#"{"name": "xs", "type": {"type": "array", "items": "int"}}"#,
                r#"{"name": "xs", "type": {"type": "array", "items": "long"}}"#,
                "xs:old.xs.into_iter().map(|v0|i64::from(v0)).collect()",
            ),
            (
                r#"{"name": "gone", "type": "int"}"#,
                r#"{"name": "level", "type": "t.Level", "default": "HIGH"}"#,
                "level:t::Level::High",
            ),
            (
                r#"{"name": "gone", "type": "int"}"#,
                r#"{"name": "u", "type": {"type": "string", "logicalType": "uuid"}, "default": "00000000-0000-0000-0000-0000000000ff"}"#,
                "u:::carebus_core::Uuid::from_u128(0x000000000000000000000000000000ff)",
            ),
            (
                r#"{"name": "gone", "type": "int"}"#,
                r#"{"name": "d", "type": {"type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 2}, "default": "\u00ff\u0000"}"#,
                "d:::carebus_core::Decimal::new(-256)",
            ),
            (
                r#"{"name": "gone", "type": "int"}"#,
                r#"{"name": "m", "type": {"type": "map", "values": "int"}, "default": {"a": 1}}"#,
                "m:::std::collections::BTreeMap::from([(::std::string::String::from(\"a\"),1)])",
            ),
            (
                r#"{"name": "gone", "type": "int"}"#,
                r#"{"name": "w", "type": ["float", "null"], "default": 1.5}"#,
                "w:::std::option::Option::Some(1.5)",
            ),
        ];
        for (old, new, expected) in table {
            let code = derive(old, new).unwrap_or_else(|e| panic!("{old} -> {new}: {e}"));
            assert!(
                code.contains(expected),
                "{old} -> {new}: expected `{expected}` in\n{code}"
            );
        }
    }

    #[test]
    fn non_derivable_changes_say_why() {
        let table: &[(&str, &str, &str)] = &[
            (
                r#"{"name": "n", "type": "long"}"#,
                r#"{"name": "n", "type": "int"}"#,
                "field `n` changed type",
            ),
            (
                r#"{"name": "s", "type": "bytes"}"#,
                r#"{"name": "s", "type": "string"}"#,
                "field `s` changed type",
            ),
            (
                r#"{"name": "s", "type": ["null", "string"], "default": null}"#,
                r#"{"name": "s", "type": "string"}"#,
                "field `s` changed type",
            ),
            (
                r#"{"name": "gone", "type": "int"}"#,
                r#"{"name": "payer", "type": "string"}"#,
                "field `payer` is new in version 2 and has no default",
            ),
        ];
        for (old, new, reason) in table {
            let err = derive(old, new).expect_err(&format!("{old} -> {new} must not derive"));
            assert!(err.contains(reason), "{old} -> {new}: {err}");
        }
    }
}
