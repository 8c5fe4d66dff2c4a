//! The prm-service binary on real Kafka and PostgreSQL: HTTP commands in, events in the store and on Kafka (through the outbox relay) out; invalid requests write nothing; a journey's booking action delivered twice books once.

use crate::kafka_support::{consume, create_topic, subscribe, transport};
use carebus::kafka::KafkaTransport;
use carebus::postgres::PgEventStore;
use carebus::store::{Cursor, EventStore};
use carebus::transport::{ReceivedRecord, header_str};
use carebus::{
    DomainEvent, Phi, PublishOptions, Publisher, PublisherConfig, Timestamp, Uuid, wire,
};
use carebus_schemas::healthcare::ai::{
    AnalysisCompleted, AnalysisKind, Finding, FindingCode, FindingSeverity,
};
use carebus_schemas::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const WAIT: Duration = Duration::from_secs(60);
const MRN: &str = "urn:oid:2.16.840.1.113883.4.1";

/// The topics and store schema of one run, all unique.
struct Run {
    bootstrap: String,
    database_url: String,
    schema: String,
    patients: String,
    appointments: String,
    journeys: String,
    ai: String,
}

impl Run {
    async fn new(name: &str) -> Run {
        let run = Run {
            bootstrap: carebus_tests::kafka_bootstrap(),
            database_url: carebus_tests::database_url(),
            schema: carebus_tests::unique_name(name),
            patients: carebus_tests::unique_name(&format!("{name}-patients")),
            appointments: carebus_tests::unique_name(&format!("{name}-appointments")),
            journeys: carebus_tests::unique_name(&format!("{name}-journeys")),
            ai: carebus_tests::unique_name(&format!("{name}-ai")),
        };
        // One partition each: the order on a topic is the order of the calls.
        for topic in [&run.patients, &run.appointments, &run.journeys, &run.ai] {
            create_topic(&run.bootstrap, topic, 1, 1).await;
        }
        run
    }
}

/// The binary: `CAREBUS_PRM_SERVICE_BIN`, or `prm-service` next to the test binary's `deps/`.
fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("CAREBUS_PRM_SERVICE_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = dir.join("prm-service");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p carebus-examples --bin prm-service` \
         (`cargo test --workspace` builds it), or set CAREBUS_PRM_SERVICE_BIN",
        path.display()
    );
    path
}

/// A running prm-service process; its output is kept to check for PHI.
struct Prm {
    child: tokio::process::Child,
    api: SocketAddr,
    metrics: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Prm {
    async fn spawn(run: &Run) -> Prm {
        let mut child = tokio::process::Command::new(binary())
            .env("CAREBUS_KAFKA_BOOTSTRAP", &run.bootstrap)
            .env("CAREBUS_DATABASE_URL", &run.database_url)
            .env("CAREBUS_PRM_DB_SCHEMA", &run.schema)
            .env("CAREBUS_PRM_LISTEN", "127.0.0.1:0")
            .env("CAREBUS_PRM_ENDPOINT", "127.0.0.1:0")
            .env("CAREBUS_PRM_GROUP", carebus_tests::unique_name("prm-group"))
            .env("CAREBUS_PRM_PATIENTS_TOPIC", &run.patients)
            .env("CAREBUS_PRM_APPOINTMENTS_TOPIC", &run.appointments)
            .env("CAREBUS_PRM_JOURNEYS_TOPIC", &run.journeys)
            .env("CAREBUS_PRM_AI_TOPIC", &run.ai)
            .env("CAREBUS_CONSUMER_COMMIT_INTERVAL_MS", "200")
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start prm-service");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(String::new()));
        // Tracing writes to stdout: kept with stderr for the PHI check.
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let kept = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                kept.lock().unwrap().push_str(&line);
                kept.lock().unwrap().push('\n');
            }
        });
        let until = Instant::now() + WAIT;
        let banner = loop {
            let line = tokio::time::timeout_at(until.into(), lines.next_line())
                .await
                .expect("prm-service printed no banner in time")
                .expect("read prm-service's stderr");
            let Some(line) = line else {
                panic!("prm-service exited before serving: {}", log.lock().unwrap());
            };
            log.lock().unwrap().push_str(&line);
            log.lock().unwrap().push('\n');
            if line.starts_with("prm-service: HTTP API on") {
                break line;
            }
        };
        let addrs: Vec<SocketAddr> = banner
            .split("http://")
            .skip(1)
            .filter_map(|s| s.split([',', ' ']).next()?.parse().ok())
            .collect();
        let kept = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                kept.lock().unwrap().push_str(&line);
                kept.lock().unwrap().push('\n');
            }
        });
        let prm = Prm {
            child,
            api: addrs[0],
            metrics: addrs[1],
            log,
        };
        // Ready: both consumers hold their partitions.
        let until = Instant::now() + WAIT;
        while http(prm.metrics, "GET", "/ready", None).await.0 != 200 {
            assert!(Instant::now() < until, "prm-service never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (status, health) = http(prm.metrics, "GET", "/health", None).await;
        assert_eq!(status, 200, "/health: {health}");
        prm
    }

    async fn call(&self, method: &str, target: &str, body: Value) -> (u16, Value) {
        let (status, text) = http(self.api, method, target, Some(&body.to_string())).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// SIGTERM, then the exit status and everything it logged.
    async fn stop(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().expect("running").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(killed.success());
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("prm-service did not stop after SIGTERM")
            .expect("wait for prm-service");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let log = self.log.lock().unwrap().clone();
        (status, log)
    }
}

/// One HTTP/1.1 request; status and body text.
async fn http(addr: SocketAddr, method: &str, target: &str, body: Option<&str>) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or_default();
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nX-Tenant-Id: hospital-456\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
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
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// The records of `topic` from the start: exactly `n`, and none after them within a second.
async fn exactly(run: &Run, topic: &str, n: usize) -> Vec<ReceivedRecord> {
    let t = transport(&run.bootstrap);
    let consumer = subscribe(&t, &carebus_tests::unique_name("prm-check"), topic).await;
    let mut records = consume(&consumer, n, false, WAIT).await;
    assert_eq!(records.len(), n, "records on {topic}");
    records.extend(consume(&consumer, 1, false, Duration::from_secs(1)).await);
    assert_eq!(records.len(), n, "more records than expected on {topic}");
    records
}

/// `(event type, aggregate id, ce_id)` of each record, decoded with the topic's typed enum.
fn typed<E: carebus::TopicEvents>(records: &[ReceivedRecord]) -> Vec<(String, String, String)> {
    records
        .iter()
        .map(|r| {
            let (_, e) = wire::decode::<E>(&r.headers, r.payload()).expect("a typed event");
            let id = header_str(&r.headers, "ce_id")
                .unwrap_or_default()
                .to_string();
            (e.info().event_type.to_string(), e.aggregate_id(), id)
        })
        .collect()
}

fn registration(id: &str, given: &str, family: &str) -> Value {
    json!({
        "patientId": id, "firstName": given, "lastName": family, "dateOfBirth": "1961-04-17",
        "gender": "female", "preferredLanguage": "en",
        "identifiers": [{ "system": MRN, "value": format!("MRN-{id}"), "typeCode": "MR" }],
        "telecom": [{ "system": "phone", "value": "+1-555-0100", "use": "mobile", "rank": 1 }],
    })
}

fn fields(body: &Value) -> Vec<&str> {
    body["issues"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["field"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prm_commands_reach_the_store_and_kafka_and_invalid_ones_write_nothing() {
    let run = Run::new("prm-api").await;
    let prm = Prm::spawn(&run).await;
    let tag = carebus_tests::unique_name("p");
    let (p1, p2) = (format!("{tag}-1"), format!("{tag}-2"));

    // Invalid requests first: each a 400 naming the fields, never their values.
    let (status, body) = prm
        .call(
            "POST",
            "/patients",
            json!({ "firstName": "Jane", "dateOfBirth": "next tuesday", "gender": "robot", "email": "jane-at-home" }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        fields(&body),
        ["lastName", "dateOfBirth", "gender", "email"]
    );
    for phi in ["Jane", "next tuesday", "robot", "jane-at-home"] {
        assert!(!body.to_string().contains(phi), "{body} echoes {phi}");
    }
    let (status, text) = http(prm.api, "POST", "/patients", Some("{\"firstName\": \"Jane")).await;
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("\"body\"") && !text.contains("Jane"),
        "{text}"
    );
    let start = "2026-06-01T09:00:00Z";
    let (status, body) = prm
        .call(
            "POST",
            "/appointments",
            json!({ "patientId": p1, "start": start, "durationMinutes": 30 }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(fields(&body), ["practitionerId", "locationId"]);

    // Patients: register, a stale update refused, merge, deactivate.
    let (status, created) = prm
        .call("POST", "/patients", registration(&p1, "Ana", "Ruiz"))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["id"], json!(p1));
    assert_eq!(created["version"], json!(1));
    assert_eq!(
        prm.call("POST", "/patients", registration(&p1, "Ana", "Ruiz"))
            .await
            .0,
        409
    );
    let (status, updated) = prm
        .call(
            "PATCH",
            &format!("/patients/{p1}"),
            json!({ "preferredLanguage": "es", "expectedVersion": 1 }),
        )
        .await;
    assert_eq!((status, &updated["version"]), (200, &json!(2)), "{updated}");
    let (status, stale) = prm
        .call(
            "PATCH",
            &format!("/patients/{p1}"),
            json!({ "preferredLanguage": "fr", "expectedVersion": 1 }),
        )
        .await;
    assert_eq!(status, 409, "{stale}");
    let (status, body) = prm
        .call(
            "PATCH",
            &format!("/patients/{p1}"),
            json!({ "dateOfBirth": "31/12/1960" }),
        )
        .await;
    assert_eq!((status, fields(&body)), (400, vec!["dateOfBirth"]));
    assert_eq!(
        prm.call("POST", "/patients", registration(&p2, "Ana", "Ruiz"))
            .await
            .0,
        201
    );
    let (status, merged) = prm
        .call(
            "POST",
            &format!("/patients/{p1}/merge"),
            json!({ "mergedPatientId": p2, "reason": "duplicate_registration", "matchScore": 0.97 }),
        )
        .await;
    assert_eq!((status, &merged["version"]), (200, &json!(3)), "{merged}");
    let (status, _) = prm
        .call(
            "PATCH",
            &format!("/patients/{p2}"),
            json!({ "preferredLanguage": "en" }),
        )
        .await;
    assert_eq!(status, 409, "a merged patient cannot be updated");
    let (status, view) = prm
        .call("GET", &format!("/patients/{p2}"), Value::Null)
        .await;
    assert_eq!(
        (status, &view["status"], &view["mergedInto"]),
        (200, &json!("merged"), &json!(p1))
    );

    // Appointments: book, confirm, complete; changes that do not fit the state refused.
    let (status, body) = prm
        .call(
            "POST",
            "/appointments",
            json!({ "patientId": format!("{tag}-nobody"), "practitionerId": "pract-17",
                    "locationId": "clinic-3", "start": start, "durationMinutes": 30 }),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, booked) = prm
        .call(
            "POST",
            "/appointments",
            json!({ "patientId": p1, "practitionerId": "pract-17", "locationId": "clinic-3",
                    "start": start, "durationMinutes": 30, "visitMode": "video" }),
        )
        .await;
    assert_eq!(status, 201, "{booked}");
    let a1 = booked["id"].as_str().unwrap().to_string();
    let confirm = json!({ "channel": "sms" });
    let path = |op: &str| format!("/appointments/{a1}/{op}");
    assert_eq!(
        prm.call("POST", &path("confirm"), confirm.clone()).await.0,
        200
    );
    assert_eq!(
        prm.call("POST", &path("confirm"), confirm.clone()).await.0,
        409
    );
    let (status, body) = prm.call("POST", &path("complete"), json!({})).await;
    assert_eq!(
        (status, fields(&body)),
        (400, vec!["actualStart", "actualEnd"])
    );
    let done =
        json!({ "actualStart": start, "actualEnd": "2026-06-01T09:25:00Z", "followUpInDays": 30 });
    let (status, completed) = prm.call("POST", &path("complete"), done).await;
    assert_eq!(
        (status, &completed["version"]),
        (200, &json!(3)),
        "{completed}"
    );
    assert_eq!(
        prm.call("POST", &path("cancel"), json!({ "reason": "weather" }))
            .await
            .0,
        409
    );
    let unknown = format!("/appointments/{}/confirm", Uuid::new_v4().to_text());
    assert_eq!(prm.call("POST", &unknown, confirm).await.0, 404);
    let (status, _) = prm
        .call(
            "POST",
            &format!("/patients/{p1}/deactivate"),
            json!({ "reason": "patient_request" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = prm
        .call(
            "PATCH",
            &format!("/patients/{p1}"),
            json!({ "preferredLanguage": "de" }),
        )
        .await;
    assert_eq!(status, 409, "a deactivated patient cannot be updated");
    assert_eq!(
        prm.call("GET", &format!("/patients/{tag}-none"), Value::Null)
            .await
            .0,
        404
    );

    // Kafka: exactly the accepted commands' events, in order, with the ids the API returned.
    let patients = typed::<PatientsEvent>(&exactly(&run, &run.patients, 5).await);
    let kinds: Vec<(&str, &str)> = patients
        .iter()
        .map(|(t, a, _)| (t.as_str(), a.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("PatientCreated", p1.as_str()),
            ("PatientUpdated", p1.as_str()),
            ("PatientCreated", p2.as_str()),
            ("PatientMerged", p1.as_str()),
            ("PatientDeactivated", p1.as_str()),
        ]
    );
    assert_eq!(patients[0].2, created["eventId"].as_str().unwrap());
    assert_eq!(patients[3].2, merged["eventId"].as_str().unwrap());
    let appointments = typed::<AppointmentsEvent>(&exactly(&run, &run.appointments, 3).await);
    let kinds: Vec<&str> = appointments.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "AppointmentScheduled",
            "AppointmentConfirmed",
            "AppointmentCompleted"
        ]
    );
    assert!(appointments.iter().all(|(_, a, _)| *a == a1));
    assert_eq!(appointments[2].2, completed["eventId"].as_str().unwrap());

    // The store: the same 8 events, stream versions as the API reported.
    let store = PgEventStore::connect_in_schema(&run.database_url, Some(&run.schema), 2)
        .await
        .unwrap();
    let all = store.read_all(Cursor::START, 100).await.unwrap();
    assert_eq!(all.len(), 8);
    let stream = store
        .read_stream(&format!("Patient-{p1}"), 0, 100)
        .await
        .unwrap();
    let versions: Vec<(u64, &str)> = stream
        .iter()
        .map(|e| (e.stream_version, e.event_type.as_str()))
        .collect();
    assert_eq!(
        versions,
        [
            (1, "PatientCreated"),
            (2, "PatientUpdated"),
            (3, "PatientMerged"),
            (4, "PatientDeactivated")
        ]
    );
    assert!(
        all.iter()
            .all(|e| e.context.tenant_id.as_deref() == Some("hospital-456"))
    );

    let (status, log) = prm.stop().await;
    assert!(status.success(), "prm-service exited with {status}: {log}");
    assert!(log.contains("outbox relay stopped"), "{log}");
    for phi in ["Ana", "Ruiz", "Jane", "+1-555-0100", "MRN-"] {
        assert!(!log.contains(phi), "prm-service logged PHI ({phi}): {log}");
    }
}

fn action(journey: Uuid, patient: &str, id: Uuid, kind: ActionType, days: &str) -> ActionTriggered {
    let parameters = BTreeMap::from([
        ("practitionerId".to_string(), "pract-9".to_string()),
        ("inDays".to_string(), days.to_string()),
    ]);
    ActionTriggered {
        journey_id: journey,
        patient_id: patient.into(),
        action_id: id,
        stage_id: "hba1c-recheck".into(),
        action_type: kind,
        trigger: JourneyTrigger {
            kind: TriggerKind::Schedule,
            source_event_type: None,
            source_event_id: None,
            rule: Some("hba1c-recheck-80d".into()),
        },
        template_id: None,
        parameters: Phi::new(parameters),
        due_at: None,
        triggered_at: Timestamp::now(),
    }
}

#[allow(deprecated)] // result_text: always empty since model 2024.10
fn analysis(id: &str, patient: &str, severity: FindingSeverity) -> AnalysisCompleted {
    AnalysisCompleted {
        analysis_id: id.into(),
        patient_id: patient.into(),
        kind: AnalysisKind::AnalysisKindLabTrend,
        model_name: "carebus-lab-trend".into(),
        model_version: "1".into(),
        confidence: 0.9,
        findings: Phi::new(vec![Finding {
            code: Phi::new(FindingCode {
                system: "http://loinc.org".into(),
                code: "4548-4".into(),
                display: None,
            }),
            description: Phi::new("HbA1c rising".into()),
            confidence: 0.9,
            severity,
            evidence: Vec::new(),
        }]),
        summary: None,
        duration_ms: 3,
        completed_at_micros: Timestamp::now().0,
        result_text: Phi::new(String::new()),
    }
}

/// Publish `event` to `topic` under `event_id`.
async fn send<E: DomainEvent>(
    publisher: &Publisher<KafkaTransport>,
    topic: &str,
    event: &E,
    event_id: &str,
) {
    let options = PublishOptions {
        tenant_id: Some("hospital-456".into()),
        event_id: Some(event_id.into()),
        correlation_id: Some("journey-run".into()),
        ..PublishOptions::default()
    };
    let mut record = publisher.prepare(event, options).unwrap();
    record.topic = topic.to_string();
    publisher.send_prepared(record).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_action_delivered_twice_books_one_appointment_and_compensation_cancels_once() {
    let run = Run::new("prm-actions").await;
    let prm = Prm::spawn(&run).await;
    let patient = carebus_tests::unique_name("p");
    assert_eq!(
        prm.call("POST", "/patients", registration(&patient, "Ana", "Ruiz"))
            .await
            .0,
        201
    );
    let journeys = Publisher::new(transport(&run.bootstrap), PublisherConfig::default()).unwrap();
    let journey = Uuid::new_v4();
    let (booking, marker) = (Uuid::new_v4(), Uuid::new_v4());
    let first = Uuid::new_v4().to_text();
    let book = action(
        journey,
        &patient,
        booking,
        ActionType::ScheduleAppointment,
        "14",
    );
    // The same record twice, the same action again under a new event id, an action that is not
    // a booking, a booking for a patient nobody registered (skipped), then a second booking:
    // same journey, same key, handled in this order.
    send(&journeys, &run.journeys, &book, &first).await;
    send(&journeys, &run.journeys, &book, &first).await;
    send(&journeys, &run.journeys, &book, &Uuid::new_v4().to_text()).await;
    let sms = action(journey, &patient, Uuid::new_v4(), ActionType::SendSms, "0");
    send(&journeys, &run.journeys, &sms, &Uuid::new_v4().to_text()).await;
    let stranger = format!("{patient}-unregistered");
    let lost = action(
        journey,
        &stranger,
        Uuid::new_v4(),
        ActionType::ScheduleAppointment,
        "1",
    );
    send(&journeys, &run.journeys, &lost, &Uuid::new_v4().to_text()).await;
    let second = Uuid::new_v4().to_text();
    let mut again = action(
        journey,
        &patient,
        marker,
        ActionType::ScheduleAppointment,
        "0",
    );
    // The parameters the referral and chronic-care journeys send.
    again.parameters = Phi::new(BTreeMap::from([
        ("specialty".to_string(), "cardiology".to_string()),
        ("withinDays".to_string(), "14".to_string()),
    ]));
    send(&journeys, &run.journeys, &again, &second).await;

    let records = exactly(&run, &run.appointments, 2).await;
    let booked = typed::<AppointmentsEvent>(&records);
    assert!(booked.iter().all(|(t, _, _)| t == "AppointmentScheduled"));
    let causes: Vec<&str> = records
        .iter()
        .map(|r| header_str(&r.headers, "ce_causationid").unwrap_or_default())
        .collect();
    assert_eq!(causes, [first.as_str(), second.as_str()]);
    let (_, e) =
        wire::decode::<AppointmentsEvent>(&records[0].headers, records[0].payload()).unwrap();
    let AppointmentsEvent::AppointmentScheduled(s) = e else {
        panic!("a scheduled appointment");
    };
    assert_eq!(
        (s.patient_id.as_str(), s.practitioner.id.as_str()),
        (patient.as_str(), "pract-9")
    );
    assert_eq!(s.start.0 - s.end.0, -30 * 60_000_000);
    let (status, view) = prm
        .call(
            "GET",
            &format!("/appointments/{}", booked[0].1),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(view["actionId"], json!(booking.to_text()));
    assert_eq!(view["status"], json!("scheduled"));
    let (_, e) =
        wire::decode::<AppointmentsEvent>(&records[1].headers, records[1].payload()).unwrap();
    let AppointmentsEvent::AppointmentScheduled(s) = e else {
        panic!("a scheduled appointment");
    };
    assert_eq!(
        s.service_type.map(|c| c.code).as_deref(),
        Some("cardiology")
    );
    assert_eq!(s.start.0 - again.triggered_at.0, 14 * 86_400_000_000);

    // The journey's compensation cancels both bookings, once, however often it arrives.
    let mut undo = action(
        journey,
        &patient,
        Uuid::new_v4(),
        ActionType::ScheduleAppointment,
        "0",
    );
    undo.parameters = Phi::new(BTreeMap::from([(
        "operation".to_string(),
        "cancel".to_string(),
    )]));
    let undo_id = Uuid::new_v4().to_text();
    send(&journeys, &run.journeys, &undo, &undo_id).await;
    send(&journeys, &run.journeys, &undo, &Uuid::new_v4().to_text()).await;
    let records = exactly(&run, &run.appointments, 4).await;
    let events = typed::<AppointmentsEvent>(&records);
    let cancelled: Vec<&str> = events[2..]
        .iter()
        .map(|(t, a, _)| {
            assert_eq!(t, "AppointmentCancelled");
            a.as_str()
        })
        .collect();
    let mut expected = vec![booked[0].1.as_str(), booked[1].1.as_str()];
    expected.sort();
    assert_eq!(cancelled, expected);
    assert!(
        records[2..]
            .iter()
            .all(|r| header_str(&r.headers, "ce_causationid") == Some(undo_id.as_str()))
    );

    // Analyses: one high (delivered twice), then one low; recorded once each.
    let ai = &run.ai;
    let (high, low) = (Uuid::new_v4().to_text(), Uuid::new_v4().to_text());
    let event_id = Uuid::new_v4().to_text();
    let severe = analysis(&high, &patient, FindingSeverity::FindingSeverityHigh);
    send(&journeys, ai, &severe, &event_id).await;
    send(&journeys, ai, &severe, &event_id).await;
    send(
        &journeys,
        ai,
        &analysis(&low, &patient, FindingSeverity::FindingSeverityLow),
        &Uuid::new_v4().to_text(),
    )
    .await;
    let until = Instant::now() + WAIT;
    let view = loop {
        let (_, view) = prm
            .call("GET", &format!("/patients/{patient}"), Value::Null)
            .await;
        if view["analyses"].as_array().is_some_and(|a| a.len() >= 2) {
            break view;
        }
        assert!(Instant::now() < until, "analyses not recorded: {view}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(view["analyses"].as_array().unwrap().len(), 2, "{view}");
    assert_eq!(view["needsReview"], json!(true));
    let recorded: Vec<&str> = view["analyses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["highestSeverity"].as_str())
        .collect();
    assert!(recorded.contains(&"FINDING_SEVERITY_HIGH"), "{view}");

    let store = PgEventStore::connect_in_schema(&run.database_url, Some(&run.schema), 2)
        .await
        .unwrap();
    let all = store.read_all(Cursor::START, 100).await.unwrap();
    let types: Vec<&str> = all.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "PatientCreated",
            "AppointmentScheduled",
            "AppointmentScheduled",
            "AppointmentCancelled",
            "AppointmentCancelled"
        ]
    );
    let (status, log) = prm.stop().await;
    assert!(status.success(), "prm-service exited with {status}: {log}");
    assert!(
        !log.contains("HbA1c rising") && !log.contains("Ruiz"),
        "{log}"
    );
}
