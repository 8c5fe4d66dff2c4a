use carebus_macros::DomainEvent;

#[derive(Clone, Debug, DomainEvent)]
#[carebus(aggregate_type = "Patient", aggregate_id = "patient_id", topic = "t")]
enum NoteAdded {
    Short,
    Long,
}

#[derive(Clone, Debug, DomainEvent)]
#[carebus(aggregate_type = "Patient", aggregate_id = "patient_id", topic = "t")]
struct Tuple(String);

fn main() {}
