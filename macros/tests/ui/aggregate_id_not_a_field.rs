use carebus_macros::DomainEvent;

#[derive(Clone, Debug, DomainEvent)]
#[carebus(aggregate_type = "Patient", aggregate_id = "patientid", topic = "t")]
struct NoteAdded {
    patient_id: String,
}

fn main() {}
