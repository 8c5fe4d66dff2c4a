//! Derive macros: a hand-written struct's `#[carebus(...)]` attributes in, the same DomainEvent impl, Avro schema and codecs as a generated event out.
//!
//! A thin shim: the logic lives in `carebus_codegen::derive`, which shares the IR and the
//! emitters with the build-time generator.

use proc_macro::TokenStream;

/// Derive `carebus::DomainEvent`, `carebus::AvroCodec` and `carebus::JsonCodec` for a struct.
///
/// ```ignore
/// #[derive(Clone, Debug, carebus_macros::DomainEvent)]
/// #[carebus(namespace = "healthcare.notes", aggregate_type = "Patient",
///           aggregate_id = "patient_id", topic = "healthcare.notes.events")]
/// /// A clinician wrote a note about a patient.
/// pub struct NoteAdded {
///     pub patient_id: String,
///     #[carebus(classification = "phi")]
///     pub text: carebus::Phi<String>,
/// }
/// ```
#[proc_macro_derive(DomainEvent, attributes(carebus))]
pub fn derive_domain_event(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    carebus_codegen::derive::expand_domain_event(&input).into()
}
