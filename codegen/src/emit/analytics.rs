//! An event's de-identification plan ([`crate::analytics::plan`]) in, the `carebus_core::deidentify::FieldRule` table of its `DomainEvent::ANALYTICS` out.

use crate::analytics::{PlanField, Rule, Scalar, Shape};
use proc_macro2::TokenStream;
use quote::quote;

/// `&[FieldRule { .. }, ..]` for the plan's fields.
pub fn fields(plan: &[PlanField]) -> TokenStream {
    let fields = plan.iter().map(field);
    quote! { &[#(#fields),*] }
}

fn field(f: &PlanField) -> TokenStream {
    let name = &f.name;
    let shape = match f.shape {
        Shape::One => quote!(One),
        Shape::List => quote!(List),
        Shape::Map => quote!(Map),
    };
    let rule = rule(&f.rule);
    quote! {
        ::carebus_core::deidentify::FieldRule {
            name: #name,
            shape: ::carebus_core::deidentify::Shape::#shape,
            rule: #rule,
        }
    }
}

fn rule(r: &Rule) -> TokenStream {
    match r {
        Rule::Keep(s) => {
            let s = scalar(*s);
            quote!(::carebus_core::deidentify::Rule::Keep(::carebus_core::deidentify::Scalar::#s))
        }
        Rule::Pseudonymize => quote!(::carebus_core::deidentify::Rule::Pseudonymize),
        Rule::Year => quote!(::carebus_core::deidentify::Rule::Year),
        Rule::AgeBand => quote!(::carebus_core::deidentify::Rule::AgeBand),
        Rule::Prefix(n) => quote!(::carebus_core::deidentify::Rule::Prefix(#n)),
        Rule::Record(fs) => {
            let fs = fields(fs);
            quote!(::carebus_core::deidentify::Rule::Record(#fs))
        }
    }
}

fn scalar(s: Scalar) -> TokenStream {
    match s {
        Scalar::Keyword => quote!(Keyword),
        Scalar::Text => quote!(Text),
        Scalar::Boolean => quote!(Boolean),
        Scalar::Long => quote!(Long),
        Scalar::Double => quote!(Double),
        Scalar::Date => quote!(Date),
        Scalar::Timestamp => quote!(Timestamp),
        Scalar::Decimal { scale } => quote!(Decimal { scale: #scale }),
        Scalar::Opaque => quote!(Opaque),
    }
}
