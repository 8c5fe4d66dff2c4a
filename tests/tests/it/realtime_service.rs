//! The real-time service on real Kafka: appointment, lab and journey events in, each WebSocket client (PyPI's websockets) and a headless Chromium EventSource receiving exactly its own patient's notifications, resuming after its last id without loss or duplicates.

use crate::kafka_support::{create_topic, transport};
use carebus::kafka::KafkaTransport;
use carebus::transport::header_str;
use carebus::{
    ConsumerConfig, Decimal, DomainEvent, Phi, PublishOptions, Publisher, PublisherConfig,
    Timestamp, Uuid,
};
use carebus_examples::realtime::hub::Audience;
use carebus_examples::realtime::token::{Grant, TokenKey};
use carebus_examples::realtime::{RealtimeConfig, RealtimeService};
use carebus_schemas::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(90);
/// PHI the events carry that no notification may repeat.
const PHI: &[&str] = &[
    "Bring your medication list",
    "8.2",
    "Hemoglobin",
    "Dr. Rivera",
    "call-me",
];

async fn send<E: DomainEvent>(publisher: &Publisher<KafkaTransport>, topic: &str, e: &E) -> String {
    let options = PublishOptions {
        tenant_id: Some("hospital-456".into()),
        ..PublishOptions::default()
    };
    let mut record = publisher
        .prepare(e, options)
        .unwrap_or_else(|err| panic!("{}: {err}", E::EVENT_TYPE));
    record.topic = topic.to_string();
    let id = header_str(&record.headers, "ce_id").unwrap().to_owned();
    publisher
        .send_prepared(record)
        .await
        .unwrap_or_else(|err| panic!("{}: {err}", E::EVENT_TYPE));
    id
}

fn reference(kind: &str, id: &str, display: &str) -> Reference {
    Reference {
        r#type: kind.into(),
        id: id.into(),
        display: Some(display.into()),
    }
}

fn coding(system: &str, code: &str, display: &str) -> Coding {
    Coding {
        system: system.into(),
        code: code.into(),
        display: Some(display.into()),
    }
}

fn booking(id: Uuid, patient: &str) -> AppointmentScheduled {
    let start = Timestamp(Timestamp::now().0 + 86_400_000_000);
    AppointmentScheduled {
        appointment_id: id,
        patient_id: patient.into(),
        practitioner: reference("Practitioner", "pract-17", "Dr. Rivera"),
        location: reference("Location", "clinic-3", "Cardiology clinic"),
        start,
        end: Timestamp(start.0 + 1_800_000_000),
        appointment_type: coding(
            "http://terminology.hl7.org/CodeSystem/v2-0276",
            "FOLLOWUP",
            "A follow up visit",
        ),
        service_type: None,
        reason: None,
        visit_mode: VisitMode::InPerson,
        patient_instructions: Some(Phi::new("Bring your medication list".into())),
        scheduled_by: reference("Practitioner", "front-desk-1", "Front desk"),
        scheduled_at: Timestamp::now(),
    }
}

fn confirmation(id: Uuid, patient: &str) -> AppointmentConfirmed {
    AppointmentConfirmed {
        appointment_id: id,
        patient_id: patient.into(),
        channel: ConfirmationChannel::Sms,
        reminder_id: None,
        confirmed_at: Timestamp::now(),
    }
}

fn lab(id: Uuid, patient: &str, interpretation: ObservationInterpretation) -> LabResultReceived {
    LabResultReceived {
        patient_id: patient.into(),
        result_id: id,
        order_id: None,
        encounter_id: None,
        code: Phi::new(coding("http://loinc.org", "4548-4", "Hemoglobin A1c")),
        value: Some(Phi::new(Quantity {
            value: Decimal::parse_scaled("8.2", 4).unwrap(),
            unit: "%".into(),
        })),
        value_text: None,
        reference_range: None,
        interpretation: Phi::new(interpretation),
        specimen: Specimen {
            r#type: coding("http://snomed.info/sct", "119297000", "Blood specimen"),
            accession_id: None,
            collected_at: Timestamp::now(),
        },
        status: ObservationStatus::Final,
        performing_lab: reference("Organization", "lab-1", "Central laboratory"),
        issued_at: Timestamp::now(),
    }
}

fn action(id: Uuid, patient: &str) -> ActionTriggered {
    ActionTriggered {
        journey_id: Uuid::new_v4(),
        patient_id: patient.into(),
        action_id: id,
        stage_id: "follow-up".into(),
        action_type: ActionType::SendSms,
        trigger: JourneyTrigger {
            kind: TriggerKind::DomainEvent,
            source_event_type: Some("AppointmentCompleted".into()),
            source_event_id: None,
            rule: None,
        },
        template_id: Some("follow-up-sms".into()),
        parameters: Phi::new(BTreeMap::from([("text".into(), "call-me".into())])),
        due_at: None,
        triggered_at: Timestamp::now(),
    }
}

/// Wait until the service has recorded `n` notifications for `audience`.
async fn recorded(service: &RealtimeService<KafkaTransport>, audience: &Audience, n: usize) {
    let until = Instant::now() + WAIT;
    loop {
        let have = service.hub().subscribe(audience, None).missed.len();
        if have == n {
            return;
        }
        assert!(
            have < n,
            "{audience:?}: {have} notifications recorded, expected {n}"
        );
        assert!(
            Instant::now() < until,
            "{audience:?}: {have} of {n} notifications recorded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A started `ws_client.py`.
fn ws_client(url: &str, token: &str, stop: &[&str]) -> std::process::Child {
    let script = carebus_tests::repo_root().join("tests/python/ws_client.py");
    Command::new(carebus_tests::python())
        .arg(&script)
        .arg(url)
        .args(["--token", token])
        .args(stop)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", script.display()))
}

/// What a client printed: its notifications (parsed and raw), or the status it was refused with.
#[derive(Debug, Default)]
struct Received {
    notifications: Vec<Value>,
    raw: Vec<String>,
    refused: Option<u64>,
    closed: Option<String>,
}

async fn finish(child: std::process::Child) -> Received {
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "ws_client.py failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut r = Received::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if let Some(n) = v.get("notification") {
            r.notifications.push(n.clone());
            r.raw.push(v["raw"].as_str().unwrap().to_string());
        }
        if let Some(c) = v.get("closed") {
            r.closed = c.as_str().map(str::to_owned);
        }
        if let Some(s) = v.get("refused") {
            r.refused = s.as_u64();
        }
    }
    r
}

fn event_ids(r: &Received) -> Vec<String> {
    r.notifications
        .iter()
        .map(|n| n["event_id"].as_str().unwrap().to_string())
        .collect()
}

fn ids(r: &Received) -> Vec<u64> {
    r.notifications
        .iter()
        .map(|n| n["id"].as_u64().unwrap())
        .collect()
}

/// One HTTP/1.1 GET; its status and the whole response.
async fn get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// The first `n` events of an SSE stream (with `Last-Event-ID` when given): their `id:` lines.
async fn sse_ids(addr: SocketAddr, target: &str, last_event_id: Option<u64>, n: usize) -> Vec<u64> {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let resume = last_event_id.map_or_else(String::new, |id| format!("Last-Event-ID: {id}\r\n"));
    let req = format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n{resume}\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut text = String::new();
    let until = Instant::now() + WAIT;
    loop {
        let ids: Vec<u64> = text
            .lines()
            .filter_map(|l| l.strip_prefix("id: ").or_else(|| l.strip_prefix("id:")))
            .map(|v| v.trim().parse().unwrap())
            .collect();
        if ids.len() >= n {
            return ids;
        }
        assert!(Instant::now() < until, "{n} SSE events expected:\n{text}");
        let mut buf = [0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await;
        if let Ok(read) = read {
            let read = read.unwrap();
            assert!(read > 0, "the SSE stream ended early:\n{text}");
            text.push_str(&String::from_utf8_lossy(&buf[..read]));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_receives_exactly_its_own_patients_notifications_and_resumes_without_loss() {
    let bootstrap = carebus_tests::kafka_bootstrap();
    let secret = "realtime-test-key-0123456789abcdef";
    let config = RealtimeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        endpoint: Some("127.0.0.1:0".parse().unwrap()),
        token_key: secret.as_bytes().to_vec(),
        replay: 64,
        group: carebus_tests::unique_name("realtime-service"),
        appointments_topic: carebus_tests::unique_name("rt-appointments"),
        clinical_topic: carebus_tests::unique_name("rt-clinical"),
        journeys_topic: carebus_tests::unique_name("rt-journeys"),
    };
    for topic in [
        &config.appointments_topic,
        &config.clinical_topic,
        &config.journeys_topic,
    ] {
        create_topic(&bootstrap, topic, 3, 1).await;
    }
    let mut consumer = ConsumerConfig::new("unused");
    consumer.commit_interval = Duration::from_millis(200);
    let service = RealtimeService::start(
        config.clone(),
        transport(&bootstrap),
        PublisherConfig::default(),
        consumer,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let addr = service.api_addr();
    let publisher = Publisher::new(transport(&bootstrap), PublisherConfig::default()).unwrap();
    let (ap, cl, jo) = (
        &config.appointments_topic,
        &config.clinical_topic,
        &config.journeys_topic,
    );

    let run = carebus_tests::unique_name("p").replace('_', "-");
    let (a, b) = (format!("{run}-a"), format!("{run}-b"));
    let key = TokenKey::new(secret.as_bytes()).unwrap();
    let token = |patients: &[&str], teams: &[&str]| {
        key.issue(&Grant {
            sub: "test-app".into(),
            patients: patients.iter().map(|p| p.to_string()).collect(),
            teams: teams.iter().map(|t| t.to_string()).collect(),
            exp: 4_000_000_000,
        })
        .unwrap()
    };
    let (token_a, token_b) = (token(&[&a], &[]), token(&[&b], &[]));
    let ws = |patient: &str| format!("ws://{addr}/ws?patient={patient}");

    // Clients connected before anything is published, each reading up to its sentinel (the
    // last event published for its patient); a client without `after` also gets what is
    // kept, so what each receives does not depend on when it connected.
    let (end_a, end_b) = (Uuid::new_v4(), Uuid::new_v4());
    let client_a = ws_client(&ws(&a), &token_a, &["--until", &end_a.to_string()]);
    let client_b = ws_client(&ws(&b), &token_b, &["--until", &end_b.to_string()]);
    let dropping = ws_client(&ws(&a), &token_a, &["--count", "2"]);
    let refused = finish(ws_client(&ws(&b), &token_a, &["--count", "1"])).await;
    assert_eq!(
        refused.refused,
        Some(403),
        "a token for A asking for B: {refused:?}"
    );

    // Phase 1: notifications for both patients, and events that notify nobody.
    let mut expect_a = Vec::new();
    let mut expect_b = Vec::new();
    let appt_a = Uuid::new_v4();
    expect_a.push(send(&publisher, ap, &booking(appt_a, &a)).await);
    expect_a.push(
        send(
            &publisher,
            cl,
            &lab(Uuid::new_v4(), &a, ObservationInterpretation::High),
        )
        .await,
    );
    send(
        &publisher,
        cl,
        &lab(Uuid::new_v4(), &a, ObservationInterpretation::Normal),
    )
    .await;
    expect_a.push(send(&publisher, jo, &action(Uuid::new_v4(), &a)).await);
    let appt_b = Uuid::new_v4();
    expect_b.push(send(&publisher, ap, &booking(appt_b, &b)).await);
    expect_b.push(send(&publisher, ap, &confirmation(appt_b, &b)).await);
    expect_b.push(
        send(
            &publisher,
            cl,
            &lab(Uuid::new_v4(), &b, ObservationInterpretation::CriticalHigh),
        )
        .await,
    );
    let (pa, pb) = (Audience::Patient(a.clone()), Audience::Patient(b.clone()));
    recorded(&service, &pa, 3).await;
    recorded(&service, &pb, 3).await;

    // The dropping client has left after two; phase 2 happens while it is away.
    let first = finish(dropping).await;
    assert_eq!(first.notifications.len(), 2, "{first:?}");
    expect_a.push(send(&publisher, ap, &confirmation(appt_a, &a)).await);
    expect_a.push(send(&publisher, jo, &action(Uuid::new_v4(), &a)).await);
    recorded(&service, &pa, 5).await;

    // Sentinels, recorded after everything else: a client that reads up to its sentinel has
    // seen everything that could have leaked to it.
    expect_a.push(send(&publisher, ap, &confirmation(end_a, &a)).await);
    expect_b.push(send(&publisher, ap, &confirmation(end_b, &b)).await);
    recorded(&service, &pa, 6).await;
    recorded(&service, &pb, 4).await;
    let got_a = finish(client_a).await;
    let got_b = finish(client_b).await;
    let last = first.notifications[1]["id"].as_u64().unwrap();
    let resumed = finish(ws_client(
        &format!("{}&after={last}", ws(&a)),
        &token_a,
        &["--until", &end_a.to_string()],
    ))
    .await;

    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(event_ids(&got_a)),
        sorted(expect_a.clone()),
        "A's client: {got_a:?}"
    );
    assert_eq!(
        sorted(event_ids(&got_b)),
        sorted(expect_b.clone()),
        "B's client: {got_b:?}"
    );
    for (who, got) in [(&a, &got_a), (&b, &got_b), (&a, &resumed)] {
        assert!(
            got.notifications
                .iter()
                .all(|n| n["patient_id"] == who.as_str()),
            "{got:?}"
        );
        assert!(
            ids(got).windows(2).all(|w| w[0] < w[1]),
            "ids grow: {:?}",
            ids(got)
        );
        for raw in &got.raw {
            for phi in PHI {
                assert!(!raw.contains(phi), "{phi:?} leaked into {raw}");
            }
        }
    }
    // Dropped and resumed: the two it had, then exactly the rest, nothing twice.
    let mut both = event_ids(&first);
    both.extend(event_ids(&resumed));
    assert_eq!(both, event_ids(&got_a), "resumed after {last}: {resumed:?}");
    let kinds: Vec<&str> = got_a
        .notifications
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    let mut kinds = kinds;
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "appointment_confirmed",
            "appointment_confirmed",
            "appointment_reminder",
            "journey_action",
            "journey_action",
            "lab_result_alert",
        ]
    );

    // SSE: refusals, Last-Event-ID, and the care team (the booking's practitioner).
    let (status, _) = get(addr, &format!("/events?patient={b}&token={token_a}")).await;
    assert_eq!(status, 403);
    let (status, _) = get(addr, &format!("/events?patient={a}")).await;
    assert_eq!(status, 401);
    let (status, _) = get(addr, &format!("/events?patient={a}&token=forged.{token_a}")).await;
    assert_eq!(status, 401);
    let (status, _) = get(
        addr,
        &format!("/events?patient={a}&team=pract-17&token={token_a}"),
    )
    .await;
    assert_eq!(status, 400);
    // SSE resumes from Last-Event-ID: after A's third, exactly A's fourth to sixth.
    let a_ids = ids(&got_a);
    let resumed_sse = sse_ids(
        addr,
        &format!("/events?patient={a}&token={token_a}"),
        Some(a_ids[2]),
        a_ids.len() - 3,
    )
    .await;
    assert_eq!(resumed_sse, a_ids[3..]);
    let team = finish(ws_client(
        &format!("ws://{addr}/ws?team=pract-17"),
        &token(&[], &["pract-17"]),
        // A's and B's bookings come from different partitions, in either order.
        &[
            "--until",
            &appt_a.to_string(),
            "--until",
            &appt_b.to_string(),
        ],
    ))
    .await;
    assert!(
        team.notifications
            .iter()
            .all(|n| n["care_team"] == "pract-17"),
        "{team:?}"
    );
    for appointment in [appt_a, appt_b] {
        assert!(
            team.notifications
                .iter()
                .any(|n| n["subject_id"] == appointment.to_string()),
            "both bookings reach the team: {team:?}"
        );
    }

    // Headless Chromium: the service's page follows B's SSE stream with EventSource.
    let page = format!(
        "http://{addr}/?patient={b}&token={token_b}&count={}",
        expect_b.len()
    );
    let dom = chromium_dom(&page);
    let shown: Vec<(String, String)> = dom
        .split("<li ")
        .skip(1)
        .map(|li| (attr(li, "data-id"), attr(li, "data-patient")))
        .collect();
    let want: Vec<(String, String)> = ids(&got_b)
        .iter()
        .map(|i| (i.to_string(), b.clone()))
        .collect();
    assert_eq!(shown, want, "the page in Chromium:\n{dom}");
    assert!(dom.contains(">done<"), "the page did not finish:\n{dom}");

    let (status, metrics) = get(service.endpoint().unwrap(), "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("carebus_realtime_notifications_total"),
        "{metrics}"
    );
    let (status, _) = get(service.endpoint().unwrap(), "/health").await;
    assert_eq!(status, 200);

    // Graceful stop: a connected client is told to come back with its last id.
    let staying = ws_client(&ws(&a), &token_a, &[]);
    let until = Instant::now() + WAIT;
    loop {
        let (_, metrics) = get(service.endpoint().unwrap(), "/metrics").await;
        if metrics.contains("carebus_realtime_connections{transport=\"websocket\"} 1") {
            break;
        }
        assert!(
            Instant::now() < until,
            "the client never connected:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    service.stop().await.unwrap_or_else(|e| panic!("{e}"));
    let staying = finish(staying).await;
    assert_eq!(staying.notifications.len(), expect_a.len(), "{staying:?}");
    let closed = staying.closed.unwrap_or_default();
    assert!(
        closed.contains("1001") && closed.contains("after="),
        "{closed}"
    );
}

fn attr(element: &str, name: &str) -> String {
    element
        .split_once(&format!("{name}=\""))
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(v, _)| v.to_string())
        .unwrap_or_default()
}

/// The DOM of `url` after headless Chromium ran its scripts.
fn chromium_dom(url: &str) -> String {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let profile = std::env::temp_dir().join(carebus_tests::unique_name("rt-chromium"));
    let out = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=20000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {chromium}: {e}; install it with `apt-get install -y chromium` or set CHROMIUM")
        });
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
