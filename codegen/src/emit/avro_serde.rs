//! Records, enums, fixed types and unions in, `::carebus_core::avro_serde::AvroSerde` impls out: the serde shape apache-avro's `to_value`/`from_value` use (records as structs by Avro field name, decimals at their precision's width, enums as symbols, unions as Avro unions), which the generated `Serialize`/`Deserialize` pick for formats that are not human-readable.

use super::{Ctx, RType, RecordDef, TypeRef, UnionDef, allow_deprecated, ident};
use crate::ir::{Enum, Fixed, FixedLogical, NamedType};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// `AvroSerde` for every generated type.
pub fn items(ctx: &Ctx<'_>) -> TokenStream {
    let mut out = TokenStream::new();
    for d in &ctx.records {
        let allow = allow_deprecated(ctx.touches_deprecated(d));
        let imp = record(ctx, d);
        out.extend(quote! { #allow #imp });
    }
    for t in &ctx.model.types {
        let (imp, deprecated) = match t {
            NamedType::Record(_) => continue,
            NamedType::Enum(e) => (enumeration(e), e.deprecated.is_some()),
            NamedType::Fixed(f) => (fixed(f), false),
        };
        let allow = allow_deprecated(deprecated);
        out.extend(quote! { #allow #imp });
    }
    for u in &ctx.unions {
        let allow = allow_deprecated(ctx.union_uses_deprecated(u));
        let imp = union(u);
        out.extend(quote! { #allow #imp });
    }
    out
}

/// The precision of the decimal a shape holds directly (not inside a named type).
fn decimal_precision(shape: &RType) -> Option<u32> {
    match shape {
        RType::Decimal { precision, .. } => Some(*precision),
        RType::Option { inner, .. }
        | RType::Vec(inner)
        | RType::Map(inner)
        | RType::Phi(inner)
        | RType::Boxed(inner) => decimal_precision(inner),
        RType::Unit | RType::Prim(_) | RType::ProtoText(_) | RType::Named(_) => None,
    }
}

/// An expression serializing `e` (a `&T` of `shape`) in its AvroSerde form.
fn ser(shape: &RType, e: TokenStream) -> TokenStream {
    match decimal_precision(shape) {
        Some(p) => {
            let p = super::int(p);
            quote!(&::carebus_core::avro_serde::DecimalAt::<#p, _>(#e))
        }
        None => quote!(&::carebus_core::avro_serde::Ser(#e)),
    }
}

fn record(ctx: &Ctx<'_>, def: &RecordDef<'_>) -> TokenStream {
    let name = &def.ty;
    let full = def.record.full_name();
    let short = def.record.name.clone();
    let fields: Vec<_> = def
        .record
        .fields
        .iter()
        .map(|f| {
            (
                ident::ident(&f.rust),
                f.name.clone(),
                RType::field(ctx, name, f),
            )
        })
        .collect();
    let n = fields.len();
    let write = fields.iter().map(|(id, avro_name, shape)| {
        let e = ser(shape, quote!(&self.#id));
        quote! { st.serialize_field(#avro_name, #e)?; }
    });
    let slots: Vec<_> = (0..n).map(|i| format_ident!("f{i}")).collect();
    let types: Vec<_> = fields.iter().map(|(_, _, shape)| shape.tokens()).collect();
    let names: Vec<_> = fields.iter().map(|(_, avro_name, _)| avro_name).collect();
    let ids: Vec<_> = fields.iter().map(|(id, _, _)| id).collect();
    let expecting = format!("the Avro record `{full}`");
    let st = if n == 0 { quote!(_st) } else { quote!(st) };
    let st_mut = if n == 0 { quote!() } else { quote!(mut) };
    quote! {
        #[doc = concat!(" apache-avro's serde shape of `", #full, "`: a struct of its fields by Avro name.")]
        impl ::carebus_core::avro_serde::AvroSerde for #name {
            fn avro_serialize<S: ::carebus_core::__private::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                use ::carebus_core::__private::serde::ser::SerializeStruct as _;
                let #st_mut #st = s.serialize_struct(#short, #n)?;
                #(#write)*
                #st.end()
            }
            fn avro_deserialize<'de, D: ::carebus_core::__private::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                struct Fields;
                impl<'de> ::carebus_core::__private::serde::de::Visitor<'de> for Fields {
                    type Value = #name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(#expecting)
                    }
                    fn visit_map<A: ::carebus_core::__private::serde::de::MapAccess<'de>>(self, mut map: A) -> ::std::result::Result<#name, A::Error> {
                        #( let mut #slots: ::std::option::Option<#types> = ::std::option::Option::None; )*
                        while let ::std::option::Option::Some(key) = map.next_key::<::std::string::String>()? {
                            match key.as_str() {
                                #( #names => #slots = ::std::option::Option::Some(map.next_value::<::carebus_core::avro_serde::Owned<#types>>()?.0), )*
                                _ => { map.next_value::<::carebus_core::__private::serde::de::IgnoredAny>()?; }
                            }
                        }
                        ::std::result::Result::Ok(#name {
                            #( #ids: #slots.ok_or_else(|| <A::Error as ::carebus_core::__private::serde::de::Error>::missing_field(#names))?, )*
                        })
                    }
                }
                d.deserialize_struct(#short, &[#(#names),*], Fields)
            }
        }
    }
}

fn enumeration(e: &Enum) -> TokenStream {
    let name = TypeRef::of(&e.rust);
    let full = e.full_name();
    quote! {
        #[doc = concat!(" apache-avro's serde shape of the enum `", #full, "`: its symbol.")]
        impl ::carebus_core::avro_serde::AvroSerde for #name {
            fn avro_serialize<S: ::carebus_core::__private::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                ::carebus_core::avro_serde::write_symbol(self, s)
            }
            fn avro_deserialize<'de, D: ::carebus_core::__private::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                ::carebus_core::avro_serde::symbol(d)
            }
        }
    }
}

fn fixed(f: &Fixed) -> TokenStream {
    let name = TypeRef::of(&f.rust);
    let full = f.full_name();
    let size = super::int(f.size);
    let (write, read) = match f.logical {
        Some(FixedLogical::Uuid) => (
            quote!(::carebus_core::avro_serde::serialize_fixed_uuid(&self.0, s)),
            quote!(::carebus_core::avro_serde::fixed_uuid(d).map(Self)),
        ),
        Some(FixedLogical::Decimal { .. }) => (
            quote!(s.serialize_bytes(&self.0)),
            quote!(::carebus_core::avro_serde::fixed_decimal::<#size, D>(d).map(Self)),
        ),
        _ => (
            quote!(s.serialize_bytes(&self.0)),
            quote!(::carebus_core::avro_serde::fixed::<#size, D>(d).map(Self)),
        ),
    };
    quote! {
        #[doc = concat!(" apache-avro's serde shape of the fixed `", #full, "`: its bytes.")]
        impl ::carebus_core::avro_serde::AvroSerde for #name {
            fn avro_serialize<S: ::carebus_core::__private::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                #write
            }
            fn avro_deserialize<'de, D: ::carebus_core::__private::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                #read
            }
        }
    }
}

fn union(u: &UnionDef) -> TokenStream {
    let name = &u.ty;
    let variant_names: Vec<String> = u
        .branches
        .iter()
        .map(|(v, _, _)| ident::unraw(&v.to_string()).to_string())
        .collect();
    let write = u.branches.iter().map(|(v, _, shape)| match shape {
        RType::Unit => quote! { Self::#v => s.serialize_unit(), },
        _ => {
            let e = ser(shape, quote!(value));
            quote! { Self::#v(value) => ::carebus_core::__private::serde::Serialize::serialize(#e, s), }
        }
    });
    let read = u.branches.iter().zip(&variant_names).map(|((v, _, shape), vname)| match shape {
        RType::Unit => quote! {
            #vname => { variant.unit_variant()?; ::std::result::Result::Ok(#name::#v) }
        },
        _ => {
            let t = shape.tokens();
            quote! {
                #vname => variant.newtype_variant::<::carebus_core::avro_serde::Owned<#t>>().map(|o| #name::#v(o.0)),
            }
        }
    });
    let expecting = format!("a union of {}", variant_names.join(", "));
    let ident_name = name.ident().to_string();
    let ident_name = ident::unraw(&ident_name).to_string();
    quote! {
        /// apache-avro's serde shape of an Avro union: the branch's value, read back by the
        /// branch index apache-avro keeps.
        impl ::carebus_core::avro_serde::AvroSerde for #name {
            fn avro_serialize<S: ::carebus_core::__private::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                match self { #(#write)* }
            }
            fn avro_deserialize<'de, D: ::carebus_core::__private::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                struct Branch;
                impl<'de> ::carebus_core::__private::serde::de::Visitor<'de> for Branch {
                    type Value = #name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(#expecting)
                    }
                    fn visit_enum<A: ::carebus_core::__private::serde::de::EnumAccess<'de>>(self, data: A) -> ::std::result::Result<#name, A::Error> {
                        use ::carebus_core::__private::serde::de::VariantAccess as _;
                        let (branch, variant) = data.variant::<::std::string::String>()?;
                        match branch.as_str() {
                            #(#read)*
                            other => ::std::result::Result::Err(<A::Error as ::carebus_core::__private::serde::de::Error>::unknown_variant(other, &[#(#variant_names),*])),
                        }
                    }
                }
                d.deserialize_enum(#ident_name, &[#(#variant_names),*], Branch)
            }
        }
    }
}
