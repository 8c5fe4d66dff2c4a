//! Field `examples` turned into an example message: the event's data in its JSON form (Avro's JSON encoding for Avro events) wrapped in the envelope JSON form of the product brief.

use carebus_codegen::ir::{Event, Field, Model, NamedType, Record, SchemaFormat, Type};
use serde_json::{Map, Value, json};

/// How deep nested records are expanded before the example stops at `{}`.
const MAX_DEPTH: usize = 6;

/// The example data object of one event version in the event's JSON form: each field's first
/// example, or a value made up from its type when the schema gives none. Schema authors write
/// `examples` the readable way (a date as `"2024-01-15"`, an optional value bare, bytes as
/// hex); for an Avro event that object is turned into Avro's JSON encoding with the event's
/// schema (`carebus_core::json_legacy::upcast`), so the example is what `to_json` writes. An
/// example that does not read with the schema is shown as written.
pub fn example_data(model: &Model, event: &Event) -> Value {
    let written = example_as_written(model, event);
    match event.format {
        SchemaFormat::Avro => {
            let schema = carebus_codegen::emit::schema::event_schema(model, event);
            carebus_core::json_legacy::upcast(&schema, &written).unwrap_or(written)
        }
        SchemaFormat::Protobuf => written,
    }
}

/// The example data as the schema's `examples` write it (carebus's readable JSON form from
/// before Avro's JSON encoding), before [`example_data`] turns it into the event's JSON form.
pub fn example_as_written(model: &Model, event: &Event) -> Value {
    record_example(model, &event.record, 0)
}

/// The whole example message: envelope fields around [`example_data`].
pub fn example_envelope(model: &Model, event: &Event) -> Value {
    let data = example_data(model, event);
    let id_member = event
        .record
        .field(&event.aggregate_id)
        .map_or_else(|| event.aggregate_id.clone(), |f| f.json_name());
    let aggregate_id = data
        .get(&id_member)
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "aggregate-123".to_string());
    let mut envelope = Map::new();
    let defaults: [(&str, Value); 10] = [
        ("eventId", json!("550e8400-e29b-41d4-a716-446655440000")),
        ("eventType", json!(event.name)),
        ("eventVersion", json!(format!("{}.0", event.version))),
        ("eventTime", json!("2024-11-24T10:30:00Z")),
        ("aggregateId", json!(aggregate_id)),
        ("aggregateType", json!(event.aggregate_type)),
        ("tenantId", json!("hospital-456")),
        ("correlationId", json!("request-789")),
        ("causationId", json!("command-012")),
        (
            "metadata",
            json!({"userId": "user-345", "source": "PRM Service", "ipAddress": "10.0.0.1"}),
        ),
    ];
    for (name, default) in defaults {
        // Event-specific values win; otherwise an example declared on the envelope schema.
        let fixed = matches!(
            name,
            "eventType" | "eventVersion" | "aggregateId" | "aggregateType"
        );
        let declared = model
            .envelope
            .as_ref()
            .and_then(|e| e.field(name))
            .and_then(|f| f.examples.first().cloned());
        let value = match declared {
            Some(v) if !fixed => v,
            _ => default,
        };
        envelope.insert(name.to_string(), value);
    }
    envelope.insert("data".to_string(), data);
    Value::Object(envelope)
}

fn record_example(model: &Model, record: &Record, depth: usize) -> Value {
    let mut out = Map::new();
    for field in &record.fields {
        out.insert(field.json_name(), field_example(model, field, depth));
    }
    Value::Object(out)
}

fn field_example(model: &Model, field: &Field, depth: usize) -> Value {
    if let Some(example) = field.examples.first() {
        return example.clone();
    }
    if let Some(default) = field.default.as_ref().filter(|d| !d.is_null()) {
        return default.clone();
    }
    type_example(model, &field.ty, depth)
}

/// A plausible value of a type, in the JSON form used by `examples`.
pub fn type_example(model: &Model, ty: &Type, depth: usize) -> Value {
    match ty {
        Type::Null => Value::Null,
        Type::Boolean => json!(true),
        Type::Int | Type::Long | Type::Proto { .. } => json!(1),
        Type::Float | Type::Double => json!(1.5),
        // Hex, the readable form `examples` are written in (see `example_data`).
        Type::Bytes => json!("010203"),
        Type::String => json!("text"),
        Type::Uuid => json!("123e4567-e89b-12d3-a456-426614174000"),
        Type::Date => json!("2024-01-01"),
        Type::TimestampMillis | Type::TimestampMicros => json!("2024-11-24T10:30:00Z"),
        Type::TimestampNanos => json!(1_732_444_200_000_000_000_i64),
        Type::TimeMillis => json!(37_800_000),
        Type::TimeMicros => json!(37_800_000_000_i64),
        Type::LocalTimestampMillis => json!(1_732_444_200_000_i64),
        Type::LocalTimestampMicros => json!(1_732_444_200_000_000_i64),
        Type::LocalTimestampNanos => json!(1_732_444_200_000_000_000_i64),
        Type::Decimal { scale, .. } => json!(format!("1.{}", "0".repeat(*scale as usize))),
        // 12.50 (unscaled 1250 at scale 2): its Avro bytes, in hex like other bytes.
        Type::BigDecimal => json!("0404e204"),
        Type::Array { items } => json!([type_example(model, items, depth + 1)]),
        Type::Map { values } => json!({ "key": type_example(model, values, depth + 1) }),
        Type::Union { branches } => {
            // Prefer a concrete branch so the example shows the shape of the data.
            let concrete = branches.iter().find(|b| !matches!(b, Type::Null));
            match concrete {
                Some(b) => type_example(model, b, depth),
                None => Value::Null,
            }
        }
        Type::Named { name } => match model.named_type(name) {
            Some(NamedType::Record(r)) if depth < MAX_DEPTH => record_example(model, r, depth + 1),
            Some(NamedType::Record(_)) => json!({}),
            Some(NamedType::Enum(e)) => e
                .symbols
                .first()
                .map(|s| json!(s.name))
                .unwrap_or(Value::Null),
            Some(NamedType::Fixed(f)) => json!("00".repeat(f.size as usize)),
            None => Value::Null,
        },
    }
}
