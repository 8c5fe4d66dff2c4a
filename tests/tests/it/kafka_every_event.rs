//! Every generated event type (all versions, Avro and Protobuf) published by the typed publisher to a real Kafka broker and read back through its topic enum, unchanged; and every Avro one in Confluent framing read by Python's confluent-kafka `AvroDeserializer` through the catalog's static Schema Registry API.

use crate::kafka_support::{consume, create_topic, subscribe, transport};
use carebus::transport::header_str;
use carebus::{DomainEvent, PublishOptions, Publisher, PublisherConfig, TopicEvents, wire};
use carebus_codegen::ir::Model;
use carebus_schemas::*;
use std::collections::BTreeMap;
use std::time::Duration;

type Check = Box<dyn Fn(&carebus::transport::ReceivedRecord) -> Result<serde_json::Value, String>>;

/// The event built from its schema's field examples (the catalog's example payload).
pub(crate) fn example<E: DomainEvent>(model: &Model) -> E {
    let event = model
        .events
        .iter()
        .find(|e| e.name == E::EVENT_TYPE && e.version == E::EVENT_VERSION)
        .unwrap_or_else(|| panic!("{} v{} is in the IR", E::EVENT_TYPE, E::EVENT_VERSION));
    let data = carebus_catalog::example::example_data(model, event);
    E::from_json(&data).unwrap_or_else(|e| {
        panic!(
            "{} v{}: the schema's examples do not decode: {e}\n{data}",
            E::EVENT_TYPE,
            E::EVENT_VERSION
        )
    })
}

async fn send<E: DomainEvent, T: TopicEvents>(
    model: &Model,
    publisher: &Publisher<carebus::kafka::KafkaTransport>,
    topic: &str,
    checks: &mut BTreeMap<String, (String, serde_json::Value, Check)>,
) {
    let event: E = example(model);
    let mut record = publisher
        .prepare(
            &event,
            PublishOptions {
                tenant_id: Some("hospital-456".into()),
                ..PublishOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{}: {e}", E::EVENT_TYPE));
    record.topic = topic.to_string();
    let event_id = header_str(&record.headers, "ce_id")
        .expect("an event id")
        .to_owned();
    publisher
        .send_prepared(record)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", E::EVENT_TYPE));
    let check: Check = Box::new(|r| {
        let (_, decoded) = wire::decode::<T>(&r.headers, r.payload()).map_err(|e| e.to_string())?;
        Ok(decoded.to_json())
    });
    checks.insert(
        event_id,
        (
            format!("{} v{}", E::EVENT_TYPE, E::EVENT_VERSION),
            event.to_json(),
            check,
        ),
    );
}

macro_rules! send_all {
    ($model:expr, $publisher:expr, $topic:expr, $checks:expr; $($event:ty => $topic_enum:ty),* $(,)?) => {
        $( send::<$event, $topic_enum>($model, $publisher, $topic, $checks).await; )*
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_generated_event_round_trips_through_kafka() {
    let bootstrap = carebus_tests::kafka_bootstrap();
    let model: Model = serde_json::from_str(carebus_schemas::IR_JSON).expect("IR JSON");
    let topic = carebus_tests::unique_name("carebus-every-event");
    create_topic(&bootstrap, &topic, 3, 1).await;
    let publisher =
        Publisher::new(transport(&bootstrap), PublisherConfig::default()).expect("publisher");
    let mut checks = BTreeMap::new();
    send_all!(&model, &publisher, &topic, &mut checks;
        PatientCreated => PatientsEvent, PatientCreatedV1 => PatientsEvent, PatientUpdated => PatientsEvent,
        PatientMerged => PatientsEvent, PatientDeactivated => PatientsEvent,
        AppointmentScheduled => AppointmentsEvent, AppointmentConfirmed => AppointmentsEvent,
        AppointmentCancelled => AppointmentsEvent, AppointmentCompleted => AppointmentsEvent,
        VitalSignsRecorded => ClinicalEvent, DiagnosisAdded => ClinicalEvent, PrescriptionCreated => ClinicalEvent,
        LabResultReceived => ClinicalEvent,
        JourneyStarted => JourneysEvent, StageCompleted => JourneysEvent, JourneyCompleted => JourneysEvent,
        ActionTriggered => JourneysEvent,
        AnalysisRequested => AiEvent, AnalysisCompleted => AiEvent, AnalysisFailed => AiEvent,
    );
    // The list above covers the whole registry: a new event must be added to it.
    let covered: std::collections::BTreeSet<String> =
        checks.values().map(|(name, _, _)| name.clone()).collect();
    for info in carebus_schemas::EVENTS {
        assert!(
            covered.contains(&format!("{} v{}", info.event_type, info.version)),
            "{} v{} is not round-tripped here",
            info.event_type,
            info.version
        );
    }

    let consumer = subscribe(
        &transport(&bootstrap),
        &carebus_tests::unique_name("every-event"),
        &topic,
    )
    .await;
    let records = consume(&consumer, checks.len(), false, Duration::from_secs(60)).await;
    assert_eq!(records.len(), checks.len(), "every event arrived");
    for r in &records {
        let id = header_str(&r.headers, "ce_id").expect("ce_id header");
        let (name, expected, check) = checks.get(id).expect("an event this test sent");
        let got = check(r).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&got, expected, "{name} changed on the way through Kafka");
        let key = std::str::from_utf8(r.key.as_deref().unwrap_or_default()).unwrap();
        assert!(!key.is_empty(), "{name}: keyed by its aggregate id");
    }
}

/// A static file server (`python -m http.server`) on a free loopback port, stopped on drop.
struct StaticServer {
    child: std::process::Child,
    url: String,
}

impl StaticServer {
    fn serve(dir: &std::path::Path) -> StaticServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new(carebus_tests::python())
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python -m http.server starts");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the static server did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        StaticServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// GET `path` as JSON.
    fn get(&self, path: &str) -> serde_json::Value {
        let out = carebus_tests::run_python(
            "http_get.py",
            &[&format!("{}/{}", self.url, path.trim_start_matches('/'))],
        );
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{path}: {e}: {out}"))
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Publish one example of `E` with `publisher` to `topic`; the expected (id, subject, JSON).
async fn send_confluent<E: DomainEvent>(
    model: &Model,
    publisher: &Publisher<carebus::kafka::KafkaTransport>,
    topic: &str,
) -> (u32, String, serde_json::Value) {
    let event: E = example(model);
    let mut record = publisher
        .prepare(&event, PublishOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", E::EVENT_TYPE));
    record.topic = topic.to_string();
    publisher
        .send_prepared(record)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", E::EVENT_TYPE));
    let full_name = model
        .events
        .iter()
        .find(|e| e.name == E::EVENT_TYPE && e.version == E::EVENT_VERSION)
        .map(|e| e.full_name())
        .expect("the event is in the IR");
    let readable = carebus::json_legacy::readable(E::SCHEMA, &event.to_json())
        .unwrap_or_else(|e| panic!("{}: {e}", E::EVENT_TYPE));
    (
        wire::confluent_schema_id(E::FINGERPRINT),
        full_name,
        readable,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pythons_confluent_avro_deserializer_reads_every_record_through_the_catalogs_static_registry()
 {
    let bootstrap = carebus_tests::kafka_bootstrap();
    let model: Model = serde_json::from_str(carebus_schemas::IR_JSON).expect("IR JSON");
    // The catalog as `carebus-catalog build` writes it, served by a plain static file server.
    let history = carebus_catalog::history::History::read(
        &carebus_tests::repo_root().join("schemas/schema-history.lock"),
    )
    .expect("the history lock");
    let site = carebus_catalog::render(&model, &history, &Default::default());
    let dir = carebus_tests::repo_root()
        .join("target/tmp")
        .join(carebus_tests::unique_name("catalog-registry"));
    site.write_to(&dir).expect("the catalog is written");
    let registry = StaticServer::serve(&dir.join("registry"));

    let topic = carebus_tests::unique_name("carebus-confluent");
    create_topic(&bootstrap, &topic, 3, 1).await;
    let config = PublisherConfig {
        framing: wire::Framing::Confluent(wire::SchemaIds::derived()),
        ..PublisherConfig::default()
    };
    let publisher = Publisher::new(transport(&bootstrap), config).expect("publisher");
    let mut expected = Vec::new();
    macro_rules! each {
        ($($event:ty),* $(,)?) => {$(
            expected.push(send_confluent::<$event>(&model, &publisher, &topic).await);
        )*};
    }
    each!(
        PatientCreated,
        PatientCreatedV1,
        PatientUpdated,
        PatientMerged,
        PatientDeactivated,
        AppointmentScheduled,
        AppointmentConfirmed,
        AppointmentCancelled,
        AppointmentCompleted,
        VitalSignsRecorded,
        DiagnosisAdded,
        PrescriptionCreated,
        LabResultReceived,
        JourneyStarted,
        StageCompleted,
        JourneyCompleted,
        ActionTriggered,
    );
    let avro_events = carebus_schemas::EVENTS
        .iter()
        .filter(|e| e.format == carebus::PayloadFormat::Avro)
        .count();
    assert_eq!(
        expected.len(),
        avro_events,
        "every Avro event version is sent"
    );

    let out = carebus_tests::run_python(
        "confluent_read.py",
        &[
            &bootstrap,
            &topic,
            &expected.len().to_string(),
            &registry.url,
        ],
    );
    let read: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(read.len(), expected.len());
    for (id, subject, readable) in &expected {
        let got = read
            .iter()
            .find(|r| r["id"] == *id)
            .unwrap_or_else(|| panic!("no record with schema id {id} ({subject}) was read"));
        assert_eq!(got["subject"], subject.as_str(), "schema id {id}");
        // Field by field: names, and the values whose JSON has one spelling (text, numbers,
        // booleans); dates, decimals and bytes are spelled by Python as it likes.
        let value = got["value"].as_object().expect("a record");
        let ours = readable.as_object().expect("a record");
        assert_eq!(
            value.keys().collect::<Vec<_>>(),
            ours.keys().collect::<Vec<_>>(),
            "{subject}"
        );
        for (k, v) in ours {
            if v.is_string() || v.is_boolean() || v.is_i64() {
                if value[k].is_string() && v.is_i64() {
                    continue; // a timestamp or date Python shows as text
                }
                assert_eq!(&value[k], v, "{subject}.{k}");
            }
        }
    }

    // The registry's other answers: subjects, their versions, latest, and Protobuf by id.
    let subjects = registry.get("subjects");
    assert!(
        subjects
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("healthcare.patient.PatientCreated")),
        "{subjects}"
    );
    let versions = registry.get("subjects/healthcare.patient.PatientCreated/versions");
    assert_eq!(versions, serde_json::json!([1, 2]));
    let latest = registry.get("subjects/healthcare.patient.PatientCreated/versions/latest");
    assert_eq!(latest["version"], 2);
    assert_eq!(
        latest["id"],
        wire::confluent_schema_id(<PatientCreated as DomainEvent>::FINGERPRINT)
    );
    let proto = registry.get(&format!(
        "schemas/ids/{}",
        wire::confluent_schema_id(<AnalysisRequested as DomainEvent>::FINGERPRINT)
    ));
    assert_eq!(proto["schemaType"], "PROTOBUF");
    assert!(
        proto["schema"]
            .as_str()
            .unwrap()
            .contains("message AnalysisRequested")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
