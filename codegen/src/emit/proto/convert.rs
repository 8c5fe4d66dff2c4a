//! One field of a Protobuf record in, the expressions converting it between the domain struct and prost's wire struct out.

use super::wire_path;
use crate::emit::{Ctx, RType, rtype::Prim};
use crate::ir::{NamedType, Type};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// Whether a field type holds a Timestamp anywhere inside.
pub(super) fn holds_timestamp(ty: &Type) -> bool {
    match ty {
        Type::TimestampMicros => true,
        Type::Array { items } => holds_timestamp(items),
        Type::Map { values } => holds_timestamp(values),
        Type::Union { branches } => branches.iter().any(holds_timestamp),
        _ => false,
    }
}

/// Private helpers the conversions call for `google.protobuf.Timestamp` fields.
pub(super) fn timestamp_helpers() -> TokenStream {
    quote! {
            /// `carebus::Timestamp` (µs since the epoch) as the `SystemTime` prost's
            /// `Timestamp` converts from.
            fn timestamp_to_wire(t: &::carebus_core::Timestamp) -> ::std::time::SystemTime {
                let micros = ::std::time::Duration::from_micros(t.0.unsigned_abs());
                let at = if t.0 >= 0 {
                    ::std::time::UNIX_EPOCH.checked_add(micros)
                } else {
                    ::std::time::UNIX_EPOCH.checked_sub(micros)
                };
                at.unwrap_or(::std::time::UNIX_EPOCH)
            }
            /// A `SystemTime` read from prost's `Timestamp` as `carebus::Timestamp`.
            fn timestamp_from_wire(
                at: ::std::time::SystemTime,
            ) -> ::std::result::Result<::carebus_core::Timestamp, ::carebus_core::DecodeError> {
                let micros = match at.duration_since(::std::time::UNIX_EPOCH) {
                    ::std::result::Result::Ok(d) => i64::try_from(d.as_micros()).ok(),
                    // Before the epoch: round down, as carebus::Timestamp's microseconds do.
                    ::std::result::Result::Err(e) => {
                        let d = e.duration();
                        let partial = u128::from(d.subsec_nanos() % 1_000 != 0);
                        i64::try_from(d.as_micros() + partial).ok().map(|m| -m)
                    }
                };
                micros.map(::carebus_core::Timestamp).ok_or_else(|| ::carebus_core::DecodeError::Malformed {
                    what: "timestamp",
                    detail: "outside the range of microseconds since 1970 in an i64".to_string(),
                })
            }
    }
}

/// Builds conversion expressions from a field's Rust shape and IR type.
pub(super) struct Conv<'c, 'm> {
    pub(super) ctx: &'c Ctx<'m>,
}

impl Conv<'_, '_> {
    fn is_record(&self, ty: &Type) -> bool {
        matches!(ty, Type::Named { name } if matches!(self.ctx.model.named_type(name), Some(NamedType::Record(_))))
    }

    /// Whether prost keeps this singular field in an `Option` although carebus requires it.
    fn wire_optional(&self, ty: &Type) -> bool {
        self.is_record(ty) || *ty == Type::TimestampMicros
    }

    /// A field's wire value from the place `e` (e.g. `v.kind`) holding the domain value.
    pub(super) fn field_encode(&self, shape: &RType, ty: &Type, e: TokenStream) -> TokenStream {
        let value = self.encode(shape, ty, e, false, 0);
        if self.wire_optional(ty) {
            quote! { ::std::option::Option::Some(#value) }
        } else {
            value
        }
    }

    /// The wire value of `e`, which is the domain value itself (`is_ref == false`, a place
    /// expression) or a reference to it (closure parameters, `expose()`).
    fn encode(
        &self,
        shape: &RType,
        ty: &Type,
        e: TokenStream,
        is_ref: bool,
        depth: usize,
    ) -> TokenStream {
        let v = format_ident!("v{depth}");
        let k = format_ident!("k{depth}");
        let by_ref = if is_ref { e.clone() } else { quote!(&#e) };
        let copied = if is_ref { quote!(*#e) } else { e.clone() };
        match (shape, ty) {
            (RType::Phi(inner), _) => self.encode(inner, ty, quote!(#e.expose()), true, depth),
            // A message of the record's own cycle: prost boxes that field too.
            (RType::Boxed(inner), _) => {
                let unboxed = if is_ref {
                    quote!((**#e))
                } else {
                    quote!((*#e))
                };
                let body = self.encode(inner, ty, unboxed, false, depth);
                quote! { ::std::boxed::Box::new(#body) }
            }
            (RType::Option { inner, .. }, Type::Union { .. }) => {
                let t = ty.optional_inner().unwrap_or(ty);
                let body = self.encode(inner, t, quote!(#v), true, depth + 1);
                quote! { #e.as_ref().map(|#v| #body) }
            }
            (RType::Vec(inner), Type::Array { items }) => {
                let body = self.encode(inner, items, quote!(#v), true, depth + 1);
                quote! { #e.iter().map(|#v| #body).collect() }
            }
            (RType::Map(inner), Type::Map { values }) => {
                let body = self.encode(inner, values, quote!(#v), true, depth + 1);
                quote! { #e.iter().map(|(#k, #v)| (#k.clone(), #body)).collect() }
            }
            (RType::Named(id), Type::Named { name }) => {
                if self.is_record(ty) {
                    let wire = wire_path(name);
                    quote! { #wire::from(#by_ref) }
                } else {
                    quote! { #id::number(#copied) }
                }
            }
            (RType::Prim(Prim::String | Prim::Bytes), _) => quote! { #e.clone() },
            (RType::Prim(Prim::Timestamp), _) => {
                quote! { timestamp_to_wire(#by_ref).into() }
            }
            (RType::Prim(_), _) => copied,
            _ => unsupported(ty),
        }
    }

    /// A field's domain value from `e: WireFieldType` (may use `?`).
    pub(super) fn field_decode(
        &self,
        shape: &RType,
        ty: &Type,
        e: TokenStream,
        field: &str,
    ) -> TokenStream {
        if self.wire_optional(ty) {
            let (phi, inner) = match shape {
                RType::Phi(inner) => (true, inner.as_ref()),
                other => (false, other),
            };
            let present = quote! {
                #e.ok_or_else(|| ::carebus_core::DecodeError::MissingField {
                    field: ::std::string::ToString::to_string(#field),
                })?
            };
            let value = self.decode(inner, ty, present, field, 0);
            return if phi {
                quote! { ::carebus_core::Phi::new(#value) }
            } else {
                value
            };
        }
        self.decode(shape, ty, e, field, 0)
    }

    fn decode(
        &self,
        shape: &RType,
        ty: &Type,
        e: TokenStream,
        field: &str,
        depth: usize,
    ) -> TokenStream {
        let v = format_ident!("v{depth}");
        let k = format_ident!("k{depth}");
        let ok = quote!(::std::result::Result::<_, ::carebus_core::DecodeError>::Ok);
        match (shape, ty) {
            (RType::Phi(inner), _) => {
                let value = self.decode(inner, ty, e, field, depth);
                quote! { ::carebus_core::Phi::new(#value) }
            }
            (RType::Boxed(inner), _) => {
                // Inner is a record: `try_from(*e)` takes the wire message out of its box.
                let value = self.decode(inner, ty, quote!(*#e), field, depth);
                quote! { ::std::boxed::Box::new(#value) }
            }
            (RType::Option { inner, .. }, Type::Union { .. }) => {
                let t = ty.optional_inner().unwrap_or(ty);
                let body = self.decode(inner, t, quote!(#v), field, depth + 1);
                quote! {
                    match #e {
                        ::std::option::Option::Some(#v) => ::std::option::Option::Some(#body),
                        ::std::option::Option::None => ::std::option::Option::None,
                    }
                }
            }
            (RType::Vec(inner), Type::Array { items }) => {
                let body = self.decode(inner, items, quote!(#v), field, depth + 1);
                quote! {
                    #e.into_iter()
                        .map(|#v| #ok(#body))
                        .collect::<::std::result::Result<::std::vec::Vec<_>, _>>()?
                }
            }
            (RType::Map(inner), Type::Map { values }) => {
                let body = self.decode(inner, values, quote!(#v), field, depth + 1);
                quote! {
                    #e.into_iter()
                        .map(|(#k, #v)| #ok((#k, #body)))
                        .collect::<::std::result::Result<::std::collections::BTreeMap<_, _>, _>>()?
                }
            }
            (RType::Named(id), Type::Named { name }) => {
                if self.is_record(ty) {
                    let wire = wire_path(name);
                    quote! {
                        <#id as ::std::convert::TryFrom<#wire>>::try_from(#e)
                            .map_err(|e| e.in_field(#field))?
                    }
                } else {
                    quote! { #id::from_number(#e) }
                }
            }
            (RType::Prim(Prim::Timestamp), _) => quote! {
                timestamp_from_wire(
                    ::std::convert::TryFrom::try_from(#e).map_err(|_| ::carebus_core::DecodeError::Malformed {
                        what: "timestamp",
                        detail: ::std::format!("field `{}` holds an invalid google.protobuf.Timestamp", #field),
                    })?,
                )?
            },
            (RType::Prim(_), _) => e,
            _ => unsupported(ty),
        }
    }
}

/// A type the Protobuf loader never produces (it reports such fields instead).
fn unsupported(ty: &Type) -> TokenStream {
    let message = format!("carebus-codegen: no Protobuf conversion for {ty:?}; please report this");
    quote! { ::std::compile_error!(#message) }
}
