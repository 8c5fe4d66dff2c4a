//! Events the PRM service answers in (a journey's `ActionTriggered`, the AI service's `AnalysisCompleted`), a booked follow-up appointment (once per action) and a recorded analysis on the patient out.

use super::SERVICE;
use super::records::{DeskError, PrmRecords};
use super::views::Analysis;
use carebus::store::{EventContext, NewEvent};
use carebus::{HandlerContext, HandlerError, HandlerResult, Timestamp, Uuid};
use carebus_schemas::healthcare::ai::{AnalysisCompleted, FindingSeverity};
use carebus_schemas::*;

/// Counter (label `outcome`: booked, duplicate, skipped, ignored): actions handled.
pub const ACTIONS_COUNTER: &str = "prm_actions_total";
/// Counter (label `outcome`: recorded, duplicate): analyses handled.
pub const ANALYSES_COUNTER: &str = "prm_analyses_total";

/// The handler of both topics; clones share the records.
#[derive(Clone)]
pub struct Desk {
    /// The event store and read model.
    pub records: PrmRecords,
}

fn retriable(what: &str, e: DeskError) -> HandlerError {
    HandlerError::retriable(format!("prm-service: {what}: {e}")).with_source(e)
}

/// Log an action that cannot be carried out (by its id and why, never the patient's data).
fn skipped(action: &str, why: &'static str) -> &'static str {
    tracing::warn!(action_id = %action, reason = why,
        "a journey action asked for an appointment that cannot be booked; skipped");
    "skipped"
}

/// Code system of the `specialty` parameter as an appointment's service type.
pub const SPECIALTY_SYSTEM: &str = "urn:carebus:specialty";

/// A parameter of the action (the map is PHI: values are read, never logged).
fn parameter<'a>(event: &'a ActionTriggered, name: &str) -> Option<&'a str> {
    event
        .parameters
        .expose()
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// The appointment a `SCHEDULE_APPOINTMENT` action asks for. Parameters (all optional):
/// `practitionerId` (default `care-team`), `locationId` (default `main-clinic`),
/// `appointmentType` (v2-0276 code, default `FOLLOWUP`), `specialty` (the service type),
/// `durationMinutes` (default 30) and `inDays` or `withinDays` (days after `dueAt`, or after
/// `triggeredAt` when there is no `dueAt`; default 0).
pub fn booking(event: &ActionTriggered) -> AppointmentScheduled {
    let reference = |kind: &str, id: &str| Reference {
        r#type: kind.into(),
        id: id.into(),
        display: None,
    };
    let number = |name: &str, default: i64, max: i64| {
        parameter(event, name)
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|n| (0..=max).contains(n))
            .unwrap_or(default)
    };
    let base = event.due_at.unwrap_or(event.triggered_at);
    let days = match parameter(event, "inDays") {
        Some(_) => number("inDays", 0, 3650),
        None => number("withinDays", 0, 3650),
    };
    let start = Timestamp(base.0 + days * 86_400_000_000);
    let minutes = number("durationMinutes", 30, 24 * 60).max(1);
    AppointmentScheduled {
        appointment_id: Uuid::new_v4(),
        patient_id: event.patient_id.clone(),
        practitioner: reference(
            "Practitioner",
            parameter(event, "practitionerId").unwrap_or("care-team"),
        ),
        location: reference(
            "Location",
            parameter(event, "locationId").unwrap_or("main-clinic"),
        ),
        start,
        end: Timestamp(start.0 + minutes * 60_000_000),
        appointment_type: Coding {
            system: "http://terminology.hl7.org/CodeSystem/v2-0276".into(),
            code: parameter(event, "appointmentType")
                .unwrap_or("FOLLOWUP")
                .into(),
            display: None,
        },
        service_type: parameter(event, "specialty").map(|specialty| Coding {
            system: SPECIALTY_SYSTEM.into(),
            code: specialty.into(),
            display: None,
        }),
        reason: None,
        visit_mode: VisitMode::InPerson,
        patient_instructions: None,
        scheduled_by: reference("Device", SERVICE),
        scheduled_at: Timestamp::now(),
    }
}

impl Desk {
    /// A journey's compensation (`operation` = `cancel`): cancel the open appointments its
    /// actions booked. A redelivery finds them cancelled and does nothing.
    async fn cancel_journey_bookings(
        &self,
        event: &ActionTriggered,
        context: &EventContext,
    ) -> HandlerResult {
        let journey = event.journey_id.to_text();
        let open = self
            .records
            .open_appointments_of_journey(&journey)
            .await
            .map_err(|e| retriable("read a journey's appointments", e))?;
        for id in open {
            let Ok(uuid) = Uuid::parse(&id) else { continue };
            let result = self
                .records
                .change("appointment", &id, None, |current| {
                    let status =
                        super::appointments::appointment_transition(&current.status, "cancel")
                            .map_err(DeskError::Conflict)?;
                    let cancelled = AppointmentCancelled {
                        appointment_id: uuid,
                        patient_id: current.patient_id.clone(),
                        reason: CancellationReason::Other,
                        reason_text: None,
                        cancelled_by: Reference {
                            r#type: "Device".into(),
                            id: SERVICE.into(),
                            display: None,
                        },
                        rescheduled_appointment_id: None,
                        late_cancellation: false,
                        cancelled_at: Timestamp::now(),
                    };
                    let event = NewEvent::from_event(&cancelled, context).map_err(|e| {
                        DeskError::Invalid(vec![super::request::Issue {
                            field: e.field,
                            message: e.rule,
                        }])
                    })?;
                    Ok(super::records::Decision { event, status })
                })
                .await;
            let outcome = match result {
                Ok(_) => "cancelled",
                // Cancelled or completed meanwhile: nothing left to compensate.
                Err(DeskError::Conflict(_) | DeskError::NotFound { .. }) => "duplicate",
                Err(DeskError::Invalid(_)) => skipped(
                    &event.action_id.to_text(),
                    "the cancellation breaks its schema",
                ),
                Err(e) => return Err(retriable("cancel a journey's appointment", e)),
            };
            metrics::counter!(ACTIONS_COUNTER, "outcome" => outcome).increment(1);
        }
        Ok(())
    }
}

impl JourneysHandler for Desk {
    async fn on_action_triggered(
        &self,
        ctx: &HandlerContext,
        event: ActionTriggered,
    ) -> HandlerResult {
        if event.action_type != ActionType::ScheduleAppointment {
            metrics::counter!(ACTIONS_COUNTER, "outcome" => "ignored").increment(1);
            return Ok(());
        }
        let context = EventContext {
            causation_id: Some(ctx.event_id().to_string()),
            source: SERVICE.into(),
            ..EventContext::from(ctx)
        };
        if parameter(&event, "operation") == Some("cancel") {
            return self.cancel_journey_bookings(&event, &context).await;
        }
        let booking = booking(&event);
        let new = NewEvent::from_event(&booking, &context).map_err(|e| {
            HandlerError::permanent(format!(
                "prm-service: action {} asks for an appointment that breaks its schema: {e}",
                event.action_id.to_text()
            ))
        })?;
        let action = event.action_id.to_text();
        let outcome = match self
            .records
            .schedule(
                new,
                &booking.patient_id,
                &booking.practitioner.id,
                booking.start.0,
                Some((&action, &event.journey_id.to_text())),
            )
            .await
        {
            Ok(Some(_)) => "booked",
            Ok(None) => "duplicate",
            Err(DeskError::NotFound { .. }) => skipped(&action, "the patient is not registered"),
            Err(DeskError::Conflict(_)) => skipped(&action, "the patient is not active"),
            Err(DeskError::Invalid(_)) => skipped(&action, "the booking breaks its schema"),
            Err(e) => return Err(retriable("book the appointment of a journey action", e)),
        };
        metrics::counter!(ACTIONS_COUNTER, "outcome" => outcome).increment(1);
        Ok(())
    }
}

/// How urgent a severity is (higher is more urgent).
fn rank(s: FindingSeverity) -> u8 {
    match s {
        FindingSeverity::FindingSeverityCritical => 5,
        FindingSeverity::FindingSeverityHigh => 4,
        FindingSeverity::FindingSeverityModerate => 3,
        FindingSeverity::FindingSeverityLow => 2,
        FindingSeverity::FindingSeverityInfo => 1,
        _ => 0,
    }
}

/// The analysis as the PRM records it: kind, highest severity and how many findings (no
/// finding content: codes and descriptions are PHI and stay with the AI service).
pub fn analysis(event: &AnalysisCompleted) -> Analysis {
    let highest = event
        .findings
        .expose()
        .iter()
        .map(|f| f.severity)
        .max_by_key(|s| rank(*s))
        .unwrap_or(FindingSeverity::FindingSeverityUnspecified);
    Analysis {
        analysis_id: event.analysis_id.clone(),
        patient_id: event.patient_id.clone(),
        kind: event.kind.symbol().unwrap_or("UNKNOWN").into(),
        highest_severity: highest.symbol().unwrap_or("UNKNOWN").into(),
        needs_review: rank(highest) >= 4,
        findings: i32::try_from(event.findings.expose().len()).unwrap_or(i32::MAX),
        completed_at_micros: event.completed_at_micros,
    }
}

impl AiHandler for Desk {
    async fn on_analysis_completed(
        &self,
        _ctx: &HandlerContext,
        event: AnalysisCompleted,
    ) -> HandlerResult {
        let recorded = self
            .records
            .record_analysis(&analysis(&event))
            .await
            .map_err(|e| retriable("record an AI analysis", e))?;
        let outcome = if recorded { "recorded" } else { "duplicate" };
        metrics::counter!(ANALYSES_COUNTER, "outcome" => outcome).increment(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carebus::Phi;
    use carebus_schemas::healthcare::ai::{AnalysisKind, Finding, FindingCode};
    use std::collections::BTreeMap;

    fn action(parameters: &[(&str, &str)], due_at: Option<Timestamp>) -> ActionTriggered {
        ActionTriggered {
            journey_id: Uuid::new_v4(),
            patient_id: "patient-1".into(),
            action_id: Uuid::new_v4(),
            stage_id: "follow-up-to-book".into(),
            action_type: ActionType::ScheduleAppointment,
            trigger: JourneyTrigger {
                kind: TriggerKind::DomainEvent,
                source_event_type: None,
                source_event_id: None,
                rule: None,
            },
            template_id: None,
            parameters: Phi::new(
                parameters
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            due_at,
            triggered_at: Timestamp(1_000_000_000_000_000),
        }
    }

    #[test]
    fn a_booking_starts_its_days_after_the_due_time() {
        let b = booking(&action(
            &[("withinDays", "14"), ("appointmentType", "FOLLOWUP")],
            None,
        ));
        assert_eq!(b.start.0, 1_000_000_000_000_000 + 14 * 86_400_000_000);
        assert_eq!(b.end.0 - b.start.0, 30 * 60_000_000);
        assert_eq!(b.practitioner.id, "care-team");
        let due = Timestamp(2_000_000_000_000_000);
        let b = booking(&action(
            &[("inDays", "1"), ("durationMinutes", "45")],
            Some(due),
        ));
        assert_eq!(b.start.0, due.0 + 86_400_000_000);
        assert_eq!(b.end.0 - b.start.0, 45 * 60_000_000);
        // Out-of-range or unreadable numbers fall back to the defaults.
        let b = booking(&action(
            &[("inDays", "-3"), ("durationMinutes", "many")],
            None,
        ));
        assert_eq!(
            (b.start.0, b.end.0 - b.start.0),
            (1_000_000_000_000_000, 30 * 60_000_000)
        );
    }

    #[allow(deprecated)] // result_text
    #[test]
    fn an_analysis_is_recorded_by_its_most_severe_finding() {
        let finding = |severity| Finding {
            code: Phi::new(FindingCode {
                system: "http://loinc.org".into(),
                code: "4548-4".into(),
                display: None,
            }),
            description: Phi::new("text".into()),
            confidence: 0.5,
            severity,
            evidence: Vec::new(),
        };
        let mut event = AnalysisCompleted {
            analysis_id: "a-1".into(),
            patient_id: "patient-1".into(),
            kind: AnalysisKind::AnalysisKindEarlyWarningScore,
            model_name: "m".into(),
            model_version: "1".into(),
            confidence: 0.5,
            findings: Phi::new(vec![
                finding(FindingSeverity::FindingSeverityLow),
                finding(FindingSeverity::FindingSeverityCritical),
                finding(FindingSeverity::FindingSeverityInfo),
            ]),
            summary: None,
            duration_ms: 1,
            completed_at_micros: 5,
            result_text: Phi::new(String::new()),
        };
        let a = analysis(&event);
        assert_eq!(a.highest_severity, "FINDING_SEVERITY_CRITICAL");
        assert_eq!((a.findings, a.needs_review), (3, true));
        assert_eq!(a.kind, "ANALYSIS_KIND_EARLY_WARNING_SCORE");
        event.findings = Phi::new(vec![finding(FindingSeverity::FindingSeverityModerate)]);
        assert!(!analysis(&event).needs_review);
        event.findings = Phi::new(Vec::new());
        assert_eq!(
            analysis(&event).highest_severity,
            "FINDING_SEVERITY_UNSPECIFIED"
        );
    }
}
