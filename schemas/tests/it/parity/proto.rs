//! The AI `.proto` in, parity verdicts for every Protobuf event out: messages generated from
//! the descriptor (prost-reflect, compiled with protox) decode with the generated codec exactly
//! as prost's wire structs decode them, re-encode to prost's bytes, and round-trip.

use carebus_core::{DomainEvent, PayloadFormat};
use carebus_schemas::wire::healthcare::ai as wire;
use carebus_schemas::*;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};
use std::sync::OnceLock;

type ReflectValue = prost_reflect::Value;

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
        let mut compiler = protox::Compiler::new([&root]).unwrap_or_else(|e| panic!("protox: {e}"));
        compiler
            .open_files(["ai/ai_events.proto"])
            .unwrap_or_else(|e| panic!("ai/ai_events.proto does not compile: {e}"));
        compiler.descriptor_pool()
    })
}

/// Enum numbers: every declared value, plus numbers no schema declares (the `Unknown` fallback).
fn enum_number(e: &prost_reflect::EnumDescriptor) -> BoxedStrategy<i32> {
    let declared: Vec<i32> = e.values().map(|v| v.number()).collect();
    prop_oneof![
        4 => proptest::sample::select(declared),
        1 => any::<i32>(),
    ]
    .boxed()
}

fn scalar(kind: &Kind) -> BoxedStrategy<ReflectValue> {
    use ReflectValue as V;
    match kind {
        Kind::Double => (proptest::num::f64::NORMAL | proptest::num::f64::ZERO)
            .prop_map(V::F64)
            .boxed(),
        Kind::Float => (proptest::num::f32::NORMAL | proptest::num::f32::ZERO)
            .prop_map(V::F32)
            .boxed(),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => any::<i32>().prop_map(V::I32).boxed(),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            prop_oneof![Just(0i64), Just(i64::MIN), Just(i64::MAX), any::<i64>()]
                .prop_map(V::I64)
                .boxed()
        }
        Kind::Uint32 | Kind::Fixed32 => prop_oneof![Just(0u32), Just(u32::MAX), any::<u32>()]
            .prop_map(V::U32)
            .boxed(),
        Kind::Uint64 | Kind::Fixed64 => any::<u64>().prop_map(V::U64).boxed(),
        Kind::Bool => any::<bool>().prop_map(V::Bool).boxed(),
        Kind::String => super::values::text().prop_map(V::String).boxed(),
        Kind::Bytes => proptest::collection::vec(any::<u8>(), 0..12)
            .prop_map(|b| V::Bytes(b.into()))
            .boxed(),
        Kind::Enum(e) => enum_number(e).prop_map(V::EnumNumber).boxed(),
        Kind::Message(m) => message(m).prop_map(V::Message).boxed(),
    }
}

/// A field's value, `None` for unset. Singular message fields are always set: the generated
/// types make them required (an absent one is a `MissingField` error, tested with hostile bytes).
fn field(f: &FieldDescriptor) -> BoxedStrategy<Option<ReflectValue>> {
    assert!(
        !f.is_map(),
        "{}: the parity generator has no strategy for map fields; add one in tests/parity/proto.rs",
        f.full_name()
    );
    let kind = f.kind();
    if f.is_list() {
        proptest::collection::vec(scalar(&kind), 0..=3)
            .prop_map(|items| Some(ReflectValue::List(items)))
            .boxed()
    } else if f.supports_presence() && !matches!(kind, Kind::Message(_)) {
        proptest::option::of(scalar(&kind)).boxed()
    } else {
        scalar(&kind).prop_map(Some).boxed()
    }
}

/// Arbitrary messages of descriptor `m`.
pub fn message(m: &MessageDescriptor) -> BoxedStrategy<DynamicMessage> {
    let fields: Vec<FieldDescriptor> = m.fields().collect();
    let strategies: Vec<_> = fields.iter().map(field).collect();
    let m = m.clone();
    strategies
        .prop_map(move |values| {
            let mut msg = DynamicMessage::new(m.clone());
            for (f, v) in fields.iter().zip(values) {
                if let Some(v) = v {
                    msg.set_field(f, v);
                }
            }
            msg
        })
        .boxed()
}

fn fail(what: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(what.to_string())
}

/// Every property of one Protobuf payload `bytes` of event `E` (prost wire struct `W`).
fn check_proto_bytes<E, W>(desc: &MessageDescriptor, bytes: &[u8]) -> Result<(), TestCaseError>
where
    E: DomainEvent + PartialEq,
    W: Message + Default + PartialEq,
{
    let ty = E::EVENT_TYPE;
    let event = E::decode_payload(bytes).map_err(|e| {
        fail(format!(
            "{ty}: generated decode_payload rejected the bytes: {e}"
        ))
    })?;
    let mut ours = Vec::new();
    event.encode_payload(&mut ours);

    // prost's own wire struct reads the same bytes and writes the same bytes back.
    let prost_struct =
        W::decode(bytes).map_err(|e| fail(format!("{ty}: prost rejected the bytes: {e}")))?;
    prop_assert!(
        prost_struct.encode_to_vec() == ours,
        "{}: generated bytes differ from prost's re-encoding",
        ty
    );
    // The reflection oracle reads the same message from both.
    let original = DynamicMessage::decode(desc.clone(), bytes)
        .map_err(|e| fail(format!("{ty}: prost-reflect: {e}")))?;
    let reread = DynamicMessage::decode(desc.clone(), &ours[..]).map_err(|e| {
        fail(format!(
            "{ty}: prost-reflect cannot read generated bytes: {e}"
        ))
    })?;
    prop_assert_eq!(
        reread,
        original,
        "{}: generated bytes hold another message",
        ty
    );

    // Round trips: payload and JSON.
    let again = E::decode_payload(&ours)
        .map_err(|e| fail(format!("{ty}: cannot decode its own bytes: {e}")))?;
    prop_assert!(
        again == event,
        "{}: payload round trip changed the event",
        ty
    );
    let json = event.to_json();
    let back = E::from_json(&json).map_err(|e| {
        fail(format!(
            "{ty}: from_json rejected to_json's output: {e}; json: {json}"
        ))
    })?;
    prop_assert!(
        back == event,
        "{}: JSON round trip changed the event: {}",
        ty,
        json
    );

    // Truncations never panic (Protobuf has no length frame, so some prefixes are valid).
    for cut in 0..bytes.len() {
        let _ = E::decode_payload(&bytes[..cut]);
    }
    Ok(())
}

fn check_proto_event<E, W>()
where
    E: DomainEvent + PartialEq,
    W: Message + Default + PartialEq,
{
    assert_eq!(
        E::FORMAT,
        PayloadFormat::Protobuf,
        "{} is not Protobuf",
        E::EVENT_TYPE
    );
    let name = format!("healthcare.ai.{}", E::EVENT_TYPE);
    let desc = pool()
        .get_message_by_name(&name)
        .unwrap_or_else(|| panic!("ai_events.proto has no message {name}"));
    super::runner()
        .run(&message(&desc), |msg| {
            check_proto_bytes::<E, W>(&desc, &msg.encode_to_vec())
        })
        .unwrap_or_else(|e| panic!("{} v{}: {e}", E::EVENT_TYPE, E::EVENT_VERSION));
}

macro_rules! proto_parity {
    ($($test:ident => $event:ident),* $(,)?) => {
        pub const COVERED: &[(&str, u32)] =
            &[$((<$event as DomainEvent>::EVENT_TYPE, <$event as DomainEvent>::EVENT_VERSION)),*];
        $(
            #[test]
            fn $test() {
                check_proto_event::<$event, wire::$event>();
            }
        )*
    };
}

proto_parity! {
    analysis_requested => AnalysisRequested,
    analysis_completed => AnalysisCompleted,
    analysis_failed => AnalysisFailed,
}
