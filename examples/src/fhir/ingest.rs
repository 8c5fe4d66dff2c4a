//! FHIR JSON posted by an EHR (Observation, Condition, MedicationRequest) turned into the matching clinical event, or the list of element paths that are wrong.

use super::clinical::{OBSERVATION_CATEGORY, vital_sign_id};
use super::datatypes::{QUANTITY_SCALE, interpretation_of};
use carebus::{Date, Decimal, Phi, Timestamp, Uuid};
use carebus_schemas::*;
use serde_json::Value;

/// What is wrong with one element: its FHIRPath and why (never the element's value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// FHIRPath of the element, e.g. `Observation.subject`.
    pub path: String,
    /// What is wrong and what is expected.
    pub message: String,
}

/// A posted resource as the clinical event to publish, and the resource it will become.
#[derive(Debug)]
pub enum Ingested {
    /// An Observation of category vital-signs.
    VitalSigns(VitalSignsRecorded),
    /// An Observation of category laboratory.
    LabResult(LabResultReceived),
    /// A Condition.
    Diagnosis(DiagnosisAdded),
    /// A MedicationRequest.
    Prescription(PrescriptionCreated),
}

impl Ingested {
    /// `Type/id` of the resource the event becomes once consumed.
    pub fn location(&self) -> String {
        match self {
            Ingested::VitalSigns(e) => {
                let code = e
                    .observations
                    .expose()
                    .first()
                    .map_or("", |s| s.code.code.as_str());
                format!(
                    "Observation/{}",
                    vital_sign_id(&e.recording_id.to_text(), code)
                )
            }
            Ingested::LabResult(e) => format!("Observation/{}", e.result_id.to_text()),
            Ingested::Diagnosis(e) => format!("Condition/{}", e.diagnosis_id.to_text()),
            Ingested::Prescription(e) => {
                format!("MedicationRequest/{}", e.prescription_id.to_text())
            }
        }
    }
}

/// Reads elements of one posted resource, collecting an [`Issue`] for each wrong one.
struct Reader<'a> {
    root: &'a Value,
    kind: &'static str,
    issues: Vec<Issue>,
}

impl<'a> Reader<'a> {
    fn issue(&mut self, path: &str, message: impl Into<String>) {
        self.issues.push(Issue {
            path: format!("{}.{path}", self.kind),
            message: message.into(),
        });
    }

    fn get(&self, path: &str) -> Option<&'a Value> {
        let mut v = self.root;
        for part in path.split('.') {
            v = match part.strip_suffix(']').and_then(|p| p.split_once('[')) {
                Some((name, index)) => v.get(name)?.get(index.parse::<usize>().ok()?)?,
                None => v.get(part)?,
            };
        }
        Some(v).filter(|v| !v.is_null())
    }

    fn opt_str(&mut self, path: &str) -> Option<String> {
        match self.get(path) {
            None => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(_) => {
                self.issue(path, "must be a non-empty string");
                None
            }
        }
    }

    fn str(&mut self, path: &str) -> String {
        if self.get(path).is_none() {
            self.issue(path, "is required");
        }
        self.opt_str(path).unwrap_or_default()
    }

    fn opt_bool(&mut self, path: &str) -> Option<bool> {
        match self.get(path) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.issue(path, "must be true or false");
                None
            }
        }
    }

    fn opt_int(&mut self, path: &str) -> Option<i32> {
        match self.get(path) {
            None => None,
            Some(v) => match v.as_i64().and_then(|n| i32::try_from(n).ok()) {
                Some(n) if n >= 0 => Some(n),
                _ => {
                    self.issue(path, "must be a non-negative whole number");
                    None
                }
            },
        }
    }

    /// `Type/id` of a reference, checking the type.
    fn reference(&mut self, path: &str, kind: &str) -> Reference {
        let text = self.str(&format!("{path}.reference"));
        let display = self.opt_str(&format!("{path}.display"));
        match text.split_once('/') {
            Some((k, id)) if k == kind && !id.is_empty() => Reference {
                r#type: k.into(),
                id: id.into(),
                display,
            },
            _ => {
                if !text.is_empty() {
                    self.issue(
                        &format!("{path}.reference"),
                        format!("must reference a {kind} as {kind}/<id>"),
                    );
                }
                Reference {
                    r#type: kind.into(),
                    id: String::new(),
                    display,
                }
            }
        }
    }

    /// A reference of any of `kinds`.
    fn reference_any(&mut self, path: &str, kinds: &[&str]) -> Reference {
        let text = self.str(&format!("{path}.reference"));
        let display = self.opt_str(&format!("{path}.display"));
        match text.split_once('/') {
            Some((k, id)) if kinds.contains(&k) && !id.is_empty() => Reference {
                r#type: k.into(),
                id: id.into(),
                display,
            },
            _ => {
                if !text.is_empty() {
                    self.issue(
                        &format!("{path}.reference"),
                        format!("must reference one of {} as <Type>/<id>", kinds.join(", ")),
                    );
                }
                Reference {
                    r#type: kinds[0].into(),
                    id: String::new(),
                    display,
                }
            }
        }
    }

    /// An optional `Encounter/<uuid>` reference.
    fn encounter(&mut self, path: &str) -> Option<Uuid> {
        let text = self.opt_str(&format!("{path}.reference"))?;
        match text.strip_prefix("Encounter/").map(Uuid::parse) {
            Some(Ok(id)) => Some(id),
            _ => {
                self.issue(&format!("{path}.reference"), "must be Encounter/<uuid>");
                None
            }
        }
    }

    fn coding(&mut self, path: &str) -> Coding {
        if self.get(path).is_none() {
            self.issue(path, "is required (a Coding with system and code)");
            return Coding {
                system: String::new(),
                code: String::new(),
                display: None,
            };
        }
        Coding {
            system: self.str(&format!("{path}.system")),
            code: self.str(&format!("{path}.code")),
            display: self.opt_str(&format!("{path}.display")),
        }
    }

    fn concept(&mut self, path: &str) -> CodeableConcept {
        let count = self
            .get(&format!("{path}.coding"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if count == 0 {
            self.issue(
                &format!("{path}.coding"),
                "is required (at least one Coding)",
            );
        }
        let coding = (0..count)
            .map(|i| self.coding(&format!("{path}.coding[{i}]")))
            .collect();
        CodeableConcept {
            coding,
            text: self.opt_str(&format!("{path}.text")),
        }
    }

    fn quantity(&mut self, path: &str) -> Quantity {
        let value = match self.get(&format!("{path}.value")) {
            None => {
                self.issue(&format!("{path}.value"), "is required");
                Decimal::new(0)
            }
            Some(v) => match v.as_f64().and_then(|n| {
                Decimal::parse_scaled(&v.to_string(), QUANTITY_SCALE).filter(|_| n.is_finite())
            }) {
                Some(d) => d,
                None => {
                    self.issue(
                        &format!("{path}.value"),
                        format!("must be a number with at most {QUANTITY_SCALE} fraction digits"),
                    );
                    Decimal::new(0)
                }
            },
        };
        let unit = match self.opt_str(&format!("{path}.code")) {
            Some(code) => code,
            None => self.str(&format!("{path}.unit")),
        };
        if let Some(system) = self.opt_str(&format!("{path}.system"))
            && system != super::datatypes::UCUM
        {
            self.issue(
                &format!("{path}.system"),
                "must be http://unitsofmeasure.org (UCUM)",
            );
        }
        Quantity { value, unit }
    }

    fn time(&mut self, path: &str, required: bool) -> Option<Timestamp> {
        let text = if required {
            Some(self.str(path)).filter(|s| !s.is_empty())
        } else {
            self.opt_str(path)
        }?;
        let parsed = Timestamp::parse_rfc3339(&text);
        if parsed.is_none() {
            self.issue(
                path,
                "must be a dateTime with a time zone, e.g. 2026-03-01T09:30:00Z",
            );
        }
        parsed
    }

    fn symbol<T>(
        &mut self,
        path: &str,
        parse: impl Fn(&str) -> Option<T>,
        allowed: &str,
    ) -> Option<T> {
        let text = self.opt_str(path)?;
        let parsed = parse(&text.to_ascii_uppercase().replace('-', "_"));
        if parsed.is_none() {
            self.issue(path, format!("must be one of {allowed}"));
        }
        parsed
    }

    fn finish<T>(self, value: T) -> Result<T, Vec<Issue>> {
        if self.issues.is_empty() {
            Ok(value)
        } else {
            Err(self.issues)
        }
    }
}

fn reader<'a>(root: &'a Value, kind: &'static str) -> Reader<'a> {
    let mut r = Reader {
        root,
        kind,
        issues: Vec::new(),
    };
    if !root.is_object() {
        r.issues.push(Issue {
            path: kind.into(),
            message: "the body must be a JSON object".into(),
        });
    } else if root.get("resourceType").and_then(Value::as_str) != Some(kind) {
        r.issue("resourceType", format!("must be {kind}"));
    }
    r
}

const OBSERVATION_STATUSES: &str =
    "registered, preliminary, final, amended, corrected, cancelled, entered-in-error, unknown";

/// A posted Observation: vital-signs or laboratory by its category.
pub fn observation(body: &Value) -> Result<Ingested, Vec<Issue>> {
    let mut r = reader(body, "Observation");
    if !r.issues.is_empty() {
        return Err(r.issues);
    }
    let categories: Vec<String> = r
        .get("category")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| {
            c.get("coding")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter(|c| c.get("system").and_then(Value::as_str) == Some(OBSERVATION_CATEGORY))
        .filter_map(|c| c.get("code").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let lab = categories.iter().any(|c| c == "laboratory");
    if !lab && !categories.iter().any(|c| c == "vital-signs") {
        r.issue(
            "category",
            format!("must include {OBSERVATION_CATEGORY} code vital-signs or laboratory"),
        );
    }
    let patient = r.reference("subject", "Patient").id;
    let status = r
        .symbol(
            "status",
            ObservationStatus::from_symbol,
            OBSERVATION_STATUSES,
        )
        .unwrap_or(ObservationStatus::Unknown);
    if r.get("status").is_none() {
        r.issue("status", "is required");
    }
    let code = r.coding("code.coding[0]");
    let interpretation = match r.opt_str("interpretation[0].coding[0].code") {
        None => None,
        Some(c) => {
            let i = interpretation_of(&c);
            if i.is_none() {
                r.issue(
                    "interpretation[0].coding[0].code",
                    "must be one of N, L, H, LL, HH, A",
                );
            }
            i
        }
    };
    let encounter = r.encounter("encounter");
    let effective = r.time("effectiveDateTime", true).unwrap_or_default();
    if lab {
        let value = r.get("valueQuantity").map(|_| r.quantity("valueQuantity"));
        let value_text = r.opt_str("valueString");
        if value.is_none() && value_text.is_none() {
            r.issue("value[x]", "is required: valueQuantity or valueString");
        }
        let lab_org = r.reference("performer[0]", "Organization");
        let issued = r.time("issued", false).unwrap_or_else(Timestamp::now);
        let event = LabResultReceived {
            patient_id: patient,
            result_id: Uuid::new_v4(),
            order_id: None,
            encounter_id: encounter,
            code: Phi::new(code),
            value: value.map(Phi::new),
            value_text: value_text.map(Phi::new),
            reference_range: None,
            interpretation: Phi::new(interpretation.unwrap_or(ObservationInterpretation::Unknown)),
            specimen: Specimen {
                // The posted Observation names no specimen type: SNOMED CT 123038009 (specimen).
                r#type: Coding {
                    system: "http://snomed.info/sct".into(),
                    code: "123038009".into(),
                    display: Some("Specimen".into()),
                },
                accession_id: None,
                collected_at: effective,
            },
            status,
            performing_lab: lab_org,
            issued_at: issued,
        };
        r.finish(Ingested::LabResult(event))
    } else {
        if r.get("valueQuantity").is_none() {
            r.issue("valueQuantity", "is required for a vital sign");
        }
        let value = r.quantity("valueQuantity");
        let performer = r
            .get("performer")
            .map(|_| r.reference_any("performer[0]", &["Practitioner", "Device", "Patient"]));
        let event = VitalSignsRecorded {
            patient_id: patient,
            recording_id: Uuid::new_v4(),
            encounter_id: encounter,
            observations: Phi::new(vec![VitalSign {
                code,
                value: Phi::new(value),
                interpretation: interpretation.map(Phi::new),
                method: None,
            }]),
            status,
            effective_at: effective,
            performer,
        };
        r.finish(Ingested::VitalSigns(event))
    }
}

/// A posted Condition.
pub fn condition(body: &Value) -> Result<Ingested, Vec<Issue>> {
    let mut r = reader(body, "Condition");
    if !r.issues.is_empty() {
        return Err(r.issues);
    }
    let patient = r.reference("subject", "Patient").id;
    let code = r.concept("code");
    let clinical = r
        .symbol(
            "clinicalStatus.coding[0].code",
            ClinicalStatus::from_symbol,
            "active, recurrence, relapse, inactive, remission, resolved",
        )
        .unwrap_or(ClinicalStatus::Unknown);
    let verification = r
        .symbol(
            "verificationStatus.coding[0].code",
            VerificationStatus::from_symbol,
            "unconfirmed, provisional, differential, confirmed, refuted, entered-in-error",
        )
        .unwrap_or(VerificationStatus::Unknown);
    let category = r
        .symbol(
            "category[0].coding[0].code",
            DiagnosisCategory::from_symbol,
            "encounter-diagnosis, problem-list-item",
        )
        .unwrap_or(DiagnosisCategory::ProblemListItem);
    let severity = r.get("severity").map(|_| r.coding("severity.coding[0]"));
    let onset = match r.opt_str("onsetDateTime") {
        None => None,
        Some(t) => {
            let d = t.get(..10).and_then(Date::parse_iso);
            if d.is_none() {
                r.issue("onsetDateTime", "must start with a date YYYY-MM-DD");
            }
            d
        }
    };
    let note = r.opt_str("note[0].text");
    let recorder = r.reference_any("recorder", &["Practitioner", "PractitionerRole", "Patient"]);
    let recorded = r.time("recordedDate", false).unwrap_or_else(Timestamp::now);
    let event = DiagnosisAdded {
        patient_id: patient,
        diagnosis_id: Uuid::new_v4(),
        encounter_id: r.encounter("encounter"),
        code: Phi::new(code),
        category,
        clinical_status: Phi::new(clinical),
        verification_status: Phi::new(verification),
        severity: severity.map(Phi::new),
        onset_date: onset.map(Phi::new),
        note: note.map(Phi::new),
        recorder,
        recorded_at: recorded,
    };
    r.finish(Ingested::Diagnosis(event))
}

/// A posted MedicationRequest (intent order).
pub fn medication_request(body: &Value) -> Result<Ingested, Vec<Issue>> {
    let mut r = reader(body, "MedicationRequest");
    if !r.issues.is_empty() {
        return Err(r.issues);
    }
    let patient = r.reference("subject", "Patient").id;
    if r.str("intent") != "order" && r.get("intent").is_some() {
        r.issue("intent", "must be order");
    }
    if r.get("status").is_none() {
        r.issue("status", "is required");
    }
    let status = r
        .symbol(
            "status",
            PrescriptionStatus::from_symbol,
            "active, on-hold, cancelled, completed, entered-in-error, stopped, draft, unknown",
        )
        .unwrap_or(PrescriptionStatus::Unknown);
    let medication = r.concept("medicationCodeableConcept");
    let dosage = "dosageInstruction[0]";
    if r.get(dosage).is_none() {
        r.issue("dosageInstruction", "is required (one dosage instruction)");
    }
    let dose = r.quantity(&format!("{dosage}.doseAndRate[0].doseQuantity"));
    let route = r.coding(&format!("{dosage}.route.coding[0]"));
    let repeat = format!("{dosage}.timing.repeat");
    let times = r.opt_int(&format!("{repeat}.frequency"));
    let period = r.opt_int(&format!("{repeat}.period"));
    if times.is_none() || period.is_none() {
        r.issue(&repeat, "is required with frequency and period");
    }
    let unit = r
        .symbol(
            &format!("{repeat}.periodUnit"),
            |s| match s {
                "H" => Some(PeriodUnit::Hour),
                "D" => Some(PeriodUnit::Day),
                "WK" => Some(PeriodUnit::Week),
                "MO" => Some(PeriodUnit::Month),
                _ => None,
            },
            "h, d, wk, mo",
        )
        .unwrap_or(PeriodUnit::Day);
    let frequency = DosageFrequency {
        times_per_period: times.unwrap_or(1),
        period: period.unwrap_or(1),
        period_unit: unit,
        as_needed: r
            .opt_bool(&format!("{dosage}.asNeededBoolean"))
            .unwrap_or(false),
        text: r.opt_str(&format!("{dosage}.timing.code.text")),
    };
    let instructions = r.opt_str(&format!("{dosage}.text"));
    let reason = r.get("reasonCode").map(|_| r.concept("reasonCode[0]"));
    let quantity = r
        .get("dispenseRequest.quantity")
        .map(|_| r.quantity("dispenseRequest.quantity"));
    let event = PrescriptionCreated {
        patient_id: patient,
        prescription_id: Uuid::new_v4(),
        encounter_id: r.encounter("encounter"),
        medication: Phi::new(medication),
        dose: Phi::new(dose),
        route: Phi::new(route),
        frequency: Phi::new(frequency),
        duration_days: r.opt_int("dispenseRequest.expectedSupplyDuration.value"),
        quantity_dispensed: quantity,
        refills: r
            .opt_int("dispenseRequest.numberOfRepeatsAllowed")
            .unwrap_or(0),
        substitution_allowed: r.opt_bool("substitution.allowedBoolean").unwrap_or(true),
        instructions: instructions.map(Phi::new),
        reason: reason.map(Phi::new),
        status,
        prescriber: r.reference_any("requester", &["Practitioner", "PractitionerRole"]),
        authored_at: r.time("authoredOn", false).unwrap_or_else(Timestamp::now),
    };
    r.finish(Ingested::Prescription(event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(result: Result<Ingested, Vec<Issue>>) -> Vec<String> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|i| i.path)
            .collect()
    }

    fn vital_sign() -> Value {
        json!({
            "resourceType": "Observation",
            "status": "final",
            "category": [{ "coding": [{ "system": OBSERVATION_CATEGORY, "code": "vital-signs" }] }],
            "code": { "coding": [{ "system": "http://loinc.org", "code": "8867-4" }] },
            "subject": { "reference": "Patient/patient-00001" },
            "effectiveDateTime": "2026-03-01T09:30:00Z",
            "valueQuantity": { "value": 72.5, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min" },
        })
    }

    #[test]
    fn a_vital_sign_becomes_one_measurement_of_a_recording() {
        let Ok(Ingested::VitalSigns(e)) = observation(&vital_sign()) else {
            panic!("a valid vital sign");
        };
        assert_eq!(e.patient_id, "patient-00001");
        let sign = &e.observations.expose()[0];
        assert_eq!(sign.code.code, "8867-4");
        assert_eq!(sign.value.expose().value, Decimal::new(725_000));
        assert_eq!(sign.value.expose().unit, "/min");
        assert_eq!(e.status, ObservationStatus::Final);
    }

    #[test]
    fn every_wrong_element_is_named_and_no_value_is_echoed() {
        let mut body = vital_sign();
        body["subject"] = json!({ "reference": "Practitioner/p-1" });
        body["status"] = json!("done");
        body["valueQuantity"]["value"] = json!("Jane Doe");
        body["effectiveDateTime"] = json!("yesterday");
        let issues = observation(&body).unwrap_err();
        let found: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            found,
            [
                "Observation.subject.reference",
                "Observation.status",
                "Observation.effectiveDateTime",
                "Observation.valueQuantity.value",
            ]
        );
        assert!(issues.iter().all(|i| !i.message.contains("Jane")));
    }

    #[test]
    fn wrong_resource_types_and_categories_are_refused() {
        assert_eq!(paths(observation(&json!([]))), ["Observation"]);
        assert_eq!(
            paths(condition(&json!({ "resourceType": "Observation" }))),
            ["Condition.resourceType"]
        );
        let mut body = vital_sign();
        body["category"] = json!([]);
        assert_eq!(paths(observation(&body)), ["Observation.category"]);
    }

    #[test]
    fn a_medication_request_needs_intent_order_and_a_dose() {
        let body = json!({
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "plan",
            "medicationCodeableConcept": { "coding": [{ "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "860975" }] },
            "subject": { "reference": "Patient/patient-00001" },
            "requester": { "reference": "Practitioner/pract-17" },
            "dosageInstruction": [{
                "route": { "coding": [{ "system": "http://snomed.info/sct", "code": "26643006" }] },
                "timing": { "repeat": { "frequency": 2, "period": 1, "periodUnit": "d" } },
            }],
        });
        assert_eq!(
            paths(medication_request(&body)),
            [
                "MedicationRequest.intent",
                "MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity.value",
                "MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity.unit",
            ]
        );
    }
}
