//! The schemas' example events (each field's `examples`, as the catalog shows them) turned into seed inputs in fuzz/corpus/<target>/: records in every framing for `wire` and `envelope`, Avro datums for `avro`, Protobuf messages for `protobuf`.
//!
//! Run by `scripts/fuzz seed`. Each record written is first decoded by `wire::decode` and
//! must give back the example event; the files are named after the event and framing, so a
//! second run rewrites the same files.

use carebus_catalog::example::example_envelope;
use carebus_codegen::ir::Model;
use carebus_core::envelope::{Envelope, headers};
use carebus_core::wire::{
    CONFLUENT_MAGIC, CONTENT_TYPE_JSON, CONTENT_TYPE_STRUCTURED, SINGLE_OBJECT_MAGIC,
};
use carebus_core::{PayloadFormat, TopicEvents};
use carebus_fuzz::{FuzzRecord, events_of, topic_index};
use carebus_schemas::{AiEvent, AppointmentsEvent, ClinicalEvent, JourneysEvent, PatientsEvent};
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model: Model = serde_json::from_str(carebus_schemas::IR_JSON)?;
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut written = 0;
    for event in &model.events {
        let example = example_envelope(&model, event);
        let (mut envelope, data) = Envelope::from_json(&example)?;
        envelope.traceparent =
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into());
        let topic = topic_index(&event.topic).ok_or("event of a topic the fuzz targets lack")?;
        let seeds = match topic {
            0 => seeds::<PatientsEvent>(topic, envelope, &data),
            1 => seeds::<AppointmentsEvent>(topic, envelope, &data),
            2 => seeds::<ClinicalEvent>(topic, envelope, &data),
            3 => seeds::<JourneysEvent>(topic, envelope, &data),
            _ => seeds::<AiEvent>(topic, envelope, &data),
        };
        let seeds = seeds.map_err(|e| format!("{} v{}: {e}", event.name, event.version))?;
        for (target, name, bytes) in seeds {
            let dir = corpus.join(target);
            std::fs::create_dir_all(&dir)?;
            let file: PathBuf = dir.join(format!("{}-v{}-{name}", event.name, event.version));
            std::fs::write(&file, bytes)?;
            written += 1;
        }
    }
    println!("wrote {written} seed files under {}", corpus.display());
    Ok(())
}

/// The seed files of one example event: (target, file name suffix, bytes).
type Seeds = Vec<(&'static str, &'static str, Vec<u8>)>;

fn seeds<E: TopicEvents + PartialEq>(
    topic: u8,
    mut envelope: Envelope,
    data: &serde_json::Value,
) -> Result<Seeds, String> {
    let event = E::decode_json(&envelope.event_type, envelope.event_version, data)
        .map_err(|e| format!("the example does not decode from JSON: {e}"))?;
    let info = event.info();
    envelope.schema_fingerprint = Some(info.fingerprint);
    let mut payload = Vec::new();
    event.encode_payload(&mut payload);

    let mut out: Seeds = Vec::new();
    let pick = events_of(info.format)
        .iter()
        .position(|i| *i == info)
        .ok_or("event missing from the registry")? as u8;
    let payload_target = match info.format {
        PayloadFormat::Avro => "avro",
        PayloadFormat::Protobuf => "protobuf",
    };
    out.push((payload_target, "payload", [&[pick], &payload[..]].concat()));

    let binary_headers = |content_type: &str| {
        let mut h: Vec<(String, Vec<u8>)> = envelope
            .to_headers()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect();
        h.push((
            headers::CONTENT_TYPE.into(),
            content_type.as_bytes().to_vec(),
        ));
        h
    };
    let mut single_object = Vec::new();
    if info.format == PayloadFormat::Avro {
        single_object.extend_from_slice(&SINGLE_OBJECT_MAGIC);
        single_object.extend_from_slice(&info.fingerprint.to_le_bytes());
    }
    single_object.extend_from_slice(&payload);
    let mut confluent = vec![CONFLUENT_MAGIC, 0, 0, 0, 7];
    if info.format == PayloadFormat::Protobuf {
        confluent.push(0); // message indexes: the first message
    }
    confluent.extend_from_slice(&payload);
    let json = serde_json::to_vec(&event.to_json()).map_err(|e| e.to_string())?;
    let structured =
        serde_json::to_vec(&envelope.to_json(event.to_json())).map_err(|e| e.to_string())?;
    let mut structured_headers = binary_headers(CONTENT_TYPE_STRUCTURED);
    structured_headers.retain(|(n, _)| {
        n == headers::TRACEPARENT || n == headers::ID || n == headers::CONTENT_TYPE
    });

    let content_type = info.format.content_type();
    let records = [
        ("single-object", binary_headers(content_type), single_object),
        ("confluent", binary_headers(content_type), confluent),
        ("json", binary_headers(CONTENT_TYPE_JSON), json),
        ("structured-json", structured_headers, structured),
    ];
    for (framing, headers, value) in records {
        let (_, back) = carebus_core::wire::decode::<E>(&headers, &value)
            .map_err(|e| format!("{framing} record does not decode: {e}"))?;
        if back != event {
            return Err(format!("{framing} record decodes to another event"));
        }
        let bytes = FuzzRecord {
            topic,
            headers,
            value,
        }
        .to_bytes();
        out.push(("wire", framing, bytes.clone()));
        out.push(("envelope", framing, bytes));
    }
    Ok(out)
}
