//! Event store rows in carebus's JSON form from before Avro's JSON encoding: marked by migration 0103, read with their mark, upcast by the query endpoint and rewritten by `upgrade_json_form`, against real PostgreSQL.

use super::*;
use crate::kafka_every_event::example;
use carebus::postgres::http::upcast_legacy;
use carebus::postgres::json_form::{JsonFormUpgrade, upgrade_json_form};
use carebus::wire::JsonForm;
use carebus_codegen::ir::Model;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_in_the_old_json_form_are_marked_upcast_and_upgraded() {
    let (store, _) = fresh("ops_json_form").await;
    let model: Model = serde_json::from_str(carebus_schemas::IR_JSON).expect("IR JSON");
    let event: PatientCreated = example(&model);
    let ir = model
        .events
        .iter()
        .find(|e| e.name == "PatientCreated" && e.version == PatientCreated::EVENT_VERSION)
        .expect("PatientCreated in the IR");
    // What carebus wrote into `data_json` before Avro JSON: the schema's examples as written.
    let legacy = carebus_catalog::example::example_as_written(&model, ir);
    assert_ne!(legacy, event.to_json());
    let c = ctx("hospital-a", "json-form");
    for stream in ["Patient-new", "Patient-old", "Patient-unknown"] {
        store
            .append(
                stream,
                ExpectedVersion::Any,
                vec![NewEvent::from_event(&event, &c).unwrap()],
            )
            .await
            .unwrap();
    }
    // A writer that does not name the column (carebus before 0103, still running during a
    // rollout) gets the default: the legacy mark. Rows that existed at 0103 got it the same way.
    sqlx::query(
        "UPDATE events SET data_json = $1, data_json_form = DEFAULT \
         WHERE stream_id IN ('Patient-old', 'Patient-unknown')",
    )
    .bind(&legacy)
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query("UPDATE events SET event_type = 'NoSuchEvent' WHERE stream_id = 'Patient-unknown'")
        .execute(store.pool())
        .await
        .unwrap();

    let rows = settled(&store, 3).await;
    let row = |stream: &str| rows.iter().find(|r| r.stream_id == stream).unwrap().clone();
    assert_eq!(row("Patient-new").data_json_form, JsonForm::Avro);
    assert_eq!(row("Patient-new").data_json, Some(event.to_json()));
    let mut old = row("Patient-old");
    assert_eq!(old.data_json_form, JsonForm::Legacy, "the mark is read");
    assert_eq!(old.data_json, Some(legacy.clone()));

    // The query endpoint shows one form: the legacy row upcast with the event's schema.
    let policy = PhiPolicy::from_events(carebus_schemas::EVENTS);
    upcast_legacy(&mut old, &policy);
    assert_eq!(old.data_json_form, JsonForm::Avro);
    assert_eq!(old.data_json, Some(event.to_json()));
    let mut unknown = row("Patient-unknown");
    upcast_legacy(&mut unknown, &policy);
    assert_eq!(
        unknown.data_json_form,
        JsonForm::Legacy,
        "an unknown type stays as stored"
    );

    // The upgrade rewrites what it can, one row per batch here, and leaves the unknown type.
    let report = upgrade_json_form(&store, carebus_schemas::EVENTS, 1)
        .await
        .unwrap();
    assert_eq!(
        report,
        JsonFormUpgrade {
            upgraded: 1,
            left_legacy: 1
        }
    );
    let forms: Vec<(String, String, Value)> = sqlx::query_as(
        "SELECT stream_id, data_json_form, data_json FROM events ORDER BY stream_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(
        forms,
        vec![
            ("Patient-new".into(), "avro".into(), event.to_json()),
            ("Patient-old".into(), "avro".into(), event.to_json()),
            ("Patient-unknown".into(), "carebus-legacy".into(), legacy),
        ]
    );
    // Run again: nothing left that it can do.
    let again = upgrade_json_form(&store, carebus_schemas::EVENTS, 100)
        .await
        .unwrap();
    assert_eq!(
        again,
        JsonFormUpgrade {
            upgraded: 0,
            left_legacy: 1
        }
    );
}
