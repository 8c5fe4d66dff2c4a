//! Helpers of the event store operation tests (shared by the `it` and `disruptive` binaries): a migrated store in a fresh schema, patient events, waiting until appends settle.
#![allow(dead_code, unused_imports)]

pub use carebus::postgres::PgEventStore;
pub use carebus::postgres::compaction::{
    RetentionAction, RetentionPolicy, WithArchive, apply_retention, archive_to_snapshot,
};
pub use carebus::postgres::query::{Direction, EventQuery, GroupBy, PageCursor, query, stats};
pub use carebus::postgres::shred::{
    ERASED, Erasable, MasterKey, PhiPolicy, ShreddingStore, decode_erasable,
};
pub use carebus::postgres::tenancy::{connect_tenant, tenant_store};
pub use carebus::store::outbox_relay::OutboxRelay;
pub use carebus::store::sink::AuditSink;
pub use carebus::store::{
    CatchUp, Cursor, EventContext, EventFilter, EventStore, ExpectedVersion, HandlerSink, NewEvent,
    Snapshot, StoredEvent, Upcasters,
};
pub use carebus::transport::SubscribeConfig;
pub use carebus::{Date, Phi, Timestamp};
pub use carebus::{DomainEvent, TopicEvents};
pub use carebus_schemas::{
    AdministrativeGender, PatientCreated, PatientCreatedV1, PatientUpdated, PatientsEvent,
    Reference,
};
pub use serde_json::{Value, json};
pub use std::collections::{BTreeMap, HashMap, HashSet};
pub use std::sync::{Arc, Mutex};
pub use std::time::{Duration, Instant};
pub use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A migrated store in a new schema; returns the schema name too.
pub async fn fresh(prefix: &str) -> (PgEventStore, String) {
    let url = carebus_tests::database_url();
    let schema = carebus_tests::unique_name(prefix);
    let store = PgEventStore::connect_in_schema(&url, Some(&schema), 8)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test database: {e}"));
    // The test login is a superuser: it plays the administrator who creates carebus_tenant.
    carebus::postgres::tenancy::create_tenant_role(store.pool())
        .await
        .unwrap_or_else(|e| panic!("creating the role carebus_tenant: {e}"));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrating schema {schema}: {e}"));
    (store, schema)
}

pub fn created(id: &str) -> PatientCreated {
    let mut e = PatientCreated::from(PatientCreatedV1 {
        patient_id: id.to_string(),
        first_name: Phi::new("Jordan".to_string()),
        last_name: Phi::new("Rivera".to_string()),
        date_of_birth: Phi::new(Date::from_ymd(1980, 1, 2).unwrap()),
        email: None,
    });
    e.gender = Phi::new(AdministrativeGender::Female);
    e
}

pub fn updated(id: &str, i: u32) -> PatientUpdated {
    PatientUpdated {
        patient_id: id.to_string(),
        changed_fields: vec![format!("field{i}")],
        name: None,
        date_of_birth: None,
        gender: None,
        telecom: None,
        address: None,
        preferred_language: Some("en-US".to_string()),
        updated_by: Reference {
            r#type: "Practitioner".to_string(),
            id: "dr-1".to_string(),
            display: None,
        },
        updated_at: Timestamp::now(),
    }
}

pub fn ctx(tenant: &str, correlation: &str) -> EventContext {
    EventContext::new("PRM Service")
        .tenant(tenant)
        .correlation(correlation)
}

/// A patient's stream: one PatientCreated then `updates` PatientUpdated.
pub fn patient_events(id: &str, updates: u32, context: &EventContext) -> Vec<NewEvent> {
    let mut v = vec![NewEvent::from_event(&created(id), context).unwrap()];
    for i in 0..updates {
        v.push(NewEvent::from_event(&updated(id, i), context).unwrap());
    }
    v
}

pub async fn append_patient(
    store: &impl EventStore,
    id: &str,
    updates: u32,
    context: &EventContext,
) {
    store
        .append(
            &format!("Patient-{id}"),
            ExpectedVersion::Any,
            patient_events(id, updates, context),
        )
        .await
        .unwrap_or_else(|e| panic!("append {id}: {e}"));
}

/// Every event, once the safe cursor shows `expected` of them (it holds back rows while an
/// older transaction anywhere on the server is still running).
pub async fn settled(store: &impl EventStore, expected: usize) -> Vec<StoredEvent> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let all = store.read_all(Cursor::START, 10_000).await.unwrap();
        if all.len() == expected || Instant::now() > until {
            assert_eq!(all.len(), expected, "events visible to the safe cursor");
            return all;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn all_pages(store: &PgEventStore, mut q: EventQuery) -> Vec<i64> {
    let mut out = Vec::new();
    loop {
        let page = query(store.pool(), &q).await.unwrap();
        out.extend(page.events.iter().map(|e| e.global_position));
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => return out,
        }
    }
}
