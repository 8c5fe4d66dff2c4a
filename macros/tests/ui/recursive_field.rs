use carebus_macros::DomainEvent;

#[derive(Clone, Debug, DomainEvent)]
#[carebus(aggregate_type = "Plan", aggregate_id = "plan_id", topic = "t")]
struct StepAdded {
    plan_id: String,
    next: Option<Box<StepAdded>>,
}

fn main() {}
