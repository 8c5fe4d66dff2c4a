//! A deliberately wrong codec in, a failing parity check out: the control that shows the
//! properties in `parity.rs` catch a codec whose bytes differ from apache-avro's.

use carebus_core::avro::{self, Reader};
use carebus_core::{DecodeError, DomainEvent, PayloadFormat};
use serde::{Deserialize, Serialize};

/// A two-field event whose encoder writes its fields in the wrong order (and whose decoder
/// reads them in that order, so it round-trips with itself but not with apache-avro).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwappedFields {
    #[serde(rename = "heartRate")]
    heart_rate: i32,
    unit: String,
}

impl DomainEvent for SwappedFields {
    const EVENT_TYPE: &'static str = "SwappedFields";
    const EVENT_VERSION: u32 = 1;
    const AGGREGATE_TYPE: &'static str = "Control";
    const TOPIC: &'static str = "control.events";
    const SCHEMA: &'static str = r#"{"type":"record","name":"SwappedFields","namespace":"control",
        "fields":[{"name":"heartRate","type":"int"},{"name":"unit","type":"string"}]}"#;
    const FINGERPRINT: u64 = 0;
    const FORMAT: PayloadFormat = PayloadFormat::Avro;
    const PHI_FIELDS: &'static [&'static str] = &[];

    fn aggregate_id(&self) -> String {
        self.unit.clone()
    }
    fn encode_payload(&self, out: &mut Vec<u8>) {
        avro::write_string(out, &self.unit);
        avro::write_int(out, self.heart_rate);
    }
    fn decode_payload(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let unit = r.read_string()?;
        let heart_rate = r.read_int()?;
        r.finish()?;
        Ok(SwappedFields { heart_rate, unit })
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"heartRate": self.heart_rate, "unit": self.unit})
    }
    fn from_json(v: &serde_json::Value) -> Result<Self, DecodeError> {
        serde_json::from_value(v.clone()).map_err(|e| DecodeError::Malformed {
            what: "json",
            detail: e.to_string(),
        })
    }
}

#[test]
#[should_panic(expected = "SwappedFields v1: Test failed: SwappedFields: generated")]
fn the_parity_check_fails_for_a_codec_that_differs_from_apache_avro() {
    super::check_avro_event::<SwappedFields>();
}
