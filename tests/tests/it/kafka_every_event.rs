//! Every generated event type (all versions, Avro and Protobuf) published by the typed publisher to a real Kafka broker and read back through its topic enum, unchanged.

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
