//! Records, enums, fixed types and unions in, `::carebus_core::JsonCodec` impls out, with serde's `Serialize`/`Deserialize` delegating to them: Avro's JSON encoding for Avro types (unions as `{"<branch>": value}`, bytes and fixed as ISO-8859-1 text, logical types as their underlying type, enum symbols), carebus's text form for Protobuf messages.

use super::rtype::avro_json_branch;
use super::{Ctx, RType, RecordDef, TypeRef, UnionDef, allow_deprecated, ident};
use crate::ir::{Enum, Fixed, NamedType};
use proc_macro2::TokenStream;
use quote::quote;

/// `JsonCodec` for every generated type, and serde's `Serialize`/`Deserialize` in that same
/// JSON form.
pub fn items(ctx: &Ctx<'_>) -> TokenStream {
    impls(ctx, true)
}

/// `JsonCodec` alone: what `#[derive(DomainEvent)]` adds (the struct derives serde itself).
pub fn codecs(ctx: &Ctx<'_>) -> TokenStream {
    impls(ctx, false)
}

fn impls(ctx: &Ctx<'_>, with_serde: bool) -> TokenStream {
    let serde_via_json = |ty: &TypeRef, allow: &TokenStream| {
        if with_serde {
            serde_via_json(ty, allow)
        } else {
            TokenStream::new()
        }
    };
    let mut out = TokenStream::new();
    for d in &ctx.records {
        let allow = allow_deprecated(ctx.touches_deprecated(d));
        let codec = record(ctx, d);
        let serde = serde_via_json(&d.ty, &allow);
        out.extend(quote! { #allow #codec #serde });
    }
    for t in &ctx.model.types {
        let (codec, deprecated) = match t {
            NamedType::Record(_) => continue,
            NamedType::Enum(e) => (enumeration(e), e.deprecated.is_some()),
            NamedType::Fixed(f) => (fixed(f), false),
        };
        let allow = allow_deprecated(deprecated);
        let serde = serde_via_json(&TypeRef::of(t.rust()), &allow);
        out.extend(quote! { #allow #codec #serde });
    }
    for u in &ctx.unions {
        let allow = allow_deprecated(ctx.union_uses_deprecated(u));
        let codec = union(ctx, u);
        let serde = serde_via_json(&u.ty, &allow);
        out.extend(quote! { #allow #codec #serde });
    }
    out
}

/// `Serialize` and `Deserialize` through the JSON form for human-readable formats, so serde
/// (`serde_json::to_value`, axum's `Json`, ...) writes and reads exactly what
/// `to_json`/`from_json` do; other formats (apache-avro's `to_value`/`from_value`) get the
/// Avro shape (`avro_serde.rs`).
fn serde_via_json(ty: &TypeRef, allow: &TokenStream) -> TokenStream {
    quote! {
        /// Serialized as its JSON form (`JsonCodec::to_json`), or in apache-avro's serde shape
        /// when the format is not human-readable.
        #allow
        impl ::carebus_core::__private::serde::Serialize for #ty {
            fn serialize<S: ::carebus_core::__private::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                ::carebus_core::avro_serde::serialize(self, serializer)
            }
        }
        /// Deserialized from its JSON form (`JsonCodec::from_json`), or from apache-avro's
        /// serde shape when the format is not human-readable.
        #allow
        impl<'de> ::carebus_core::__private::serde::Deserialize<'de> for #ty {
            fn deserialize<D: ::carebus_core::__private::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                ::carebus_core::avro_serde::deserialize(deserializer)
            }
        }
    }
}

/// `JsonCodec` for one record (also used by the derive macros).
pub fn record(ctx: &Ctx<'_>, def: &RecordDef<'_>) -> TokenStream {
    let name = &def.ty;
    let fields: Vec<_> = def
        .record
        .fields
        .iter()
        .map(|f| {
            let shape = RType::field(ctx, name, f);
            let shape = if f.proto_number.is_some() {
                shape.in_proto_json()
            } else {
                shape
            };
            (f.json_name(), ident::ident(&f.rust), shape)
        })
        .collect();
    let to = fields.iter().map(|(json, id, shape)| {
        let value = shape.json_to(quote!(&self.#id), 0);
        quote! { obj.insert(#json.to_owned(), #value); }
    });
    let from = fields.iter().map(|(json, id, shape)| {
        let member = if matches!(shape, RType::Option { .. }) {
            quote! { ::carebus_core::event::json_member_or_null(obj, #json) }
        } else {
            quote! { ::carebus_core::event::json_field(obj, #json, field)? }
        };
        let value = shape.json_from(
            member,
            quote!(&::carebus_core::event::json_path(field, #json)),
            0,
        );
        quote! { #id: #value, }
    });
    let (obj_to, obj_from) = if fields.is_empty() {
        (quote!(let obj), quote!(let _obj))
    } else {
        (quote!(let mut obj), quote!(let obj))
    };
    let read = quote! {
        #obj_from = ::carebus_core::event::json_object(v, field)?;
        ::std::result::Result::Ok(Self { #(#from)* })
    };
    // A record that can contain itself counts its nesting (`json_nested`), so a deep value is
    // an error and not a stack overflow.
    let read = if def.record.is_recursive() {
        let full = def.record.full_name();
        quote! { ::carebus_core::event::json_nested(#full, || { #read }) }
    } else {
        read
    };
    quote! {
        impl ::carebus_core::JsonCodec for #name {
            fn to_json(&self) -> ::carebus_core::__private::serde_json::Value {
                #obj_to = ::carebus_core::__private::serde_json::Map::new();
                #(#to)*
                ::carebus_core::__private::serde_json::Value::Object(obj)
            }
            fn from_json(v: &::carebus_core::__private::serde_json::Value, field: &str) -> ::std::result::Result<Self, ::carebus_core::DecodeError> {
                #read
            }
        }
    }
}

fn enumeration(e: &Enum) -> TokenStream {
    let name = TypeRef::of(&e.rust);
    let symbols = e
        .symbols
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if e.open {
        let expected = format!("a symbol of {} ({symbols}) or its number", e.name);
        quote! {
            impl ::carebus_core::JsonCodec for #name {
                fn to_json(&self) -> ::carebus_core::__private::serde_json::Value {
                    match self.symbol() {
                        ::std::option::Option::Some(s) => ::carebus_core::__private::serde_json::Value::from(s),
                        ::std::option::Option::None => ::carebus_core::__private::serde_json::Value::from(self.number()),
                    }
                }
                fn from_json(v: &::carebus_core::__private::serde_json::Value, field: &str) -> ::std::result::Result<Self, ::carebus_core::DecodeError> {
                    if let ::std::option::Option::Some(n) = v.as_i64().and_then(|n| i32::try_from(n).ok()) {
                        return ::std::result::Result::Ok(Self::from_number(n));
                    }
                    v.as_str()
                        .and_then(Self::from_symbol)
                        .ok_or_else(|| ::carebus_core::DecodeError::WrongType { field: field.to_owned(), expected: #expected })
                }
            }
        }
    } else {
        let expected = format!("a symbol of {} ({symbols})", e.name);
        quote! {
            impl ::carebus_core::JsonCodec for #name {
                fn to_json(&self) -> ::carebus_core::__private::serde_json::Value {
                    ::carebus_core::__private::serde_json::Value::from(self.symbol())
                }
                fn from_json(v: &::carebus_core::__private::serde_json::Value, field: &str) -> ::std::result::Result<Self, ::carebus_core::DecodeError> {
                    v.as_str()
                        .and_then(Self::from_symbol)
                        .ok_or_else(|| ::carebus_core::DecodeError::WrongType { field: field.to_owned(), expected: #expected })
                }
            }
        }
    }
}

fn fixed(f: &Fixed) -> TokenStream {
    let name = TypeRef::of(&f.rust);
    let expected = format!("{} bytes as ISO-8859-1 text", f.size);
    quote! {
        /// JSON form: the bytes as ISO-8859-1 text (one code point per byte), as Avro's JSON
        /// encoding writes `fixed`.
        impl ::carebus_core::JsonCodec for #name {
            fn to_json(&self) -> ::carebus_core::__private::serde_json::Value {
                ::carebus_core::JsonCodec::to_json(&self.0.to_vec())
            }
            fn from_json(v: &::carebus_core::__private::serde_json::Value, field: &str) -> ::std::result::Result<Self, ::carebus_core::DecodeError> {
                let bytes = <::std::vec::Vec<u8> as ::carebus_core::JsonCodec>::from_json(v, field)?;
                bytes
                    .try_into()
                    .map(Self)
                    .map_err(|_| ::carebus_core::DecodeError::WrongType { field: field.to_owned(), expected: #expected })
            }
        }
    }
}

fn union(ctx: &Ctx<'_>, u: &UnionDef) -> TokenStream {
    if !u.avro {
        return bare_union(ctx, u);
    }
    let name = &u.ty;
    let to = u.branches.iter().map(|(v, ty, shape)| match shape {
        RType::Unit => quote! { Self::#v => ::carebus_core::__private::serde_json::Value::Null, },
        _ => {
            let key = avro_json_branch(ty);
            let value = shape.json_to(quote!(value), 1);
            quote! { Self::#v(value) => ::carebus_core::event::json_union(#key, #value), }
        }
    });
    let null = u.branches.iter().find_map(|(v, _, shape)| {
        matches!(shape, RType::Unit).then(|| {
            quote! {
                if v.is_null() {
                    return ::std::result::Result::Ok(Self::#v);
                }
            }
        })
    });
    let from = u.branches.iter().filter_map(|(v, ty, shape)| {
        if matches!(shape, RType::Unit) {
            return None;
        }
        let key = avro_json_branch(ty);
        let attempt = shape.json_from_result(quote!(value), quote!(field));
        Some(quote! {
            if let ::std::option::Option::Some(value) = ::carebus_core::event::json_union_branch(v, #key) {
                return #attempt.map(Self::#v);
            }
        })
    });
    let keys = u
        .branches
        .iter()
        .map(|(_, ty, _)| match ty {
            crate::ir::Type::Null => "null".to_owned(),
            _ => format!("{{\"{}\": ...}}", avro_json_branch(ty)),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let expected = format!("one of {keys} (an Avro JSON union)");
    quote! {
        /// JSON form: Avro's JSON encoding of a union, `{"<branch>": value}` (null as `null`),
        /// the branch named by its type's full name or primitive name.
        impl ::carebus_core::JsonCodec for #name {
            fn to_json(&self) -> ::carebus_core::__private::serde_json::Value {
                match self { #(#to)* }
            }
            fn from_json(v: &::carebus_core::__private::serde_json::Value, field: &str) -> ::std::result::Result<Self, ::carebus_core::DecodeError> {
                #null
                #(#from)*
                ::std::result::Result::Err(::carebus_core::event::json_no_branch(field, #expected))
            }
        }
    }
}

/// A union outside Avro (a Protobuf `oneof`): the branch's value itself, read by trying the
/// branches in order.
fn bare_union(ctx: &Ctx<'_>, u: &UnionDef) -> TokenStream {
    let name = &u.ty;
    let to = u.branches.iter().map(|(v, _, shape)| match shape {
        RType::Unit => quote! { Self::#v => ::carebus_core::__private::serde_json::Value::Null, },
        _ => {
            let value = shape.json_to(quote!(value), 1);
            quote! { Self::#v(value) => #value, }
        }
    });
    let from = u.branches.iter().map(|(v, ty, shape)| match shape {
        RType::Unit => quote! {
            if v.is_null() {
                return ::std::result::Result::Ok(Self::#v);
            }
        },
        _ if ctx.reaches_recursion(ty) => {
            // Too deep may be a wrong branch tried at the limit: kept, and the answer only when
            // no other branch reads the value.
            let attempt = shape.json_from_result(quote!(v), quote!(field));
            quote! {
                match #attempt {
                    ::std::result::Result::Ok(value) => return ::std::result::Result::Ok(Self::#v(value)),
                    ::std::result::Result::Err(e @ ::carebus_core::DecodeError::TooDeep { .. }) => too_deep = ::std::option::Option::Some(e),
                    ::std::result::Result::Err(_) => {}
                }
            }
        }
        _ => {
            let attempt = shape.json_from_result(quote!(v), quote!(field));
            quote! {
                let attempt = #attempt;
                if let ::std::result::Result::Ok(value) = attempt {
                    return ::std::result::Result::Ok(Self::#v(value));
                }
            }
        }
    });
    let list = u
        .branches
        .iter()
        .map(|(v, _, _)| v.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let expected = format!("a value of one of the branches {list}");
    let (too_deep_init, too_deep_answer) = if u
        .branches
        .iter()
        .any(|(_, ty, shape)| !matches!(shape, RType::Unit) && ctx.reaches_recursion(ty))
    {
        (
            quote! { let mut too_deep = ::std::option::Option::None; },
            quote! {
                if let ::std::option::Option::Some(e) = too_deep {
                    return ::std::result::Result::Err(e);
                }
            },
        )
    } else {
        (TokenStream::new(), TokenStream::new())
    };
    quote! {
        /// JSON form: the branch's value itself; reading tries the branches in schema order.
        impl ::carebus_core::JsonCodec for #name {
            fn to_json(&self) -> ::carebus_core::__private::serde_json::Value {
                match self { #(#to)* }
            }
            fn from_json(v: &::carebus_core::__private::serde_json::Value, field: &str) -> ::std::result::Result<Self, ::carebus_core::DecodeError> {
                #too_deep_init
                #(#from)*
                #too_deep_answer
                ::std::result::Result::Err(::carebus_core::event::json_no_branch(field, #expected))
            }
        }
    }
}
