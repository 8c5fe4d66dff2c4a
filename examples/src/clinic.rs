//! The clinic side of the demo's chronic-care and referral journeys: diagnoses, lab results and specialist bookings published for some patients, and stubs of the services the journeys' actions go to (the AI service answering analysis requests, the booking desk cancelling appointments when a referral is withdrawn).

use crate::prm;
use carebus::{DomainEvent, Publish, PublishError, Uuid};
use carebus::{HandlerContext, HandlerError, HandlerResult, JsonCodec, PublishOptions, Timestamp};
use carebus_schemas::*;
use serde_json::json;

/// The patients (by number) whose diabetes diagnosis starts the chronic-care pathway.
pub fn diabetes_patient(n: usize) -> bool {
    n.is_multiple_of(10)
}

/// The patients (by number) referred to cardiology.
pub fn referred_patient(n: usize) -> bool {
    n % 10 == 5
}

fn options(what: &str, n: usize) -> PublishOptions {
    PublishOptions {
        tenant_id: Some("hospital-456".into()),
        correlation_id: Some(format!("request-{what}-{n}")),
        user_id: Some("user-345".into()),
        ..PublishOptions::default()
    }
}

fn from_json<E: JsonCodec + DomainEvent>(v: serde_json::Value) -> E {
    // The values below are fixed and fit the schemas; a failure is a bug in this file.
    <E as DomainEvent>::from_legacy_json(&v)
        .unwrap_or_else(|e| panic!("demo {}: {e}", E::EVENT_TYPE))
}

fn now_text() -> Option<String> {
    Timestamp::now().rfc3339_text()
}

fn diagnosis(patient_id: &str, code: &str) -> DiagnosisAdded {
    from_json(json!({
        "patientId": patient_id,
        "diagnosisId": Uuid::new_v4().to_string(),
        "encounterId": null,
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code, "display": null}], "text": null},
        "category": "ENCOUNTER_DIAGNOSIS",
        "clinicalStatus": "ACTIVE",
        "verificationStatus": "CONFIRMED",
        "severity": null,
        "onsetDate": null,
        "note": null,
        "recorder": {"type": "Practitioner", "id": "pract-17", "display": null},
        "recordedAt": now_text(),
    }))
}

fn lab_result(patient_id: &str, loinc: &str) -> LabResultReceived {
    from_json(json!({
        "patientId": patient_id,
        "resultId": Uuid::new_v4().to_string(),
        "orderId": null,
        "encounterId": null,
        "code": {"system": "http://loinc.org", "code": loinc, "display": null},
        "value": null,
        "valueText": null,
        "referenceRange": null,
        "interpretation": "HIGH",
        "specimen": {"type": {"system": "http://snomed.info/sct", "code": "119297000", "display": null}, "accessionId": null, "collectedAt": now_text()},
        "status": "FINAL",
        "performingLab": {"type": "Organization", "id": "lab-1", "display": null},
        "issuedAt": now_text(),
    }))
}

/// Diagnoses for the chronic-care and referral patients among `patients`, with an HbA1c
/// result for each diabetes patient. Returns how many events were published.
pub async fn record_diagnoses<P: Publish>(
    publisher: &P,
    patients: usize,
) -> Result<usize, PublishError> {
    let mut published = 0;
    for n in 0..patients {
        let id = prm::new_patient(n).patient_id;
        if diabetes_patient(n) {
            publisher
                .publish_diagnosis_added(diagnosis(&id, "E11.9"), options("clinic", n))
                .await?;
            publisher
                .publish_lab_result_received(lab_result(&id, "4548-4"), options("lab", n))
                .await?;
            published += 2;
        } else if referred_patient(n) {
            publisher
                .publish_diagnosis_added(diagnosis(&id, "I50.9"), options("clinic", n))
                .await?;
            published += 1;
        }
    }
    Ok(published)
}

/// The referral's first step for each referred patient: the specialist appointment booked.
/// Returns how many events were published.
pub async fn book_referrals<P: Publish>(
    publisher: &P,
    patients: usize,
) -> Result<usize, PublishError> {
    let mut published = 0;
    for n in (0..patients).filter(|n| referred_patient(*n)) {
        let id = prm::new_patient(n).patient_id;
        publisher
            .publish_appointment_scheduled(prm::schedule(&id, 10), options("referral", n))
            .await?;
        published += 1;
    }
    Ok(published)
}

/// The pre-visit labs of each referred patient. Returns how many events were published.
pub async fn referral_labs<P: Publish>(
    publisher: &P,
    patients: usize,
) -> Result<usize, PublishError> {
    let mut published = 0;
    for n in (0..patients).filter(|n| referred_patient(*n)) {
        let id = prm::new_patient(n).patient_id;
        publisher
            .publish_lab_result_received(lab_result(&id, "2160-0"), options("lab", n))
            .await?;
        published += 1;
    }
    Ok(published)
}

fn republish(e: PublishError) -> HandlerError {
    HandlerError::retriable("publishing the answer failed").with_source(e)
}

/// The AI service (a stub): a lab trend finds a high risk for every other diabetes patient;
/// a referral triage fails (the model is unavailable), so the referral saga compensates.
pub struct AiService<P>(pub P);

impl<P: Publish + Send + Sync + 'static> AiHandler for AiService<P> {
    async fn on_analysis_requested(
        &self,
        ctx: &HandlerContext,
        request: AnalysisRequested,
    ) -> HandlerResult {
        let options = PublishOptions {
            tenant_id: ctx.tenant_id().map(str::to_owned),
            correlation_id: ctx.correlation_id().map(str::to_owned),
            causation_id: Some(ctx.event_id().to_owned()),
            ..PublishOptions::default()
        };
        if JsonCodec::to_json(&request)["kind"] != "ANALYSIS_KIND_LAB_TREND" {
            // The referral triage model is down: the referral saga undoes its steps.
            let failed: AnalysisFailed = from_json(json!({
                "analysisId": request.analysis_id,
                "patientId": request.patient_id,
                "reason": "FAILURE_REASON_MODEL_UNAVAILABLE",
                "message": "triage model unavailable",
                "retryable": false,
                "failedAtMicros": Timestamp::now().0,
            }));
            self.0
                .publish_analysis_failed(failed, options)
                .await
                .map_err(republish)?;
            return Ok(());
        }
        let n: usize = request
            .patient_id
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .unwrap_or(0);
        let severity = if n.is_multiple_of(20) {
            "FINDING_SEVERITY_HIGH"
        } else {
            "FINDING_SEVERITY_LOW"
        };
        let completed: AnalysisCompleted = from_json(json!({
            "analysisId": request.analysis_id,
            "patientId": request.patient_id,
            "kind": "ANALYSIS_KIND_LAB_TREND",
            "modelName": "carebus-lab-trend",
            "modelVersion": "2024.11.2",
            "confidence": 0.91,
            "findings": [{"code": {"system": "http://snomed.info/sct", "code": "44054006", "display": null}, "description": "-", "confidence": 0.9, "severity": severity, "evidence": []}],
            "summary": null,
            "durationMs": 1840,
            "completedAtMicros": Timestamp::now().0,
            "resultText": "",
        }));
        self.0
            .publish_analysis_completed(completed, options)
            .await
            .map_err(republish)?;
        Ok(())
    }
}

/// The booking desk (a stub): carries out the referral saga's `cancel-specialist-appointment`
/// and confirms it with an AppointmentCancelled.
pub struct BookingDesk<P>(pub P);

impl<P: Publish + Send + Sync + 'static> JourneysHandler for BookingDesk<P> {
    async fn on_action_triggered(&self, ctx: &HandlerContext, a: ActionTriggered) -> HandlerResult {
        if a.trigger.rule.as_deref() != Some("cancel-specialist-appointment") {
            return Ok(());
        }
        let cancelled: AppointmentCancelled = from_json(json!({
            "appointmentId": Uuid::new_v4().to_string(),
            "patientId": a.patient_id,
            "reason": "OTHER",
            "reasonText": null,
            "cancelledBy": {"type": "Device", "id": "booking-desk", "display": null},
            "rescheduledAppointmentId": null,
            "lateCancellation": false,
            "cancelledAt": now_text(),
        }));
        let options = PublishOptions {
            tenant_id: ctx.tenant_id().map(str::to_owned),
            correlation_id: ctx.correlation_id().map(str::to_owned),
            causation_id: Some(ctx.event_id().to_owned()),
            ..PublishOptions::default()
        };
        self.0
            .publish_appointment_cancelled(cancelled, options)
            .await
            .map_err(republish)?;
        Ok(())
    }
}
