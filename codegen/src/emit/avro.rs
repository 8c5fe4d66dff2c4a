//! Records, enums, fixed types and unions reachable from Avro events in, direct `::carebus_core::AvroCodec` impls out (binary Avro, field by field in schema order, no `apache_avro::types::Value`).

use super::{Ctx, RType, RecordDef, TypeRef, UnionDef, allow_deprecated, ident, int};
use crate::ir::{Enum, Fixed, NamedType};
use proc_macro2::TokenStream;
use quote::quote;

/// `AvroCodec` for every type an Avro event uses.
pub fn items(ctx: &Ctx<'_>) -> TokenStream {
    let mut out = TokenStream::new();
    for d in ctx.records.iter().filter(|d| d.avro) {
        let allow = allow_deprecated(ctx.touches_deprecated(d));
        let codec = record(ctx, d);
        out.extend(quote! { #allow #codec });
    }
    for t in &ctx.model.types {
        if !ctx.is_avro_type(&t.full_name()) {
            continue;
        }
        let (codec, deprecated) = match t {
            NamedType::Record(_) => continue,
            NamedType::Enum(e) => (enumeration(e), e.deprecated.is_some()),
            NamedType::Fixed(f) => (fixed(f), false),
        };
        let allow = allow_deprecated(deprecated);
        out.extend(quote! { #allow #codec });
    }
    for u in ctx.unions.iter().filter(|u| u.avro) {
        let allow = allow_deprecated(ctx.union_uses_deprecated(u));
        let codec = union(u);
        out.extend(quote! { #allow #codec });
    }
    out
}

/// `AvroCodec` for one record (also used by the derive macros).
pub fn record(ctx: &Ctx<'_>, def: &RecordDef<'_>) -> TokenStream {
    let name = &def.ty;
    let fields: Vec<_> = def
        .record
        .fields
        .iter()
        .map(|f| (ident::ident(&f.rust), RType::field(ctx, name, f)))
        .collect();
    let encode = fields
        .iter()
        .map(|(id, shape)| shape.avro_encode(quote!(&self.#id), 0));
    let decode = fields.iter().map(|(id, shape)| {
        let e = shape.avro_decode();
        quote! { #id: #e, }
    });
    let full = def.record.full_name();
    let doc = if def.record.is_recursive() {
        format!(
            " Avro binary of `{full}`: its fields in schema order. The record can contain itself: \
             decoding counts its nesting against the reader's limit (`Reader::nested`)."
        )
    } else {
        format!(" Avro binary of `{full}`: its fields in schema order.")
    };
    let read = quote! { ::std::result::Result::Ok(Self { #(#decode)* }) };
    let read = if def.record.is_recursive() {
        quote! { r.nested(#full, |r| #read) }
    } else {
        read
    };
    let unused_out = if fields.is_empty() {
        quote!(_out)
    } else {
        quote!(out)
    };
    let unused_r = if fields.is_empty() {
        quote!(_r)
    } else {
        quote!(r)
    };
    quote! {
        #[doc = #doc]
        impl ::carebus_core::AvroCodec for #name {
            fn encode_avro(&self, #unused_out: &mut ::std::vec::Vec<u8>) {
                #(#encode)*
            }
            fn decode_avro(#unused_r: &mut ::carebus_core::avro::Reader<'_>) -> ::std::result::Result<Self, ::carebus_core::DecodeError> {
                #read
            }
        }
    }
}

fn enumeration(e: &Enum) -> TokenStream {
    let name = TypeRef::of(&e.rust);
    let full = e.full_name();
    let doc = format!(" Avro enum `{full}`: the symbol's index in the schema, as an int.");
    let variants: Vec<_> = e
        .symbols
        .iter()
        .map(|s| ident::camel_ident(&s.name))
        .collect();
    let idx: Vec<_> = (0..variants.len() as i64).map(int).collect();
    let (v1, i1, v2, i2) = (&variants, &idx, &variants, &idx);
    let fallback = if e.open {
        let unknown = super::types::unknown_variant(e);
        quote! { Self::#unknown(n) => n, }
    } else {
        TokenStream::new()
    };
    quote! {
        #[doc = #doc]
        impl ::carebus_core::AvroCodec for #name {
            fn encode_avro(&self, out: &mut ::std::vec::Vec<u8>) {
                let index = match self { #( Self::#v1 => #i1, )* #fallback };
                ::carebus_core::avro::write_int(out, index);
            }
            fn decode_avro(r: &mut ::carebus_core::avro::Reader<'_>) -> ::std::result::Result<Self, ::carebus_core::DecodeError> {
                match r.read_enum_index()? {
                    #( #i2 => ::std::result::Result::Ok(Self::#v2), )*
                    index => ::std::result::Result::Err(::carebus_core::DecodeError::UnknownSymbol { enum_name: #full, index }),
                }
            }
        }
    }
}

fn fixed(f: &Fixed) -> TokenStream {
    let name = TypeRef::of(&f.rust);
    let size = int(f.size);
    quote! {
        impl ::carebus_core::AvroCodec for #name {
            fn encode_avro(&self, out: &mut ::std::vec::Vec<u8>) {
                ::carebus_core::avro::write_fixed(out, &self.0);
            }
            fn decode_avro(r: &mut ::carebus_core::avro::Reader<'_>) -> ::std::result::Result<Self, ::carebus_core::DecodeError> {
                r.read_fixed::<#size>().map(Self)
            }
        }
    }
}

fn union(u: &UnionDef) -> TokenStream {
    let name = &u.ty;
    let n = u.branches.len();
    let encode = u.branches.iter().enumerate().map(|(i, (v, _, shape))| {
        let i = int(i as i64);
        match shape {
            RType::Unit => quote! { Self::#v => ::carebus_core::avro::write_long(out, #i), },
            _ => {
                let body = shape.avro_encode(quote!(value), 1);
                quote! { Self::#v(value) => { ::carebus_core::avro::write_long(out, #i); #body } }
            }
        }
    });
    let decode = u.branches.iter().enumerate().map(|(i, (v, _, shape))| {
        let pat = if i + 1 == n {
            quote!(_)
        } else {
            let i = int(i as i64);
            quote!(#i)
        };
        match shape {
            RType::Unit => quote! { #pat => Self::#v, },
            _ => {
                let body = shape.avro_decode();
                quote! { #pat => Self::#v(#body), }
            }
        }
    });
    let branches = int(n as i64);
    let doc = " Avro union: the branch index as a long, then the branch's value.";
    quote! {
        #[doc = #doc]
        impl ::carebus_core::AvroCodec for #name {
            fn encode_avro(&self, out: &mut ::std::vec::Vec<u8>) {
                match self { #(#encode)* }
            }
            fn decode_avro(r: &mut ::carebus_core::avro::Reader<'_>) -> ::std::result::Result<Self, ::carebus_core::DecodeError> {
                ::std::result::Result::Ok(match r.read_union_index(#branches)? { #(#decode)* })
            }
        }
    }
}
