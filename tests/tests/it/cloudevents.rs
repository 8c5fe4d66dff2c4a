//! carebus records in binary and structured mode turned into CloudEvents by the official Python SDK, and the SDK's own events (reverse-DNS types, no carebus extensions) turned into typed handler calls, on a real broker.

use crate::kafka_every_event::example;
use crate::kafka_support::{consume, create_topic, subscribe, transport};
use base64::Engine as _;
use carebus::cloudevents::CeTypes;
use carebus::consumer::ShutdownTrigger;
use carebus::dead_letter;
use carebus::kafka::KafkaTransport;
use carebus::transport::Record;
use carebus::wire::{self, Framing};
use carebus::{
    Consumer, ConsumerConfig, DomainEvent, HandlerContext, HandlerResult, PublishOptions,
    Publisher, PublisherConfig, Shutdown, Timestamp, UnknownEvents,
};
use carebus_codegen::ir::Model;
use carebus_schemas::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PREFIX: &str = "org.example.healthcare";

/// Avro single-object encoding of `event`, as carebus's default framing writes it.
fn single_object<E: DomainEvent>(event: &E) -> Vec<u8> {
    let mut v = wire::SINGLE_OBJECT_MAGIC.to_vec();
    v.extend_from_slice(&E::FINGERPRINT.to_le_bytes());
    event.encode_payload(&mut v);
    v
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One published record and what the SDK should see of it.
struct Sent {
    record: Record,
    mode: &'static str,
    ce_type: String,
    data: Value,
    fingerprint: u64,
}

async fn publish<E: DomainEvent>(
    bootstrap: &str,
    topic: &str,
    config: PublisherConfig,
    event: &E,
) -> Sent {
    let structured = matches!(config.framing, Framing::StructuredJson);
    let ce_type = match &config.type_prefix {
        None => E::EVENT_TYPE.to_owned(),
        Some(p) => carebus::cloudevents::reverse_dns_type(p, E::EVENT_TYPE),
    };
    let publisher = Publisher::new(transport(bootstrap), config).expect("publisher");
    let mut record = publisher
        .prepare(
            event,
            PublishOptions {
                tenant_id: Some("hospital-456".into()),
                correlation_id: Some("flow-1".into()),
                ..PublishOptions::default()
            },
        )
        .expect("valid event");
    record.topic = topic.to_owned();
    let copy: Record = (*record).clone();
    publisher.send_prepared(record).await.expect("published");
    let record = copy;
    let data = if structured {
        event.to_json()
    } else {
        json!({ "base64": b64(record.payload()) })
    };
    Sent {
        record,
        mode: if structured { "structured" } else { "binary" },
        ce_type,
        data,
        fingerprint: E::FINGERPRINT,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_cloudevents_sdk_reads_every_carebus_record_in_both_modes() {
    let bootstrap = carebus_tests::kafka_bootstrap();
    let topic = carebus_tests::unique_name("carebus-ce-out");
    create_topic(&bootstrap, &topic, 1, 1).await;
    let model: Model = serde_json::from_str(carebus_schemas::IR_JSON).expect("IR JSON");
    let created: PatientCreated = example(&model);
    let deactivated: PatientDeactivated = example(&model);
    let config = |framing: Framing, type_prefix: Option<&str>| PublisherConfig {
        framing,
        source: "PRM Service".into(),
        type_prefix: type_prefix.map(str::to_owned),
        data_schema_base: Some("https://schemas.example/healthcare".into()),
        ..PublisherConfig::default()
    };
    let sent = vec![
        publish(
            &bootstrap,
            &topic,
            config(Framing::SingleObject, None),
            &created,
        )
        .await,
        publish(
            &bootstrap,
            &topic,
            config(Framing::SingleObject, Some(PREFIX)),
            &deactivated,
        )
        .await,
        publish(
            &bootstrap,
            &topic,
            config(Framing::StructuredJson, None),
            &deactivated,
        )
        .await,
        publish(
            &bootstrap,
            &topic,
            config(Framing::StructuredJson, Some(PREFIX)),
            &created,
        )
        .await,
    ];
    let out = carebus_tests::run_python(
        "read_records.py",
        &[&bootstrap, &topic, &sent.len().to_string()],
    );
    let read: Vec<Value> = serde_json::from_str(&out).expect("the script prints a JSON list");
    assert_eq!(read.len(), sent.len());
    for (i, (got, sent)) in read.iter().zip(&sent).enumerate() {
        let types = CeTypes::new().prefix(PREFIX);
        let (env, _) =
            wire::decode_with::<PatientsEvent>(&sent.record.headers, sent.record.payload(), &types)
                .expect("carebus reads its own record");
        let attrs = got["attributes"].as_object().expect("attributes");
        let at = |name: &str| attrs.get(name).map(text).unwrap_or_default();
        let what = format!("record {i} ({} {})", sent.mode, sent.ce_type);
        assert_eq!(got["mode"], sent.mode, "{what}");
        assert_eq!(at("specversion"), "1.0", "{what}");
        assert_eq!(at("id"), env.event_id, "{what}");
        assert_eq!(
            at("source"),
            "PRM Service",
            "{what}: the source as configured"
        );
        assert_eq!(at("type"), sent.ce_type, "{what}");
        assert_eq!(at("subject"), env.aggregate_id, "{what}");
        assert_eq!(
            Timestamp::parse_rfc3339(&at("time")),
            Some(env.event_time),
            "{what}"
        );
        assert_eq!(at("eventversion"), env.event_version.to_string(), "{what}");
        assert_eq!(at("aggregatetype"), "Patient", "{what}");
        assert_eq!(at("tenantid"), "hospital-456", "{what}");
        assert_eq!(at("correlationid"), "flow-1", "{what}");
        assert_eq!(
            at("schemafingerprint"),
            format!("{:016x}", sent.fingerprint),
            "{what}"
        );
        assert_eq!(
            at("dataschema"),
            format!(
                "https://schemas.example/healthcare/{}.v{}",
                env.event_type, env.event_version
            ),
            "{what}"
        );
        let content_type = if sent.mode == "structured" {
            "application/json"
        } else {
            "application/avro"
        };
        assert_eq!(at("datacontenttype"), content_type, "{what}");
        assert_eq!(got["data"], sent.data, "{what}: the event's data");
        for name in attrs.keys() {
            assert!(
                carebus::cloudevents::is_attribute_name(name),
                "{what}: attribute {name:?} is not a CloudEvents attribute name"
            );
        }
    }
}

/// What the typed handler was called with, per event id.
#[derive(Clone, Default)]
struct Handled(Arc<Mutex<BTreeMap<String, Call>>>);

/// Event type, version, aggregate id, source and the event's JSON form.
type Call = (String, u32, String, String, Value);

impl Handled {
    fn note(&self, ctx: &HandlerContext, data: Value) {
        self.0.lock().unwrap().insert(
            ctx.event_id().to_owned(),
            (
                ctx.event_type().to_owned(),
                ctx.event_version,
                ctx.aggregate_id().to_owned(),
                ctx.source().unwrap_or_default().to_owned(),
                data,
            ),
        );
    }
}

impl PatientsHandler for Handled {
    async fn on_patient_created(&self, ctx: &HandlerContext, e: PatientCreated) -> HandlerResult {
        self.note(ctx, e.to_json());
        Ok(())
    }
    async fn on_patient_deactivated(
        &self,
        ctx: &HandlerContext,
        e: PatientDeactivated,
    ) -> HandlerResult {
        self.note(ctx, e.to_json());
        Ok(())
    }
}

struct Running {
    trigger: ShutdownTrigger,
    task: tokio::task::JoinHandle<
        Result<carebus::consumer::RunReport, carebus::consumer::ConsumerError>,
    >,
}

fn run(bootstrap: &str, topic: &str, handler: Handled) -> Running {
    let publisher =
        Publisher::new(transport(bootstrap), PublisherConfig::default()).expect("publisher");
    let mut config = ConsumerConfig::new(carebus_tests::unique_name("ce-in"));
    config.topics = vec![topic.to_owned()];
    config.commit_interval = Duration::from_millis(200);
    config.unknown_events = UnknownEvents::DeadLetter;
    config.ce_types = CeTypes::new().prefix(PREFIX);
    let consumer = Consumer::new(publisher, config);
    let (trigger, shutdown) = Shutdown::channel();
    let task =
        tokio::spawn(async move { consumer.run(PatientsDispatcher(handler), shutdown).await });
    Running { trigger, task }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_the_python_cloudevents_sdk_reach_the_typed_handler_in_both_modes() {
    let bootstrap = carebus_tests::kafka_bootstrap();
    let topic = carebus_tests::unique_name("carebus-ce-in");
    create_topic(&bootstrap, &topic, 1, 1).await;
    create_topic(&bootstrap, &dead_letter::dlq_topic(&topic), 1, 1).await;
    let model: Model = serde_json::from_str(carebus_schemas::IR_JSON).expect("IR JSON");
    let created: PatientCreated = example(&model);
    let created_v1: PatientCreatedV1 = example(&model);
    let deactivated: PatientDeactivated = example(&model);
    // Only the attributes a plain CloudEvents producer sends: no ce_eventversion, and a subject
    // on one event only; reverse-DNS types but one.
    let specs = json!([
        {   // version: the only one of PatientDeactivated
            "mode": "binary", "key": deactivated.patient_id,
            "attributes": {
                "id": "py-binary-json", "source": "/python/front-desk",
                "type": "org.example.healthcare.patient.deactivated",
                "time": "2024-11-24T10:30:00Z", "datacontenttype": "application/json",
            },
            "data": deactivated.to_json(),
        },
        {   // version: the payload's fingerprint (PatientCreated has two); no time
            "mode": "binary", "key": created.patient_id,
            "attributes": {
                "id": "py-binary-avro", "source": "/python/front-desk",
                "type": "org.example.healthcare.patient.created",
                "datacontenttype": "application/avro",
            },
            "data": {"base64": b64(&single_object(&created))},
        },
        {   // version: dataschema
            "mode": "structured", "key": created_v1.patient_id,
            "attributes": {
                "id": "py-structured-json", "source": "/python/front-desk",
                "type": "org.example.healthcare.PatientCreated",
                "subject": created_v1.patient_id,
                "time": "2024-11-24T10:31:00+01:00",
                "datacontenttype": "application/json",
                "dataschema": "https://schemas.example/healthcare/PatientCreated.v1",
            },
            "data": created_v1.to_json(),
        },
        {   // data_base64 of an Avro payload, plain type name
            "mode": "structured", "key": deactivated.patient_id,
            "attributes": {
                "id": "py-structured-base64", "source": "/python/front-desk",
                "type": "PatientDeactivated", "datacontenttype": "application/avro",
            },
            "data": {"base64": b64(&single_object(&deactivated))},
        },
    ]);
    let dir = std::env::temp_dir().join(carebus_tests::unique_name("ce-specs"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("events.json");
    std::fs::write(&path, specs.to_string()).expect("write specs");
    carebus_tests::run_python(
        "produce_events.py",
        &[&bootstrap, &topic, path.to_str().expect("UTF-8 temp path")],
    );
    let handled = Handled::default();
    let running = run(&bootstrap, &topic, handled.clone());
    let until = Instant::now() + Duration::from_secs(60);
    while handled.0.lock().unwrap().len() < 4 {
        assert!(
            Instant::now() < until,
            "only {:?} handled in 60 s",
            handled.0.lock().unwrap().keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.trigger.trigger();
    running.task.await.unwrap().expect("graceful shutdown");
    let seen = handled.0.lock().unwrap().clone();
    let expect = |id: &str, event_type: &str, version: u32, aggregate: &str, data: Value| {
        let (t, v, a, s, d) = seen.get(id).unwrap_or_else(|| panic!("{id} handled"));
        assert_eq!((t.as_str(), *v), (event_type, version), "{id}");
        assert_eq!(a, aggregate, "{id}: subject, or the event's aggregate id");
        assert_eq!(s, "/python/front-desk", "{id}");
        assert_eq!(d, &data, "{id}");
    };
    let created_from_v1 = PatientCreated::from(created_v1.clone()).to_json();
    expect(
        "py-binary-json",
        "PatientDeactivated",
        1,
        &deactivated.patient_id,
        deactivated.to_json(),
    );
    expect(
        "py-binary-avro",
        "PatientCreated",
        2,
        &created.patient_id,
        created.to_json(),
    );
    expect(
        "py-structured-json",
        "PatientCreated",
        1,
        &created_v1.patient_id,
        created_from_v1,
    );
    expect(
        "py-structured-base64",
        "PatientDeactivated",
        1,
        &deactivated.patient_id,
        deactivated.to_json(),
    );
    let transport: KafkaTransport = transport(&bootstrap);
    let dlq = subscribe(
        &transport,
        &carebus_tests::unique_name("ce-dlq"),
        &dead_letter::dlq_topic(&topic),
    )
    .await;
    let dead = consume(&dlq, 1, false, Duration::from_secs(3)).await;
    assert!(dead.is_empty(), "{} records dead-lettered", dead.len());
    let _ = std::fs::remove_dir_all(&dir);
}
