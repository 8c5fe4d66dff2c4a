//! The fixture IR in, the rendered catalog checked: snapshots of representative pages, determinism, search, diffs, links and the AsyncAPI document.

use carebus_catalog::{CatalogOptions, History, Site, StepVerdict, render};
use carebus_codegen::ir::Model;
use std::path::PathBuf;

fn fixture() -> Model {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model.json");
    let text = std::fs::read_to_string(&path).expect("fixture model.json is readable");
    serde_json::from_str(&text).expect("fixture model.json is an IR model")
}

fn history() -> History {
    let mut h = History::default();
    h.insert(
        "PatientCreated",
        1,
        2,
        StepVerdict {
            compatible: true,
            mode: Some("BACKWARD_TRANSITIVE".into()),
            reasons: vec![],
        },
    );
    h.insert_revisions("PatientCreated", 1, vec!["8f3e2d1c0b0a0908".into()]);
    h.insert_revisions(
        "PatientCreated",
        2,
        vec!["00000000000000aa".into(), "0123456789abcdef".into()],
    );
    h
}

fn site() -> Site {
    render(&fixture(), &history(), &CatalogOptions::default())
}

#[test]
fn home_page_snapshot() {
    insta::assert_snapshot!("home", site().text("index.html").unwrap());
}

#[test]
fn event_page_snapshot() {
    insta::assert_snapshot!(
        "event_patient_created",
        site().text("events/PatientCreated.html").unwrap()
    );
}

#[test]
fn topic_page_snapshot() {
    insta::assert_snapshot!(
        "topic_patients",
        site()
            .text("topics/healthcare.patients.events.html")
            .unwrap()
    );
}

#[test]
fn asyncapi_snapshot() {
    insta::assert_snapshot!("asyncapi", site().text("asyncapi.json").unwrap());
}

#[test]
fn same_model_gives_identical_bytes_on_disk() {
    let model = fixture();
    let dirs: Vec<PathBuf> = (0..2)
        .map(|i| {
            std::env::temp_dir().join(format!(
                "carebus-catalog-determinism-{}-{i}",
                std::process::id()
            ))
        })
        .collect();
    for dir in &dirs {
        let _ = std::fs::remove_dir_all(dir);
        render(&model, &history(), &CatalogOptions::default())
            .write_to(dir)
            .unwrap();
    }
    let a = site();
    let mut compared = 0;
    for (path, bytes) in a.files() {
        let first = std::fs::read(dirs[0].join(path)).unwrap();
        let second = std::fs::read(dirs[1].join(path)).unwrap();
        assert_eq!(first, second, "{path} differs between two builds");
        assert_eq!(
            first, bytes,
            "{path} on disk differs from the rendered site"
        );
        compared += 1;
    }
    assert!(compared > 10, "only {compared} files were written");
    for dir in &dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn writing_refuses_a_directory_it_did_not_create() {
    let dir = std::env::temp_dir().join(format!("carebus-catalog-foreign-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("precious.txt"), "keep me").unwrap();
    let err = site().write_to(&dir).unwrap_err();
    assert!(
        err.to_string().contains("not written by carebus-catalog"),
        "{err}"
    );
    assert!(dir.join("precious.txt").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn search_index_lists_every_event_with_a_field_and_its_badge() {
    let site = site();
    let js = site.text("search-index.js").unwrap();
    let json = js
        .strip_prefix("window.CAREBUS_SEARCH_INDEX = ")
        .and_then(|s| s.trim_end().strip_suffix(';'))
        .expect("search-index.js assigns one global");
    let entries: Vec<serde_json::Value> = serde_json::from_str(json).unwrap();
    let dob: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["k"] == "field" && e["n"] == "dateOfBirth")
        .collect();
    let contexts: Vec<&str> = dob.iter().map(|e| e["c"].as_str().unwrap()).collect();
    assert_eq!(contexts, ["PatientCreated v2", "PatientCreated v1"]);
    assert!(dob.iter().all(|e| e["s"] == "phi"));
    assert_eq!(dob[0]["u"], "events/PatientCreated.html#field-dateOfBirth");
    assert_eq!(
        dob[1]["u"],
        "events/PatientCreated.v1.html#field-dateOfBirth"
    );
    // Shared types are listed once per event that uses them.
    assert!(entries.iter().any(|e| e["k"] == "type"
        && e["n"] == "ContactDetails"
        && e["u"] == "events/PatientCreated.html#type-healthcare.common.ContactDetails"));
    // Nested record fields are searchable too, pointing at their row on the event page.
    assert!(entries.iter().any(|e| e["n"] == "phone"
        && e["c"] == "PatientCreated v2 › ContactDetails"
        && e["s"] == "pii"));
}

#[test]
fn event_page_shows_diff_compatibility_example_and_rust_names() {
    let site = site();
    let page = site.text("events/PatientCreated.html").unwrap();
    assert!(page.contains(r#"id="diff-v1-v2""#));
    assert!(page.contains("contact</code></td><td><span class=\"change change-added\">added"));
    assert!(page.contains("compat-ok\">compatible"));
    assert!(
        page.contains(
            "publisher.publish_patient_created(event, PublishOptions::default()).await?;"
        )
    );
    assert!(page.contains("impl PatientsHandler for MyHandler"));
    // The example is the event's JSON form, Avro's JSON encoding: a date is its day number,
    // an optional string names its branch.
    assert!(page.contains("&quot;dateOfBirth&quot;: 7305"));
    assert!(page.contains("&quot;string&quot;: &quot;john.doe@example.com&quot;"));
    assert!(page.contains("0123456789abcdef"));
    assert!(page.contains("revision 2 of 2 in the history"));
    let old = site.text("events/PatientCreated.v1.html").unwrap();
    assert!(old.contains("PatientCreatedV1"));
    assert!(old.contains("not recorded") || !old.contains("diff-v1-v2"));
    // Without a recorded verdict the step says so instead of guessing.
    let bare = render(&fixture(), &History::default(), &CatalogOptions::default());
    assert!(
        bare.text("events/PatientCreated.html")
            .unwrap()
            .contains("not recorded")
    );
}

#[test]
fn every_link_is_relative() {
    for (path, bytes) in site().files() {
        if !path.ends_with(".html") {
            continue;
        }
        let text = std::str::from_utf8(bytes).unwrap();
        for attr in ["href=\"/", "src=\"/", "href=\"http", "src=\"http"] {
            assert!(!text.contains(attr), "{path} has an absolute link ({attr})");
        }
    }
}

#[test]
fn asyncapi_has_kafka_bindings_and_schema_formats() {
    let doc: serde_json::Value =
        serde_json::from_str(site().text("asyncapi.json").unwrap()).unwrap();
    assert_eq!(doc["asyncapi"], "3.0.0");
    let kafka = &doc["channels"]["healthcare.clinical.events"]["bindings"]["kafka"];
    assert_eq!(kafka["partitions"], 24);
    assert_eq!(kafka["replicas"], 3);
    assert_eq!(kafka["topic"], "healthcare.clinical.events");
    let messages = &doc["components"]["messages"];
    assert_eq!(
        messages["PatientCreatedV1"]["payload"]["schemaFormat"],
        "application/vnd.apache.avro+json;version=1.9.0"
    );
    assert_eq!(
        messages["PatientCreated"]["payload"]["schema"]["name"],
        "PatientCreated"
    );
    assert!(
        messages["VitalSignsRecorded"]["payload"]["schemaFormat"]
            .as_str()
            .unwrap()
            .starts_with("application/vnd.google.protobuf")
    );
    assert_eq!(
        messages["PatientCreated"]["bindings"]["kafka"]["key"]["description"],
        "aggregate id (patientId)"
    );
}

#[test]
fn protobuf_payloads_are_self_contained_proto3() {
    let doc: serde_json::Value =
        serde_json::from_str(site().text("asyncapi.json").unwrap()).unwrap();
    let proto = doc["components"]["messages"]["VitalSignsRecorded"]["payload"]["schema"]
        .as_str()
        .unwrap();
    assert!(proto.starts_with("syntax = \"proto3\";"));
    assert!(proto.contains("package healthcare.clinical;"));
    assert!(proto.contains("  uint32 heart_rate = 2;"));
    assert!(proto.contains("  map<string, string> device_labels = 4;"));
    assert!(!proto.contains("import"), "no imports: {proto}");
    assert!(!proto.contains("carebus."), "no carebus options: {proto}");
}

#[test]
fn platform_flow_links_every_producer_topic_and_consumer() {
    let site = site();
    let home = site.text("index.html").unwrap();
    let svg_start = home
        .find("<svg id=\"flow-platform\"")
        .expect("home has the platform flow");
    let svg = &home[svg_start..home[svg_start..].find("</svg>").unwrap() + svg_start];
    let model = fixture();
    for service in &model.services {
        assert!(
            svg.contains(&format!("services/{}.html", service.name)),
            "{} missing from the flow",
            service.name
        );
    }
    for topic in &model.topics {
        assert!(svg.contains(&format!("topics/{}.html", topic.name)));
    }
    // Producers: prm → patients, scheduling → appointments, clinical → clinical (3).
    // Consumers: patients → clinical, scheduling, analytics; appointments and clinical →
    // analytics (5).
    assert_eq!(svg.matches("class=\"flow-edge\"").count(), 3 + 5);
    assert!(svg.contains("<desc id=\"flow-platform-desc\">"));
    assert!(svg.contains("prm-service publishes to healthcare.patients.events."));
}

/// The Rust names the generator recorded in the IR: a handler method of its own for an old
/// version that cannot be upcast (`on_…_v1`), and keyword fields escaped (`r#type`).
#[test]
fn event_pages_show_the_generators_rust_names() {
    let v1 = r#"{"type": "record", "name": "VisitBooked", "namespace": "healthcare.visit",
        "event_version": 1, "aggregate_type": "Visit", "aggregate_id": "visitId",
        "topic": "healthcare.visits.events",
        "fields": [{"name": "visitId", "type": "string"}, {"name": "type", "type": "string"}]}"#;
    // Version 2 adds a required field without a default: version 1 cannot be upcast.
    let v2 = r#"{"type": "record", "name": "VisitBooked", "namespace": "healthcare.visit",
        "event_version": 2, "aggregate_type": "Visit", "aggregate_id": "visitId",
        "topic": "healthcare.visits.events",
        "fields": [{"name": "visitId", "type": "string"}, {"name": "type", "type": "string"},
                   {"name": "room", "type": "string"}]}"#;
    let model = carebus_codegen::load::load_avro_sources(&[
        ("avro/visit_booked.v1.avsc", v1),
        ("avro/visit_booked.avsc", v2),
    ])
    .unwrap_or_else(|d| panic!("{d}"));
    let site = render(&model, &History::default(), &CatalogOptions::default());
    let old = site.text("events/VisitBooked.v1.html").unwrap();
    assert!(
        old.contains(
            "async fn on_visit_booked_v1(&amp;self, ctx: &amp;HandlerContext, event: VisitBookedV1)"
        ),
        "{old}"
    );
    assert!(old.contains("// Fields: visit_id, r#type."), "{old}");
    let newest = site.text("events/VisitBooked.html").unwrap();
    assert!(
        newest.contains("async fn on_visit_booked(&amp;self"),
        "{newest}"
    );
    assert!(
        newest.contains("// Fields: visit_id, r#type, room."),
        "{newest}"
    );
}

/// The static Schema Registry API: one subject per record, versions in order, ids derived
/// from the fingerprints, Protobuf marked, and the files a Confluent client asks for.
#[test]
fn the_static_registry_serves_every_schema_under_its_derived_id() {
    let model = fixture();
    let registered = carebus_catalog::registry::registered(&model, &History::default());
    assert_eq!(registered.len(), model.events.len(), "one entry per schema");
    for e in &model.events {
        let r = registered
            .iter()
            .find(|r| r.fingerprint == e.fingerprint)
            .expect("every event version is registered");
        assert_eq!(r.id, carebus_core::wire::confluent_schema_id(e.fingerprint));
        assert_eq!(r.subject, e.full_name());
        let served: serde_json::Value = serde_json::from_str(
            site()
                .text(&format!("registry/schemas/ids/{}", r.id))
                .expect("served by id"),
        )
        .unwrap();
        assert_eq!(
            served.get("schemaType").is_some(),
            e.format == carebus_codegen::ir::SchemaFormat::Protobuf
        );
        let by_version: serde_json::Value = serde_json::from_str(
            site()
                .text(&format!(
                    "registry/subjects/{}/versions/{}",
                    r.subject, r.version
                ))
                .expect("served by subject version"),
        )
        .unwrap();
        assert_eq!(by_version["id"], r.id);
        assert_eq!(by_version["schema"], served["schema"]);
    }
    // Versions of one subject count from 1 in order; `latest` is the last.
    let mut subjects: std::collections::BTreeMap<&str, Vec<u32>> = Default::default();
    for r in &registered {
        subjects.entry(&r.subject).or_default().push(r.version);
    }
    for (subject, versions) in &subjects {
        assert_eq!(*versions, (1..=versions.len() as u32).collect::<Vec<_>>());
        let latest: serde_json::Value = serde_json::from_str(
            site()
                .text(&format!("registry/subjects/{subject}/versions/latest"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(latest["version"], versions.len());
    }
    let listed: Vec<String> =
        serde_json::from_str(site().text("registry/subjects/index.html").unwrap()).unwrap();
    assert_eq!(listed, subjects.keys().copied().collect::<Vec<_>>());
    // The id is the fingerprint's top 31 bits, never 0.
    assert_eq!(
        carebus_core::wire::confluent_schema_id(u64::MAX),
        0x7fff_ffff
    );
    assert_eq!(carebus_core::wire::confluent_schema_id(0), 1);
}

/// The healthcare schemas' flows (`schemas/flows.toml`): a page and an SVG file per flow, every
/// participant a lifeline linking to its service, every step an arrow labelled and linked.
#[test]
fn every_flow_has_a_page_and_a_standalone_sequence_diagram() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let model = carebus_codegen::load::load_dir(&dir).unwrap_or_else(|d| panic!("{}", d.render()));
    assert!(model.flows.len() >= 3, "{:?}", model.flows);
    let site = render(&model, &History::default(), &CatalogOptions::default());
    let home = site.text("index.html").unwrap();
    for flow in &model.flows {
        let page = site.text(&format!("flows/{}.html", flow.name)).unwrap();
        let svg = site.text(&format!("flows/{}.svg", flow.name)).unwrap();
        assert!(home.contains(&format!("href=\"flows/{}.html\"", flow.name)));
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(
            page.contains(svg.trim_end()),
            "the page shows the same diagram"
        );
        for service in flow.participants() {
            assert!(
                svg.contains(&format!("href=\"../services/{service}.html\"")),
                "{} lacks the lifeline of {service}",
                flow.name
            );
        }
        for (i, step) in flow.steps.iter().enumerate() {
            let label = carebus_catalog::sequence::step_label(i, step);
            assert!(svg.contains(&label), "{} lacks {label}", flow.name);
            // One arrowhead per receiver other than the sender.
            let arrows = step.to.iter().filter(|t| **t != step.by).count();
            assert!(arrows > 0, "{}: step {label} reaches nobody", flow.name);
        }
        let arrowheads = svg.matches("marker-end=").count();
        let receivers: usize = flow
            .steps
            .iter()
            .map(|s| s.to.iter().filter(|t| **t != s.by).count())
            .sum();
        assert_eq!(arrowheads, receivers, "{}", flow.name);
    }
}

/// The healthcare schemas' service pages show the HTTP API and configuration of `services.toml`.
#[test]
fn service_pages_list_their_http_api_and_configuration() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let model = carebus_codegen::load::load_dir(&dir).unwrap_or_else(|d| panic!("{}", d.render()));
    let site = render(&model, &History::default(), &CatalogOptions::default());
    let prm = site.text("services/prm-service.html").unwrap();
    assert!(
        prm.contains(r#"<h2 id="http-api-h">HTTP API</h2>"#),
        "{prm}"
    );
    assert!(
        prm.contains(
            r#"<tr><td><code>POST</code></td><th scope="row"><code>/patients</code></th>"#
        ),
        "the prm-service page lists POST /patients: {prm}"
    );
    assert!(prm.contains(r#"<h2 id="configuration-h">Configuration</h2>"#));
    assert!(
        prm.contains(
            r#"<tr><th scope="row"><code>CAREBUS_PRM_LISTEN</code></th><td><code>127.0.0.1:8081</code></td>"#
        ),
        "{prm}"
    );
    let realtime = site.text("services/realtime-service.html").unwrap();
    assert!(
        realtime.contains(
            r#"<tr><th scope="row"><code>CAREBUS_REALTIME_TOKEN_KEY</code></th><td><strong>required</strong></td>"#
        ),
        "a setting without a default is marked required"
    );
    let ai = site.text("services/ai-service.html").unwrap();
    assert!(ai.contains("No HTTP API besides"), "{ai}");
}
