//! carebus event field types (Coding, Quantity, Reference, timestamps, enums) turned into FHIR R4 datatypes as JSON.

use carebus::{Date, Decimal, Timestamp};
use carebus_schemas::*;
use serde_json::{Value, json};

/// UCUM, the unit system of every FHIR Quantity carebus writes.
pub const UCUM: &str = "http://unitsofmeasure.org";
/// HL7 v3 ObservationInterpretation codes (N, L, H, LL, HH, A).
pub const INTERPRETATION: &str =
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
/// HL7 v2 table 0203, identifier types (MR, SS, ...).
pub const IDENTIFIER_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";
/// Scale (fraction digits) of every carebus Quantity value.
pub const QUANTITY_SCALE: u32 = 4;

/// A FHIR code from a schema enum symbol: `ENTERED_IN_ERROR` -> `entered-in-error`.
pub fn code(symbol: &str) -> String {
    symbol.to_ascii_lowercase().replace('_', "-")
}

/// A FHIR `instant` / `dateTime` (RFC 3339, UTC).
pub fn instant(t: Timestamp) -> Value {
    t.rfc3339_text().map_or(Value::Null, Value::String)
}

/// A FHIR `date` (YYYY-MM-DD).
pub fn date(d: Date) -> Value {
    d.iso_text().map_or(Value::Null, Value::String)
}

/// A decimal as a JSON number with no trailing zeros (FHIR `decimal`).
pub fn decimal(d: Decimal) -> Value {
    let text = d.to_string_scaled(QUANTITY_SCALE);
    let trimmed = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text.as_str()
    };
    serde_json::from_str::<serde_json::Number>(trimmed).map_or(Value::Null, Value::Number)
}

/// A FHIR Coding.
pub fn coding(c: &Coding) -> Value {
    let mut out = json!({ "system": c.system, "code": c.code });
    if let Some(d) = &c.display {
        out["display"] = json!(d);
    }
    out
}

/// A CodeableConcept of one Coding.
pub fn concept_of(c: &Coding) -> Value {
    json!({ "coding": [coding(c)] })
}

/// A FHIR CodeableConcept.
pub fn concept(c: &CodeableConcept) -> Value {
    let mut out = json!({ "coding": c.coding.iter().map(coding).collect::<Vec<_>>() });
    if let Some(t) = &c.text {
        out["text"] = json!(t);
    }
    out
}

/// A FHIR Quantity with its UCUM unit as both `unit` and `code`.
pub fn quantity(q: &Quantity) -> Value {
    json!({ "value": decimal(q.value), "unit": q.unit, "system": UCUM, "code": q.unit })
}

/// A FHIR Reference `Type/id` with its display.
pub fn reference(r: &Reference) -> Value {
    let mut out = json!({ "reference": format!("{}/{}", r.r#type, r.id) });
    if let Some(d) = &r.display {
        out["display"] = json!(d);
    }
    out
}

/// A reference to a resource by type and id.
pub fn reference_to(kind: &str, id: &str) -> Value {
    json!({ "reference": format!("{kind}/{id}") })
}

/// The v3 interpretation code of a carebus interpretation; none for UNKNOWN.
pub fn interpretation(i: ObservationInterpretation) -> Option<Value> {
    let (code, display) = match i {
        ObservationInterpretation::Normal => ("N", "Normal"),
        ObservationInterpretation::Low => ("L", "Low"),
        ObservationInterpretation::High => ("H", "High"),
        ObservationInterpretation::CriticalLow => ("LL", "Critical low"),
        ObservationInterpretation::CriticalHigh => ("HH", "Critical high"),
        ObservationInterpretation::Abnormal => ("A", "Abnormal"),
        ObservationInterpretation::Unknown => return None,
    };
    Some(json!([{ "coding": [{ "system": INTERPRETATION, "code": code, "display": display }] }]))
}

/// The carebus interpretation of a v3 interpretation code.
pub fn interpretation_of(code: &str) -> Option<ObservationInterpretation> {
    Some(match code {
        "N" => ObservationInterpretation::Normal,
        "L" => ObservationInterpretation::Low,
        "H" => ObservationInterpretation::High,
        "LL" => ObservationInterpretation::CriticalLow,
        "HH" => ObservationInterpretation::CriticalHigh,
        "A" => ObservationInterpretation::Abnormal,
        _ => return None,
    })
}

/// A FHIR Identifier with its v2-0203 type.
pub fn identifier(i: &Identifier) -> Value {
    let mut out = json!({ "system": i.system, "value": i.value.expose() });
    if let Some(t) = &i.type_code {
        out["type"] = json!({ "coding": [{ "system": IDENTIFIER_TYPE, "code": t }] });
    }
    out
}

/// A FHIR ContactPoint.
pub fn contact_point(c: &ContactPoint) -> Value {
    let mut out = json!({ "system": code(c.system.symbol()), "value": c.value.expose() });
    if let Some(u) = c.r#use {
        out["use"] = json!(code(u.symbol()));
    }
    if let Some(r) = c.rank.filter(|r| *r > 0) {
        out["rank"] = json!(r);
    }
    out
}

/// A FHIR Address (home).
pub fn address(a: &Address) -> Value {
    let mut out = json!({
        "use": "home",
        "line": a.line.expose(),
        "city": a.city.expose(),
        "country": a.country,
    });
    if let Some(s) = &a.state {
        out["state"] = json!(s);
    }
    if let Some(p) = &a.postal_code {
        out["postalCode"] = json!(p.expose());
    }
    out
}

/// A FHIR HumanName.
pub fn human_name(n: &HumanName) -> Value {
    let mut out = json!({
        "use": code(n.r#use.symbol()),
        "family": n.family.expose(),
        "given": n.given.expose(),
    });
    if let Some(p) = &n.prefix {
        out["prefix"] = json!([p.expose()]);
    }
    if let Some(s) = &n.suffix {
        out["suffix"] = json!([s.expose()]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_lose_trailing_zeros_only() {
        assert_eq!(decimal(Decimal::new(986_000)).to_string(), "98.6");
        assert_eq!(decimal(Decimal::new(720_000)).to_string(), "72");
        assert_eq!(decimal(Decimal::new(-5)).to_string(), "-0.0005");
    }

    #[test]
    fn enum_symbols_become_fhir_codes() {
        assert_eq!(code("ENTERED_IN_ERROR"), "entered-in-error");
        assert_eq!(code("ON_HOLD"), "on-hold");
    }
}
