use carebus_macros::DomainEvent;

#[derive(Clone, Debug, DomainEvent)]
#[carebus(aggregate_type = "Patient", aggregate_id = "patient_id", topic = "t", version = 0)]
struct NoteAdded {
    patient_id: String,
    #[carebus(examples = "not json")]
    text: String,
    #[carebus(default = "\"ten\"")]
    count: i32,
    #[carebus(decimal(precision = 50, scale = 2))]
    amount: carebus_core::Decimal,
}

fn main() {}
