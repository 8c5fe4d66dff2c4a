//! Schema files in, verdicts out: every `.avsc` parses with apache-avro, event annotations agree
//! with their fields, `topics.toml` and `services.toml`, examples have their field's JSON type,
//! newer event versions read older ones, and the AI `.proto` compiles with protox.

use apache_avro::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[path = "avsc_valid/examples.rs"]
mod examples;
#[path = "avsc_valid/style.rs"]
mod style;
use style::{EVENT_ANNOTATIONS, compatibility_modes};

/// One `.avsc` file: path relative to `schemas/avro`, text and parsed JSON.
struct Avsc {
    rel: String,
    text: String,
    json: Value,
}

impl Avsc {
    fn is_event(&self) -> bool {
        self.json.get("topic").is_some()
    }
    /// `Some(n)` for an older event version kept as `<stem>.v<n>.avsc`.
    fn older_version(&self) -> Option<u32> {
        let stem = self.rel.strip_suffix(".avsc")?;
        let (_, v) = stem.rsplit_once(".v")?;
        v.parse().ok()
    }
    fn name(&self) -> &str {
        self.json["name"].as_str().unwrap_or_default()
    }
    fn full_name(&self) -> String {
        format!(
            "{}.{}",
            self.json["namespace"].as_str().unwrap_or_default(),
            self.name()
        )
    }
}

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "avsc") {
            out.push(path);
        }
    }
}

fn avsc_files() -> Vec<Avsc> {
    let root = schemas_dir().join("avro");
    let mut paths = Vec::new();
    walk(&root, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let json =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel}: invalid JSON: {e}"));
            Avsc { rel, text, json }
        })
        .collect()
}

fn toml_file(name: &str) -> toml::Table {
    let text = std::fs::read_to_string(schemas_dir().join(name)).unwrap();
    text.parse()
        .unwrap_or_else(|e| panic!("{name}: invalid TOML: {e}"))
}

/// Topic name → event names listed under it in `topics.toml`.
fn topic_events() -> BTreeMap<String, Vec<String>> {
    let table = toml_file("topics.toml");
    let topics = table["topic"]
        .as_array()
        .expect("topics.toml: `[[topic]]` tables");
    topics
        .iter()
        .map(|t| {
            let name = t["name"].as_str().unwrap().to_string();
            let events = t["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap().to_string())
                .collect();
            (name, events)
        })
        .collect()
}

fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn assert_no_problems(what: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

#[test]
fn current_schemas_parse_together_with_apache_avro() {
    let files: Vec<Avsc> = avsc_files()
        .into_iter()
        .filter(|f| f.older_version().is_none())
        .collect();
    let schemas = Schema::parse_list(files.iter().map(|f| f.text.as_str()))
        .unwrap_or_else(|e| panic!("apache-avro rejects the schemas: {e}"));
    assert_eq!(schemas.len(), files.len());
    let mut events = 0;
    for (schema, file) in schemas.iter().zip(&files) {
        let Schema::Record(record) = schema else {
            continue;
        };
        assert_eq!(record.name.fullname(None), file.full_name(), "{}", file.rel);
        if file.is_event() {
            events += 1;
            assert_eq!(
                record.attributes.get("topic"),
                file.json.get("topic"),
                "{}: apache-avro lost the topic annotation",
                file.rel
            );
        }
    }
    assert_eq!(events, 16, "the brief has 16 Avro events");
}

#[test]
fn older_versions_parse_against_the_shared_types() {
    let files = avsc_files();
    let shared: Vec<&str> = files
        .iter()
        .filter(|f| !f.is_event())
        .map(|f| f.text.as_str())
        .collect();
    let mut older = 0;
    for file in files.iter().filter(|f| f.older_version().is_some()) {
        older += 1;
        Schema::parse_str_with_list(&file.text, shared.iter().copied())
            .unwrap_or_else(|e| panic!("{}: {e}", file.rel));
        let version = file.json["event_version"].as_u64();
        assert_eq!(
            version,
            file.older_version().map(u64::from),
            "{}: event_version must match the .v<N> suffix",
            file.rel
        );
        let newest = files
            .iter()
            .find(|f| f.older_version().is_none() && f.full_name() == file.full_name())
            .unwrap_or_else(|| panic!("{}: no current version of {}", file.rel, file.full_name()));
        assert!(
            newest.json["event_version"].as_u64() > version,
            "{}: the current version must be newer",
            newest.rel
        );
    }
    assert!(older >= 1, "at least one event keeps an older version");
}

#[test]
fn newest_version_of_each_event_reads_every_older_version() {
    let files = avsc_files();
    let defs: BTreeMap<String, Value> = files
        .iter()
        .filter(|f| !f.is_event())
        .map(|f| (f.full_name(), f.json.clone()))
        .collect();
    let standalone = |f: &Avsc| {
        let json = examples::inline_types(&f.json, &defs, &mut BTreeSet::new());
        Schema::parse(&json).unwrap_or_else(|e| panic!("{}: {e}", f.rel))
    };
    for old in files.iter().filter(|f| f.older_version().is_some()) {
        let new = files
            .iter()
            .find(|f| f.older_version().is_none() && f.full_name() == old.full_name())
            .unwrap();
        let (writer, reader) = (standalone(old), standalone(new));
        if let Err(e) = SchemaCompatibility::can_read(&writer, &reader) {
            panic!("{} cannot read data written with {}: {e}", new.rel, old.rel);
        }
    }
}

#[test]
fn every_event_has_well_formed_annotations() {
    let topics = topic_events();
    let mut problems = Vec::new();
    for file in avsc_files().iter().filter(|f| f.is_event()) {
        let (rel, json, name) = (&file.rel, &file.json, file.name());
        let ann = |key: &str| json.get(key).and_then(Value::as_str).unwrap_or_default();
        if json
            .get("event_version")
            .and_then(Value::as_u64)
            .is_none_or(|v| v == 0)
        {
            problems.push(format!("{rel}: event_version must be a positive integer"));
        }
        if ann("aggregate_type").is_empty() {
            problems.push(format!("{rel}: aggregate_type missing"));
        }
        if !compatibility_modes().contains(&ann("compatibility")) {
            problems.push(format!(
                "{rel}: compatibility {:?} is not a mode",
                ann("compatibility")
            ));
        }
        let fields = json["fields"].as_array().unwrap();
        match fields.iter().find(|f| f["name"] == ann("aggregate_id")) {
            None => problems.push(format!(
                "{rel}: aggregate_id {:?} names no field",
                ann("aggregate_id")
            )),
            Some(f) if f["type"] != "string" && f["type"]["logicalType"] != "uuid" => problems
                .push(format!(
                    "{rel}: aggregate id field {:?} must be a string or uuid",
                    ann("aggregate_id")
                )),
            Some(_) => {}
        }
        match topics.get(ann("topic")) {
            None => problems.push(format!(
                "{rel}: topic {:?} is not in topics.toml",
                ann("topic")
            )),
            Some(events) if !events.iter().any(|e| e == name) => problems.push(format!(
                "{rel}: topics.toml does not list {name} under {}",
                ann("topic")
            )),
            Some(_) => {}
        }
        let stem = rel.rsplit('/').next().unwrap().split('.').next().unwrap();
        if stem != snake_case(name) {
            problems.push(format!(
                "{rel}: file name should be {}.avsc",
                snake_case(name)
            ));
        }
    }
    assert_no_problems("bad event annotations", problems);
}

#[test]
fn records_enums_and_fields_are_documented_and_use_known_keys() {
    let mut problems = Vec::new();
    for file in avsc_files() {
        style::check_definition(&file.rel, &file.json, true, &mut problems);
        if !file.is_event()
            && EVENT_ANNOTATIONS
                .iter()
                .any(|k| file.json.get(*k).is_some())
        {
            problems.push(format!(
                "{}: shared types carry no event annotations",
                file.rel
            ));
        }
    }
    assert_no_problems("schema style problems", problems);
}

#[test]
fn examples_have_the_json_type_of_their_field() {
    let files = avsc_files();
    let mut registry = BTreeMap::new();
    for f in &files {
        examples::collect_named(&f.json, &mut registry);
    }
    let mut problems = Vec::new();
    let mut checked = 0;
    for f in &files {
        examples::check_examples(&f.rel, &f.json, &registry, &mut problems, &mut checked);
    }
    assert_no_problems("examples that do not fit their field", problems);
    assert!(checked > 150, "only {checked} examples found");
}

#[test]
fn topics_and_services_name_known_events() {
    let mut known: BTreeSet<String> = avsc_files()
        .iter()
        .filter(|f| f.is_event())
        .map(|f| f.name().to_string())
        .collect();
    known.extend(proto::events().into_iter().map(|e| e.name));
    let mut problems = Vec::new();
    let mut listed = BTreeMap::<String, usize>::new();
    for (topic, events) in topic_events() {
        for e in events {
            if !known.contains(&e) {
                problems.push(format!("topics.toml: {topic} lists unknown event {e}"));
            }
            *listed.entry(e).or_default() += 1;
        }
    }
    for e in &known {
        if listed.get(e) != Some(&1) {
            problems.push(format!(
                "topics.toml: {e} must be listed under exactly one topic"
            ));
        }
    }
    for t in toml_file("topics.toml")["topic"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        if t["replication_factor"].as_integer() != Some(3) {
            problems.push(format!(
                "topics.toml: {name}: the brief wants replication 3"
            ));
        }
        if !["delete", "compact"].contains(&t["cleanup_policy"].as_str().unwrap_or_default()) {
            problems.push(format!(
                "topics.toml: {name}: cleanup_policy is delete or compact"
            ));
        }
    }
    let mut produced = BTreeSet::new();
    for s in toml_file("services.toml")["service"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        for list in ["produces", "consumes"] {
            for e in s[list]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap())
            {
                if !known.contains(e) {
                    problems.push(format!("services.toml: {name} {list} unknown event {e}"));
                }
                if list == "produces" {
                    produced.insert(e.to_string());
                }
            }
        }
    }
    for e in known.difference(&produced) {
        problems.push(format!("services.toml: no service produces {e}"));
    }
    assert_no_problems(
        "topic and service manifests disagree with the schemas",
        problems,
    );
}

#[path = "avsc_valid/proto.rs"]
mod proto;

#[test]
fn ai_proto_compiles_and_its_events_carry_the_carebus_options() {
    let topics = topic_events();
    let events = proto::events();
    assert_eq!(
        events.len(),
        3,
        "AnalysisRequested, AnalysisCompleted, AnalysisFailed"
    );
    let mut problems = Vec::new();
    for e in &events {
        if !topics
            .get(&e.topic)
            .is_some_and(|list| list.contains(&e.name))
        {
            problems.push(format!(
                "{}: topic {} missing from topics.toml or does not list it",
                e.name, e.topic
            ));
        }
        problems.extend(e.problems.iter().cloned());
    }
    assert_no_problems("AI events", problems);
}

#[test]
fn envelope_has_the_briefs_fields_and_every_event_names_its_patient() {
    let files = avsc_files();
    let envelope = files
        .iter()
        .find(|f| f.full_name() == "carebus.EventEnvelope")
        .expect("avro/envelope.avsc");
    let names: Vec<&str> = envelope.json["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    let brief = [
        "eventId",
        "eventType",
        "eventVersion",
        "eventTime",
        "aggregateId",
        "aggregateType",
        "tenantId",
        "correlationId",
        "causationId",
        "metadata",
        "data",
    ];
    assert_eq!(names, brief);
    // The patient is the encryption subject of PHI in the store: every event must say whose it is.
    for f in files.iter().filter(|f| f.is_event()) {
        let fields = f.json["fields"].as_array().unwrap();
        assert!(
            fields
                .iter()
                .any(|x| x["name"] == "patientId" && x["type"] == "string"),
            "{}: no patientId",
            f.rel
        );
    }
}
