//! PRM API request bodies about appointments in (schedule, confirm, cancel, complete), the appointment events they ask for out (or the fields that are wrong), and which change fits which status.

use super::request::{Body, Issue};
use carebus::{Phi, Timestamp, Uuid};
use carebus_schemas::*;
use serde_json::Value;
/// The default appointment type: HL7 v2 table 0276 ROUTINE.
fn routine() -> Coding {
    Coding {
        system: "http://terminology.hl7.org/CodeSystem/v2-0276".into(),
        code: "ROUTINE".into(),
        display: Some("Routine appointment".into()),
    }
}

/// `POST /appointments`: a booking.
pub fn schedule(body: &Value) -> Result<AppointmentScheduled, Vec<Issue>> {
    let mut b = Body::new(body);
    let appointment_id = b.opt_uuid("appointmentId").unwrap_or_else(Uuid::new_v4);
    let patient_id = b.str("patientId");
    if !b.has("practitionerId") {
        b.issue("practitionerId", "is required");
    }
    let practitioner = b.reference("practitionerId", "Practitioner");
    if !b.has("locationId") {
        b.issue("locationId", "is required");
    }
    let location = b.reference("locationId", "Location");
    let start = b.time("start");
    let end = match (b.opt_time("end"), b.opt_int("durationMinutes", 1, 24 * 60)) {
        (Some(end), _) => end,
        (None, Some(minutes)) => Timestamp(start.0 + minutes * 60_000_000),
        (None, None) => {
            if !b.failed() {
                b.issue("end", "is required (or durationMinutes)");
            }
            start
        }
    };
    if end.0 <= start.0 && !b.failed() {
        b.issue("end", "must be after start");
    }
    let appointment_type = if b.has("appointmentType") {
        Coding {
            system: b.str("appointmentType.system"),
            code: b.str("appointmentType.code"),
            display: b.opt_str("appointmentType.display"),
        }
    } else {
        routine()
    };
    let visit_mode = b
        .opt_symbol(
            "visitMode",
            VisitMode::from_symbol,
            "in_person, video, phone, home_visit",
        )
        .unwrap_or(VisitMode::InPerson);
    let patient_instructions = b.opt_str("patientInstructions").map(Phi::new);
    let scheduled_by = b.actor("scheduledBy");
    let (Some(practitioner), Some(location)) = (practitioner, location) else {
        return Err(b.finish(()).err().unwrap_or_default());
    };
    b.finish(AppointmentScheduled {
        appointment_id,
        patient_id,
        practitioner,
        location,
        start,
        end,
        appointment_type,
        service_type: None,
        reason: None,
        visit_mode,
        patient_instructions,
        scheduled_by,
        scheduled_at: Timestamp::now(),
    })
}

/// `POST /appointments/{id}/confirm`.
pub fn confirm(
    id: Uuid,
    patient_id: &str,
    body: &Value,
) -> Result<(AppointmentConfirmed, Option<u64>), Vec<Issue>> {
    let mut b = Body::new(body);
    let expected = b.expected_version();
    let channel = b.symbol(
        "channel",
        ConfirmationChannel::from_symbol,
        "sms, email, phone, patient_portal, in_person, other",
    );
    let reminder_id = b.opt_uuid("reminderId");
    b.finish((
        AppointmentConfirmed {
            appointment_id: id,
            patient_id: patient_id.into(),
            channel: channel.unwrap_or(ConfirmationChannel::Other),
            reminder_id,
            confirmed_at: Timestamp::now(),
        },
        expected,
    ))
}

/// `POST /appointments/{id}/cancel`.
pub fn cancel(
    id: Uuid,
    patient_id: &str,
    body: &Value,
) -> Result<(AppointmentCancelled, Option<u64>), Vec<Issue>> {
    let mut b = Body::new(body);
    let expected = b.expected_version();
    let reason = b.symbol(
        "reason",
        CancellationReason::from_symbol,
        "patient_request, patient_rescheduled, patient_deceased, patient_hospitalized, \
         provider_unavailable, equipment_maintenance, weather, financial, entered_in_error, other",
    );
    let reason_text = b.opt_str("reasonText").map(Phi::new);
    let rescheduled = b.opt_uuid("rescheduledAppointmentId");
    let late = b.opt_bool("lateCancellation").unwrap_or(false);
    let cancelled_by = b.actor("cancelledBy");
    b.finish((
        AppointmentCancelled {
            appointment_id: id,
            patient_id: patient_id.into(),
            reason: reason.unwrap_or(CancellationReason::Other),
            reason_text,
            cancelled_by,
            rescheduled_appointment_id: rescheduled,
            late_cancellation: late,
            cancelled_at: Timestamp::now(),
        },
        expected,
    ))
}

/// `POST /appointments/{id}/complete`; the practitioner defaults to the booked one.
pub fn complete(
    id: Uuid,
    patient_id: &str,
    practitioner_id: &str,
    body: &Value,
) -> Result<(AppointmentCompleted, Option<u64>), Vec<Issue>> {
    let mut b = Body::new(body);
    let expected = b.expected_version();
    let actual_start = b.time("actualStart");
    let actual_end = b.time("actualEnd");
    if actual_end.0 < actual_start.0 && !b.failed() {
        b.issue("actualEnd", "must not be before actualStart");
    }
    let checked_in_at = b.opt_time("checkedInAt");
    let encounter_id = b.opt_uuid("encounterId").unwrap_or_else(Uuid::new_v4);
    let practitioner = b
        .reference("practitionerId", "Practitioner")
        .unwrap_or_else(|| Reference {
            r#type: "Practitioner".into(),
            id: practitioner_id.into(),
            display: None,
        });
    let follow_up_in_days = b
        .opt_int("followUpInDays", 1, 3650)
        .and_then(|n| i32::try_from(n).ok());
    let follow_up_required = b
        .opt_bool("followUpRequired")
        .unwrap_or_else(|| follow_up_in_days.is_some());
    b.finish((
        AppointmentCompleted {
            appointment_id: id,
            patient_id: patient_id.into(),
            encounter_id,
            practitioner,
            checked_in_at,
            actual_start,
            actual_end,
            follow_up_required,
            follow_up_in_days,
        },
        expected,
    ))
}

/// The status an appointment change leads to, or why it does not fit `status`.
pub fn appointment_transition(status: &str, change: &str) -> Result<&'static str, String> {
    let next = match change {
        "confirm" => "confirmed",
        "cancel" => "cancelled",
        _ => "completed",
    };
    let fits = match change {
        "confirm" => status == "scheduled",
        _ => status == "scheduled" || status == "confirmed",
    };
    if fits {
        Ok(next)
    } else {
        Err(format!(
            "a {status} appointment cannot be {next}; only scheduled{} ones can",
            if change == "confirm" {
                ""
            } else {
                " or confirmed"
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(r: Result<impl Sized, Vec<Issue>>) -> Vec<String> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|i| i.field)
            .collect()
    }

    #[test]
    fn a_booking_needs_a_time_slot() {
        let body = json!({ "patientId": "p-1", "practitionerId": "pract-1", "locationId": "loc-1",
            "start": "2026-03-01T09:00:00Z", "durationMinutes": 30 });
        let s = schedule(&body).unwrap();
        assert_eq!(s.end.0 - s.start.0, 30 * 60_000_000);
        assert_eq!(
            fields(schedule(
                &json!({ "patientId": "p-1", "practitionerId": "pract-1", "start": "soon" })
            )),
            ["locationId", "start"]
        );
    }

    #[test]
    fn finished_appointments_do_not_change() {
        assert_eq!(
            appointment_transition("scheduled", "confirm"),
            Ok("confirmed")
        );
        assert_eq!(
            appointment_transition("confirmed", "complete"),
            Ok("completed")
        );
        assert!(appointment_transition("cancelled", "confirm").is_err());
        assert!(appointment_transition("completed", "cancel").is_err());
    }
}
