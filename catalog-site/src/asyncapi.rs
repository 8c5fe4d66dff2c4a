//! The model turned into an AsyncAPI 3.0 document: one channel per Kafka topic, one message per event version, Kafka bindings and the Avro or Protobuf payload schemas.

use crate::names::RustNames;
use carebus_codegen::ir::{Event, Model, SchemaFormat};
use serde_json::{Map, Value, json};

/// The Kafka bindings version used throughout the document.
pub const KAFKA_BINDING_VERSION: &str = "0.5.0";
/// Schema format of Avro payloads (the schema is the `.avsc` JSON).
pub const AVRO_SCHEMA_FORMAT: &str = "application/vnd.apache.avro+json;version=1.9.0";
/// Schema format of Protobuf payloads (the schema is self-contained `.proto` text, see
/// [`crate::proto_text`]).
pub const PROTOBUF_SCHEMA_FORMAT: &str = "application/vnd.google.protobuf;version=3";

/// The message id of an event version: its generated Rust type name (`PatientCreated`,
/// `PatientCreatedV1`), unique per version.
pub fn message_id(event: &Event) -> String {
    event.record.rust.name.clone()
}

fn payload(model: &Model, event: &Event) -> Value {
    match event.format {
        SchemaFormat::Avro => {
            // The .avsc text is JSON; keep it as a JSON value so tools can read it.
            let schema = serde_json::from_str::<Value>(&event.schema_text)
                .unwrap_or_else(|_| Value::String(event.schema_text.clone()));
            json!({ "schemaFormat": AVRO_SCHEMA_FORMAT, "schema": schema })
        }
        SchemaFormat::Protobuf => json!({
            "schemaFormat": PROTOBUF_SCHEMA_FORMAT,
            "schema": crate::proto_text::self_contained_proto(model, event),
        }),
    }
}

fn message(model: &Model, event: &Event) -> Value {
    let key_doc = model
        .topic(&event.topic)
        .map(|t| t.key.clone())
        .unwrap_or_else(|| format!("aggregate id ({})", event.aggregate_id));
    let content_type = match event.format {
        SchemaFormat::Avro => "avro/binary",
        SchemaFormat::Protobuf => "application/x-protobuf",
    };
    let mut m = Map::new();
    m.insert("name".into(), json!(event.name));
    m.insert(
        "title".into(),
        json!(format!("{} v{}", event.name, event.version)),
    );
    if let Some(doc) = &event.doc {
        m.insert("summary".into(), json!(doc));
    }
    m.insert("contentType".into(), json!(content_type));
    m.insert("payload".into(), payload(model, event));
    m.insert(
        "bindings".into(),
        json!({ "kafka": {
            "key": { "type": "string", "description": key_doc },
            "bindingVersion": KAFKA_BINDING_VERSION,
        }}),
    );
    let mut ext = Map::new();
    ext.insert("x-event-version".into(), json!(event.version));
    ext.insert("x-aggregate-type".into(), json!(event.aggregate_type));
    ext.insert(
        "x-compatibility".into(),
        json!(event.compatibility.as_str()),
    );
    ext.insert(
        "x-fingerprint".into(),
        json!(format!("{:016x}", event.fingerprint)),
    );
    if let Some(reason) = &event.deprecated {
        ext.insert("x-deprecated".into(), json!(reason));
    }
    m.extend(ext);
    Value::Object(m)
}

/// The whole AsyncAPI 3.0 document.
pub fn document(model: &Model, title: &str) -> Value {
    let mut events: Vec<&Event> = model.events.iter().collect();
    events.sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));

    let mut messages = Map::new();
    for e in &events {
        messages.insert(message_id(e), message(model, e));
    }

    let mut topics: Vec<_> = model.topics.iter().collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    let mut channels = Map::new();
    for topic in &topics {
        let mut channel_messages = Map::new();
        for e in events.iter().filter(|e| e.topic == topic.name) {
            let id = message_id(e);
            channel_messages.insert(
                id.clone(),
                json!({ "$ref": format!("#/components/messages/{id}") }),
            );
        }
        let mut config = Map::new();
        config.insert(
            "cleanup.policy".into(),
            json!([if topic.compacted { "compact" } else { "delete" }]),
        );
        if let Some(ms) = topic.retention_ms {
            config.insert("retention.ms".into(), json!(ms));
        }
        let mut channel = Map::new();
        channel.insert("address".into(), json!(topic.name));
        if let Some(doc) = &topic.doc {
            channel.insert("description".into(), json!(doc));
        }
        channel.insert("messages".into(), Value::Object(channel_messages));
        channel.insert(
            "bindings".into(),
            json!({ "kafka": {
                "topic": topic.name,
                "partitions": topic.partitions,
                "replicas": topic.replication_factor,
                "topicConfiguration": Value::Object(config),
                "bindingVersion": KAFKA_BINDING_VERSION,
            }}),
        );
        channels.insert(topic.name.clone(), Value::Object(channel));
    }

    // One send and one receive operation per event (newest version), naming the services.
    let mut operations = Map::new();
    for e in model.latest_events() {
        if model.topic(&e.topic).is_none() {
            continue;
        }
        let names = RustNames::of(model, e);
        let id = message_id(e);
        let message_ref = json!([{ "$ref": format!("#/channels/{}/messages/{id}", e.topic) }]);
        let channel_ref = json!({ "$ref": format!("#/channels/{}", e.topic) });
        for (producing, op_id, action) in [
            (
                true,
                names.publish_method.clone().unwrap_or_default(),
                "send",
            ),
            (false, names.handle_method.clone(), "receive"),
        ] {
            let services = crate::pages::services_of(model, &e.name, producing);
            let verb = if producing { "Published" } else { "Consumed" };
            let who = if services.is_empty() {
                "no service recorded".to_string()
            } else {
                services.join(", ")
            };
            operations.insert(
                op_id,
                json!({
                    "action": action,
                    "channel": channel_ref,
                    "summary": format!("{verb} by {who}."),
                    "messages": message_ref,
                }),
            );
        }
    }

    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": "1.0.0",
            "description": "Every Kafka topic and event of the platform, generated from the schemas by carebus-catalog.",
        },
        "defaultContentType": "avro/binary",
        "channels": Value::Object(channels),
        "operations": Value::Object(operations),
        "components": { "messages": Value::Object(messages) },
    })
}
