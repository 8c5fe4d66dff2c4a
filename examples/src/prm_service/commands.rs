//! PRM API request bodies in, the patient and appointment events they ask for out (or the fields that are wrong), plus the state rules that say which change fits which status.

use super::request::{Body, GENDERS, Issue};
use carebus::{Phi, Timestamp, Uuid};
use carebus_schemas::*;
use serde_json::Value;

/// Who made a change when the body names no one: the service itself.
fn actor(b: &mut Body<'_>, field: &str) -> Reference {
    b.reference(field, "Practitioner").unwrap_or(Reference {
        r#type: "Device".into(),
        id: super::SERVICE.into(),
        display: Some("PRM service".into()),
    })
}

/// `POST /patients`: a registration.
#[allow(deprecated)] // email: the schema still asks producers to fill it
pub fn register(body: &Value) -> Result<PatientCreated, Vec<Issue>> {
    let mut b = Body::new(body);
    let patient_id = b
        .opt_str("patientId")
        .unwrap_or_else(|| format!("patient-{}", Uuid::new_v4().to_text()));
    if patient_id.len() > 128 || patient_id.chars().any(char::is_control) {
        b.issue(
            "patientId",
            "must be at most 128 characters without control characters",
        );
    }
    let first_name = b.str("firstName");
    let last_name = b.str("lastName");
    if !b.has("dateOfBirth") {
        b.issue("dateOfBirth", "is required");
    }
    let date_of_birth = b.opt_date("dateOfBirth").unwrap_or_default();
    let gender = b
        .opt_symbol("gender", AdministrativeGender::from_symbol, GENDERS)
        .unwrap_or(AdministrativeGender::Unknown);
    let email = b.opt_str("email");
    if email.as_deref().is_some_and(|e| !e.contains('@')) {
        b.issue("email", "must be an e-mail address");
    }
    let identifiers = (0..b.len("identifiers"))
        .map(|i| Identifier {
            system: b.str(&format!("identifiers[{i}].system")),
            value: Phi::new(b.str(&format!("identifiers[{i}].value"))),
            type_code: b.opt_str(&format!("identifiers[{i}].typeCode")),
        })
        .collect();
    let telecom = b.telecom("telecom");
    let preferred_language = b.opt_str("preferredLanguage");
    b.finish(PatientCreated {
        patient_id,
        first_name: Phi::new(first_name),
        last_name: Phi::new(last_name),
        date_of_birth: Phi::new(date_of_birth),
        email: email.map(Phi::new),
        gender: Phi::new(gender),
        identifiers: Phi::new(identifiers),
        telecom: Phi::new(telecom),
        address: None,
        preferred_language,
    })
}

/// `PATCH /patients/{id}`: the changed demographics, and the caller's expected version.
pub fn update(id: &str, body: &Value) -> Result<(PatientUpdated, Option<u64>), Vec<Issue>> {
    let mut b = Body::new(body);
    let expected = b.expected_version();
    let mut changed = Vec::new();
    let name = if b.has("name") {
        changed.push("name".to_string());
        let given = match b.get("name.given") {
            Some(Value::String(_)) => vec![b.str("name.given")],
            _ => (0..b.len("name.given"))
                .map(|i| b.str(&format!("name.given[{i}]")))
                .collect(),
        };
        if given.is_empty() {
            b.issue("name.given", "is required (a name or a list of names)");
        }
        Some(Phi::new(HumanName {
            r#use: NameUse::Official,
            family: Phi::new(b.str("name.family")),
            given: Phi::new(given),
            prefix: None,
            suffix: None,
        }))
    } else {
        None
    };
    let date_of_birth = b.opt_date("dateOfBirth").map(Phi::new);
    if date_of_birth.is_some() {
        changed.push("dateOfBirth".into());
    }
    let gender = b
        .opt_symbol("gender", AdministrativeGender::from_symbol, GENDERS)
        .map(Phi::new);
    if gender.is_some() {
        changed.push("gender".into());
    }
    let telecom = b.has("telecom").then(|| Phi::new(b.telecom("telecom")));
    if telecom.is_some() {
        changed.push("telecom".into());
    }
    let preferred_language = b.opt_str("preferredLanguage");
    if preferred_language.is_some() {
        changed.push("preferredLanguage".into());
    }
    if changed.is_empty() && !b.failed() {
        b.issue(
            "body",
            "names no field to change: name, dateOfBirth, gender, telecom or preferredLanguage",
        );
    }
    let updated_by = actor(&mut b, "updatedBy");
    b.finish((
        PatientUpdated {
            patient_id: id.into(),
            changed_fields: changed,
            name,
            date_of_birth,
            gender,
            telecom,
            address: None,
            preferred_language,
            updated_by,
            updated_at: Timestamp::now(),
        },
        expected,
    ))
}

/// `POST /patients/{id}/merge`: the merge into `id`, and the caller's expected version.
pub fn merge(id: &str, body: &Value) -> Result<(PatientMerged, Option<u64>), Vec<Issue>> {
    let mut b = Body::new(body);
    let expected = b.expected_version();
    let merged = b.str("mergedPatientId");
    if merged == id {
        b.issue(
            "mergedPatientId",
            "must name another patient than the survivor",
        );
    }
    let reason = b.symbol(
        "reason",
        MergeReason::from_symbol,
        "duplicate_registration, identity_correction, newborn_linkage, other",
    );
    let match_score = b.opt_number("matchScore", 0.0, 1.0);
    let merged_by = actor(&mut b, "mergedBy");
    b.finish((
        PatientMerged {
            patient_id: id.into(),
            merged_patient_id: merged,
            merged_identifiers: Phi::new(Vec::new()),
            reason: reason.unwrap_or(MergeReason::Other),
            match_score,
            merged_by,
            merged_at: Timestamp::now(),
        },
        expected,
    ))
}

/// `POST /patients/{id}/deactivate`.
pub fn deactivate(id: &str, body: &Value) -> Result<(PatientDeactivated, Option<u64>), Vec<Issue>> {
    let mut b = Body::new(body);
    let expected = b.expected_version();
    let reason = b.symbol(
        "reason",
        DeactivationReason::from_symbol,
        "deceased, merged, entered_in_error, patient_request, transferred_out, retention_expired, other",
    );
    let deceased_at = b.opt_time("deceasedAt");
    if reason == Some(DeactivationReason::Deceased) && deceased_at.is_none() && !b.failed() {
        b.issue("deceasedAt", "is required when the reason is deceased");
    }
    let note = b.opt_str("note").map(Phi::new);
    let deactivated_by = actor(&mut b, "deactivatedBy");
    b.finish((
        PatientDeactivated {
            patient_id: id.into(),
            reason: reason.unwrap_or(DeactivationReason::Other),
            deceased_at: deceased_at.map(Phi::new),
            note,
            deactivated_by,
            deactivated_at: Timestamp::now(),
        },
        expected,
    ))
}

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
    let scheduled_by = actor(&mut b, "scheduledBy");
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
    let cancelled_by = actor(&mut b, "cancelledBy");
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
        .unwrap_or(Reference {
            r#type: "Practitioner".into(),
            id: practitioner_id.into(),
            display: None,
        });
    let follow_up_in_days = b
        .opt_int("followUpInDays", 1, 3650)
        .and_then(|n| i32::try_from(n).ok());
    let follow_up_required = b
        .opt_bool("followUpRequired")
        .unwrap_or(follow_up_in_days.is_some());
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
    fn a_registration_needs_names_and_a_birth_date() {
        let ok = register(&json!({ "firstName": "Ana", "lastName": "Ruiz", "dateOfBirth": "1961-04-17", "gender": "female" })).unwrap();
        assert!(ok.patient_id.starts_with("patient-"));
        assert_eq!(*ok.gender.expose(), AdministrativeGender::Female);
        assert_eq!(
            fields(register(
                &json!({ "firstName": "Ana", "gender": "robot", "email": "Ana Ruiz" })
            )),
            ["lastName", "dateOfBirth", "gender", "email"]
        );
    }

    #[test]
    fn an_update_names_what_changed() {
        let (u, expected) = update(
            "p-1",
            &json!({ "preferredLanguage": "es", "expectedVersion": 3 }),
        )
        .unwrap();
        assert_eq!(u.changed_fields, ["preferredLanguage"]);
        assert_eq!(expected, Some(3));
        assert_eq!(fields(update("p-1", &json!({}))), ["body"]);
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
