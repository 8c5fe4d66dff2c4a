//! Records, enums, fixed types and unions in, `::carebus_core::JsonCodec` impls out: the JSON form (schema field names, ISO dates, decimals as text at the schema's scale, enum symbols, null for absent options).

use super::{Ctx, RType, RecordDef, UnionDef, ident};
use crate::ir::{Enum, Fixed, NamedType};
use proc_macro2::TokenStream;
use quote::quote;

/// `JsonCodec` for every generated type.
pub fn items(ctx: &Ctx<'_>) -> TokenStream {
    let records = ctx.records.iter().map(|d| record(ctx, d));
    let named = ctx.model.types.iter().map(|t| match t {
        NamedType::Record(_) => TokenStream::new(),
        NamedType::Enum(e) => enumeration(ctx, e),
        NamedType::Fixed(f) => fixed(ctx, f),
    });
    let unions = ctx.unions.iter().map(union);
    quote! { #(#records)* #(#named)* #(#unions)* }
}

/// `JsonCodec` for one record (also used by the derive macros).
pub fn record(ctx: &Ctx<'_>, def: &RecordDef<'_>) -> TokenStream {
    let name = &def.ident;
    let fields: Vec<_> = def
        .record
        .fields
        .iter()
        .map(|f| {
            (
                f.json_name(),
                ident::field_ident(&def.record.fields, &f.name),
                RType::field(ctx, name, f),
            )
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
    quote! {
        impl ::carebus_core::JsonCodec for #name {
            fn to_json(&self) -> ::carebus_core::__private::serde_json::Value {
                #obj_to = ::carebus_core::__private::serde_json::Map::new();
                #(#to)*
                ::carebus_core::__private::serde_json::Value::Object(obj)
            }
            fn from_json(v: &::carebus_core::__private::serde_json::Value, field: &str) -> ::std::result::Result<Self, ::carebus_core::DecodeError> {
                #obj_from = ::carebus_core::event::json_object(v, field)?;
                ::std::result::Result::Ok(Self { #(#from)* })
            }
        }
    }
}

fn enumeration(ctx: &Ctx<'_>, e: &Enum) -> TokenStream {
    let name = ctx.named_ident(&e.full_name());
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

fn fixed(ctx: &Ctx<'_>, f: &Fixed) -> TokenStream {
    let name = ctx.named_ident(&f.full_name());
    let expected = format!("{} bytes as hex text", f.size);
    quote! {
        /// JSON form: the bytes as hex text.
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

fn union(u: &UnionDef) -> TokenStream {
    let name = &u.ident;
    let to = u.branches.iter().map(|(v, _, shape)| match shape {
        RType::Unit => quote! { Self::#v => ::carebus_core::__private::serde_json::Value::Null, },
        _ => {
            let value = shape.json_to(quote!(value), 1);
            quote! { Self::#v(value) => #value, }
        }
    });
    let from = u.branches.iter().map(|(v, _, shape)| match shape {
        RType::Unit => quote! {
            if v.is_null() {
                return ::std::result::Result::Ok(Self::#v);
            }
        },
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
    quote! {
        /// JSON form: the branch's value itself; reading tries the branches in schema order.
        impl ::carebus_core::JsonCodec for #name {
            fn to_json(&self) -> ::carebus_core::__private::serde_json::Value {
                match self { #(#to)* }
            }
            fn from_json(v: &::carebus_core::__private::serde_json::Value, field: &str) -> ::std::result::Result<Self, ::carebus_core::DecodeError> {
                #(#from)*
                ::std::result::Result::Err(::carebus_core::event::json_no_branch(field, #expected))
            }
        }
    }
}
