//! The FHIR service on real Kafka and PostgreSQL: patient, appointment and clinical events in, FHIR resources out, every one validated by PyPI's fhir.resources (R4B models).

use crate::kafka_support::{consume, create_topic, subscribe, transport};
use carebus::kafka::KafkaTransport;
use carebus::transport::header_str;
use carebus::{
    ConsumerConfig, Date, Decimal, DomainEvent, Phi, PublishOptions, Publisher, PublisherConfig,
    Timestamp, Uuid,
};
use carebus_examples::fhir::{FhirConfig, FhirService};
use carebus_schemas::*;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(90);
const MRN: &str = "urn:oid:2.16.840.1.113883.4.1";

/// One HTTP/1.1 request; status, response head and JSON body.
async fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: Option<&Value>,
) -> (u16, String, Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/fhir+json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        status,
        head.to_string(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn header<'h>(head: &'h str, name: &str) -> &'h str {
    head.lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim())
        })
        .unwrap_or("")
}

/// GET `target` until `ready` holds for the body, or fail after [`WAIT`].
async fn wait_for(addr: SocketAddr, target: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + WAIT;
    loop {
        let (status, _, body) = http(addr, "GET", target, None).await;
        if status == 200 && ready(&body) {
            return body;
        }
        assert!(
            Instant::now() < until,
            "GET {target} did not become ready: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Publish `event` to `topic` (with `event_id` when given); its event id.
async fn send<E: DomainEvent>(
    publisher: &Publisher<KafkaTransport>,
    topic: &str,
    event: &E,
    event_id: Option<&str>,
) -> String {
    let options = PublishOptions {
        tenant_id: Some("hospital-456".into()),
        event_id: event_id.map(str::to_owned),
        ..PublishOptions::default()
    };
    let mut record = publisher
        .prepare(event, options)
        .unwrap_or_else(|e| panic!("{}: {e}", E::EVENT_TYPE));
    record.topic = topic.to_string();
    let id = header_str(&record.headers, "ce_id").unwrap().to_owned();
    publisher
        .send_prepared(record)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", E::EVENT_TYPE));
    id
}

fn q(text: &str, unit: &str) -> Quantity {
    Quantity {
        value: Decimal::parse_scaled(text, 4).unwrap(),
        unit: unit.into(),
    }
}

fn coding(system: &str, code: &str, display: &str) -> Coding {
    Coding {
        system: system.into(),
        code: code.into(),
        display: Some(display.into()),
    }
}

fn reference(kind: &str, id: &str, display: &str) -> Reference {
    Reference {
        r#type: kind.into(),
        id: id.into(),
        display: Some(display.into()),
    }
}

fn at(base: Timestamp, minutes: i64) -> Timestamp {
    Timestamp(base.0 + minutes * 60_000_000)
}

#[allow(deprecated)] // email: producers still fill it
fn registration(id: &str, mrn: &str, given: &str, family: &str) -> PatientCreated {
    PatientCreated {
        patient_id: id.into(),
        first_name: Phi::new(given.into()),
        last_name: Phi::new(family.into()),
        date_of_birth: Phi::new(Date::from_ymd(1961, 4, 17).unwrap()),
        email: Some(Phi::new(format!("{given}@example.com"))),
        gender: Phi::new(AdministrativeGender::Female),
        identifiers: Phi::new(vec![Identifier {
            system: MRN.into(),
            value: Phi::new(mrn.into()),
            type_code: Some("MR".into()),
        }]),
        telecom: Phi::new(vec![ContactPoint {
            system: ContactPointSystem::Phone,
            value: Phi::new("+1-555-0100".into()),
            r#use: Some(ContactPointUse::Mobile),
            rank: Some(1),
        }]),
        address: Some(Phi::new(Address {
            line: Phi::new(vec!["12 Harbor Road".into(), "Apt 4".into()]),
            city: Phi::new("Springfield".into()),
            state: Some("IL".into()),
            postal_code: Some(Phi::new("62701".into())),
            country: "US".into(),
        })),
        preferred_language: Some("en-US".into()),
    }
}

fn update(id: &str, language: &str, when: Timestamp) -> PatientUpdated {
    PatientUpdated {
        patient_id: id.into(),
        changed_fields: vec!["preferredLanguage".into()],
        name: None,
        date_of_birth: None,
        gender: None,
        telecom: None,
        address: None,
        preferred_language: Some(language.into()),
        updated_by: reference("Practitioner", "clerk-7", "Front desk"),
        updated_at: when,
    }
}

fn booking(id: Uuid, patient: &str, start: Timestamp) -> AppointmentScheduled {
    AppointmentScheduled {
        appointment_id: id,
        patient_id: patient.into(),
        practitioner: reference("Practitioner", "pract-17", "Dr. Rivera"),
        location: reference("Location", "clinic-3", "Cardiology clinic"),
        start,
        end: at(start, 30),
        appointment_type: coding(
            "http://terminology.hl7.org/CodeSystem/v2-0276",
            "FOLLOWUP",
            "A follow up visit",
        ),
        service_type: Some(coding("http://snomed.info/sct", "394579002", "Cardiology")),
        reason: None,
        visit_mode: VisitMode::InPerson,
        patient_instructions: Some(Phi::new("Bring your medication list".into())),
        scheduled_by: reference("Practitioner", "front-desk-1", "Front desk"),
        scheduled_at: Timestamp::now(),
    }
}

fn vital(loinc: &str, display: &str, value: &str, unit: &str) -> VitalSign {
    VitalSign {
        code: coding("http://loinc.org", loinc, display),
        value: Phi::new(q(value, unit)),
        interpretation: None,
        method: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fhir_service_keeps_valid_fhir_resources_in_sync_and_publishes_posted_ones() {
    let bootstrap = carebus_tests::kafka_bootstrap();
    let database_url = carebus_tests::database_url();
    let config = FhirConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        endpoint: Some("127.0.0.1:0".parse().unwrap()),
        database_url,
        schema: carebus_tests::unique_name("fhir"),
        group: carebus_tests::unique_name("fhir-service"),
        patients_topic: carebus_tests::unique_name("fhir-patients"),
        appointments_topic: carebus_tests::unique_name("fhir-appointments"),
        clinical_topic: carebus_tests::unique_name("fhir-clinical"),
    };
    for topic in [
        &config.patients_topic,
        &config.appointments_topic,
        &config.clinical_topic,
    ] {
        create_topic(&bootstrap, topic, 3, 1).await;
    }
    let mut consumer = ConsumerConfig::new("unused");
    consumer.commit_interval = Duration::from_millis(200);
    let service = FhirService::start(
        config.clone(),
        transport(&bootstrap),
        PublisherConfig::default(),
        consumer,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let api = service.api_addr();
    let prm = Publisher::new(transport(&bootstrap), PublisherConfig::default()).unwrap();
    let (pt, at_, cl) = (
        &config.patients_topic,
        &config.appointments_topic,
        &config.clinical_topic,
    );

    // Patients: three registrations, updates (one arriving late, older), a merge, a death.
    // FHIR ids allow no `_`: the service dead-letters events whose ids are not FHIR ids.
    let run = carebus_tests::unique_name("p").replace('_', "-");
    let (p1, p2, p3) = (format!("{run}-1"), format!("{run}-2"), format!("{run}-3"));
    let (mrn1, mrn2, mrn3) = (
        format!("MRN-{run}-1"),
        format!("MRN-{run}-2"),
        format!("MRN-{run}-3"),
    );
    let t0 = Timestamp::now();
    send(&prm, pt, &registration(&p1, &mrn1, "Amara", "Okafor"), None).await;
    send(&prm, pt, &registration(&p2, &mrn2, "Amara", "Okafor"), None).await;
    send(
        &prm,
        pt,
        &registration(&p3, &mrn3, "Ingrid", "Larsen"),
        None,
    )
    .await;
    let newer_update = send(&prm, pt, &update(&p1, "es-MX", at(t0, 2)), None).await;
    let older_update = update(&p1, "fr-FR", at(t0, 1));
    send(&prm, pt, &older_update, None).await;
    let merge = PatientMerged {
        patient_id: p1.clone(),
        merged_patient_id: p2.clone(),
        merged_identifiers: Phi::new(vec![Identifier {
            system: MRN.into(),
            value: Phi::new(mrn2.clone()),
            type_code: Some("MR".into()),
        }]),
        reason: MergeReason::DuplicateRegistration,
        match_score: Some(0.97),
        merged_by: reference("Practitioner", "him-2", "Records office"),
        merged_at: at(t0, 3),
    };
    send(&prm, pt, &merge, None).await;
    let death = PatientDeactivated {
        patient_id: p3.clone(),
        reason: DeactivationReason::Deceased,
        deceased_at: Some(Phi::new(at(t0, -60))),
        note: None,
        deactivated_by: reference("Practitioner", "pract-17", "Dr. Rivera"),
        deactivated_at: at(t0, 4),
    };
    send(&prm, pt, &death, None).await;

    // Appointments: one completed, one cancelled, one only booked.
    let (a1, a2, a3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let start = at(t0, 24 * 60);
    send(&prm, at_, &booking(a1, &p1, start), None).await;
    let confirmed = AppointmentConfirmed {
        appointment_id: a1,
        patient_id: p1.clone(),
        channel: ConfirmationChannel::Sms,
        reminder_id: None,
        confirmed_at: at(t0, 5),
    };
    send(&prm, at_, &confirmed, None).await;
    let completed = AppointmentCompleted {
        appointment_id: a1,
        patient_id: p1.clone(),
        encounter_id: Uuid::new_v4(),
        practitioner: reference("Practitioner", "pract-17", "Dr. Rivera"),
        checked_in_at: Some(start),
        actual_start: start,
        actual_end: at(start, 25),
        follow_up_required: false,
        follow_up_in_days: None,
    };
    send(&prm, at_, &completed, None).await;
    send(&prm, at_, &booking(a2, &p3, start), None).await;
    let cancelled = AppointmentCancelled {
        appointment_id: a2,
        patient_id: p3.clone(),
        reason: CancellationReason::PatientDeceased,
        reason_text: None,
        cancelled_by: reference("Practitioner", "front-desk-1", "Front desk"),
        rescheduled_appointment_id: None,
        late_cancellation: false,
        cancelled_at: at(t0, 6),
    };
    send(&prm, at_, &cancelled, None).await;
    send(&prm, at_, &booking(a3, &p1, at(start, 60 * 24 * 30)), None).await;

    // Clinical: vitals, two lab results, a diagnosis, a prescription.
    let encounter = Uuid::new_v4();
    let recording = Uuid::new_v4();
    let vitals = VitalSignsRecorded {
        patient_id: p1.clone(),
        recording_id: recording,
        encounter_id: Some(encounter),
        observations: Phi::new(vec![
            vital("8867-4", "Heart rate", "72", "/min"),
            vital("8480-6", "Systolic blood pressure", "128", "mm[Hg]"),
            vital("8462-4", "Diastolic blood pressure", "84", "mm[Hg]"),
            vital("8310-5", "Body temperature", "36.8", "Cel"),
            vital("59408-5", "Oxygen saturation by pulse oximetry", "97", "%"),
        ]),
        status: ObservationStatus::Final,
        effective_at: at(t0, 7),
        performer: Some(reference("Practitioner", "nurse-4", "Nurse Patel")),
    };
    send(&prm, cl, &vitals, None).await;
    let hba1c = Uuid::new_v4();
    let lab = |id: Uuid, code: Coding, value: Option<Quantity>, text: Option<&str>, i| {
        LabResultReceived {
            patient_id: p1.clone(),
            result_id: id,
            order_id: Some("ORD-1001".into()),
            encounter_id: Some(encounter),
            code: Phi::new(code),
            value: value.map(Phi::new),
            value_text: text.map(|t| Phi::new(t.to_string())),
            reference_range: Some(ReferenceRange {
                low: Some(q("4", "%")),
                high: Some(q("5.6", "%")),
                text: Some("4.0-5.6 %".into()),
            })
            .filter(|_| text.is_none()),
            interpretation: Phi::new(i),
            specimen: Specimen {
                r#type: coding("http://snomed.info/sct", "119297000", "Blood specimen"),
                accession_id: Some("ACC-77".into()),
                collected_at: at(t0, 8),
            },
            status: ObservationStatus::Final,
            performing_lab: reference("Organization", "lab-1", "Central laboratory"),
            issued_at: at(t0, 9),
        }
    };
    send(
        &prm,
        cl,
        &lab(
            hba1c,
            coding("http://loinc.org", "4548-4", "Hemoglobin A1c"),
            Some(q("8.2", "%")),
            None,
            ObservationInterpretation::High,
        ),
        None,
    )
    .await;
    let covid = Uuid::new_v4();
    send(
        &prm,
        cl,
        &lab(
            covid,
            coding("http://loinc.org", "94500-6", "SARS-CoV-2 RNA"),
            None,
            Some("Negative"),
            ObservationInterpretation::Normal,
        ),
        None,
    )
    .await;
    let diagnosis_id = Uuid::new_v4();
    let diagnosis = DiagnosisAdded {
        patient_id: p1.clone(),
        diagnosis_id,
        encounter_id: Some(encounter),
        code: Phi::new(CodeableConcept {
            coding: vec![
                coding(
                    "http://hl7.org/fhir/sid/icd-10-cm",
                    "E11.9",
                    "Type 2 diabetes mellitus without complications",
                ),
                coding(
                    "http://snomed.info/sct",
                    "44054006",
                    "Diabetes mellitus type 2",
                ),
            ],
            text: Some("Type 2 diabetes".into()),
        }),
        category: DiagnosisCategory::EncounterDiagnosis,
        clinical_status: Phi::new(ClinicalStatus::Active),
        verification_status: Phi::new(VerificationStatus::Confirmed),
        severity: Some(Phi::new(coding(
            "http://snomed.info/sct",
            "6736007",
            "Moderate",
        ))),
        onset_date: Some(Phi::new(Date::from_ymd(2025, 11, 2).unwrap())),
        note: Some(Phi::new("HbA1c 8.2 %".into())),
        recorder: reference("Practitioner", "pract-17", "Dr. Rivera"),
        recorded_at: at(t0, 10),
    };
    send(&prm, cl, &diagnosis, None).await;
    let prescription_id = Uuid::new_v4();
    let prescription = PrescriptionCreated {
        patient_id: p1.clone(),
        prescription_id,
        encounter_id: Some(encounter),
        medication: Phi::new(CodeableConcept {
            coding: vec![coding(
                "http://www.nlm.nih.gov/research/umls/rxnorm",
                "860975",
                "metformin hydrochloride 500 MG Oral Tablet",
            )],
            text: None,
        }),
        dose: Phi::new(q("1", "{tbl}")),
        route: Phi::new(coding("http://snomed.info/sct", "26643006", "Oral route")),
        frequency: Phi::new(DosageFrequency {
            times_per_period: 2,
            period: 1,
            period_unit: PeriodUnit::Day,
            as_needed: false,
            text: Some("BID".into()),
        }),
        duration_days: Some(90),
        quantity_dispensed: Some(q("180", "{tbl}")),
        refills: 3,
        substitution_allowed: true,
        instructions: Some(Phi::new("Take one tablet twice daily with meals".into())),
        reason: Some(Phi::new(CodeableConcept {
            coding: vec![coding(
                "http://hl7.org/fhir/sid/icd-10-cm",
                "E11.9",
                "Type 2 diabetes mellitus",
            )],
            text: None,
        })),
        status: PrescriptionStatus::Active,
        prescriber: reference("Practitioner", "pract-17", "Dr. Rivera"),
        authored_at: at(t0, 11),
    };
    send(&prm, cl, &prescription, None).await;

    // Everything arrives; the late, older update did not roll the newer one back.
    let patient1 = wait_for(api, &format!("/Patient/{p1}"), |p| p["link"].is_array()).await;
    assert_eq!(
        patient1["communication"][0]["language"]["coding"][0]["code"], "es-MX",
        "{patient1}"
    );
    let patient2 = wait_for(api, &format!("/Patient/{p2}"), |p| p["active"] == false).await;
    assert_eq!(
        patient2["link"][0],
        json!({ "other": { "reference": format!("Patient/{p1}") }, "type": "replaced-by" })
    );
    assert_eq!(patient1["link"][0]["type"], "replaces");
    let patient3 = wait_for(api, &format!("/Patient/{p3}"), |p| p["active"] == false).await;
    assert!(patient3["deceasedDateTime"].is_string(), "{patient3}");
    let appt1 = wait_for(api, &format!("/Appointment/{}", a1.to_text()), |a| {
        a["status"] == "fulfilled"
    })
    .await;
    assert_eq!(
        appt1["participant"][0]["actor"]["reference"],
        format!("Patient/{p1}")
    );
    wait_for(api, &format!("/Appointment/{}", a2.to_text()), |a| {
        a["status"] == "cancelled"
    })
    .await;
    wait_for(api, &format!("/Appointment/{}", a3.to_text()), |a| {
        a["status"] == "booked"
    })
    .await;
    let hr = wait_for(
        api,
        &format!("/Observation/{}-8867-4", recording.to_text()),
        |_| true,
    )
    .await;
    assert_eq!(
        hr["valueQuantity"],
        json!({ "value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min" })
    );
    assert_eq!(hr["category"][0]["coding"][0]["code"], "vital-signs");
    let panel = wait_for(
        api,
        &format!("/Observation/{}", recording.to_text()),
        |_| true,
    )
    .await;
    assert_eq!(panel["hasMember"].as_array().map(Vec::len), Some(5));
    let a1c = wait_for(api, &format!("/Observation/{}", hba1c.to_text()), |_| true).await;
    assert_eq!(a1c["interpretation"][0]["coding"][0]["code"], "H");
    assert_eq!(a1c["category"][0]["coding"][0]["code"], "laboratory");
    wait_for(api, &format!("/Observation/{}", covid.to_text()), |o| {
        o["valueString"] == "Negative"
    })
    .await;
    let condition = wait_for(
        api,
        &format!("/Condition/{}", diagnosis_id.to_text()),
        |_| true,
    )
    .await;
    assert_eq!(condition["clinicalStatus"]["coding"][0]["code"], "active");
    assert_eq!(
        condition["verificationStatus"]["coding"][0]["code"],
        "confirmed"
    );
    let med = wait_for(
        api,
        &format!("/MedicationRequest/{}", prescription_id.to_text()),
        |_| true,
    )
    .await;
    assert_eq!(med["intent"], "order");
    assert_eq!(
        med["dosageInstruction"][0]["text"],
        "Take one tablet twice daily with meals"
    );

    // A redelivered event changes nothing: the newer update sent again (same event id), then
    // a marker update on the same partition; only the marker adds a version.
    let before: u64 = patient1["meta"]["versionId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    send(
        &prm,
        pt,
        &update(&p1, "es-MX", at(t0, 2)),
        Some(&newer_update),
    )
    .await;
    send(&prm, pt, &update(&p1, "de-DE", at(t0, 12)), None).await;
    let after = wait_for(api, &format!("/Patient/{p1}"), |p| {
        p["communication"][0]["language"]["coding"][0]["code"] == "de-DE"
    })
    .await;
    assert_eq!(
        after["meta"]["versionId"],
        (before + 1).to_string(),
        "{after}"
    );
    let (status, _, history) = http(api, "GET", &format!("/Patient/{p1}/_history"), None).await;
    assert_eq!(status, 200);
    assert_eq!(history["type"], "history");
    assert_eq!(history["total"], before + 1);

    // Search by identifier: a searchset Bundle with total and fullUrl.
    let (status, head, found) = http(
        api,
        "GET",
        &format!("/Patient?identifier={MRN}|{mrn3}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert!(
        header(&head, "content-type").starts_with("application/fhir+json"),
        "{head}"
    );
    assert_eq!(found["type"], "searchset");
    assert_eq!(found["total"], 1);
    assert_eq!(
        found["entry"][0]["fullUrl"],
        format!("http://{api}/Patient/{p3}")
    );
    let (_, _, moved) = http(
        api,
        "GET",
        &format!("/Patient?identifier={MRN}%7C{mrn2}"),
        None,
    )
    .await;
    assert_eq!(
        moved["total"], 2,
        "the merged MRN is on both records: {moved}"
    );
    let (status, _, bad_search) = http(api, "GET", "/Patient?name=Okafor", None).await;
    assert_eq!(
        (status, bad_search["resourceType"].as_str()),
        (400, Some("OperationOutcome"))
    );

    // Unknown id: 404 OperationOutcome.
    let (status, _, missing) = http(api, "GET", "/Patient/no-such-patient", None).await;
    assert_eq!(status, 404);
    assert_eq!(missing["resourceType"], "OperationOutcome");
    assert_eq!(missing["issue"][0]["code"], "not-found");

    // POST: a bad Observation is refused naming the elements, a good one becomes an event.
    let bad = json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs" }] }],
        "code": { "coding": [{ "system": "http://loinc.org", "code": "8867-4" }] },
        "valueQuantity": { "value": "fast", "unit": "/min" },
        "effectiveDateTime": "2026-03-01T09:30:00Z",
    });
    let (status, _, refused) = http(api, "POST", "/Observation", Some(&bad)).await;
    assert_eq!(status, 422, "{refused}");
    let paths: Vec<&str> = refused["issue"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["expression"][0].as_str())
        .collect();
    assert!(
        paths.contains(&"Observation.subject.reference"),
        "{refused}"
    );
    assert!(
        paths.contains(&"Observation.valueQuantity.value"),
        "{refused}"
    );
    let good = json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs" }] }],
        "code": { "coding": [{ "system": "http://loinc.org", "code": "9279-1", "display": "Respiratory rate" }] },
        "subject": { "reference": format!("Patient/{p1}") },
        "effectiveDateTime": "2026-03-01T09:30:00Z",
        "valueQuantity": { "value": 16, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min" },
    });
    let (status, head, accepted) = http(api, "POST", "/Observation", Some(&good)).await;
    assert_eq!(status, 202, "{accepted}");
    let event_id = header(&head, "x-event-id").to_string();
    let location = header(&head, "content-location").to_string();
    assert!(
        !event_id.is_empty() && location.starts_with("Observation/"),
        "{head}"
    );
    let mut locations = vec![location.clone()];
    let category = |code: &str| json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": code }] }]);
    let posts = [
        (
            "Observation",
            json!({
                "resourceType": "Observation",
                "status": "final",
                "category": category("laboratory"),
                "code": { "coding": [{ "system": "http://loinc.org", "code": "2823-3", "display": "Potassium" }] },
                "subject": { "reference": format!("Patient/{p1}") },
                "effectiveDateTime": "2026-03-01T08:00:00Z",
                "issued": "2026-03-01T11:00:00Z",
                "valueQuantity": { "value": 5.9, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L" },
                "interpretation": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": "H" }] }],
                "performer": [{ "reference": "Organization/lab-1" }],
            }),
        ),
        (
            "Condition",
            json!({
                "resourceType": "Condition",
                "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
                "verificationStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "provisional" }] },
                "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item" }] }],
                "code": { "coding": [{ "system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I10", "display": "Essential hypertension" }] },
                "subject": { "reference": format!("Patient/{p1}") },
                "onsetDateTime": "2025-06-01",
                "recorder": { "reference": "Practitioner/pract-17" },
            }),
        ),
        (
            "MedicationRequest",
            json!({
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": { "coding": [{ "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076", "display": "lisinopril 10 MG Oral Tablet" }] },
                "subject": { "reference": format!("Patient/{p1}") },
                "requester": { "reference": "Practitioner/pract-17" },
                "authoredOn": "2026-03-01T10:00:00Z",
                "dosageInstruction": [{
                    "text": "One tablet every morning",
                    "timing": { "repeat": { "frequency": 1, "period": 1, "periodUnit": "d" } },
                    "route": { "coding": [{ "system": "http://snomed.info/sct", "code": "26643006", "display": "Oral route" }] },
                    "doseAndRate": [{ "doseQuantity": { "value": 1, "unit": "{tbl}", "system": "http://unitsofmeasure.org", "code": "{tbl}" } }],
                }],
                "dispenseRequest": { "numberOfRepeatsAllowed": 2, "expectedSupplyDuration": { "value": 30 } },
            }),
        ),
    ];
    let mut posted_ids = vec![event_id.clone()];
    for (kind, body) in &posts {
        let (status, head, answer) = http(api, "POST", &format!("/{kind}"), Some(body)).await;
        assert_eq!(status, 202, "{kind}: {answer}");
        locations.push(header(&head, "content-location").to_string());
        posted_ids.push(header(&head, "x-event-id").to_string());
    }
    let (status, _, refused_condition) = http(
        api,
        "POST",
        "/Condition",
        Some(&json!({
            "resourceType": "Condition",
            "subject": { "reference": format!("Patient/{p1}") },
            "recorder": { "reference": "Practitioner/pract-17" },
        })),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        refused_condition["issue"][0]["expression"][0],
        "Condition.code.coding"
    );
    let clinical_records = 5 + locations.len();
    let reader = subscribe(
        &transport(&bootstrap),
        &carebus_tests::unique_name("fhir-check"),
        cl,
    )
    .await;
    // The clinical topic holds the five events sent and one per valid POST, nothing more.
    let records = consume(&reader, clinical_records, false, WAIT).await;
    assert_eq!(records.len(), clinical_records);
    let extra = consume(&reader, 1, false, Duration::from_secs(5)).await;
    assert!(extra.is_empty(), "a refused POST published an event");
    for id in &posted_ids {
        let posted: Vec<_> = records
            .iter()
            .filter(|r| header_str(&r.headers, "ce_id") == Some(id.as_str()))
            .collect();
        assert_eq!(posted.len(), 1, "event {id} of a POST is on the topic once");
    }
    let first = records
        .iter()
        .find(|r| header_str(&r.headers, "ce_id") == Some(event_id.as_str()))
        .unwrap();
    assert_eq!(
        header_str(&first.headers, "ce_type"),
        Some("VitalSignsRecorded")
    );
    let rr = wait_for(api, &format!("/{location}"), |_| true).await;
    assert_eq!(rr["valueQuantity"]["value"], 16);
    for location in &locations {
        let resource = wait_for(api, &format!("/{location}"), |_| true).await;
        assert_eq!(
            resource["subject"]["reference"],
            format!("Patient/{p1}"),
            "{resource}"
        );
    }

    // Every resource the service produced, its Bundles and outcomes, valid FHIR (R4B models).
    let mut documents = Vec::new();
    for (kind, id) in service.store().list().await.unwrap() {
        let (status, head, body) = http(api, "GET", &format!("/{kind}/{id}"), None).await;
        assert_eq!(status, 200, "{kind}/{id}");
        assert!(header(&head, "content-type").starts_with("application/fhir+json"));
        documents.push(body);
        let (_, _, history) = http(api, "GET", &format!("/{kind}/{id}/_history"), None).await;
        documents.push(history);
    }
    assert!(documents.len() >= 2 * 17, "{} documents", documents.len());
    for extra in ["/metadata", "/Patient/no-such-patient"] {
        documents.push(http(api, "GET", extra, None).await.2);
    }
    documents.push(found);
    documents.push(refused);
    documents.push(refused_condition);
    documents.push(accepted);
    let file = std::env::temp_dir().join(format!(
        "{}.json",
        carebus_tests::unique_name("fhir-resources")
    ));
    std::fs::write(&file, serde_json::to_vec(&documents).unwrap()).unwrap();
    let verdicts = carebus_tests::run_python("validate_fhir.py", &[file.to_str().unwrap()]);
    let verdicts: Vec<Value> = serde_json::from_str(&verdicts).unwrap();
    assert_eq!(verdicts.len(), documents.len());
    let _ = std::fs::remove_file(&file);

    // The observability endpoint counts what the events did.
    let endpoint = service.endpoint().expect("an observability endpoint");
    let (status, _, _) = http(endpoint, "GET", "/health", None).await;
    assert_eq!(status, 200);
    let mut s = tokio::net::TcpStream::connect(endpoint).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut metrics = String::new();
    s.read_to_string(&mut metrics).await.unwrap();
    assert!(
        metrics.contains("carebus_fhir_events_total{"),
        "no FHIR event counter in /metrics"
    );
    assert!(
        metrics.contains("outcome=\"duplicate\""),
        "the redelivery is counted as a duplicate"
    );
    assert!(
        metrics.contains("outcome=\"stale\""),
        "the older update is counted as stale"
    );

    service.stop().await.unwrap_or_else(|e| panic!("{e}"));
    prm.close().await;
    let admin = sqlx::PgPool::connect(&config.database_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA {} CASCADE",
        config.schema
    )))
    .execute(&admin)
    .await
    .unwrap();
}
