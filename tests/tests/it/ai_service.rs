//! The AI service on real Kafka and PostgreSQL: vital signs, HbA1c results and analysis requests in, NEWS2 and HbA1c-trend results (and failures, replies) out, checked against scores computed here by hand.

use crate::kafka_support::{consume, create_topic, subscribe, transport};
use carebus::kafka::KafkaTransport;
use carebus::transport::{ReceivedRecord, header_str};
use carebus::{
    ConsumerConfig, Decimal, DomainEvent, Phi, PublishOptions, Publisher, PublisherConfig,
    Timestamp, Uuid, wire,
};
use carebus_examples::ai::news2;
use carebus_examples::ai::{AiConfig, AiService};
use carebus_schemas::*;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(90);
const DAY: i64 = 86_400_000_000;

/// Publish `event` to `topic` with `options`; its event id.
async fn send<E: DomainEvent>(
    publisher: &Publisher<KafkaTransport>,
    topic: &str,
    event: &E,
    options: PublishOptions,
) -> String {
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

fn tenant() -> PublishOptions {
    PublishOptions {
        tenant_id: Some("hospital-456".into()),
        ..PublishOptions::default()
    }
}

fn q(text: &str, unit: &str) -> Quantity {
    Quantity {
        value: Decimal::parse_scaled(text, 4).unwrap(),
        unit: unit.into(),
    }
}

fn loinc(code: &str, display: &str) -> Coding {
    Coding {
        system: "http://loinc.org".into(),
        code: code.into(),
        display: Some(display.into()),
    }
}

/// Respiration, SpO2, systolic BP, pulse, temperature (°C), as text.
type VitalValues<'a> = [&'a str; 5];

fn vitals(
    patient: &str,
    recording: Uuid,
    when: Timestamp,
    v: VitalValues<'_>,
) -> VitalSignsRecorded {
    let sign = |code: &str, display: &str, value: &str, unit: &str| VitalSign {
        code: loinc(code, display),
        value: Phi::new(q(value, unit)),
        interpretation: None,
        method: None,
    };
    VitalSignsRecorded {
        patient_id: patient.into(),
        recording_id: recording,
        encounter_id: None,
        observations: Phi::new(vec![
            sign("9279-1", "Respiratory rate", v[0], "/min"),
            sign("59408-5", "Oxygen saturation by pulse oximetry", v[1], "%"),
            sign("8480-6", "Systolic blood pressure", v[2], "mm[Hg]"),
            sign("8462-4", "Diastolic blood pressure", "70", "mm[Hg]"),
            sign("8867-4", "Heart rate", v[3], "/min"),
            sign("8310-5", "Body temperature", v[4], "Cel"),
        ]),
        status: ObservationStatus::Final,
        effective_at: when,
        performer: None,
    }
}

fn hba1c(patient: &str, id: Uuid, collected: Timestamp, value: &str) -> LabResultReceived {
    LabResultReceived {
        patient_id: patient.into(),
        result_id: id,
        order_id: None,
        encounter_id: None,
        code: Phi::new(loinc("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood")),
        value: Some(Phi::new(q(value, "%"))),
        value_text: None,
        reference_range: None,
        interpretation: Phi::new(ObservationInterpretation::High),
        specimen: Specimen {
            r#type: Coding {
                system: "http://snomed.info/sct".into(),
                code: "119297000".into(),
                display: Some("Blood specimen".into()),
            },
            accession_id: None,
            collected_at: collected,
        },
        status: ObservationStatus::Final,
        performing_lab: Reference {
            r#type: "Organization".into(),
            id: "lab-1".into(),
            display: None,
        },
        issued_at: Timestamp(collected.0 + DAY),
    }
}

fn request(patient: &str, kind: AnalysisKind) -> AnalysisRequested {
    AnalysisRequested {
        analysis_id: Uuid::new_v4().to_text(),
        patient_id: patient.into(),
        requested_by: "practitioner-42".into(),
        kind,
        priority: AnalysisPriority::AnalysisPriorityRoutine,
        inputs: vec![],
        journey_id: None,
        requested_at_micros: Timestamp::now().0,
    }
}

/// GET `path` from the observability endpoint: status and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).await.unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// The value of `carebus_ai_requests_total{outcome="<outcome>"}` in /metrics (0 when absent).
async fn requests_counted(endpoint: SocketAddr, outcome: &str) -> f64 {
    let (_, text) = get(endpoint, "/metrics").await;
    text.lines()
        .filter(|l| l.starts_with("carebus_ai_requests_total"))
        .filter(|l| l.contains(&format!("outcome=\"{outcome}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The results (`AnalysisCompleted` / `AnalysisFailed`) among `records`, by analysis id.
fn results_of(records: &[ReceivedRecord]) -> HashMap<String, Vec<AiEvent>> {
    let mut out: HashMap<String, Vec<AiEvent>> = HashMap::new();
    for r in records {
        let (_, event) = wire::decode::<AiEvent>(&r.headers, r.payload()).expect("an AI event");
        let id = match &event {
            AiEvent::AnalysisCompleted(c) => c.analysis_id.clone(),
            AiEvent::AnalysisFailed(f) => f.analysis_id.clone(),
            AiEvent::AnalysisRequested(_) => continue,
        };
        out.entry(id).or_default().push(event);
    }
    out
}

fn completed<'a>(results: &'a HashMap<String, Vec<AiEvent>>, id: &str) -> &'a AnalysisCompleted {
    match results.get(id).map(Vec::as_slice) {
        Some([AiEvent::AnalysisCompleted(c)]) => c,
        other => panic!("expected one AnalysisCompleted for {id}, got {other:?}"),
    }
}

fn failed<'a>(results: &'a HashMap<String, Vec<AiEvent>>, id: &str) -> &'a AnalysisFailed {
    match results.get(id).map(Vec::as_slice) {
        Some([AiEvent::AnalysisFailed(f)]) => f,
        other => panic!("expected one AnalysisFailed for {id}, got {other:?}"),
    }
}

/// NEWS2 points by hand from the RCP 2017 chart, for the values used below.
#[test]
fn news2_tables_change_points_at_their_published_edges() {
    // (value, points) just either side of every band edge.
    for (v, p) in [
        (8.0, 3),
        (9.0, 1),
        (11.0, 1),
        (12.0, 0),
        (20.0, 0),
        (21.0, 2),
        (24.0, 2),
        (25.0, 3),
    ] {
        assert_eq!(news2::respiratory_rate_points(v), p, "respiration {v}");
    }
    for (v, p) in [
        (91.0, 3),
        (92.0, 2),
        (93.0, 2),
        (94.0, 1),
        (95.0, 1),
        (96.0, 0),
    ] {
        assert_eq!(news2::spo2_points(v), p, "SpO2 {v}");
    }
    for (v, p) in [
        (90.0, 3),
        (91.0, 2),
        (100.0, 2),
        (101.0, 1),
        (110.0, 1),
        (111.0, 0),
        (219.0, 0),
        (220.0, 3),
    ] {
        assert_eq!(news2::systolic_bp_points(v), p, "systolic {v}");
    }
    for (v, p) in [
        (40.0, 3),
        (41.0, 1),
        (50.0, 1),
        (51.0, 0),
        (90.0, 0),
        (91.0, 1),
        (110.0, 1),
        (111.0, 2),
        (130.0, 2),
        (131.0, 3),
    ] {
        assert_eq!(news2::pulse_points(v), p, "pulse {v}");
    }
    for (v, p) in [
        (35.0, 3),
        (35.1, 1),
        (36.0, 1),
        (36.1, 0),
        (38.0, 0),
        (38.1, 1),
        (39.0, 1),
        (39.1, 2),
    ] {
        assert_eq!(news2::temperature_points(v), p, "temperature {v}");
    }
}

/// carebus's NEWS2 against the independent `vitalscore` package (PyPI, in target/pyenv) on
/// 3,000 pseudo-random vital-sign sets across and beyond every band of the chart.
/// vitalscore has no low-medium band (one parameter at 3 with a total under 5): it calls
/// that medium, so low-medium compares as medium.
#[test]
fn news2_agrees_with_the_vitalscore_package() {
    let mut seed: u64 = 0x5eed_2017;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let cases: Vec<news2::Vitals> = (0..3000)
        .map(|_| news2::Vitals {
            respiratory_rate: (4 + next(40)) as f64,
            spo2: (84 + next(17)) as f64,
            systolic_bp: (70 + next(170)) as f64,
            pulse: (30 + next(130)) as f64,
            temperature: (340 + next(65)) as f64 / 10.0,
            on_oxygen: next(4) == 0,
            not_alert: next(6) == 0,
        })
        .collect();
    let json: Vec<serde_json::Value> = cases
        .iter()
        .map(|v| {
            serde_json::json!({
                "respiratory_rate": v.respiratory_rate as i64,
                "spo2": v.spo2,
                "on_oxygen": v.on_oxygen,
                "systolic_bp": v.systolic_bp as i64,
                "pulse": v.pulse as i64,
                "not_alert": v.not_alert,
                "temperature": v.temperature,
            })
        })
        .collect();
    let file = std::env::temp_dir().join(format!("{}.json", carebus_tests::unique_name("news2")));
    std::fs::write(&file, serde_json::to_vec(&json).unwrap()).unwrap();
    let theirs = carebus_tests::run_python("news2_vitalscore.py", &[file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    let theirs: Vec<serde_json::Value> = serde_json::from_str(&theirs).unwrap();
    assert_eq!(theirs.len(), cases.len());
    let mut bands = HashMap::new();
    for (v, t) in cases.iter().zip(&theirs) {
        let ours = news2::score(v);
        let risk = match ours.risk {
            news2::Risk::Low => "LOW",
            news2::Risk::LowMedium | news2::Risk::Medium => "MEDIUM",
            news2::Risk::High => "HIGH",
        };
        let parameters: Vec<u64> = t["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_u64().unwrap())
            .collect();
        assert_eq!(
            (
                u64::from(ours.total),
                ours.parameters.map(u64::from).to_vec(),
                risk
            ),
            (
                t["total"].as_u64().unwrap(),
                parameters,
                t["risk"].as_str().unwrap()
            ),
            "{v:?}"
        );
        *bands.entry(ours.risk.label()).or_insert(0) += 1;
    }
    // The sample reaches every risk band.
    assert_eq!(bands.len(), 4, "{bands:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ai_service_answers_news2_and_hba1c_requests_once_each() {
    let bootstrap = carebus_tests::kafka_bootstrap();
    let database_url = carebus_tests::database_url();
    let config = AiConfig {
        endpoint: Some("127.0.0.1:0".parse().unwrap()),
        database_url,
        schema: carebus_tests::unique_name("ai"),
        group: carebus_tests::unique_name("ai-service"),
        clinical_topic: carebus_tests::unique_name("ai-clinical"),
        ai_topic: carebus_tests::unique_name("ai-events"),
        concurrency: 2,
        timeout: Duration::from_secs(10),
    };
    let reply_topic = carebus_tests::unique_name("ai-replies");
    create_topic(&bootstrap, &config.clinical_topic, 3, 1).await;
    create_topic(&bootstrap, &config.ai_topic, 3, 1).await;
    create_topic(&bootstrap, &reply_topic, 1, 1).await;
    let mut consumer = ConsumerConfig::new("unused");
    consumer.commit_interval = Duration::from_millis(200);
    let service = AiService::start(
        config.clone(),
        transport(&bootstrap),
        PublisherConfig::default(),
        consumer.clone(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let clinic = Publisher::new(transport(&bootstrap), PublisherConfig::default()).unwrap();
    let (cl, ai) = (&config.clinical_topic, &config.ai_topic);
    let run = carebus_tests::unique_name("p");
    let [p1, p2, p3, p4] = [1, 2, 3, 4].map(|n| format!("{run}-{n}"));
    let now = Timestamp::now();
    let at = |days: i64| Timestamp(now.0 + days * DAY);

    // Vital signs. p1: an older normal recording, then the latest one that is scored:
    // respiration 22 → 2, SpO2 95 → 1, systolic 105 → 1, pulse 95 → 1, 38.5 °C → 1: NEWS2 6,
    // medium risk. p2: all normal → 0, low. p3: 26 → 3, 90 → 3, 88 → 3, 135 → 3, 34.8 → 3:
    // NEWS2 15, high. p4 has nothing.
    let (p1_old, p1_latest) = (Uuid::new_v4(), Uuid::new_v4());
    let recordings = [
        vitals(&p1, p1_old, at(-1), ["16", "98", "125", "70", "36.8"]),
        vitals(&p1, p1_latest, at(0), ["22", "95", "105", "95", "38.5"]),
        vitals(
            &p2,
            Uuid::new_v4(),
            at(0),
            ["16", "98", "125", "70", "36.8"],
        ),
        vitals(
            &p3,
            Uuid::new_v4(),
            at(0),
            ["26", "90", "88", "135", "34.8"],
        ),
    ];
    for r in &recordings {
        send(&clinic, cl, r, tenant()).await;
    }
    // HbA1c. p1: 7.1 → 7.6 → 8.4 % over a year: diabetes range, rising. p2: 5.4 → 5.9 %:
    // prediabetes, rising. p3: one result only: no trend.
    let labs = [
        hba1c(&p1, Uuid::new_v4(), at(-360), "7.1"),
        hba1c(&p1, Uuid::new_v4(), at(-180), "7.6"),
        hba1c(&p1, Uuid::new_v4(), at(0), "8.4"),
        hba1c(&p2, Uuid::new_v4(), at(-200), "5.4"),
        hba1c(&p2, Uuid::new_v4(), at(-10), "5.9"),
        hba1c(&p3, Uuid::new_v4(), at(-10), "6.1"),
    ];
    for l in &labs {
        send(&clinic, cl, l, tenant()).await;
    }
    // Requests are answered from what the service has recorded: wait until it has it all.
    let store = service.store().clone();
    let until = Instant::now() + WAIT;
    loop {
        let mut complete = true;
        for (p, labs) in [(&p1, 3), (&p2, 2), (&p3, 1)] {
            let vitals = store.latest_vitals(p).await.unwrap();
            let results = store.lab_values(p, &["4548-4"]).await.unwrap();
            complete &= vitals.len() == 6 && results.len() == labs;
        }
        let p1_vitals = store.latest_vitals(&p1).await.unwrap();
        complete &= p1_vitals
            .get("9279-1")
            .is_some_and(|v| v.recording_id == p1_latest.to_text());
        if complete {
            break;
        }
        assert!(
            Instant::now() < until,
            "the clinical events were not all recorded"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    use AnalysisKind::*;
    let ews1 = request(&p1, AnalysisKindEarlyWarningScore);
    let ews2 = request(&p2, AnalysisKindEarlyWarningScore);
    let ews3 = request(&p3, AnalysisKindEarlyWarningScore);
    let ews4 = request(&p4, AnalysisKindEarlyWarningScore);
    let trend1 = request(&p1, AnalysisKindLabTrend);
    let trend2 = request(&p2, AnalysisKindLabTrend);
    let trend3 = request(&p3, AnalysisKindLabTrend);
    let trend4 = request(&p4, AnalysisKindLabTrend);
    let readmission = request(&p1, AnalysisKindReadmissionRisk);
    let unspecified = request(&p1, AnalysisKindUnspecified);
    let requests = [
        &ews1,
        &ews2,
        &ews3,
        &ews4,
        &trend1,
        &trend2,
        &trend3,
        &trend4,
        &readmission,
        &unspecified,
    ];
    let mut first_event_id = String::new();
    for r in requests {
        let id = send(&clinic, ai, r, tenant()).await;
        if r.analysis_id == ews1.analysis_id {
            first_event_id = id;
        }
    }
    // Request-reply: the same request path, with the runtime's reply-to header.
    let asked = request(&p1, AnalysisKindLabTrend);
    let reply_options = PublishOptions {
        headers: vec![(
            carebus::publisher::REPLY_TO_HEADER.into(),
            reply_topic.clone(),
        )],
        ..tenant()
    };
    let asked_event = send(&clinic, ai, &asked, reply_options).await;

    // Every request answered: 11 requests, 11 results.
    let reader_transport = transport(&bootstrap);
    let reader = subscribe(
        &reader_transport,
        &carebus_tests::unique_name("ai-reader"),
        ai,
    )
    .await;
    let mut records = consume(&reader, 22, false, WAIT).await;
    assert_eq!(records.len(), 22, "11 requests and their 11 results");

    // Redeliveries: the same event again (a consumer redelivery) and the same analysis under
    // a new event id (a producer retry); neither publishes anything new.
    let again = PublishOptions {
        event_id: Some(first_event_id.clone()),
        ..tenant()
    };
    send(&clinic, ai, &ews1, again).await;
    send(&clinic, ai, &ews1, tenant()).await;
    let endpoint = service.endpoint().expect("an observability endpoint");
    let until = Instant::now() + WAIT;
    while requests_counted(endpoint, "duplicate").await < 2.0 {
        assert!(
            Instant::now() < until,
            "the two redeliveries were not handled"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    records.extend(consume(&reader, 2, false, WAIT).await);
    let extra = consume(&reader, 1, false, Duration::from_secs(5)).await;
    assert!(extra.is_empty(), "a redelivered request published a result");
    assert_eq!(records.len(), 24);

    // A result recorded but never published (the process died in between): the request's
    // redelivery publishes the recorded result under its recorded event id, not a new one.
    let crashed = request(&p1, AnalysisKindEarlyWarningScore);
    let recorded = AnalysisFailed {
        analysis_id: crashed.analysis_id.clone(),
        patient_id: p1.clone(),
        reason: FailureReason::FailureReasonInternalError,
        message: "recorded before a crash".into(),
        retryable: true,
        failed_at_micros: Timestamp::now().0,
    };
    let recorded_event_id = Uuid::new_v4().to_text();
    assert!(
        store
            .record(
                &crashed.analysis_id,
                "an-earlier-delivery",
                "ANALYSIS_KIND_EARLY_WARNING_SCORE",
                "AnalysisFailed",
                &recorded_event_id,
                &recorded.to_json(),
            )
            .await
            .unwrap()
    );
    send(&clinic, ai, &crashed, tenant()).await;
    let resumed = consume(&reader, 2, false, WAIT).await;
    let result = resumed
        .iter()
        .find(|r| header_str(&r.headers, "ce_type").is_some_and(|t| t.contains("AnalysisFailed")))
        .expect("the recorded result published");
    assert_eq!(
        header_str(&result.headers, "ce_id"),
        Some(recorded_event_id.as_str())
    );
    let resumed = results_of(&resumed);
    assert_eq!(failed(&resumed, &crashed.analysis_id), &recorded);
    let results = results_of(&records);
    assert_eq!(results.len(), 11, "one result per analysis id");

    // NEWS2 by hand (see the vitals above).
    let expected = [
        (&ews1, 6, "medium", FindingSeverity::FindingSeverityHigh),
        (&ews2, 0, "low", FindingSeverity::FindingSeverityInfo),
        (&ews3, 15, "high", FindingSeverity::FindingSeverityCritical),
    ];
    for (r, score, risk, severity) in expected {
        let c = completed(&results, &r.analysis_id);
        assert_eq!(c.patient_id, r.patient_id);
        assert_eq!(c.kind, AnalysisKindEarlyWarningScore);
        assert_eq!(c.model_name, "carebus-news2");
        let summary = c.summary.as_ref().unwrap().expose();
        assert!(
            summary.starts_with(&format!("NEWS2 {score} ({risk} clinical risk)")),
            "{summary}"
        );
        let findings = c.findings.expose();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, severity);
        assert_eq!(findings[0].code.expose().code, "news2-total");
    }
    // p1's score is from its latest recording, the evidence.
    let evidence = &completed(&results, &ews1.analysis_id).findings.expose()[0].evidence;
    assert_eq!(evidence.len(), 1);
    assert_eq!(evidence[0].id, p1_latest.to_text());

    // HbA1c trends by the ADA thresholds.
    let t1 = completed(&results, &trend1.analysis_id);
    let s1 = t1.summary.as_ref().unwrap().expose();
    assert!(
        s1.starts_with("HbA1c 8.4% (diabetes range), rising"),
        "{s1}"
    );
    assert_eq!(
        t1.findings.expose()[0].severity,
        FindingSeverity::FindingSeverityHigh
    );
    assert_eq!(t1.findings.expose()[0].evidence.len(), 3);
    let t2 = completed(&results, &trend2.analysis_id);
    let s2 = t2.summary.as_ref().unwrap().expose();
    assert!(
        s2.starts_with("HbA1c 5.9% (prediabetes range), rising"),
        "{s2}"
    );
    assert_eq!(
        t2.findings.expose()[0].severity,
        FindingSeverity::FindingSeverityModerate
    );

    // Failures with their reasons.
    for r in [&ews4, &trend4, &trend3] {
        let f = failed(&results, &r.analysis_id);
        assert_eq!(
            f.reason,
            FailureReason::FailureReasonInsufficientData,
            "{}",
            f.message
        );
        assert!(!f.retryable);
    }
    assert!(
        failed(&results, &trend4.analysis_id)
            .message
            .ends_with("found 0")
    );
    assert!(
        failed(&results, &trend3.analysis_id)
            .message
            .ends_with("found 1")
    );
    assert!(
        failed(&results, &ews4.analysis_id)
            .message
            .contains("9279-1")
    );
    for r in [&readmission, &unspecified] {
        let f = failed(&results, &r.analysis_id);
        assert_eq!(
            f.reason,
            FailureReason::FailureReasonInvalidRequest,
            "{}",
            f.message
        );
    }

    // The reply went to the reply topic, caused by the request.
    let replies_reader = subscribe(
        &reader_transport,
        &carebus_tests::unique_name("ai-replies-reader"),
        &reply_topic,
    )
    .await;
    let replies = consume(&replies_reader, 1, false, WAIT).await;
    assert_eq!(replies.len(), 1, "one reply");
    assert_eq!(
        header_str(&replies[0].headers, "ce_causationid"),
        Some(asked_event.as_str())
    );
    let reply = results_of(&replies);
    assert_eq!(
        completed(&reply, &asked.analysis_id).summary,
        completed(&results, &asked.analysis_id).summary
    );

    let (status, _) = get(endpoint, "/health").await;
    assert_eq!(status, 200);
    service.stop().await.unwrap_or_else(|e| panic!("{e}"));

    // Restarted with a timeout no analysis can meet: it resumes from its committed offsets
    // (nothing answered twice) and a new request fails as timed out, retryable.
    let impatient = AiConfig {
        timeout: Duration::ZERO,
        ..config.clone()
    };
    let service = AiService::start(
        impatient,
        transport(&bootstrap),
        PublisherConfig::default(),
        consumer,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let late = request(&p1, AnalysisKindEarlyWarningScore);
    send(&clinic, ai, &late, tenant()).await;
    let more = consume(&reader, 2, false, WAIT).await;
    let extra = consume(&reader, 1, false, Duration::from_secs(5)).await;
    assert!(
        extra.is_empty(),
        "the restart answered an old request again"
    );
    let late_results = results_of(&more);
    assert_eq!(late_results.len(), 1, "{:?}", late_results.keys());
    let f = failed(&late_results, &late.analysis_id);
    assert_eq!(f.reason, FailureReason::FailureReasonModelUnavailable);
    assert!(f.retryable);
    assert!(f.message.contains("timeout"), "{}", f.message);

    service.stop().await.unwrap_or_else(|e| panic!("{e}"));
    clinic.close().await;
    let admin = sqlx::PgPool::connect(&config.database_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA {} CASCADE",
        config.schema
    )))
    .execute(&admin)
    .await
    .unwrap();
}
