//! Consumed patient, appointment and clinical events turned into applied FHIR resource edits (the service's typed handlers).

use super::store::{Edit, FhirStore, Outcome};
use super::{clinical, patient};
use carebus::{HandlerContext, HandlerError, HandlerResult, Timestamp};
use carebus_schemas::*;

/// The handler of all three topics: maps each event to edits and applies them.
#[derive(Clone)]
pub struct FhirSync {
    store: FhirStore,
}

impl FhirSync {
    /// A handler writing to `store`.
    pub fn new(store: FhirStore) -> FhirSync {
        FhirSync { store }
    }

    /// Apply `edits`; `time` is the event's own time (its aggregate's order). Logs ids and
    /// types only, never content.
    async fn apply(
        &self,
        ctx: &HandlerContext,
        time: Timestamp,
        edits: Vec<Edit>,
    ) -> HandlerResult {
        let outcome = self
            .store
            .apply(ctx.event_id(), ctx.event_type(), time, &edits)
            .await
            .map_err(|e| {
                HandlerError::retriable(format!(
                    "FHIR store unavailable for {} {}",
                    ctx.event_type(),
                    ctx.event_id()
                ))
                .with_source(e)
            })?;
        metrics_outcome(ctx.event_type(), outcome);
        if outcome != Outcome::Applied {
            tracing::debug!(event_id = ctx.event_id(), event_type = ctx.event_type(),
                outcome = ?outcome, "event changed no FHIR resource");
        }
        Ok(())
    }
}

/// Whether `id` is a FHIR logical id: 1 to 64 of `A-Z a-z 0-9 - .`.
pub fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// `carebus_fhir_events_total{event_type, outcome}`: what each consumed event did.
fn metrics_outcome(event_type: &str, outcome: Outcome) {
    metrics::counter!("carebus_fhir_events_total",
        "event_type" => event_type.to_string(), "outcome" => outcome.label())
    .increment(1);
}

/// A registration has no time of its own: it orders before every later change.
const FIRST: Timestamp = Timestamp(i64::MIN);

impl PatientsHandler for FhirSync {
    async fn on_patient_created(&self, ctx: &HandlerContext, e: PatientCreated) -> HandlerResult {
        self.apply(ctx, FIRST, patient::created(e)).await
    }
    async fn on_patient_updated(&self, ctx: &HandlerContext, e: PatientUpdated) -> HandlerResult {
        let time = e.updated_at;
        self.apply(ctx, time, patient::updated(e)).await
    }
    async fn on_patient_merged(&self, ctx: &HandlerContext, e: PatientMerged) -> HandlerResult {
        let time = e.merged_at;
        self.apply(ctx, time, patient::merged(e)).await
    }
    async fn on_patient_deactivated(
        &self,
        ctx: &HandlerContext,
        e: PatientDeactivated,
    ) -> HandlerResult {
        let time = e.deactivated_at;
        self.apply(ctx, time, patient::deactivated(e)).await
    }
}

impl AppointmentsHandler for FhirSync {
    async fn on_appointment_scheduled(
        &self,
        ctx: &HandlerContext,
        e: AppointmentScheduled,
    ) -> HandlerResult {
        let time = e.scheduled_at;
        self.apply(ctx, time, patient::scheduled(e)).await
    }
    async fn on_appointment_confirmed(
        &self,
        ctx: &HandlerContext,
        e: AppointmentConfirmed,
    ) -> HandlerResult {
        let time = e.confirmed_at;
        self.apply(ctx, time, patient::confirmed(e)).await
    }
    async fn on_appointment_cancelled(
        &self,
        ctx: &HandlerContext,
        e: AppointmentCancelled,
    ) -> HandlerResult {
        let time = e.cancelled_at;
        self.apply(ctx, time, patient::cancelled(e)).await
    }
    async fn on_appointment_completed(
        &self,
        ctx: &HandlerContext,
        e: AppointmentCompleted,
    ) -> HandlerResult {
        let time = e.actual_end;
        self.apply(ctx, time, patient::completed(e)).await
    }
}

impl ClinicalHandler for FhirSync {
    async fn on_vital_signs_recorded(
        &self,
        ctx: &HandlerContext,
        e: VitalSignsRecorded,
    ) -> HandlerResult {
        let time = e.effective_at;
        self.apply(ctx, time, clinical::vital_signs(e)).await
    }
    async fn on_lab_result_received(
        &self,
        ctx: &HandlerContext,
        e: LabResultReceived,
    ) -> HandlerResult {
        let time = e.issued_at;
        self.apply(ctx, time, clinical::lab_result(e)).await
    }
    async fn on_diagnosis_added(&self, ctx: &HandlerContext, e: DiagnosisAdded) -> HandlerResult {
        let time = e.recorded_at;
        self.apply(ctx, time, clinical::diagnosis(e)).await
    }
    async fn on_prescription_created(
        &self,
        ctx: &HandlerContext,
        e: PrescriptionCreated,
    ) -> HandlerResult {
        let time = e.authored_at;
        self.apply(ctx, time, clinical::prescription(e)).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fhir_ids_are_letters_digits_dashes_and_dots() {
        assert!(super::is_fhir_id("patient-00001"));
        assert!(super::is_fhir_id(
            "0b7c4c1e-6d2a-4b8e-9c1f-1a2b3c4d5e6f-8867-4"
        ));
        assert!(!super::is_fhir_id("p_1"));
        assert!(!super::is_fhir_id(""));
        assert!(!super::is_fhir_id(&"a".repeat(65)));
    }
}
