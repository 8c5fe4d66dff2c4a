//! Clinical events turned into FHIR R4 Observation, Condition and MedicationRequest resources.

use super::datatypes::*;
use super::patient::clean;
use super::store::Edit;
use carebus_schemas::*;
use serde_json::{Value, json};

/// HL7 observation-category codes (vital-signs, laboratory).
pub const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const LOINC: &str = "http://loinc.org";
/// LOINC 85353-1, the vital-signs panel.
const VITALS_PANEL: &str = "85353-1";
const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
const CONDITION_VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
const CONDITION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/condition-category";

/// The id of the Observation of one measurement of a vital-signs recording.
pub fn vital_sign_id(recording_id: &str, loinc: &str) -> String {
    format!("{recording_id}-{loinc}")
}

fn category(code: &str, display: &str) -> Value {
    json!([{ "coding": [{ "system": OBSERVATION_CATEGORY, "code": code, "display": display }] }])
}

/// A vital-signs recording: one Observation per measurement, and the panel (LOINC 85353-1)
/// whose `hasMember` lists them.
pub fn vital_signs(e: VitalSignsRecorded) -> Vec<Edit> {
    let recording = e.recording_id.to_text();
    let status = code(e.status.symbol());
    let subject = reference_to("Patient", &e.patient_id);
    let encounter = e
        .encounter_id
        .map(|id| reference_to("Encounter", &id.to_text()));
    let performer = e.performer.as_ref().map(|p| json!([reference(p)]));
    let effective = instant(e.effective_at);
    let mut members = Vec::new();
    let mut edits = Vec::new();
    for sign in e.observations.expose() {
        let id = vital_sign_id(&recording, &sign.code.code);
        members.push(reference_to("Observation", &id));
        let mut o = json!({
            "resourceType": "Observation",
            "id": id,
            "status": status,
            "category": category("vital-signs", "Vital Signs"),
            "code": concept_of(&sign.code),
            "subject": subject,
            "effectiveDateTime": effective,
            "valueQuantity": quantity(sign.value.expose()),
        });
        if let Some(i) = sign
            .interpretation
            .as_ref()
            .and_then(|i| interpretation(*i.expose()))
        {
            o["interpretation"] = i;
        }
        if let Some(m) = &sign.method {
            o["method"] = concept_of(m);
        }
        if let Some(enc) = &encounter {
            o["encounter"] = enc.clone();
        }
        if let Some(p) = &performer {
            o["performer"] = p.clone();
        }
        clean(&mut o);
        edits.push(Edit::new("Observation", &id.clone(), move |_| {
            Some(o.clone())
        }));
    }
    let mut panel = json!({
        "resourceType": "Observation",
        "id": recording,
        "status": status,
        "category": category("vital-signs", "Vital Signs"),
        "code": { "coding": [{ "system": LOINC, "code": VITALS_PANEL, "display": "Vital signs panel" }] },
        "subject": subject,
        "effectiveDateTime": effective,
        "hasMember": members,
    });
    if let Some(enc) = encounter {
        panel["encounter"] = enc;
    }
    if let Some(p) = performer {
        panel["performer"] = p;
    }
    clean(&mut panel);
    edits.push(Edit::new("Observation", &recording, move |_| {
        Some(panel.clone())
    }));
    edits
}

/// A laboratory result: an Observation, category laboratory, with its value, reference range
/// and interpretation.
pub fn lab_result(e: LabResultReceived) -> Vec<Edit> {
    let id = e.result_id.to_text();
    let mut o = json!({
        "resourceType": "Observation",
        "id": id,
        "status": code(e.status.symbol()),
        "category": category("laboratory", "Laboratory"),
        "code": concept_of(e.code.expose()),
        "subject": reference_to("Patient", &e.patient_id),
        "effectiveDateTime": instant(e.specimen.collected_at),
        "issued": instant(e.issued_at),
        "performer": [reference(&e.performing_lab)],
    });
    if let Some(v) = &e.value {
        o["valueQuantity"] = quantity(v.expose());
    } else if let Some(t) = &e.value_text {
        o["valueString"] = json!(t.expose());
    }
    if let Some(i) = interpretation(*e.interpretation.expose()) {
        o["interpretation"] = i;
    }
    if let Some(r) = &e.reference_range {
        let mut range = json!({});
        if let Some(low) = &r.low {
            range["low"] = quantity(low);
        }
        if let Some(high) = &r.high {
            range["high"] = quantity(high);
        }
        if let Some(t) = &r.text {
            range["text"] = json!(t);
        }
        if range.as_object().is_some_and(|m| !m.is_empty()) {
            o["referenceRange"] = json!([range]);
        }
    }
    if let Some(enc) = e.encounter_id {
        o["encounter"] = reference_to("Encounter", &enc.to_text());
    }
    if let Some(order) = &e.order_id {
        o["basedOn"] = json!([{ "identifier": { "value": order }, "type": "ServiceRequest" }]);
    }
    clean(&mut o);
    vec![Edit::new("Observation", &id, move |_| Some(o.clone()))]
}

/// A diagnosis: a Condition with its clinical and verification status.
pub fn diagnosis(e: DiagnosisAdded) -> Vec<Edit> {
    let id = e.diagnosis_id.to_text();
    let (category_code, category_display) = match e.category {
        DiagnosisCategory::EncounterDiagnosis => ("encounter-diagnosis", "Encounter Diagnosis"),
        DiagnosisCategory::ProblemListItem => ("problem-list-item", "Problem List Item"),
    };
    let mut c = json!({
        "resourceType": "Condition",
        "id": id,
        "category": [{ "coding": [{ "system": CONDITION_CATEGORY, "code": category_code, "display": category_display }] }],
        "code": concept(e.code.expose()),
        "subject": reference_to("Patient", &e.patient_id),
        "recordedDate": instant(e.recorded_at),
        "recorder": reference(&e.recorder),
    });
    let verification = *e.verification_status.expose();
    if verification != VerificationStatus::Unknown {
        c["verificationStatus"] = json!({ "coding": [{ "system": CONDITION_VERIFICATION, "code": code(verification.symbol()) }] });
    }
    // FHIR con-5: no clinical status on a condition entered in error.
    let clinical = *e.clinical_status.expose();
    if clinical != ClinicalStatus::Unknown && verification != VerificationStatus::EnteredInError {
        c["clinicalStatus"] = json!({ "coding": [{ "system": CONDITION_CLINICAL, "code": code(clinical.symbol()) }] });
    }
    if let Some(s) = &e.severity {
        c["severity"] = concept_of(s.expose());
    }
    if let Some(d) = &e.onset_date {
        c["onsetDateTime"] = date(*d.expose());
    }
    if let Some(n) = &e.note {
        c["note"] = json!([{ "text": n.expose() }]);
    }
    if let Some(enc) = e.encounter_id {
        c["encounter"] = reference_to("Encounter", &enc.to_text());
    }
    clean(&mut c);
    vec![Edit::new("Condition", &id, move |_| Some(c.clone()))]
}

/// A prescription: a MedicationRequest with intent order and its dosage instruction.
pub fn prescription(e: PrescriptionCreated) -> Vec<Edit> {
    let id = e.prescription_id.to_text();
    let freq = e.frequency.expose();
    let period_unit = match freq.period_unit {
        PeriodUnit::Hour => "h",
        PeriodUnit::Day => "d",
        PeriodUnit::Week => "wk",
        PeriodUnit::Month => "mo",
    };
    let text = e
        .instructions
        .as_ref()
        .map(|i| i.expose().clone())
        .or_else(|| freq.text.clone());
    let mut dosage = json!({
        "timing": { "repeat": { "frequency": freq.times_per_period, "period": freq.period, "periodUnit": period_unit } },
        "asNeededBoolean": freq.as_needed,
        "route": concept_of(e.route.expose()),
        "doseAndRate": [{ "doseQuantity": quantity(e.dose.expose()) }],
    });
    if let Some(t) = text {
        dosage["text"] = json!(t);
    }
    if let Some(t) = &freq.text {
        dosage["timing"]["code"] = json!({ "text": t });
    }
    let mut dispense = json!({ "numberOfRepeatsAllowed": e.refills.max(0) });
    if let Some(q) = &e.quantity_dispensed {
        dispense["quantity"] = quantity(q);
    }
    if let Some(days) = e.duration_days {
        dispense["expectedSupplyDuration"] =
            json!({ "value": days, "unit": "days", "system": UCUM, "code": "d" });
    }
    let mut m = json!({
        "resourceType": "MedicationRequest",
        "id": id,
        "status": code(e.status.symbol()),
        "intent": "order",
        "medicationCodeableConcept": concept(e.medication.expose()),
        "subject": reference_to("Patient", &e.patient_id),
        "authoredOn": instant(e.authored_at),
        "requester": reference(&e.prescriber),
        "dosageInstruction": [dosage],
        "dispenseRequest": dispense,
        "substitution": { "allowedBoolean": e.substitution_allowed },
    });
    if let Some(r) = &e.reason {
        m["reasonCode"] = json!([concept(r.expose())]);
    }
    if let Some(enc) = e.encounter_id {
        m["encounter"] = reference_to("Encounter", &enc.to_text());
    }
    clean(&mut m);
    vec![Edit::new("MedicationRequest", &id, move |_| {
        Some(m.clone())
    })]
}
