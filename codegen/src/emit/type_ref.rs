//! A generated type's Rust names (from the IR) in, the path code writes to refer to it out: from the root, or relative from inside a namespace module.

use super::ident;
use crate::ir::RustType;
use proc_macro2::{Ident, TokenStream};
use quote::quote;

/// A generated type as code refers to it: its module path from the root and its name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TypeRef {
    pub module: Vec<String>,
    pub name: String,
}

impl TypeRef {
    pub fn of(rust: &RustType) -> TypeRef {
        TypeRef {
            module: rust.module.clone(),
            name: rust.name.clone(),
        }
    }

    /// The type's own identifier (for its definition).
    pub fn ident(&self) -> Ident {
        ident::ident(&self.name)
    }

    /// The path as written inside module `from`: the name alone in the same module, else
    /// `super::` up to the common ancestor and down (`super::common::Coding`).
    pub fn path_from(&self, from: &[String]) -> TokenStream {
        let common = from
            .iter()
            .zip(&self.module)
            .take_while(|(a, b)| a == b)
            .count();
        let up = (common..from.len()).map(|_| quote!(super));
        let down = self.module[common..].iter().map(|m| ident::ident(m));
        let name = self.ident();
        quote! { #(#up ::)* #(#down ::)* #name }
    }

    /// A type beside this one, named after it (`VisitRecorded` + `Reason` → the union
    /// `VisitRecordedReason` in the same module).
    pub fn beside(&self, suffix: &str) -> TypeRef {
        TypeRef {
            module: self.module.clone(),
            name: format!("{}{suffix}", self.name),
        }
    }
}

/// The path from the root of the generated file (`healthcare::patient::PatientCreated`).
impl quote::ToTokens for TypeRef {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(self.path_from(&[]));
    }
}

/// The type's name alone, for docs and names derived from it.
impl std::fmt::Display for TypeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}
