use carebus_macros::DomainEvent;

#[derive(Clone, Debug, DomainEvent)]
#[carebus(aggregate_type = "Patient", aggregate_id = "patient_id", topic = "t", aggregateType = "Patient")]
struct NoteAdded {
    patient_id: String,
}

fn main() {}
