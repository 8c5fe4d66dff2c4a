use carebus_macros::DomainEvent;

#[derive(Clone, Debug)]
struct Address;

#[derive(Clone, Debug, DomainEvent)]
#[carebus(aggregate_type = "Patient", aggregate_id = "patient_id", topic = "t")]
struct NoteAdded {
    patient_id: String,
    home: Address,
    count: u64,
    amount: carebus_core::Decimal,
    by_code: std::collections::BTreeMap<i32, String>,
}

fn main() {}
