//! The Rust names the generator gives the IR's nodes ([`crate::rust_names`] computes them), as serde data the emitters and the catalog read.

use serde::{Deserialize, Serialize};

/// The Rust names of a generated type, computed by [`crate::rust_names`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RustType {
    /// Module path from the generated file's root, one module per namespace segment
    /// (`["healthcare", "patient"]`); empty for the null namespace.
    pub module: Vec<String>,
    /// Type name: `PatientCreated`, `PatientCreatedV1` for an older event version, `Coding`.
    pub name: String,
    /// Whether the name is also re-exported at the root (`pub use healthcare::patient::PatientCreated;`):
    /// true unless another namespace defines the same name.
    pub flat: bool,
}

impl RustType {
    /// Whether no name was assigned (a model built by hand, a schema-history snapshot).
    pub fn is_unset(&self) -> bool {
        self.name.is_empty()
    }

    /// The path from the generated file's root: `healthcare::patient::PatientCreated`.
    pub fn path(&self) -> String {
        self.module
            .iter()
            .map(String::as_str)
            .chain([self.name.as_str()])
            .collect::<Vec<_>>()
            .join("::")
    }
}

/// The Rust names generated for one event version, computed by [`crate::rust_names`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RustEvent {
    /// The topic handler trait's method for this version: `on_patient_created` for the newest,
    /// `on_patient_created_v1` for an older version that cannot be upcast, `None` for an older
    /// version that is upcast to the newest and handled by the newest's method.
    pub handler_method: Option<String>,
    /// The topic publisher trait's method (`publish_patient_created`); newest version only.
    pub publish_method: Option<String>,
}

/// The Rust names generated for one topic, computed by [`crate::rust_names`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RustTopic {
    /// The enum of every event version on the topic: `PatientsEvent`.
    pub events_enum: String,
    /// The handler trait: `PatientsHandler`.
    pub handler_trait: String,
    /// The dispatcher adapting a handler to `TopicHandler`: `PatientsDispatcher`.
    pub dispatcher: String,
    /// The publisher trait: `PatientsPublisher`.
    pub publisher_trait: String,
    /// The variant of `AnyEvent` holding this topic's events: `Patients`.
    pub any_event_variant: String,
}
