//! Older and newest versions of an event in, `From<Old> for Newest` upcasts out.
use super::Ctx;
use proc_macro2::TokenStream;

pub fn items(_ctx: &Ctx<'_>) -> TokenStream {
    TokenStream::new()
}
