//! Records, enums, fixed types and unions of the IR in, Rust type definitions out: one module per schema namespace, with docs and `#[deprecated]` from the schemas, and root re-exports of the names no two namespaces share.

use super::{
    Ctx, RType, RecordDef, TypeRef, UnionDef, allow_deprecated, deprecated_attr, doc_attrs, ident,
};
use crate::ir::{Enum, Fixed, FixedLogical, NamedType};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use std::collections::BTreeMap;

/// Every type definition in the module of its namespace (events first, then shared types,
/// then unions), and the root re-exports of the names no two namespaces share.
pub fn items(ctx: &Ctx<'_>) -> TokenStream {
    let mut root = Module::default();
    for d in &ctx.records {
        root.add(&d.ty.module, record(ctx, d));
    }
    for t in &ctx.model.types {
        match t {
            NamedType::Record(_) => {}
            NamedType::Enum(e) => root.add(&e.rust.module, enumeration(e)),
            NamedType::Fixed(f) => root.add(&f.rust.module, fixed(f)),
        }
    }
    for u in &ctx.unions {
        root.add(&u.ty.module, union(ctx, u));
    }
    let modules = root.tokens(&[]);
    let reexports = reexports(ctx);
    quote! { #modules #reexports }
}

/// A module of the generated file: its items and its child modules.
#[derive(Default)]
struct Module {
    items: Vec<TokenStream>,
    children: BTreeMap<String, Module>,
}

impl Module {
    fn add(&mut self, path: &[String], item: TokenStream) {
        match path.split_first() {
            None => self.items.push(item),
            Some((first, rest)) => self
                .children
                .entry(first.clone())
                .or_default()
                .add(rest, item),
        }
    }

    fn tokens(&self, path: &[String]) -> TokenStream {
        let items = &self.items;
        let children = self.children.iter().map(|(name, child)| {
            let path: Vec<String> = path.iter().chain([name]).cloned().collect();
            let namespace = path
                .iter()
                .map(|s| ident::unraw(s))
                .collect::<Vec<_>>()
                .join(".");
            let doc = format!(" Types of the schema namespace `{namespace}`.");
            let id = ident::ident(name);
            let body = child.tokens(&path);
            quote! {
                #[doc = #doc]
                pub mod #id { #body }
            }
        });
        quote! { #(#items)* #(#children)* }
    }
}

/// `pub use healthcare::patient::{PatientCreated, ...};`: every type whose name no other
/// namespace defines (the IR's `flat`), and every union whose name no other type has, by module.
fn reexports(ctx: &Ctx<'_>) -> TokenStream {
    let records = ctx
        .records
        .iter()
        .map(|d| (d.ty.clone(), d.record.rust.flat));
    let named = ctx.model.types.iter().filter_map(|t| match t {
        NamedType::Record(_) => None,
        _ => Some((TypeRef::of(t.rust()), t.rust().flat)),
    });
    let mut all: Vec<(TypeRef, bool)> = records.chain(named).collect();
    let taken = crate::rust_names::root_names(ctx.model);
    let unique = |name: &str| {
        let types = all.iter().filter(|(t, _)| t.name == name).count();
        let unions = ctx.unions.iter().filter(|u| u.ty.name == name).count();
        types + unions == 1 && !taken.contains(name)
    };
    let unions: Vec<(TypeRef, bool)> = ctx
        .unions
        .iter()
        .map(|u| (u.ty.clone(), unique(&u.ty.name)))
        .collect();
    all.extend(unions);
    let deprecated = ctx.deprecated_types();
    let mut by_module: BTreeMap<Vec<String>, (Vec<Ident>, bool)> = BTreeMap::new();
    for (ty, flat) in all {
        if flat && !ty.module.is_empty() {
            let entry = by_module.entry(ty.module.clone()).or_default();
            entry.0.push(ty.ident());
            entry.1 |= deprecated.contains(&ty);
        }
    }
    let uses = by_module.into_iter().map(|(module, (names, deprecated))| {
        let path = module.iter().map(|m| ident::ident(m));
        let allow = allow_deprecated(deprecated);
        quote! { #allow pub use #(#path)::* :: { #(#names),* }; }
    });
    quote! { #(#uses)* }
}

fn record(ctx: &Ctx<'_>, def: &RecordDef<'_>) -> TokenStream {
    let name = def.ty.ident();
    let module = &def.ty.module;
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
    } else {
        let line = format!(" Avro record `{}`.", r.full_name());
        if r.doc.is_some() {
            docs.push(quote! { #[doc = ""] });
        }
        docs.push(quote! { #[doc = #line] });
    }
    let deprecated = deprecated_attr(def.deprecated());
    // A field of a deprecated type: the definition itself names it.
    let allow = allow_deprecated(r.fields.iter().any(|f| ctx.uses_deprecated(&f.ty)));
    let fields = r.fields.iter().map(|f| {
        let shape = RType::field(ctx, &def.ty, f);
        let ty = shape.tokens_in(module);
        let id = ident::ident(&f.rust);
        let doc = doc_attrs(f.doc.as_deref());
        let phi = if f.classification == crate::ir::Classification::Phi {
            quote! { #[doc = " PHI: redacted in `Debug`, logs and errors; read with `expose()`."] }
        } else {
            TokenStream::new()
        };
        let dep = deprecated_attr(f.deprecated.as_deref());
        quote! { #doc #phi #dep pub #id: #ty, }
    });
    quote! {
        #(#docs)*
        #deprecated
        #allow
        #[derive(Clone, Debug, PartialEq)]
        pub struct #name { #(#fields)* }
    }
}

fn enumeration(e: &Enum) -> TokenStream {
    let name = ident::ident(&e.rust.name);
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
        quote! { #d #v, }
    });
    let symbols = e.symbols.iter().map(|s| &s.name);
    let deprecated = deprecated_attr(e.deprecated.as_deref());
    let allow = allow_deprecated(e.deprecated.is_some());
    let mut out = if e.open {
        quote! {
            #doc
            #[doc = #what]
            #deprecated
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
            #deprecated
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
            #allow
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
            #allow
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

fn fixed(f: &Fixed) -> TokenStream {
    let name = ident::ident(&f.rust.name);
    let mut doc = doc_attrs(f.doc.as_deref());
    if f.doc.is_some() {
        doc.extend(quote! { #[doc = ""] });
    }
    let what = match f.logical {
        None => format!(" Avro fixed `{}` ({} bytes).", f.full_name(), f.size),
        Some(l) => format!(
            " Avro fixed `{}` ({} bytes) with logical type `{}`: the bytes are the value, converted below.",
            f.full_name(),
            f.size,
            l.name()
        ),
    };
    let size = super::int(f.size);
    let conversions = f.logical.map(|l| fixed_logical(&name, f.size, l));
    quote! {
        #doc
        #[doc = #what]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct #name(pub [u8; #size]);
        #conversions
    }
}

/// A logical fixed's conversions to and from its carebus value type.
fn fixed_logical(name: &Ident, size: u32, logical: FixedLogical) -> TokenStream {
    match logical {
        FixedLogical::Uuid => quote! {
            impl #name {
                /// The UUID these 16 bytes are.
                pub fn uuid(&self) -> ::carebus_core::Uuid {
                    ::carebus_core::Uuid::from_bytes(self.0)
                }
            }
            impl ::std::convert::From<::carebus_core::Uuid> for #name {
                fn from(u: ::carebus_core::Uuid) -> Self {
                    Self(*u.as_bytes())
                }
            }
            impl ::std::convert::From<#name> for ::carebus_core::Uuid {
                fn from(f: #name) -> Self {
                    f.uuid()
                }
            }
        },
        FixedLogical::Duration => quote! {
            impl #name {
                /// The months, days and milliseconds these 12 bytes are.
                pub fn period(&self) -> ::carebus_core::TimePeriod {
                    ::carebus_core::TimePeriod::from_avro_bytes(self.0)
                }
            }
            impl ::std::convert::From<::carebus_core::TimePeriod> for #name {
                fn from(p: ::carebus_core::TimePeriod) -> Self {
                    Self(p.to_avro_bytes())
                }
            }
            impl ::std::convert::From<#name> for ::carebus_core::TimePeriod {
                fn from(f: #name) -> Self {
                    f.period()
                }
            }
        },
        FixedLogical::Decimal { precision, scale } => {
            let size = super::int(size);
            let p = super::int(precision);
            let s = super::int(scale);
            let doc_get = format!(
                " The decimal these bytes hold (unscaled; scale {scale}); `None` only for bytes no writer of precision {precision} makes (beyond 128 bits)."
            );
            quote! {
                impl #name {
                    /// The schema's precision: the most digits a value has.
                    pub const PRECISION: u32 = #p;
                    /// The schema's scale: the digits after the decimal point.
                    pub const SCALE: u32 = #s;
                    #[doc = #doc_get]
                    pub fn decimal(&self) -> ::std::option::Option<::carebus_core::Decimal> {
                        ::carebus_core::Decimal::from_fixed_bytes(&self.0)
                    }
                }
                impl ::std::convert::TryFrom<::carebus_core::Decimal> for #name {
                    type Error = ::carebus_core::PrecisionExceeded;
                    /// The bytes of `d` (unscaled at the schema's scale), sign-extended; an error beyond the precision.
                    fn try_from(d: ::carebus_core::Decimal) -> ::std::result::Result<Self, Self::Error> {
                        let too_wide = ::carebus_core::PrecisionExceeded { precision: Self::PRECISION, digits: d.digits() };
                        if d.digits() > Self::PRECISION {
                            return ::std::result::Result::Err(too_wide);
                        }
                        d.to_fixed_bytes::<#size>().map(Self).ok_or(too_wide)
                    }
                }
            }
        }
    }
}

fn union(ctx: &Ctx<'_>, u: &UnionDef) -> TokenStream {
    let name = u.ty.ident();
    let variants = u.branches.iter().map(|(v, _, shape)| match shape {
        RType::Unit => quote! { #v, },
        _ => {
            let t = shape.tokens_in(&u.ty.module);
            quote! { #v(#t), }
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
    let allow = allow_deprecated(ctx.union_uses_deprecated(u));
    quote! {
        #[doc = #doc]
        #allow
        #[derive(Clone, Debug, PartialEq)]
        pub enum #name { #(#variants)* }
    }
}
