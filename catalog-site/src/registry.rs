//! The recorded schemas (the history lock) and the IR in, the Confluent Schema Registry read API as static files out: `registry/schemas/ids/<id>`, `registry/subjects/` and `registry/subjects/<subject>/versions/<n>` (and `latest`), under the ids carebus writes in Confluent framing.
//!
//! - **Ids** are [`carebus_core::wire::confluent_schema_id`] of each schema's fingerprint, the
//!   ids a publisher with `Framing::Confluent(SchemaIds::derived())` (`framing = "confluent"`)
//!   writes; a schema's fingerprint never changes, so neither does its id.
//! - **Subjects** follow Confluent's `RecordNameStrategy`: one subject per record (message) full
//!   name, e.g. `healthcare.patient.PatientCreated`, its versions the recorded schemas of that
//!   record in history order (event version, then revision). A topic carries several event
//!   types, so `TopicNameStrategy` subjects would mix them.
//! - **Schema text**: an event version the IR still has is served in full (the self-contained
//!   Avro schema with docs and logical types; Protobuf as a self-contained proto3 file);
//!   an older Avro revision as its recorded Parsing Canonical Form, which reads the same bytes.
//!   Older Protobuf revisions are not served (the lock keeps no `.proto` text for them).
//! - A directory answers with its `index.html` (`subjects/`, `subjects/<s>/versions/`), as
//!   static servers do; those hold the JSON lists the registry API returns.

use crate::history::History;
use crate::proto_text::self_contained_proto;
use carebus_codegen::emit::schema::event_schema;
use carebus_codegen::ir::{Model, SchemaFormat};
use carebus_core::wire::confluent_schema_id;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One registered schema: a subject version and the id it is served under.
#[derive(Clone, Debug, PartialEq)]
pub struct Registered {
    pub subject: String,
    /// The subject version, from 1.
    pub version: u32,
    pub id: u32,
    pub fingerprint: u64,
    pub format: SchemaFormat,
    pub schema: String,
}

impl Registered {
    /// The `/schemas/ids/<id>` answer.
    fn by_id(&self) -> Value {
        let mut v = json!({ "schema": self.schema });
        if self.format == SchemaFormat::Protobuf {
            v["schemaType"] = "PROTOBUF".into();
        }
        v
    }

    /// The `/subjects/<subject>/versions/<n>` answer.
    fn by_subject(&self) -> Value {
        let mut v = json!({
            "subject": self.subject,
            "version": self.version,
            "id": self.id,
            "schema": self.schema,
        });
        if self.format == SchemaFormat::Protobuf {
            v["schemaType"] = "PROTOBUF".into();
        }
        v
    }
}

/// Every schema the registry serves: the recorded ones in history order, then those of the
/// IR the history does not record (a catalog built without the lock).
pub fn registered(model: &Model, history: &History) -> Vec<Registered> {
    let current = |fingerprint: u64| model.events.iter().find(|e| e.fingerprint == fingerprint);
    let full_text = |fingerprint: u64, format: SchemaFormat| {
        current(fingerprint).map(|e| match format {
            SchemaFormat::Avro => event_schema(model, e),
            SchemaFormat::Protobuf => self_contained_proto(model, e),
        })
    };
    // (subject, fingerprint, format, text) in registration order.
    let mut schemas: Vec<(String, u64, SchemaFormat, String)> = Vec::new();
    for r in history.schemas() {
        let text = match (full_text(r.fingerprint, r.format), r.format) {
            (Some(text), _) => text,
            (None, SchemaFormat::Avro) => r.canonical.clone(),
            (None, SchemaFormat::Protobuf) => continue,
        };
        schemas.push((r.full_name.clone(), r.fingerprint, r.format, text));
    }
    let mut unrecorded: Vec<_> = model
        .events
        .iter()
        .filter(|e| !schemas.iter().any(|(_, fp, _, _)| *fp == e.fingerprint))
        .collect();
    unrecorded.sort_by_key(|e| (e.full_name(), e.version));
    for e in unrecorded {
        let text = full_text(e.fingerprint, e.format).unwrap_or_default();
        schemas.push((e.record.full_name(), e.fingerprint, e.format, text));
    }

    let mut versions: BTreeMap<String, u32> = BTreeMap::new();
    let mut ids: BTreeMap<u32, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for (subject, fingerprint, format, schema) in schemas {
        let id = confluent_schema_id(fingerprint);
        if let Some(recorded) = ids.get(&id) {
            // Two schemas whose fingerprints share their top 31 bits (about one chance in
            // 4·10^9 per pair): the later one is not served rather than served wrongly.
            if *recorded != fingerprint {
                continue;
            }
            // The same schema recorded twice for one subject: one entry.
            if out
                .iter()
                .any(|r: &Registered| r.subject == subject && r.fingerprint == fingerprint)
            {
                continue;
            }
        }
        ids.insert(id, fingerprint);
        let version = versions.entry(subject.clone()).or_insert(0);
        *version += 1;
        out.push(Registered {
            subject,
            version: *version,
            id,
            fingerprint,
            format,
            schema,
        });
    }
    out
}

/// The registry's files (paths under the catalog's output directory, JSON text).
pub fn files(model: &Model, history: &History) -> Vec<(String, String)> {
    let all = registered(model, history);
    let text = |v: &Value| {
        let mut t = serde_json::to_string(v).unwrap_or_else(|_| "{}".into());
        t.push('\n');
        t
    };
    let mut files = Vec::new();
    let mut by_subject: BTreeMap<&str, Vec<&Registered>> = BTreeMap::new();
    for r in &all {
        files.push((format!("registry/schemas/ids/{}", r.id), text(&r.by_id())));
        by_subject.entry(&r.subject).or_default().push(r);
    }
    let subjects: Vec<&str> = by_subject.keys().copied().collect();
    files.push((
        "registry/subjects/index.html".into(),
        text(&json!(subjects)),
    ));
    for (subject, versions) in &by_subject {
        let numbers: Vec<u32> = versions.iter().map(|r| r.version).collect();
        files.push((
            format!("registry/subjects/{subject}/versions/index.html"),
            text(&json!(numbers)),
        ));
        for r in versions {
            files.push((
                format!("registry/subjects/{subject}/versions/{}", r.version),
                text(&r.by_subject()),
            ));
        }
        if let Some(latest) = versions.last() {
            files.push((
                format!("registry/subjects/{subject}/versions/latest"),
                text(&latest.by_subject()),
            ));
        }
    }
    files
}
