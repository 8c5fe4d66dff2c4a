//! Avro schema JSON in, its Parsing Canonical Form out, written from the specification's rules
//! (an oracle independent of carebus-codegen and of apache-avro's `canonical_form`).
//!
//! Rules (Avro spec, "Parsing Canonical Form for Schemas"): [PRIMITIVES] `{"type":"int"}` →
//! `"int"`; [FULLNAMES] names become full names; [STRIP] keep only `type name fields symbols
//! items values size` (so `logicalType`, `precision`, `scale`, `doc`, `default`, custom
//! annotations go); [ORDER] in that order; [STRINGS]/[INTEGERS]/[WHITESPACE] minimal JSON.

use serde_json::Value;

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// The Parsing Canonical Form of a schema given as JSON.
pub fn parsing_canonical_form(schema: &Value) -> String {
    let mut out = String::new();
    write(schema, "", &mut out);
    out
}

fn full_name(name: &str, namespace: &str) -> String {
    if name.contains('.') || namespace.is_empty() || PRIMITIVES.contains(&name) {
        name.to_string()
    } else {
        format!("{namespace}.{name}")
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

fn write(schema: &Value, namespace: &str, out: &mut String) {
    match schema {
        Value::String(name) => out.push_str(&json_string(&full_name(name, namespace))),
        Value::Array(branches) => {
            out.push('[');
            for (i, b) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(b, namespace, out);
            }
            out.push(']');
        }
        Value::Object(obj) => {
            let ty = obj.get("type").expect("a schema object has a type");
            let ty_name = ty.as_str().unwrap_or_default();
            match ty_name {
                "record" | "error" | "enum" | "fixed" => {
                    let name = obj["name"].as_str().expect("a named type has a name");
                    let ns = obj
                        .get("namespace")
                        .and_then(Value::as_str)
                        .unwrap_or(namespace);
                    let full = full_name(name, ns);
                    // Nested definitions inherit the namespace of the enclosing full name.
                    let inner_ns = full.rsplit_once('.').map_or("", |(ns, _)| ns).to_string();
                    out.push_str(&format!(
                        "{{\"name\":{},\"type\":{}",
                        json_string(&full),
                        json_string(ty_name)
                    ));
                    if let Some(fields) = obj.get("fields").and_then(Value::as_array) {
                        out.push_str(",\"fields\":[");
                        for (i, f) in fields.iter().enumerate() {
                            if i > 0 {
                                out.push(',');
                            }
                            out.push_str(&format!(
                                "{{\"name\":{},\"type\":",
                                json_string(f["name"].as_str().expect("a field has a name"))
                            ));
                            write(&f["type"], &inner_ns, out);
                            out.push('}');
                        }
                        out.push(']');
                    }
                    if let Some(symbols) = obj.get("symbols") {
                        out.push_str(",\"symbols\":");
                        out.push_str(&serde_json::to_string(symbols).expect("symbols serialize"));
                    }
                    if let Some(size) = obj.get("size") {
                        out.push_str(&format!(",\"size\":{size}"));
                    }
                    out.push('}');
                }
                "array" => {
                    out.push_str("{\"type\":\"array\",\"items\":");
                    write(&obj["items"], namespace, out);
                    out.push('}');
                }
                "map" => {
                    out.push_str("{\"type\":\"map\",\"values\":");
                    write(&obj["values"], namespace, out);
                    out.push('}');
                }
                // A primitive (possibly with a logical type) or `{"type": <schema>}`.
                _ => write(ty, namespace, out),
            }
        }
        other => panic!("not an Avro schema: {other}"),
    }
}
