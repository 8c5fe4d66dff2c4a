//! Records, enums, fixed types and unions of the IR in, Rust type definitions out (structs and enums with docs and serde attributes matching the Avro field names).

use super::{Ctx, RType, RecordDef, UnionDef, deprecated_doc, doc_attrs, ident};
use crate::ir::{Enum, Fixed, NamedType};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// Every type definition, events first, then shared types, then unions.
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

const SERDE_DERIVES: &str = "::carebus_core::__private::serde";

fn serde_derive() -> TokenStream {
    quote! { ::carebus_core::__private::serde::Serialize, ::carebus_core::__private::serde::Deserialize }
}

/// The serde attribute for a field or variant holding decimals: the serde form carries the
/// bytes at the precision's width, which apache-avro's `to_value` path requires.
fn decimal_serde(shape: &RType) -> TokenStream {
    match shape.decimal_precision() {
        Some(p) => {
            let path = format!("::carebus_core::event::serialize_decimal::<{p}, _, _>");
            quote! { #[serde(serialize_with = #path)] }
        }
        None => TokenStream::new(),
    }
}

fn record(ctx: &Ctx<'_>, def: &RecordDef<'_>) -> TokenStream {
    let name = &def.ident;
    let r = def.record;
    let mut docs = vec![doc_attrs(r.doc.as_deref())];
    if let Some(e) = def.event {
        let line = format!(
            " Event `{}` version {} on topic `{}` (aggregate `{}`, key field `{}`); schema `{}`.",
            e.name, e.version, e.topic, e.aggregate_type, e.aggregate_id, e.source.file
        );
        if r.doc.is_some() {
            docs.push(quote! { #[doc = ""] });
        }
        docs.push(quote! { #[doc = #line] });
        docs.push(deprecated_doc(e.deprecated.as_deref(), true));
    } else {
        let line = format!(" Avro record `{}`.", r.full_name());
        if r.doc.is_some() {
            docs.push(quote! { #[doc = ""] });
        }
        docs.push(quote! { #[doc = #line] });
    }
    let fields = r.fields.iter().map(|f| {
        let shape = RType::field(ctx, name, f);
        let ty = shape.tokens();
        let id = ident::field_ident(&r.fields, &f.name);
        let id_text = id.to_string();
        let rename = if ident::unraw(&id_text) != f.name {
            let n = &f.name;
            quote! { #[serde(rename = #n)] }
        } else {
            TokenStream::new()
        };
        let doc = doc_attrs(f.doc.as_deref());
        let phi = if f.classification == crate::ir::Classification::Phi {
            quote! { #[doc = " PHI: redacted in `Debug`, logs and errors; read with `expose()`."] }
        } else {
            TokenStream::new()
        };
        let dep = deprecated_doc(
            f.deprecated.as_deref(),
            f.doc.is_some() || f.classification == crate::ir::Classification::Phi,
        );
        let dec = decimal_serde(&shape);
        quote! { #doc #phi #dep #rename #dec pub #id: #ty, }
    });
    let derives = serde_derive();
    quote! {
        #(#docs)*
        #[derive(Clone, Debug, PartialEq, #derives)]
        #[serde(crate = #SERDE_DERIVES)]
        pub struct #name { #(#fields)* }
    }
}

fn enumeration(ctx: &Ctx<'_>, e: &Enum) -> TokenStream {
    let name = ctx.named_ident(&e.full_name());
    let mut doc = doc_attrs(e.doc.as_deref());
    if e.doc.is_some() {
        doc.extend(quote! { #[doc = ""] });
    }
    let what = if e.open {
        format!(
            " Protobuf enum `{}` (open: unknown numbers are kept).",
            e.full_name()
        )
    } else {
        format!(" Avro enum `{}`.", e.full_name())
    };
    let variants: Vec<_> = e
        .symbols
        .iter()
        .map(|s| ident::camel_ident(&s.name))
        .collect();
    let unknown = unknown_variant(e);
    let defs = e.symbols.iter().zip(&variants).map(|(s, v)| {
        let d = doc_attrs(s.doc.as_deref());
        let sym = &s.name;
        quote! { #d #[serde(rename = #sym)] #v, }
    });
    let symbols = e.symbols.iter().map(|s| &s.name);
    let derives = serde_derive();
    let mut out = if e.open {
        quote! {
            #doc
            #[doc = #what]
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, #derives)]
            #[serde(crate = #SERDE_DERIVES)]
            pub enum #name {
                #(#defs)*
                /// A number this build does not know (sent by a newer schema).
                #unknown(i32),
            }
        }
    } else {
        quote! {
            #doc
            #[doc = #what]
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, #derives)]
            #[serde(crate = #SERDE_DERIVES)]
            pub enum #name { #(#defs)* }
        }
    };
    let numbers = e.symbols.iter().map(|s| super::int(s.number));
    if e.open {
        let (v1, s1, v2, s2, v3, n3, v4, n4) = (
            &variants,
            symbols.clone(),
            &variants,
            symbols,
            &variants,
            numbers.clone(),
            &variants,
            numbers,
        );
        out.extend(quote! {
            impl #name {
                /// The symbol as written in the schema; None for an unknown number.
                pub fn symbol(self) -> ::std::option::Option<&'static str> {
                    match self {
                        #( Self::#v1 => ::std::option::Option::Some(#s1), )*
                        Self::#unknown(_) => ::std::option::Option::None,
                    }
                }
                /// The variant for a schema symbol.
                pub fn from_symbol(symbol: &str) -> ::std::option::Option<Self> {
                    match symbol {
                        #( #s2 => ::std::option::Option::Some(Self::#v2), )*
                        _ => ::std::option::Option::None,
                    }
                }
                /// The enum number on the wire.
                pub fn number(self) -> i32 {
                    match self {
                        #( Self::#v3 => #n3, )*
                        Self::#unknown(n) => n,
                    }
                }
                /// The variant for a wire number (unknown numbers are kept).
                pub fn from_number(number: i32) -> Self {
                    match number {
                        #( #n4 => Self::#v4, )*
                        other => Self::#unknown(other),
                    }
                }
            }
        });
    } else {
        let (v1, s1, v2, s2, v3) = (&variants, symbols.clone(), &variants, symbols, &variants);
        out.extend(quote! {
            impl #name {
                /// Every symbol, in schema order.
                pub const ALL: &'static [#name] = &[ #( Self::#v3, )* ];
                /// The symbol as written in the schema.
                pub fn symbol(self) -> &'static str {
                    match self { #( Self::#v1 => #s1, )* }
                }
                /// The variant for a schema symbol.
                pub fn from_symbol(symbol: &str) -> ::std::option::Option<Self> {
                    match symbol {
                        #( #s2 => ::std::option::Option::Some(Self::#v2), )*
                        _ => ::std::option::Option::None,
                    }
                }
            }
        });
    }
    out
}

/// The fallback variant of an open enum: `Unknown`, or `UnknownValue` if a symbol is `Unknown`.
pub fn unknown_variant(e: &Enum) -> proc_macro2::Ident {
    if e.symbols.iter().any(|s| ident::camel(&s.name) == "Unknown") {
        format_ident!("UnknownValue")
    } else {
        format_ident!("Unknown")
    }
}

fn fixed(ctx: &Ctx<'_>, f: &Fixed) -> TokenStream {
    let name = ctx.named_ident(&f.full_name());
    let mut doc = doc_attrs(f.doc.as_deref());
    if f.doc.is_some() {
        doc.extend(quote! { #[doc = ""] });
    }
    let what = format!(" Avro fixed `{}` ({} bytes).", f.full_name(), f.size);
    let size = super::int(f.size);
    let derives = serde_derive();
    quote! {
        #doc
        #[doc = #what]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, #derives)]
        #[serde(crate = #SERDE_DERIVES)]
        pub struct #name(#[serde(with = "::carebus_core::event::fixed_bytes")] pub [u8; #size]);
    }
}

fn union(u: &UnionDef) -> TokenStream {
    let name = &u.ident;
    let variants = u.branches.iter().map(|(v, _, shape)| match shape {
        RType::Unit => quote! { #v, },
        _ => {
            let t = shape.tokens();
            let dec = decimal_serde(shape);
            quote! { #dec #v(#t), }
        }
    });
    let list = u
        .branches
        .iter()
        .map(|(v, _, _)| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let doc =
        format!(" A value of an Avro union: one variant per branch, in schema order ({list}).");
    let derives = serde_derive();
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug, PartialEq, #derives)]
        #[serde(crate = #SERDE_DERIVES, untagged)]
        pub enum #name { #(#variants)* }
    }
}
