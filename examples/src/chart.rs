//! The demo's event-sourcing side: patient events in, appended to the embedded event store per patient stream, and a patient chart aggregate rebuilt from them.

use carebus::store::{
    Aggregate, EventStore, ExpectedVersion, MemoryEventStore, NewEvent, stream_name,
};
use carebus::{DomainEvent, HandlerContext, HandlerResult};
use carebus_schemas::*;
use serde::{Deserialize, Serialize};

/// A patient's chart as the store rebuilds it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PatientChart {
    pub registered: bool,
    pub updates: u32,
    pub preferred_language: Option<String>,
    pub active: bool,
}

impl Aggregate for PatientChart {
    type Event = PatientsEvent;
    const AGGREGATE_TYPE: &'static str = "Patient";
    const STATE_VERSION: u32 = 1;

    fn apply(&mut self, event: &PatientsEvent) {
        match event {
            PatientsEvent::PatientCreated(e) => {
                self.registered = true;
                self.active = true;
                self.preferred_language = e.preferred_language.clone();
            }
            PatientsEvent::PatientCreatedV1(_) => {
                self.registered = true;
                self.active = true;
            }
            PatientsEvent::PatientUpdated(e) => {
                self.updates += 1;
                if e.preferred_language.is_some() {
                    self.preferred_language = e.preferred_language.clone();
                }
            }
            PatientsEvent::PatientDeactivated(_) => self.active = false,
            PatientsEvent::PatientMerged(_) => self.active = false,
        }
    }
}

/// Event store writer: appends each patient event to its patient's stream. The consumer is
/// at-least-once, so the append reuses the event's id: a redelivered event is a no-op.
pub struct StoreWriter(pub MemoryEventStore);

impl StoreWriter {
    async fn append<E: DomainEvent>(&self, ctx: &HandlerContext, event: &E) -> HandlerResult {
        let stream = stream_name(E::AGGREGATE_TYPE, &event.aggregate_id());
        let handled = NewEvent::from_handled(ctx, event)?;
        self.0
            .append(&stream, ExpectedVersion::Any, vec![handled])
            .await?;
        Ok(())
    }
}

impl PatientsHandler for StoreWriter {
    async fn on_patient_created(&self, ctx: &HandlerContext, e: PatientCreated) -> HandlerResult {
        self.append(ctx, &e).await
    }
    async fn on_patient_updated(&self, ctx: &HandlerContext, e: PatientUpdated) -> HandlerResult {
        self.append(ctx, &e).await
    }
    async fn on_patient_merged(&self, ctx: &HandlerContext, e: PatientMerged) -> HandlerResult {
        self.append(ctx, &e).await
    }
    async fn on_patient_deactivated(
        &self,
        ctx: &HandlerContext,
        e: PatientDeactivated,
    ) -> HandlerResult {
        self.append(ctx, &e).await
    }
}
