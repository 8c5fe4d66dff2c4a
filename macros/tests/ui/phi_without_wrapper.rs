use carebus_macros::DomainEvent;

#[derive(Clone, Debug, DomainEvent)]
#[carebus(aggregate_type = "Patient", aggregate_id = "patient_id", topic = "t")]
struct NoteAdded {
    patient_id: String,
    #[carebus(classification = "phi")]
    text: String,
    note: carebus_core::Phi<Option<String>>,
}

fn main() {}
