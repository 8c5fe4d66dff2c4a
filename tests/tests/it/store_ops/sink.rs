//! The audit sink on real Kafka and PostgreSQL stores what was sent: one event per framing (Avro single-object, Confluent, JSON, structured CloudEvents, Protobuf), a claim-checked one with its payload, each decodable from the store afterwards; with crypto-shredding every patient event's PHI is encrypted; a record it cannot store goes to the dead-letter topic with the reason, and nothing is committed before.

use super::*;
use carebus::claim_check::{LocalDirStore, SharedClaimCheck};
use carebus::kafka::KafkaTransport;
use carebus::postgres::shred::PhiPolicy;
use carebus::store::{Upcasters, decode_stored};
use carebus::transport::{Record, Transport, header_str};
use carebus::wire::{Framing, SchemaIds};
use carebus::{Publisher, PublisherConfig};
use carebus_schemas::{
    AiEvent, AnalysisKind, AnalysisPriority, AnalysisRequested, InputReference, PatientsEvent,
};

/// A publisher with `framing` whose records are sent to `topic` (the test's own topic, not the
/// event's production topic).
async fn send_as(
    transport: &Arc<KafkaTransport>,
    framing: Framing,
    topic: &str,
    event: &impl DomainEvent,
    claim_check: Option<(&std::path::Path, usize)>,
) -> String {
    let mut config = PublisherConfig {
        framing,
        source: "PRM Service".into(),
        ..PublisherConfig::default()
    };
    if let Some((dir, max)) = claim_check {
        config.claim_check_dir = Some(dir.to_path_buf());
        config.max_message_bytes = max;
    }
    let publisher = Publisher::new(transport.clone(), config).unwrap();
    let mut record = publisher
        .prepare(event, carebus::PublishOptions::default())
        .unwrap();
    let id = header_str(&record.headers, "ce_id").unwrap().to_owned();
    record.topic = topic.to_string();
    let delivery = publisher.send_prepared(record).await.unwrap();
    assert!(delivery.delivered().is_some(), "{delivery:?}");
    id
}

fn analysis(patient: &str) -> AnalysisRequested {
    AnalysisRequested {
        analysis_id: format!("an-{patient}"),
        patient_id: patient.to_string(),
        requested_by: "workflow-engine".into(),
        kind: AnalysisKind::AnalysisKindLabTrend,
        priority: AnalysisPriority::AnalysisPriorityRoutine,
        inputs: vec![InputReference {
            r#type: "Observation".into(),
            id: "obs-1".into(),
        }],
        journey_id: None,
        requested_at_micros: 1_700_000_000_000_000,
    }
}

/// Run a sink of `E` on `topic` until `expected` events are stored, then stop it.
async fn sink_until<S: EventStore + Clone, E: TopicEvents>(
    store: S,
    transport: &Arc<KafkaTransport>,
    topic: &str,
    claim_check: Option<SharedClaimCheck>,
    expected: usize,
) -> carebus::store::sink::SinkStats {
    let subscribe = SubscribeConfig::new(carebus_tests::unique_name("sink"), &[topic]);
    let mut sink =
        AuditSink::<S, KafkaTransport, E>::new(store.clone(), transport.clone(), subscribe);
    if let Some(c) = claim_check {
        sink = sink.with_claim_check(c);
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        sink.run(async move {
            let _ = stopped.await;
        })
        .await
    });
    settled(&store, expected).await;
    let _ = stop.send(());
    running.await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_sink_stores_every_framing_decodably_and_dead_letters_what_it_cannot() {
    let bootstrap = carebus_tests::kafka_bootstrap();
    let (store, _) = fresh("ops_sink").await;
    let transport = Arc::new(crate::kafka_support::transport(&bootstrap));
    let topic = carebus_tests::unique_name("store_ops_sink");
    crate::kafka_support::create_topic(&bootstrap, &topic, 1, 1).await;
    crate::kafka_support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1, 1).await;
    let blobs = std::env::temp_dir().join(carebus_tests::unique_name("sink_blobs"));
    let claim_check: SharedClaimCheck = Arc::new(LocalDirStore::new(&blobs).unwrap());

    let confluent = Framing::Confluent(SchemaIds::from_fn(|_, _| Some(42)));
    let mut sent = Vec::new();
    for (framing, patient) in [
        (Framing::SingleObject, "sink-avro"),
        (confluent, "sink-confluent"),
        (Framing::Json, "sink-json"),
        (Framing::StructuredJson, "sink-structured"),
    ] {
        sent.push(send_as(&transport, framing, &topic, &created(patient), None).await);
    }
    // Over the size limit: claim-checked (the record carries a reference, not the event).
    sent.push(
        send_as(
            &transport,
            Framing::SingleObject,
            &topic,
            &created("sink-claim-checked"),
            Some((&blobs, 200)),
        )
        .await,
    );
    // Not a carebus record: dead-lettered with the reason, and the sink goes on.
    transport
        .send(Record::new(&topic, "junk", b"not an event".to_vec()))
        .await
        .unwrap();
    let after_junk = send_as(
        &transport,
        Framing::SingleObject,
        &topic,
        &updated("sink-avro", 1),
        None,
    )
    .await;
    sent.push(after_junk);

    let stats =
        sink_until::<_, PatientsEvent>(store.clone(), &transport, &topic, Some(claim_check), 6)
            .await;
    assert_eq!((stats.stored, stats.dead_lettered), (6, 1), "{stats:?}");

    // Every stored event decodes to the typed event, whatever its framing; the format column
    // is the schema's (Avro), the JSON form is stored beside it.
    let stored = store.read_all(Cursor::START, 100).await.unwrap();
    let ids: Vec<String> = stored.iter().map(|e| e.event_id.to_string()).collect();
    assert_eq!(
        ids, sent,
        "each sent event once, in order, under its own id"
    );
    for e in &stored {
        assert_eq!(e.format, carebus::PayloadFormat::Avro);
        assert!(e.data_json.is_some());
        let event: PatientsEvent = decode_stored(e, &Upcasters::new()).unwrap();
        match (&event, e.stream_id.as_str()) {
            (PatientsEvent::PatientCreated(c), stream) => {
                assert_eq!(stream, format!("Patient-{}", c.patient_id));
                assert_eq!(c.first_name.expose(), "Jordan");
            }
            (PatientsEvent::PatientUpdated(u), _) => assert_eq!(u.patient_id, "sink-avro"),
            other => panic!("unexpected {other:?}"),
        }
    }

    // The junk record is in the dead-letter topic with the reason, never the payload's text.
    let dlq = crate::kafka_support::subscribe(
        &transport,
        &carebus_tests::unique_name("sink_dlq"),
        &format!("{topic}.dlq"),
    )
    .await;
    let letters = crate::kafka_support::consume(&dlq, 1, false, Duration::from_secs(30)).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(
        header_str(&letters[0].headers, carebus::dead_letter::REASON),
        Some("bad-envelope")
    );
    assert_eq!(letters[0].payload(), b"not an event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_sink_stores_protobuf_events_and_shreds_every_patient_event() {
    let bootstrap = carebus_tests::kafka_bootstrap();
    let (store, _) = fresh("ops_sink_shred").await;
    let shredding = ShreddingStore::new(
        store.clone(),
        store.pool().clone(),
        MasterKey::generate(),
        PhiPolicy::from_events(carebus_schemas::EVENTS),
    );
    let transport = Arc::new(crate::kafka_support::transport(&bootstrap));

    // Protobuf (the AI events): stored in their own format, decodable.
    let ai_topic = carebus_tests::unique_name("store_ops_sink_ai");
    crate::kafka_support::create_topic(&bootstrap, &ai_topic, 1, 1).await;
    send_as(
        &transport,
        Framing::SingleObject,
        &ai_topic,
        &analysis("p-ai"),
        None,
    )
    .await;
    let stats = sink_until::<_, AiEvent>(store.clone(), &transport, &ai_topic, None, 1).await;
    assert_eq!(stats.stored, 1);
    let stored = store.read_all(Cursor::START, 10).await.unwrap();
    assert_eq!(stored[0].format, carebus::PayloadFormat::Protobuf);
    let event: AiEvent = decode_stored(&stored[0], &Upcasters::new()).unwrap();
    assert!(matches!(event, AiEvent::AnalysisRequested(a) if a.patient_id == "p-ai"));

    // Patient events through a crypto-shredding store, in JSON framing (no binary payload on
    // the wire): the sink gives the store the typed event's JSON form, so the patient is found
    // and the PHI encrypted for every event type.
    let topic = carebus_tests::unique_name("store_ops_sink_shred");
    crate::kafka_support::create_topic(&bootstrap, &topic, 1, 1).await;
    send_as(&transport, Framing::Json, &topic, &created("shred-1"), None).await;
    send_as(
        &transport,
        Framing::StructuredJson,
        &topic,
        &updated("shred-1", 1),
        None,
    )
    .await;
    let stats =
        sink_until::<_, PatientsEvent>(shredding.clone(), &transport, &topic, None, 3).await;
    assert_eq!(stats.stored, 2, "{stats:?}");
    let raw = store.read_all(Cursor::START, 10).await.unwrap();
    let created_row = raw
        .iter()
        .find(|e| e.event_type == "PatientCreated")
        .unwrap();
    let plain = String::from_utf8_lossy(&created_row.data);
    assert!(!plain.contains("Jordan"), "PHI is encrypted at rest");
    let json = created_row.data_json.as_ref().unwrap().to_string();
    assert!(!json.contains("Jordan") && json.contains("$phi"), "{json}");
    let through = shredding.read_all(Cursor::START, 10).await.unwrap();
    let decoded: PatientsEvent = decode_stored(
        through
            .iter()
            .find(|e| e.event_type == "PatientCreated")
            .unwrap(),
        &Upcasters::new(),
    )
    .unwrap();
    assert!(
        matches!(decoded, PatientsEvent::PatientCreated(c) if c.first_name.expose() == "Jordan")
    );
}
