use carebus_macros::DomainEvent;

#[derive(Clone, Debug, DomainEvent)]
#[carebus(namespace = "healthcare.notes")]
struct NoteAdded {
    patient_id: String,
}

fn main() {}
