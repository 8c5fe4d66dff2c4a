//! Consumed appointment, clinical and journey events turned into recorded notifications (the service's typed handlers).

use super::hub::Hub;
use super::notification::{self, Notification};
use carebus::{HandlerContext, HandlerResult};
use carebus_schemas::*;

/// The handler of the three topics: each event that concerns a person becomes a notification.
#[derive(Clone)]
pub struct Feed {
    hub: Hub,
}

impl Feed {
    /// A feed recording into `hub`.
    pub fn new(hub: Hub) -> Feed {
        Feed { hub }
    }

    fn record(&self, ctx: &HandlerContext, n: Option<Notification>) -> HandlerResult {
        let Some(n) = n else {
            return Ok(());
        };
        let kind = n.kind.label();
        let outcome = match self.hub.record(ctx.event_id(), n) {
            Some(_) => "recorded",
            None => "duplicate",
        };
        metrics::counter!("carebus_realtime_notifications_total",
            "kind" => kind, "outcome" => outcome)
        .increment(1);
        Ok(())
    }
}

impl AppointmentsHandler for Feed {
    async fn on_appointment_scheduled(
        &self,
        ctx: &HandlerContext,
        e: AppointmentScheduled,
    ) -> HandlerResult {
        self.record(ctx, Some(notification::scheduled(&e)))
    }
    async fn on_appointment_confirmed(
        &self,
        ctx: &HandlerContext,
        e: AppointmentConfirmed,
    ) -> HandlerResult {
        self.record(ctx, Some(notification::confirmed(&e)))
    }
    async fn on_appointment_cancelled(
        &self,
        ctx: &HandlerContext,
        e: AppointmentCancelled,
    ) -> HandlerResult {
        self.record(ctx, Some(notification::cancelled(&e)))
    }
    async fn on_appointment_completed(
        &self,
        _: &HandlerContext,
        _: AppointmentCompleted,
    ) -> HandlerResult {
        Ok(())
    }
}

impl ClinicalHandler for Feed {
    async fn on_vital_signs_recorded(
        &self,
        _: &HandlerContext,
        _: VitalSignsRecorded,
    ) -> HandlerResult {
        Ok(())
    }
    async fn on_lab_result_received(
        &self,
        ctx: &HandlerContext,
        e: LabResultReceived,
    ) -> HandlerResult {
        self.record(ctx, notification::lab_result(&e))
    }
    async fn on_diagnosis_added(&self, _: &HandlerContext, _: DiagnosisAdded) -> HandlerResult {
        Ok(())
    }
    async fn on_prescription_created(
        &self,
        _: &HandlerContext,
        _: PrescriptionCreated,
    ) -> HandlerResult {
        Ok(())
    }
}

impl JourneysHandler for Feed {
    async fn on_action_triggered(&self, ctx: &HandlerContext, e: ActionTriggered) -> HandlerResult {
        self.record(ctx, Some(notification::action(&e)))
    }
    async fn on_journey_completed(&self, _: &HandlerContext, _: JourneyCompleted) -> HandlerResult {
        Ok(())
    }
    async fn on_journey_started(&self, _: &HandlerContext, _: JourneyStarted) -> HandlerResult {
        Ok(())
    }
    async fn on_stage_completed(&self, _: &HandlerContext, _: StageCompleted) -> HandlerResult {
        Ok(())
    }
}
