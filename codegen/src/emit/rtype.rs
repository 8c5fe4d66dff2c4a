//! IR field types in, Rust type shapes (`RType`) out, plus the per-shape code for Rust type tokens, Avro encode/decode, JSON and decimal validation.
//!
//! Shapes that the runtime's `AvroCodec`/`JsonCodec` impls cover are delegated to the trait
//! (`::carebus_core::AvroCodec::encode_avro(&self.x, out)`), which keeps the generated code short;
//! the rest (decimals at a schema scale, `[T, "null"]` unions, unit) get inline code.

use super::{Ctx, TypeRef, ident, int};
use crate::ir::{Classification, Field, ProtoScalar, Type};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// Runtime types with both codec impls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prim {
    Bool,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Uuid,
    Date,
    TimestampMillis,
    Timestamp,
    TimestampNanos,
    TimeMillis,
    TimeMicros,
    LocalTimestampMillis,
    LocalTimestampMicros,
    LocalTimestampNanos,
    BigDecimal,
    U32,
    U64,
}

/// The Rust shape of a field type.
#[derive(Clone, Debug, PartialEq)]
pub enum RType {
    /// Avro `null` outside an optional union.
    Unit,
    Prim(Prim),
    Decimal {
        precision: u32,
        scale: u32,
    },
    /// `["null", T]` (`null_first`) or `[T, "null"]`; `branch` is T's key in Avro's JSON
    /// encoding (`{"<branch>": value}`), `None` where the value is written bare (Protobuf).
    Option {
        inner: Box<RType>,
        null_first: bool,
        branch: Option<String>,
    },
    Vec(Box<RType>),
    Map(Box<RType>),
    /// A PHI-classified value.
    Phi(Box<RType>),
    /// A record held by a record of its own cycle (`Box<Node>` in `Node`), so the struct has a
    /// finite size. Encoded and decoded as the record itself.
    Boxed(Box<RType>),
    /// A generated type (record, enum, fixed or union).
    Named(TypeRef),
    /// Bytes, a date or a timestamp of a Protobuf message: the same Rust type and codecs as
    /// `Prim`, but JSON as text (`carebus_core::json_legacy::LegacyJson`: hex, ISO 8601,
    /// RFC 3339), the JSON form of Protobuf events. Only the JSON emitter makes this shape.
    ProtoText(Prim),
}

impl RType {
    /// The shape of an IR type; `at` names a union found here (owner + field name, in the
    /// owner's module); `cycle` is the owner's [`crate::ir::Record::cycle`]: a record of it
    /// held here outside an array or map is boxed.
    pub fn of(ctx: &Ctx<'_>, ty: &Type, at: &TypeRef, cycle: &[String]) -> RType {
        match ty {
            Type::Null => RType::Unit,
            Type::Boolean => RType::Prim(Prim::Bool),
            Type::Int => RType::Prim(Prim::Int),
            Type::Long => RType::Prim(Prim::Long),
            Type::Float => RType::Prim(Prim::Float),
            Type::Double => RType::Prim(Prim::Double),
            Type::Bytes => RType::Prim(Prim::Bytes),
            Type::String => RType::Prim(Prim::String),
            Type::Uuid => RType::Prim(Prim::Uuid),
            Type::Date => RType::Prim(Prim::Date),
            Type::TimestampMillis => RType::Prim(Prim::TimestampMillis),
            Type::TimestampMicros => RType::Prim(Prim::Timestamp),
            Type::TimestampNanos => RType::Prim(Prim::TimestampNanos),
            Type::TimeMillis => RType::Prim(Prim::TimeMillis),
            Type::TimeMicros => RType::Prim(Prim::TimeMicros),
            Type::LocalTimestampMillis => RType::Prim(Prim::LocalTimestampMillis),
            Type::LocalTimestampMicros => RType::Prim(Prim::LocalTimestampMicros),
            Type::LocalTimestampNanos => RType::Prim(Prim::LocalTimestampNanos),
            Type::Decimal { precision, scale } => RType::Decimal {
                precision: *precision,
                scale: *scale,
            },
            Type::BigDecimal => RType::Prim(Prim::BigDecimal),
            // A vector or map holds its items on the heap: no box needed inside.
            Type::Array { items } => {
                RType::Vec(Box::new(RType::of(ctx, items, &at.beside("Item"), &[])))
            }
            Type::Map { values } => {
                RType::Map(Box::new(RType::of(ctx, values, &at.beside("Value"), &[])))
            }
            Type::Union { branches } => match ty.optional_inner() {
                Some(inner) => RType::Option {
                    inner: Box::new(RType::of(ctx, inner, at, cycle)),
                    null_first: branches[0] == Type::Null,
                    branch: Some(avro_json_branch(inner)),
                },
                None => RType::Named(TypeRef {
                    module: at.module.clone(),
                    name: ident::camel(&at.name),
                }),
            },
            Type::Named { name } if cycle.contains(name) => {
                RType::Boxed(Box::new(RType::Named(ctx.named(name))))
            }
            Type::Named { name } => RType::Named(ctx.named(name)),
            Type::Proto { scalar } => RType::Prim(match scalar {
                ProtoScalar::Uint32 | ProtoScalar::Fixed32 => Prim::U32,
                ProtoScalar::Uint64 | ProtoScalar::Fixed64 => Prim::U64,
                ProtoScalar::Sint32 | ProtoScalar::Sfixed32 => Prim::Int,
                ProtoScalar::Sint64 | ProtoScalar::Sfixed64 => Prim::Long,
            }),
        }
    }

    /// The shape of a field of the record named `owner`: PHI wraps the value (inside the
    /// `Option` of an optional field, so presence is not hidden).
    pub fn field(ctx: &Ctx<'_>, owner: &TypeRef, field: &Field) -> RType {
        let at = owner.beside(&ident::camel(&field.name));
        let shape = RType::of(ctx, &field.ty, &at, ctx.cycle_of(owner));
        if field.classification != Classification::Phi {
            return shape;
        }
        match shape {
            RType::Option {
                inner,
                null_first,
                branch,
            } => RType::Option {
                inner: Box::new(RType::Phi(inner)),
                null_first,
                branch,
            },
            other => RType::Phi(Box::new(other)),
        }
    }

    /// This shape in a field of a Protobuf message, for the JSON emitter: optional values bare,
    /// bytes, dates and timestamps as text ([`RType::ProtoText`]); the Protobuf JSON form did
    /// not move to Avro's JSON encoding.
    pub fn in_proto_json(self) -> RType {
        match self {
            RType::Prim(
                p @ (Prim::Bytes | Prim::Date | Prim::Timestamp | Prim::TimestampMillis),
            ) => RType::ProtoText(p),
            RType::Option {
                inner, null_first, ..
            } => RType::Option {
                inner: Box::new(inner.in_proto_json()),
                null_first,
                branch: None,
            },
            RType::Vec(i) => RType::Vec(Box::new(i.in_proto_json())),
            RType::Map(i) => RType::Map(Box::new(i.in_proto_json())),
            RType::Phi(i) => RType::Phi(Box::new(i.in_proto_json())),
            RType::Boxed(i) => RType::Boxed(Box::new(i.in_proto_json())),
            other => other,
        }
    }

    /// Rust type tokens, as written at the root of the generated file.
    pub fn tokens(&self) -> TokenStream {
        self.tokens_in(&[])
    }

    /// Rust type tokens, as written inside module `module` (generated types by relative path).
    pub fn tokens_in(&self, module: &[String]) -> TokenStream {
        match self {
            RType::Unit => quote!(()),
            RType::Prim(p) | RType::ProtoText(p) => match p {
                Prim::Bool => quote!(bool),
                Prim::Int => quote!(i32),
                Prim::Long => quote!(i64),
                Prim::Float => quote!(f32),
                Prim::Double => quote!(f64),
                Prim::Bytes => quote!(::std::vec::Vec<u8>),
                Prim::String => quote!(::std::string::String),
                Prim::Uuid => quote!(::carebus_core::Uuid),
                Prim::Date => quote!(::carebus_core::Date),
                Prim::TimestampMillis => quote!(::carebus_core::TimestampMillis),
                Prim::Timestamp => quote!(::carebus_core::Timestamp),
                Prim::TimestampNanos => quote!(::carebus_core::TimestampNanos),
                Prim::TimeMillis => quote!(::carebus_core::TimeMillis),
                Prim::TimeMicros => quote!(::carebus_core::TimeMicros),
                Prim::LocalTimestampMillis => quote!(::carebus_core::LocalTimestampMillis),
                Prim::LocalTimestampMicros => quote!(::carebus_core::LocalTimestampMicros),
                Prim::LocalTimestampNanos => quote!(::carebus_core::LocalTimestampNanos),
                Prim::BigDecimal => quote!(::carebus_core::BigDecimal),
                Prim::U32 => quote!(u32),
                Prim::U64 => quote!(u64),
            },
            RType::Decimal { .. } => quote!(::carebus_core::Decimal),
            RType::Option { inner, .. } => {
                let t = inner.tokens_in(module);
                quote!(::std::option::Option<#t>)
            }
            RType::Vec(inner) => {
                let t = inner.tokens_in(module);
                quote!(::std::vec::Vec<#t>)
            }
            RType::Map(inner) => {
                let t = inner.tokens_in(module);
                quote!(::std::collections::BTreeMap<::std::string::String, #t>)
            }
            RType::Phi(inner) => {
                let t = inner.tokens_in(module);
                quote!(::carebus_core::Phi<#t>)
            }
            RType::Boxed(inner) => {
                let t = inner.tokens_in(module);
                quote!(::std::boxed::Box<#t>)
            }
            RType::Named(ty) => ty.path_from(module),
        }
    }

    /// Whether the runtime's `AvroCodec` impls cover this shape.
    fn avro_direct(&self) -> bool {
        match self {
            RType::Unit | RType::Decimal { .. } => false,
            RType::Prim(p) | RType::ProtoText(p) => !matches!(p, Prim::U32 | Prim::U64),
            RType::Option {
                inner, null_first, ..
            } => *null_first && inner.avro_direct(),
            RType::Vec(i) | RType::Map(i) | RType::Phi(i) | RType::Boxed(i) => i.avro_direct(),
            RType::Named(_) => true,
        }
    }

    /// Whether the runtime's `JsonCodec` impls cover this shape.
    fn json_direct(&self) -> bool {
        match self {
            RType::Unit | RType::Decimal { .. } | RType::ProtoText(_) => false,
            RType::Prim(_) | RType::Named(_) => true,
            // The runtime's `Option` is bare: right for Protobuf only.
            RType::Option { inner, branch, .. } => branch.is_none() && inner.json_direct(),
            RType::Vec(i) | RType::Map(i) | RType::Phi(i) | RType::Boxed(i) => i.json_direct(),
        }
    }

    /// Statements appending the Avro encoding of `e` (an expression of type `&T`) to `out`.
    pub fn avro_encode(&self, e: TokenStream, depth: usize) -> TokenStream {
        if self.avro_direct() {
            return quote! { ::carebus_core::AvroCodec::encode_avro(#e, out); };
        }
        let v = format_ident!("v{depth}");
        match self {
            RType::Unit => quote! { let _ = #e; },
            RType::Decimal { precision, .. } => {
                let precision = int(*precision);
                quote! { ::carebus_core::event::write_decimal(out, #e, #precision); }
            }
            RType::Option {
                inner, null_first, ..
            } => {
                let (none_idx, some_idx) = if *null_first {
                    (int(0), int(1))
                } else {
                    (int(1), int(0))
                };
                let body = inner.avro_encode(quote!(#v), depth + 1);
                quote! {
                    match #e {
                        ::std::option::Option::Some(#v) => {
                            ::carebus_core::avro::write_long(out, #some_idx);
                            #body
                        }
                        ::std::option::Option::None => ::carebus_core::avro::write_long(out, #none_idx),
                    }
                }
            }
            RType::Vec(inner) => {
                let body = inner.avro_encode(quote!(#v), depth + 1);
                quote! { ::carebus_core::avro::write_array(out, #e, |out, #v| { #body }); }
            }
            RType::Map(inner) => {
                let k = format_ident!("k{depth}");
                let body = inner.avro_encode(quote!(#v), depth + 1);
                quote! {
                    let map = #e;
                    if !map.is_empty() {
                        ::carebus_core::avro::write_long(out, map.len() as i64);
                        for (#k, #v) in map {
                            ::carebus_core::avro::write_string(out, #k);
                            #body
                        }
                    }
                    out.push(0);
                }
            }
            RType::Phi(inner) => inner.avro_encode(quote!(::carebus_core::Phi::expose(#e)), depth),
            RType::Boxed(inner) => inner.avro_encode(quote!(&**#e), depth),
            RType::Prim(_) | RType::Named(_) | RType::ProtoText(_) => {
                quote! { ::carebus_core::AvroCodec::encode_avro(#e, out); }
            }
        }
    }

    /// An expression reading this shape from the reader `r` (propagating errors with `?`).
    pub fn avro_decode(&self) -> TokenStream {
        if self.avro_direct() {
            return quote! { ::carebus_core::AvroCodec::decode_avro(r)? };
        }
        match self {
            RType::Unit => quote! { () },
            RType::Decimal { .. } => quote! { ::carebus_core::AvroCodec::decode_avro(r)? },
            RType::Option {
                inner, null_first, ..
            } => {
                let none_idx = int(if *null_first { 0 } else { 1 });
                let body = inner.avro_decode();
                quote! {
                    if r.read_union_index(2)? == #none_idx {
                        ::std::option::Option::None
                    } else {
                        ::std::option::Option::Some(#body)
                    }
                }
            }
            RType::Vec(inner) => {
                let body = inner.avro_decode();
                let body = ok_of(body);
                quote! { r.read_blocks("array", |r| #body)? }
            }
            RType::Map(inner) => {
                let body = inner.avro_decode();
                quote! {
                    r.read_blocks("map", |r| ::std::result::Result::Ok((r.read_string()?, #body)))?
                        .into_iter()
                        .collect()
                }
            }
            RType::Phi(inner) => {
                let body = inner.avro_decode();
                quote! { ::carebus_core::Phi::new(#body) }
            }
            RType::Boxed(inner) => {
                let body = inner.avro_decode();
                quote! { ::std::boxed::Box::new(#body) }
            }
            RType::Prim(_) | RType::Named(_) | RType::ProtoText(_) => {
                quote! { ::carebus_core::AvroCodec::decode_avro(r)? }
            }
        }
    }

    /// An expression turning `e` (of type `&T`) into a `serde_json::Value`.
    pub fn json_to(&self, e: TokenStream, depth: usize) -> TokenStream {
        if self.json_direct() {
            return quote! { ::carebus_core::JsonCodec::to_json(#e) };
        }
        let v = format_ident!("v{depth}");
        match self {
            RType::Unit => quote! { ::carebus_core::__private::serde_json::Value::Null },
            RType::Decimal { precision, .. } => {
                let precision = int(*precision);
                quote! { ::carebus_core::event::decimal_to_json(#e, #precision) }
            }
            RType::ProtoText(_) => {
                quote! { ::carebus_core::json_legacy::LegacyJson::to_legacy_json(#e) }
            }
            RType::Option {
                inner,
                branch: Some(b),
                ..
            } if inner.json_direct() => {
                quote! { ::carebus_core::event::option_to_json(#e, #b) }
            }
            RType::Option { inner, branch, .. } => {
                let body = inner.json_to(quote!(#v), depth + 1);
                let body = match branch {
                    Some(b) => quote! { ::carebus_core::event::json_union(#b, #body) },
                    None => body,
                };
                quote! {
                    match #e {
                        ::std::option::Option::Some(#v) => #body,
                        ::std::option::Option::None => ::carebus_core::__private::serde_json::Value::Null,
                    }
                }
            }
            RType::Vec(inner) => {
                let body = inner.json_to(quote!(#v), depth + 1);
                quote! { ::carebus_core::__private::serde_json::Value::Array(::std::iter::IntoIterator::into_iter(#e).map(|#v| #body).collect()) }
            }
            RType::Map(inner) => {
                let k = format_ident!("k{depth}");
                let body = inner.json_to(quote!(#v), depth + 1);
                quote! {
                    ::carebus_core::__private::serde_json::Value::Object(
                        ::std::iter::IntoIterator::into_iter(#e).map(|(#k, #v)| (#k.clone(), #body)).collect()
                    )
                }
            }
            RType::Phi(inner) => inner.json_to(quote!(::carebus_core::Phi::expose(#e)), depth),
            RType::Boxed(inner) => inner.json_to(quote!(&**#e), depth),
            RType::Prim(_) | RType::Named(_) => quote! { ::carebus_core::JsonCodec::to_json(#e) },
        }
    }

    /// An expression reading this shape from `v` (a `&Value`); `path` is a `&str` expression
    /// naming the place for errors.
    pub fn json_from(&self, v: TokenStream, path: TokenStream, depth: usize) -> TokenStream {
        if self.json_direct() {
            return quote! { ::carebus_core::JsonCodec::from_json(#v, #path)? };
        }
        let x = format_ident!("x{depth}");
        let p = format_ident!("path{depth}");
        match self {
            RType::Unit => quote! { () },
            RType::Decimal { .. } => {
                quote! { ::carebus_core::event::decimal_from_json(#v, #path)? }
            }
            RType::ProtoText(_) => {
                quote! { ::carebus_core::json_legacy::LegacyJson::from_legacy_json(#v, #path)? }
            }
            RType::Option { inner, branch, .. } => {
                let Some(b) = branch else {
                    let body = inner.json_from(quote!(#x), path, depth + 1);
                    return quote! {
                        match #v {
                            #x if #x.is_null() => ::std::option::Option::None,
                            #x => ::std::option::Option::Some(#body),
                        }
                    };
                };
                let expected = format!("null or {{\"{b}\": value}} (an Avro JSON union)");
                if inner.json_direct() {
                    return quote! {
                        ::carebus_core::event::option_from_json(#v, #b, #expected, #path)?
                    };
                }
                let body = inner.json_from(quote!(#x), path.clone(), depth + 1);
                quote! {
                    match #v {
                        #x if #x.is_null() => ::std::option::Option::None,
                        #x => {
                            let #x = ::carebus_core::event::json_union_value(#x, #b, #expected, #path)?;
                            ::std::option::Option::Some(#body)
                        }
                    }
                }
            }
            RType::Vec(inner) => {
                let body = ok_of(inner.json_from(quote!(#x), quote!(&#p), depth + 1));
                quote! {
                    ::carebus_core::event::json_array(#v, #path)?
                        .iter()
                        .enumerate()
                        .map(|(i, #x)| {
                            let #p = ::std::format!("{}[{}]", #path, i);
                            #body
                        })
                        .collect::<::std::result::Result<::std::vec::Vec<_>, ::carebus_core::DecodeError>>()?
                }
            }
            RType::Map(inner) => {
                let body = inner.json_from(quote!(#x), quote!(&#p), depth + 1);
                quote! {
                    ::carebus_core::event::json_object(#v, #path)?
                        .iter()
                        .map(|(k, #x)| {
                            let #p = ::carebus_core::event::json_path(#path, k);
                            ::std::result::Result::Ok((k.clone(), #body))
                        })
                        .collect::<::std::result::Result<::std::collections::BTreeMap<_, _>, ::carebus_core::DecodeError>>()?
                }
            }
            RType::Phi(inner) => {
                let body = inner.json_from(v, path, depth);
                quote! { ::carebus_core::Phi::new(#body) }
            }
            RType::Boxed(inner) => {
                let body = inner.json_from(v, path, depth);
                quote! { ::std::boxed::Box::new(#body) }
            }
            RType::Prim(_) | RType::Named(_) => {
                quote! { ::carebus_core::JsonCodec::from_json(#v, #path)? }
            }
        }
    }

    /// An expression of type `Result<T, DecodeError>` reading this shape from `v`.
    pub fn json_from_result(&self, v: TokenStream, path: TokenStream) -> TokenStream {
        let t = self.tokens();
        match self {
            _ if self.json_direct() => quote! { ::carebus_core::JsonCodec::from_json(#v, #path) },
            RType::Decimal { .. } => {
                quote! { ::carebus_core::event::decimal_from_json(#v, #path) }
            }
            _ => {
                // A local fn, so `?` inside the nested reading has a `Result` to return into.
                let body = ok_of(self.json_from(quote!(v), quote!(field), 1));
                quote! {
                    {
                        fn read(
                            v: &::carebus_core::__private::serde_json::Value,
                            field: &str,
                        ) -> ::std::result::Result<#t, ::carebus_core::DecodeError> {
                            #body
                        }
                        read(#v, #path)
                    }
                }
            }
        }
    }

    /// Statements checking decimal precision in `e` (of type `&T`), or None when the shape
    /// holds no decimal. `path` is a `&str` expression.
    pub fn validate(
        &self,
        ctx: &Ctx<'_>,
        e: TokenStream,
        path: TokenStream,
        depth: usize,
    ) -> Option<TokenStream> {
        let v = format_ident!("v{depth}");
        let p = format_ident!("path{depth}");
        match self {
            RType::Unit | RType::Prim(_) | RType::ProtoText(_) => None,
            RType::Decimal { precision, .. } => {
                let precision = int(*precision);
                Some(
                    quote! { ::carebus_core::event::check_decimal(#e, #precision, event_type, #path)?; },
                )
            }
            RType::Option { inner, .. } => {
                let body = inner.validate(ctx, quote!(#v), path, depth + 1)?;
                Some(quote! { if let ::std::option::Option::Some(#v) = #e { #body } })
            }
            RType::Vec(inner) => {
                let body = inner.validate(ctx, quote!(#v), quote!(&#p), depth + 1)?;
                Some(quote! {
                    for (i, #v) in ::std::iter::IntoIterator::into_iter(#e).enumerate() {
                        let #p = ::std::format!("{}[{}]", #path, i);
                        #body
                    }
                })
            }
            RType::Map(inner) => {
                let body = inner.validate(ctx, quote!(#v), quote!(&#p), depth + 1)?;
                Some(quote! {
                    for (k, #v) in #e {
                        let #p = ::carebus_core::event::json_path(#path, k);
                        #body
                    }
                })
            }
            RType::Phi(inner) => {
                inner.validate(ctx, quote!(::carebus_core::Phi::expose(#e)), path, depth)
            }
            RType::Boxed(inner) => inner.validate(ctx, quote!(&**#e), path, depth),
            RType::Named(ty) => ctx
                .has_decimals(ty)
                .then(|| quote! { #ty::validate_decimals(#e, event_type, #path)?; }),
        }
    }
}

/// `Ok(expr)` as an expression of type `Result`: an expression ending in `?` loses the `?`
/// instead (`Ok(x?)` is what clippy's `needless_question_mark` rejects).
fn ok_of(expr: TokenStream) -> TokenStream {
    let mut tokens: Vec<proc_macro2::TokenTree> = expr.clone().into_iter().collect();
    match tokens.last() {
        Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == '?' => {
            tokens.pop();
            tokens.into_iter().collect()
        }
        _ => quote! { ::std::result::Result::Ok(#expr) },
    }
}

/// Whether a shape holds a decimal, given the generated types known to hold one.
pub fn holds_decimal(t: &RType, decimal_types: &std::collections::BTreeSet<String>) -> bool {
    match t {
        RType::Decimal { .. } => true,
        RType::Unit | RType::Prim(_) | RType::ProtoText(_) => false,
        RType::Option { inner, .. }
        | RType::Vec(inner)
        | RType::Map(inner)
        | RType::Phi(inner)
        | RType::Boxed(inner) => holds_decimal(inner, decimal_types),
        RType::Named(ty) => decimal_types.contains(&quote!(#ty).to_string()),
    }
}

/// Variant name of a union branch: the branch's type (`String`, `Long`, `Coding`, ...).
pub fn branch_name(ctx: &Ctx<'_>, ty: &Type) -> String {
    match ty {
        Type::Null => "Null".into(),
        Type::Boolean => "Boolean".into(),
        Type::Int => "Int".into(),
        Type::Long => "Long".into(),
        Type::Float => "Float".into(),
        Type::Double => "Double".into(),
        Type::Bytes => "Bytes".into(),
        Type::String => "String".into(),
        Type::Uuid => "Uuid".into(),
        Type::Date => "Date".into(),
        Type::TimestampMillis => "TimestampMillis".into(),
        Type::TimestampMicros => "Timestamp".into(),
        Type::TimestampNanos => "TimestampNanos".into(),
        Type::TimeMillis => "TimeMillis".into(),
        Type::TimeMicros => "TimeMicros".into(),
        Type::LocalTimestampMillis => "LocalTimestampMillis".into(),
        Type::LocalTimestampMicros => "LocalTimestampMicros".into(),
        Type::LocalTimestampNanos => "LocalTimestampNanos".into(),
        Type::Decimal { .. } => "Decimal".into(),
        Type::BigDecimal => "BigDecimal".into(),
        Type::Array { .. } => "Array".into(),
        Type::Map { .. } => "Map".into(),
        Type::Union { .. } => "Union".into(),
        Type::Named { name } => ident::unraw(&ctx.named(name).name).to_string(),
        Type::Proto { scalar } => format!("{scalar:?}"),
    }
}

/// The key of a union branch of type `ty` in Avro's JSON encoding: the full name of a named
/// type, else the name of the (underlying) type: `"string"` for a uuid, `"int"` for a date,
/// `"bytes"` for a decimal, `"array"`, `"map"`.
pub fn avro_json_branch(ty: &Type) -> String {
    match ty {
        Type::Null => "null",
        Type::Boolean => "boolean",
        Type::Int | Type::Date | Type::TimeMillis => "int",
        Type::Long
        | Type::TimestampMillis
        | Type::TimestampMicros
        | Type::TimestampNanos
        | Type::TimeMicros
        | Type::LocalTimestampMillis
        | Type::LocalTimestampMicros
        | Type::LocalTimestampNanos => "long",
        Type::Float => "float",
        Type::Double => "double",
        Type::Bytes | Type::Decimal { .. } | Type::BigDecimal => "bytes",
        Type::String | Type::Uuid => "string",
        Type::Array { .. } => "array",
        Type::Map { .. } => "map",
        // Not a branch Avro allows (a union directly in a union); never emitted.
        Type::Union { .. } => "union",
        Type::Named { name } => return name.clone(),
        Type::Proto { .. } => "long",
    }
    .to_owned()
}
