//! Patient and appointment events turned into edits of FHIR R4 Patient and Appointment resources.

use super::datatypes::*;
use super::store::Edit;
use carebus_schemas::*;
use serde_json::{Value, json};

/// BCP 47, the code system of `Patient.communication.language`.
const BCP47: &str = "urn:ietf:bcp:47";
/// HL7 appointment-cancellation-reason codes.
const CANCELLATION: &str = "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason";

/// A registration: the whole Patient (a `link` already set by a merge is kept).
#[allow(deprecated)] // email is read only when telecom has no EMAIL entry
pub fn created(e: PatientCreated) -> Vec<Edit> {
    let id = e.patient_id.clone();
    vec![Edit::new("Patient", &id, move |current| {
        let mut telecom: Vec<Value> = e.telecom.expose().iter().map(contact_point).collect();
        let has_email = e
            .telecom
            .expose()
            .iter()
            .any(|c| c.system == ContactPointSystem::Email);
        if let (Some(email), false) = (&e.email, has_email) {
            telecom.push(json!({ "system": "email", "value": email.expose() }));
        }
        let mut p = json!({
            "resourceType": "Patient",
            "id": e.patient_id,
            "identifier": e.identifiers.expose().iter().map(identifier).collect::<Vec<_>>(),
            "active": true,
            "name": [{
                "use": "official",
                "family": e.last_name.expose(),
                "given": [e.first_name.expose()],
            }],
            "gender": code(e.gender.expose().symbol()),
            "birthDate": date(*e.date_of_birth.expose()),
        });
        if !telecom.is_empty() {
            p["telecom"] = Value::Array(telecom);
        }
        if let Some(a) = &e.address {
            p["address"] = json!([address(a.expose())]);
        }
        if let Some(lang) = &e.preferred_language {
            p["communication"] = communication(lang);
        }
        if let Some(link) = current.and_then(|c| c.get("link")) {
            p["link"] = link.clone();
        }
        clean(&mut p);
        Some(p)
    })]
}

/// A demographics change: the fields the event carries replace the Patient's.
pub fn updated(e: PatientUpdated) -> Vec<Edit> {
    let id = e.patient_id.clone();
    vec![Edit::new("Patient", &id, move |current| {
        let mut p = current?.clone();
        if let Some(n) = &e.name {
            p["name"] = json!([human_name(n.expose())]);
        }
        if let Some(d) = &e.date_of_birth {
            p["birthDate"] = date(*d.expose());
        }
        if let Some(g) = &e.gender {
            p["gender"] = json!(code(g.expose().symbol()));
        }
        if let Some(t) = &e.telecom {
            p["telecom"] = Value::Array(t.expose().iter().map(contact_point).collect());
        }
        if let Some(a) = &e.address {
            p["address"] = json!([address(a.expose())]);
        }
        if let Some(lang) = &e.preferred_language {
            p["communication"] = communication(lang);
        }
        clean(&mut p);
        Some(p)
    })]
}

/// A merge: the survivor `replaces` the merged record and takes its identifiers; the merged
/// record becomes inactive and `replaced-by` the survivor.
pub fn merged(e: PatientMerged) -> Vec<Edit> {
    let (survivor, merged) = (e.patient_id.clone(), e.merged_patient_id.clone());
    let moved: Vec<Value> = e
        .merged_identifiers
        .expose()
        .iter()
        .map(identifier)
        .collect();
    let (s, m) = (survivor.clone(), merged.clone());
    vec![
        Edit::new("Patient", &survivor, move |current| {
            let mut p = current?.clone();
            let ids = p["identifier"].as_array().cloned().unwrap_or_default();
            let mut ids_out = ids.clone();
            for i in &moved {
                if !ids.contains(i) {
                    ids_out.push(i.clone());
                }
            }
            p["identifier"] = Value::Array(ids_out);
            add_link(&mut p, &m, "replaces");
            clean(&mut p);
            Some(p)
        }),
        Edit::new("Patient", &merged, move |current| {
            let mut p = current?.clone();
            p["active"] = json!(false);
            add_link(&mut p, &s, "replaced-by");
            Some(p)
        }),
    ]
}

/// A deactivation: `active` false, and the time of death when deceased.
pub fn deactivated(e: PatientDeactivated) -> Vec<Edit> {
    let id = e.patient_id.clone();
    vec![Edit::new("Patient", &id, move |current| {
        let mut p = current?.clone();
        p["active"] = json!(false);
        if let Some(t) = &e.deceased_at {
            p["deceasedDateTime"] = instant(*t.expose());
        }
        Some(p)
    })]
}

/// A booking: the whole Appointment, status booked.
pub fn scheduled(e: AppointmentScheduled) -> Vec<Edit> {
    let id = e.appointment_id.to_text();
    vec![Edit::new("Appointment", &id.clone(), move |current| {
        let mut a = json!({
            "resourceType": "Appointment",
            "id": id,
            "status": "booked",
            "appointmentType": concept_of(&e.appointment_type),
            "start": instant(e.start),
            "end": instant(e.end),
            "created": instant(e.scheduled_at),
            "participant": [
                { "actor": reference_to("Patient", &e.patient_id), "required": "required", "status": "needs-action" },
                { "actor": reference(&e.practitioner), "required": "required", "status": "accepted" },
                { "actor": reference(&e.location), "required": "required", "status": "accepted" },
            ],
        });
        if let Some(s) = &e.service_type {
            a["serviceType"] = json!([concept_of(s)]);
        }
        if let Some(r) = &e.reason {
            a["reasonCode"] = json!([concept(r.expose())]);
        }
        if let Some(i) = &e.patient_instructions {
            a["patientInstruction"] = json!(i.expose());
        }
        // A later status (a cancellation or completion read first) is not rolled back.
        if let Some(status) = current.and_then(|c| c.get("status")) {
            a["status"] = status.clone();
            a["participant"] = current.map_or(Value::Null, |c| c["participant"].clone());
        }
        Some(a)
    })]
}

/// A confirmation: the patient's participation is accepted.
pub fn confirmed(e: AppointmentConfirmed) -> Vec<Edit> {
    vec![Edit::new(
        "Appointment",
        &e.appointment_id.to_text(),
        move |current| {
            let mut a = current?.clone();
            set_patient_status(&mut a, &e.patient_id, "accepted");
            Some(a)
        },
    )]
}

/// A cancellation: status cancelled with its reason.
pub fn cancelled(e: AppointmentCancelled) -> Vec<Edit> {
    vec![Edit::new(
        "Appointment",
        &e.appointment_id.to_text(),
        move |current| {
            let mut a = current?.clone();
            a["status"] = json!("cancelled");
            let reason = match e.reason {
                CancellationReason::PatientRequest
                | CancellationReason::PatientRescheduled
                | CancellationReason::PatientDeceased
                | CancellationReason::PatientHospitalized => "pat",
                CancellationReason::ProviderUnavailable => "prov",
                CancellationReason::EquipmentMaintenance => "maint",
                CancellationReason::Weather => "oth-weath",
                CancellationReason::Financial => "oth-fin",
                CancellationReason::EnteredInError => "oth-err",
                CancellationReason::Other => "other",
            };
            a["cancelationReason"] =
                json!({ "coding": [{ "system": CANCELLATION, "code": reason }] });
            set_patient_status(&mut a, &e.patient_id, "declined");
            Some(a)
        },
    )]
}

/// A completed visit: status fulfilled, with the actual times as the appointment's times.
pub fn completed(e: AppointmentCompleted) -> Vec<Edit> {
    vec![Edit::new(
        "Appointment",
        &e.appointment_id.to_text(),
        move |current| {
            let mut a = current?.clone();
            a["status"] = json!("fulfilled");
            set_patient_status(&mut a, &e.patient_id, "accepted");
            Some(a)
        },
    )]
}

fn communication(lang: &str) -> Value {
    json!([{ "language": { "coding": [{ "system": BCP47, "code": lang }] }, "preferred": true }])
}

fn add_link(p: &mut Value, other: &str, kind: &str) {
    let link = json!({ "other": reference_to("Patient", other), "type": kind });
    let mut links = p["link"].as_array().cloned().unwrap_or_default();
    if !links.contains(&link) {
        links.push(link);
    }
    p["link"] = Value::Array(links);
}

fn set_patient_status(a: &mut Value, patient_id: &str, status: &str) {
    let patient = format!("Patient/{patient_id}");
    if let Some(ps) = a["participant"].as_array_mut() {
        for p in ps {
            if p["actor"]["reference"] == json!(patient) {
                p["status"] = json!(status);
            }
        }
    }
}

/// Drop empty arrays (FHIR forbids empty arrays and nulls).
pub fn clean(v: &mut Value) {
    if let Value::Object(map) = v {
        map.retain(|_, v| !v.is_null() && !matches!(v, Value::Array(a) if a.is_empty()));
        for (_, inner) in map.iter_mut() {
            clean(inner);
        }
    } else if let Value::Array(items) = v {
        for inner in items {
            clean(inner);
        }
    }
}
