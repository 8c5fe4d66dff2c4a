//! A PRM front desk in miniature: synthetic patients and their appointments turned into typed events published through carebus.

use crate::summary::Summary;
use carebus::{Date, Phi, PublishError, PublishOptions, Timestamp, Uuid};
use carebus_schemas::*;

const GIVEN: [&str; 8] = [
    "Amara", "Jonas", "Mei", "Tomás", "Priya", "Olu", "Ingrid", "Yusuf",
];
const FAMILY: [&str; 8] = [
    "Okafor", "Schmidt", "Chen", "García", "Patel", "Adeyemi", "Larsen", "Demir",
];
const TENANT: &str = "hospital-456";

fn reference(kind: &str, id: &str, display: &str) -> Reference {
    Reference {
        r#type: kind.into(),
        id: id.into(),
        display: Some(display.into()),
    }
}

/// PatientCreated (v2) for the n-th synthetic patient.
#[allow(deprecated)] // the schema asks producers to fill email until every consumer reads telecom
pub fn new_patient(n: usize) -> PatientCreated {
    let given = GIVEN[n % GIVEN.len()];
    let family = FAMILY[(n / GIVEN.len()) % FAMILY.len()];
    PatientCreated {
        patient_id: format!("patient-{n:05}"),
        first_name: Phi::new(given.into()),
        last_name: Phi::new(family.into()),
        date_of_birth: Phi::new(
            Date::from_ymd(
                1950 + (n % 60) as i32,
                1 + (n % 12) as u32,
                1 + (n % 28) as u32,
            )
            .unwrap_or_default(),
        ),
        email: Some(Phi::new(format!(
            "{}.{}@example.com",
            given.to_lowercase(),
            n
        ))),
        gender: Phi::new(if n.is_multiple_of(2) {
            AdministrativeGender::Female
        } else {
            AdministrativeGender::Male
        }),
        identifiers: Phi::new(vec![Identifier {
            system: "urn:oid:2.16.840.1.113883.4.1".into(),
            value: Phi::new(format!("MRN-{n:07}")),
            type_code: Some("MR".into()),
        }]),
        telecom: Phi::new(vec![ContactPoint {
            system: ContactPointSystem::Phone,
            value: Phi::new(format!("+1-555-{:04}", n % 10_000)),
            r#use: Some(ContactPointUse::Mobile),
            rank: Some(1),
        }]),
        address: None,
        preferred_language: Some("en".into()),
    }
}

/// AppointmentScheduled for a patient, `days` from now.
pub fn schedule(patient_id: &str, days: i64) -> AppointmentScheduled {
    let start = Timestamp(Timestamp::now().0 + days * 86_400_000_000);
    AppointmentScheduled {
        appointment_id: Uuid::new_v4(),
        patient_id: patient_id.into(),
        practitioner: reference("Practitioner", "pract-17", "Dr. Rivera"),
        location: reference("Location", "clinic-3", "Cardiology clinic"),
        start,
        end: Timestamp(start.0 + 30 * 60_000_000),
        appointment_type: Coding {
            system: "http://terminology.hl7.org/CodeSystem/v2-0276".into(),
            code: "FOLLOWUP".into(),
            display: Some("A follow up visit".into()),
        },
        service_type: None,
        reason: None,
        visit_mode: VisitMode::InPerson,
        patient_instructions: None,
        scheduled_by: reference("Practitioner", "front-desk-1", "Front desk"),
        scheduled_at: Timestamp::now(),
    }
}

fn options(request: usize) -> PublishOptions {
    PublishOptions {
        tenant_id: Some(TENANT.into()),
        correlation_id: Some(format!("request-{request}")),
        user_id: Some("user-345".into()),
        ..PublishOptions::default()
    }
}

/// Register `patients` patients (PatientCreated each). Returns how many events were published.
pub async fn register_patients<P: carebus::Publish>(
    publisher: &P,
    patients: usize,
) -> Result<usize, PublishError> {
    for n in 0..patients {
        publisher
            .publish_patient_created(new_patient(n), options(n))
            .await?;
    }
    Ok(patients)
}

/// Book each registered patient an appointment that is confirmed, and then either completed
/// or cancelled (every 5th); every 10th patient also updates their details. Returns how many
/// events were published.
pub async fn run_front_desk<P: carebus::Publish>(
    publisher: &P,
    patients: usize,
    summary: &Summary,
) -> Result<usize, PublishError> {
    let mut published = 0;
    for n in 0..patients {
        let id = new_patient(n).patient_id;
        let appt = schedule(&id, 1 + (n % 14) as i64);
        let appointment_id = appt.appointment_id;
        let start = appt.start;
        publisher
            .publish_appointment_scheduled(appt, options(n))
            .await?;
        let confirmed = AppointmentConfirmed {
            appointment_id,
            patient_id: id.clone(),
            channel: ConfirmationChannel::Sms,
            reminder_id: None,
            confirmed_at: Timestamp::now(),
        };
        publisher
            .publish_appointment_confirmed(confirmed, options(n))
            .await?;
        published += 2;
        if n % 5 == 4 {
            let cancelled = AppointmentCancelled {
                appointment_id,
                patient_id: id.clone(),
                reason: CancellationReason::PatientRequest,
                reason_text: Some(Phi::new("feeling better".into())),
                cancelled_by: reference("Patient", &id, "the patient"),
                rescheduled_appointment_id: None,
                late_cancellation: false,
                cancelled_at: Timestamp::now(),
            };
            publisher
                .publish_appointment_cancelled(cancelled, options(n))
                .await?;
        } else {
            let completed = AppointmentCompleted {
                appointment_id,
                patient_id: id.clone(),
                encounter_id: Uuid::new_v4(),
                practitioner: reference("Practitioner", "pract-17", "Dr. Rivera"),
                checked_in_at: Some(start),
                actual_start: start,
                actual_end: Timestamp(start.0 + 25 * 60_000_000),
                follow_up_required: n % 3 == 0,
                follow_up_in_days: (n % 3 == 0).then_some(30),
            };
            publisher
                .publish_appointment_completed(completed, options(n))
                .await?;
        }
        published += 1;
        if n % 10 == 0 {
            let updated = PatientUpdated {
                patient_id: id.clone(),
                changed_fields: vec!["preferredLanguage".into()],
                name: None,
                date_of_birth: None,
                gender: None,
                telecom: None,
                address: None,
                preferred_language: Some("es".into()),
                updated_by: reference("Practitioner", "front-desk-1", "Front desk"),
                updated_at: Timestamp::now(),
            };
            publisher
                .publish_patient_updated(updated, options(n))
                .await?;
            published += 1;
            summary.updated();
        }
    }
    Ok(published)
}
