//! Event store operations against real PostgreSQL (and Kafka for the bridges): query filters, cursor pages both ways and counts; the HTTP endpoint under hostile input; row-level security; crypto-shredding; archive + replay; outbox relay through a broker outage; the Kafka → store audit sink.
//!
//! Each test works in its own schema (`unique_name`). Needs `scripts/services up postgres`
//! (and `up kafka` for the bridge test); without them the tests fail with that command.

mod kafka_support;

use carebus::store::compaction::{
    RetentionAction, RetentionPolicy, WithArchive, apply_retention, archive_to_snapshot,
};
use carebus::store::outbox_relay::OutboxRelay;
use carebus::store::postgres::PgEventStore;
use carebus::store::query::{Direction, EventQuery, GroupBy, PageCursor, query, stats};
use carebus::store::shred::{
    ERASED, Erasable, MasterKey, PhiPolicy, ShreddingStore, decode_erasable,
};
use carebus::store::sink::AuditSink;
use carebus::store::tenancy::{connect_tenant, tenant_store};
use carebus::store::{
    CatchUp, Cursor, EventContext, EventFilter, EventStore, ExpectedVersion, HandlerSink, NewEvent,
    Snapshot, StoredEvent, Upcasters,
};
use carebus::transport::SubscribeConfig;
use carebus::{Date, Phi, Timestamp};
use carebus::{DomainEvent, TopicEvents};
use carebus_schemas::{
    AdministrativeGender, PatientCreated, PatientCreatedV1, PatientUpdated, PatientsEvent,
    Reference,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A migrated store in a new schema; returns the schema name too.
async fn fresh(prefix: &str) -> (PgEventStore, String) {
    let url = carebus_tests::database_url();
    let schema = carebus_tests::unique_name(prefix);
    let store = PgEventStore::connect_in_schema(&url, Some(&schema), 8)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test database: {e}"));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrating schema {schema}: {e}"));
    (store, schema)
}

fn created(id: &str) -> PatientCreated {
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

fn updated(id: &str, i: u32) -> PatientUpdated {
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

fn ctx(tenant: &str, correlation: &str) -> EventContext {
    EventContext::new("PRM Service")
        .tenant(tenant)
        .correlation(correlation)
}

/// A patient's stream: one PatientCreated then `updates` PatientUpdated.
fn patient_events(id: &str, updates: u32, context: &EventContext) -> Vec<NewEvent> {
    let mut v = vec![NewEvent::from_event(&created(id), context).unwrap()];
    for i in 0..updates {
        v.push(NewEvent::from_event(&updated(id, i), context).unwrap());
    }
    v
}

async fn append_patient(store: &impl EventStore, id: &str, updates: u32, context: &EventContext) {
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
async fn settled(store: &impl EventStore, expected: usize) -> Vec<StoredEvent> {
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

async fn all_pages(store: &PgEventStore, mut q: EventQuery) -> Vec<i64> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_filters_pages_both_ways_and_counts() {
    let (store, _) = fresh("ops_query").await;
    append_patient(&store, "a1", 4, &ctx("hospital-a", "corr-1")).await;
    append_patient(&store, "a2", 2, &ctx("hospital-a", "corr-2")).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let between = Timestamp::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    append_patient(&store, "b1", 3, &ctx("hospital-b", "corr-1")).await;

    let everything = settled(&store, 12).await;
    let count = |f: EventFilter| {
        let store = store.clone();
        async move {
            let q = EventQuery {
                filter: f,
                limit: 1000,
                ..EventQuery::default()
            };
            query(store.pool(), &q).await.unwrap().events
        }
    };
    let by_stream = count(EventFilter::all().stream("Patient-a1")).await;
    assert_eq!(by_stream.len(), 5);
    assert!(by_stream.iter().all(|e| e.stream_id == "Patient-a1"));
    assert_eq!(
        count(EventFilter::all().aggregate_type("Patient"))
            .await
            .len(),
        12
    );
    assert_eq!(
        count(EventFilter::all().aggregate_type("Visit"))
            .await
            .len(),
        0
    );
    let created_only = count(EventFilter::all().event_type("PatientCreated")).await;
    assert_eq!(created_only.len(), 3);
    assert_eq!(
        count(EventFilter::all().tenant("hospital-b")).await.len(),
        4
    );
    let corr = count(EventFilter::all().correlation("corr-1")).await;
    assert_eq!(corr.len(), 9);
    let late = count(EventFilter::all().recorded_between(Some(between), None)).await;
    assert_eq!(late.len(), 4);
    assert!(late.iter().all(|e| e.stream_id == "Patient-b1"));
    let early = count(EventFilter::all().recorded_between(None, Some(between))).await;
    assert_eq!(early.len(), 8);
    let combined = count(
        EventFilter::all()
            .tenant("hospital-a")
            .correlation("corr-1")
            .event_type("PatientUpdated"),
    )
    .await;
    assert_eq!(combined.len(), 4);

    // Forward pages of 5 see every event once, in position order.
    let positions: Vec<i64> = everything.iter().map(|e| e.global_position).collect();
    let mut sorted = positions.clone();
    sorted.sort();
    let q = EventQuery {
        limit: 5,
        ..EventQuery::default()
    };
    assert_eq!(all_pages(&store, q.clone()).await, sorted);

    // Backward pages (newest first) are the reverse.
    let back = EventQuery {
        limit: 5,
        direction: Direction::Backward,
        ..EventQuery::default()
    };
    let mut reversed = sorted.clone();
    reversed.reverse();
    assert_eq!(all_pages(&store, back.clone()).await, reversed);

    // Stable under concurrent appends: pages already handed out never change, and paging on
    // reaches the old events once plus the new ones.
    let first = query(store.pool(), &q).await.unwrap();
    append_patient(&store, "c1", 2, &ctx("hospital-a", "corr-3")).await;
    let rest = all_pages(
        &store,
        EventQuery {
            cursor: first.next,
            ..q.clone()
        },
    )
    .await;
    let mut seen: Vec<i64> = first.events.iter().map(|e| e.global_position).collect();
    seen.extend(rest);
    assert_eq!(seen.len(), 15, "12 old + 3 new, none twice");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 15);
    assert_eq!(&seen[..12], &sorted[..]);

    // `prev` of a forward page goes back to the page before it.
    let second = query(
        store.pool(),
        &EventQuery {
            cursor: first.next,
            ..q.clone()
        },
    )
    .await
    .unwrap();
    let before = query(
        store.pool(),
        &EventQuery {
            cursor: second.prev,
            direction: Direction::Backward,
            ..q.clone()
        },
    )
    .await
    .unwrap();
    let mut back_again: Vec<i64> = before.events.iter().map(|e| e.global_position).collect();
    back_again.reverse();
    assert_eq!(
        back_again,
        first
            .events
            .iter()
            .map(|e| e.global_position)
            .collect::<Vec<_>>()
    );
    // The opaque cursor round-trips.
    let c = second.prev.unwrap();
    assert_eq!(PageCursor::decode("after", &c.encode()).unwrap(), c);

    // Aggregations.
    let by_type = stats(store.pool(), &EventFilter::all(), GroupBy::EventType, false)
        .await
        .unwrap();
    let m: BTreeMap<_, _> = by_type
        .iter()
        .map(|g| (g.key.clone().unwrap(), g.count))
        .collect();
    assert_eq!(m["PatientCreated"], 4);
    assert_eq!(m["PatientUpdated"], 11);
    let by_tenant = stats(store.pool(), &EventFilter::all(), GroupBy::Tenant, false)
        .await
        .unwrap();
    let m: BTreeMap<_, _> = by_tenant
        .iter()
        .map(|g| (g.key.clone().unwrap(), g.count))
        .collect();
    assert_eq!(m["hospital-a"], 11);
    assert_eq!(m["hospital-b"], 4);
    let by_day = stats(
        store.pool(),
        &EventFilter::all().tenant("hospital-b"),
        GroupBy::Day,
        false,
    )
    .await
    .unwrap();
    let today = Timestamp::now().to_string()[..10].to_string();
    let total: u64 = by_day.iter().map(|g| g.count).sum();
    assert_eq!(total, 4);
    assert!(
        by_day
            .iter()
            .any(|g| g.key.as_deref() == Some(today.as_str())),
        "{by_day:?} has today ({today})"
    );
}

/// GET `target` (raw bytes after the method) on the server; returns status and JSON body.
async fn http_get(addr: std::net::SocketAddr, target: &[u8]) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = b"GET ".to_vec();
    req.extend_from_slice(target);
    req.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(&req).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoint_serves_pages_and_stats_and_refuses_hostile_input() {
    let (store, _) = fresh("ops_http").await;
    append_patient(&store, "h1", 3, &ctx("hospital-a", "corr-h")).await;
    append_patient(&store, "h2", 1, &ctx("hospital-b", "corr-h")).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(carebus::store::http::serve(
        listener,
        store.pool().clone(),
        async move {
            let _ = stop_rx.await;
        },
    ));

    let (status, body) = http_get(addr, b"/events?limit=2&tenant=hospital-a").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"].as_array().unwrap().len(), 2);
    assert_eq!(body["events"][0]["streamId"], "Patient-h1");
    assert_eq!(body["events"][0]["data"]["patientId"], "h1");
    let next = body["next"].as_str().unwrap().to_string();
    let (status, body) = http_get(
        addr,
        format!("/events?limit=2&tenant=hospital-a&after={next}").as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["events"].as_array().unwrap().len(), 2);
    assert!(body["next"].is_null(), "4 events, 2 pages");
    let (status, body) = http_get(addr, b"/events?order=desc&limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(body["events"][0]["streamId"], "Patient-h2");
    let (status, body) = http_get(addr, b"/events/stats?group_by=tenant").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["groups"],
        json!([{"key": "hospital-a", "count": 4}, {"key": "hospital-b", "count": 2}])
    );
    let (status, body) = http_get(
        addr,
        b"/events/stats?group_by=type&event_type=PatientCreated",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["groups"],
        json!([{"key": "PatientCreated", "count": 2}])
    );

    // Hostile but well-formed values are plain data: no match, no effect.
    for target in [
        &b"/events?stream=%27%20OR%201%3D1%20--"[..],
        b"/events?tenant=x%27%3B%20DROP%20TABLE%20events%3B%20--",
        b"/events?event_type=PatientCreated%27)%20OR%20(%271%27%3D%271",
        b"/events?correlation_id=%5C%27%3B%20SELECT%20pg_sleep(10)%3B",
        b"/events?aggregate_type=Patient%22%20UNION%20SELECT%201",
    ] {
        let (status, body) = http_get(addr, target).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(target));
        assert_eq!(
            body["events"],
            json!([]),
            "{}",
            String::from_utf8_lossy(target)
        );
    }
    // Malformed values are refused with 400 and a message naming the parameter.
    for (target, param) in [
        (&b"/events?limit=999999999999999999999999999"[..], "limit"),
        (b"/events?limit=0", "limit"),
        (b"/events?limit=-5", "limit"),
        (b"/events?limit=1001", "limit"),
        (b"/events?from=99999999999999999", "from"),
        (b"/events?from=2024-13-45T99:00:00Z", "from"),
        (b"/events?until=%27%3B--", "until"),
        (b"/events?after=not-a-cursor", "after"),
        (b"/events?after=__________8", "after"),
        (
            b"/events?before=%2F%2F%2F%2F%2F%2F%2F%2F%2F%2F%2F",
            "before",
        ),
        (b"/events?stream=%FF%FE", "stream"),
        (b"/events?tenant=a%00b", "tenant"),
        (b"/events?stream=%zz", "stream"),
        (b"/events?stream=", "stream"),
        (b"/events?stream=a&stream=b", "stream"),
        (b"/events?where=1", "where"),
        (b"/events?include_archived=yes", "include_archived"),
        (b"/events/stats?group_by=event_type%3B", "group_by"),
        (b"/events/stats", "group_by"),
    ] {
        let (status, body) = http_get(addr, target).await;
        let shown = String::from_utf8_lossy(target);
        assert_eq!(status, 400, "{shown}: {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains(param), "{shown}: {message}");
    }
    let long = format!("/events?stream={}", "x".repeat(600));
    assert_eq!(http_get(addr, long.as_bytes()).await.0, 400);
    // Raw invalid UTF-8 in the request target never reaches a query.
    let (status, _) = http_get(addr, b"/events?stream=\xff\xfe").await;
    assert_eq!(status, 400);

    // Nothing was dropped or changed.
    settled(&store, 6).await;
    stop_tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_level_security_isolates_tenants_whatever_the_query() {
    let (admin, schema) = fresh("ops_rls").await;
    append_patient(&admin, "ta", 2, &ctx("tenant-a", "c")).await;
    append_patient(&admin, "tb", 3, &ctx("tenant-b", "c")).await;
    let url = carebus_tests::database_url();
    let pool_a = connect_tenant(&url, Some(&schema), "tenant-a", 2)
        .await
        .unwrap();
    let scalar = |sql: &'static str| {
        let pool = pool_a.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        }
    };
    assert_eq!(scalar("SELECT count(*) FROM events").await, 3);
    assert_eq!(
        scalar("SELECT count(*) FROM events WHERE tenant_id = 'tenant-b'").await,
        0
    );
    assert_eq!(
        scalar("SELECT count(*) FROM events WHERE true OR tenant_id <> 'x'").await,
        3
    );
    assert_eq!(scalar("SELECT count(*) FROM streams").await, 1);
    assert_eq!(
        scalar("SELECT count(*) FROM (SELECT * FROM events UNION ALL SELECT * FROM events) u")
            .await,
        6
    );
    assert_eq!(
        scalar("SELECT count(*) FROM events e JOIN streams s USING (stream_id) WHERE s.tenant_id = 'tenant-b'").await,
        0
    );
    let updated = sqlx::query("UPDATE events SET data_json = NULL WHERE tenant_id = 'tenant-b'")
        .execute(&pool_a)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 0);
    // Moving its own row to another tenant is refused by the policy's check.
    let moved =
        sqlx::query("UPDATE events SET tenant_id = 'tenant-b' WHERE tenant_id = 'tenant-a'")
            .execute(&pool_a)
            .await;
    assert!(moved.is_err(), "an update into another tenant must fail");
    assert!(
        sqlx::query("DELETE FROM events")
            .execute(&pool_a)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("SELECT * FROM subject_keys")
            .fetch_all(&pool_a)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("SELECT * FROM checkpoints")
            .fetch_all(&pool_a)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("TRUNCATE events")
            .execute(&pool_a)
            .await
            .is_err()
    );
    let forged = sqlx::query(
        "INSERT INTO events (event_id, stream_id, stream_version, aggregate_type, event_type, \
         event_version, data_format, data, tenant_id, event_time) \
         VALUES (gen_random_uuid(), 'Patient-tb', 99, 'Patient', 'X', 1, 'avro', '\\x00', 'tenant-b', now())",
    )
    .execute(&pool_a)
    .await;
    assert!(forged.is_err(), "writing a row of another tenant must fail");

    // The store API on a tenant pool: reads see only the tenant, appends for others fail.
    let store_a = tenant_store(&url, Some(&schema), "tenant-a", 2)
        .await
        .unwrap();
    let seen = settled(&store_a, 3).await;
    assert!(
        seen.iter()
            .all(|e| e.context.tenant_id.as_deref() == Some("tenant-a"))
    );
    assert!(
        store_a
            .read_stream("Patient-tb", 1, 100)
            .await
            .unwrap()
            .is_empty()
    );
    append_patient(&store_a, "ta2", 0, &ctx("tenant-a", "c")).await;
    let other = store_a
        .append(
            "Patient-tb2",
            ExpectedVersion::Any,
            patient_events("tb2", 0, &ctx("tenant-b", "c")),
        )
        .await;
    assert!(
        other.is_err(),
        "a tenant-a connection cannot append tenant-b events"
    );
    // Appending to another tenant's existing stream cannot move its version either.
    let hijack = store_a
        .append(
            "Patient-tb",
            ExpectedVersion::Exact(4),
            patient_events("tb", 0, &ctx("tenant-a", "c")),
        )
        .await;
    assert!(hijack.is_err());
    let page = query(
        store_a.pool(),
        &EventQuery {
            filter: EventFilter::all().tenant("tenant-b"),
            ..EventQuery::default()
        },
    )
    .await
    .unwrap();
    assert!(page.events.is_empty());
    let groups = stats(store_a.pool(), &EventFilter::all(), GroupBy::Tenant, true)
        .await
        .unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].key.as_deref(), Some("tenant-a"));
    assert_eq!(groups[0].count, 4);
    // The admin still sees both, unchanged.
    settled(&admin, 8).await;
    assert_eq!(admin.stream_version("Patient-tb").await.unwrap(), Some(4));
}

fn policy() -> PhiPolicy {
    PhiPolicy::from_events(carebus_schemas::EVENTS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crypto_shredding_erases_phi_and_keeps_the_events() {
    let (store, _) = fresh("ops_shred").await;
    let shred = ShreddingStore::new(
        store.clone(),
        store.pool().clone(),
        MasterKey::generate(),
        policy(),
    );
    let c = ctx("hospital-a", "c");
    append_patient(&shred, "p1", 1, &c).await;
    append_patient(&shred, "p2", 0, &c).await;
    store
        .save_snapshot(Snapshot {
            stream_id: "Patient-p1".into(),
            version: 2,
            state_version: 1,
            aggregate_type: "Patient".into(),
            tenant_id: Some("hospital-a".into()),
            data: json!({"name": "Jordan Rivera"}),
            created_at: Timestamp::now(),
        })
        .await
        .unwrap();

    // No plaintext PHI in the table.
    let raw: Vec<(Vec<u8>, Option<Value>)> =
        sqlx::query_as("SELECT data, data_json FROM events WHERE event_type = 'PatientCreated'")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(raw.len(), 2);
    for (data, json) in &raw {
        assert!(
            !data.windows(6).any(|w| w == b"Jordan"),
            "binary payload is encrypted"
        );
        let json = json.as_ref().unwrap();
        assert!(json["firstName"].get("$phi").is_some(), "{json}");
        assert!(!json.to_string().contains("Jordan"));
        assert!(json["patientId"].is_string(), "non-PHI fields stay plain");
    }

    // Through the decorator, events decode as written.
    let upcasters = Upcasters::new();
    let p1 = shred.read_stream("Patient-p1", 1, 10).await.unwrap();
    assert_eq!(p1.len(), 2);
    match decode_erasable::<PatientsEvent>(&p1[0], &upcasters).unwrap() {
        Erasable::Intact(PatientsEvent::PatientCreated(e)) => assert_eq!(e, created("p1")),
        other => panic!("expected the intact event, got {other:?}"),
    }
    assert_eq!(p1[0].data_json.as_ref().unwrap()["firstName"], "Jordan");

    // Erase p1: its events stay, PHI shows as erased; p2 is untouched.
    assert!(shred.erase("p1").await.unwrap());
    let p1 = shred.read_stream("Patient-p1", 1, 10).await.unwrap();
    assert_eq!(p1.len(), 2, "the events are still there");
    match decode_erasable::<PatientsEvent>(&p1[0], &upcasters).unwrap() {
        Erasable::Erased { event_type, json } => {
            assert_eq!(event_type, "PatientCreated");
            let json = json.unwrap();
            for path in PatientCreated::PHI_FIELDS {
                let v = &json[*path];
                assert!(v == ERASED || v.is_null(), "{path}: {v}");
            }
            assert_eq!(json["firstName"], ERASED);
            assert_eq!(json["patientId"], "p1");
        }
        other => panic!("expected the erased marker, got {other:?}"),
    }
    let p2 = shred.read_stream("Patient-p2", 1, 10).await.unwrap();
    assert!(matches!(
        decode_erasable::<PatientsEvent>(&p2[0], &upcasters).unwrap(),
        Erasable::Intact(PatientsEvent::PatientCreated(_))
    ));
    // The whole log replays; the erased subject's snapshot is gone; it takes no new PHI.
    settled(&shred, 3).await;
    assert!(store.latest_snapshot("Patient-p1").await.unwrap().is_none());
    let again = shred
        .append(
            "Patient-p1",
            ExpectedVersion::Any,
            vec![NewEvent::from_event(&created("p1"), &c).unwrap()],
        )
        .await;
    assert!(again.is_err());
    assert!(!shred.erase("p1").await.unwrap(), "already erased");
    // A decorator with another master key cannot read the keys.
    let wrong = ShreddingStore::new(
        store.clone(),
        store.pool().clone(),
        MasterKey::generate(),
        policy(),
    );
    assert!(wrong.read_stream("Patient-p2", 1, 10).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_then_replay_includes_archived_rows_and_retention_applies() {
    let (store, _) = fresh("ops_archive").await;
    let c = ctx("hospital-a", "c");
    append_patient(&store, "r1", 9, &c).await;
    append_patient(&store, "r2", 2, &c).await;
    store
        .save_snapshot(Snapshot {
            stream_id: "Patient-r1".into(),
            version: 6,
            state_version: 3,
            aggregate_type: "Patient".into(),
            tenant_id: Some("hospital-a".into()),
            data: json!({"updates": 5}),
            created_at: Timestamp::now(),
        })
        .await
        .unwrap();
    assert_eq!(
        archive_to_snapshot(&store, "Patient-r1", 2).await.unwrap(),
        0,
        "other shape"
    );
    assert_eq!(
        archive_to_snapshot(&store, "Patient-r1", 3).await.unwrap(),
        6
    );

    let live = store.read_stream("Patient-r1", 1, 100).await.unwrap();
    assert_eq!(
        live.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![7, 8, 9, 10]
    );
    let archived: i64 = sqlx::query_scalar("SELECT count(*) FROM events_archive")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(archived, 6);
    let with = WithArchive::new(store.clone());
    let full = with.read_stream("Patient-r1", 1, 100).await.unwrap();
    assert_eq!(
        full.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );

    let lean = WithArchive::new(store.clone()).binary_only();
    let lean_events = lean.read_stream("Patient-r1", 1, 100).await.unwrap();
    assert_eq!(lean_events.len(), 10);
    assert!(lean_events.iter().all(|e| e.data_json.is_none()));
    assert_eq!(
        lean_events.iter().map(|e| &e.data).collect::<Vec<_>>(),
        full.iter().map(|e| &e.data).collect::<Vec<_>>()
    );
    // A replay through the archive view sees every event in the original order.
    let replayed = Arc::new(Mutex::new(Vec::new()));
    let sink_seen = replayed.clone();
    let mut sink = HandlerSink::new(with.clone(), "replay-all", move |e: &StoredEvent| {
        sink_seen.lock().unwrap().push(e.global_position);
        Ok(())
    });
    let progress = CatchUp::new(with.clone())
        .batch_size(4)
        .run_to_end(&mut sink, |_| {})
        .await
        .unwrap();
    assert_eq!(progress.done, 13);
    let mut original: Vec<i64> = full.iter().map(|e| e.global_position).collect();
    original.extend(
        with.read_stream("Patient-r2", 1, 100)
            .await
            .unwrap()
            .iter()
            .map(|e| e.global_position),
    );
    original.sort();
    assert_eq!(*replayed.lock().unwrap(), original);
    // Without the view, a replay sees the live log only.
    let mut n = 0;
    let mut plain = HandlerSink::new(store.clone(), "replay-live", |_: &StoredEvent| {
        n += 1;
        Ok(())
    });
    CatchUp::new(store.clone())
        .run_to_end(&mut plain, |_| {})
        .await
        .unwrap();
    drop(plain);
    assert_eq!(n, 7);
    // The query API includes archived rows on request.
    let q = EventQuery {
        filter: EventFilter::all().stream("Patient-r1"),
        include_archived: true,
        ..EventQuery::default()
    };
    assert_eq!(query(store.pool(), &q).await.unwrap().events.len(), 10);

    // Retention: Patient events older than a day, seen from two days ahead, are deleted
    // (live and archived); a type without a rule is kept.
    let later = Timestamp(Timestamp::now().0 + 2 * 86_400 * 1_000_000);
    let report = apply_retention(
        &store,
        &RetentionPolicy::default()
            .rule("Patient", 1, RetentionAction::Delete)
            .rule("Visit", 1, RetentionAction::Archive),
        later,
    )
    .await
    .unwrap();
    assert_eq!(report["Patient"], (0, 13));
    assert_eq!(report["Visit"], (0, 0));
    assert_eq!(with.read_all(Cursor::START, 100).await.unwrap().len(), 0);
    // Archive retention moves rather than deletes.
    append_patient(&store, "r3", 1, &c).await;
    let report = apply_retention(
        &store,
        &RetentionPolicy::default().rule("Patient", 1, RetentionAction::Archive),
        later,
    )
    .await
    .unwrap();
    assert_eq!(report["Patient"], (2, 0));
    assert_eq!(store.read_all(Cursor::START, 100).await.unwrap().len(), 0);
    settled(&with, 2).await;
}

/// Events of `streams` patients with their topic set to `topic`.
fn topic_events(id: &str, updates: u32, topic: &str) -> Vec<NewEvent> {
    patient_events(id, updates, &ctx("hospital-a", "relay"))
        .into_iter()
        .map(|mut e| {
            e.topic = topic.to_string();
            e
        })
        .collect()
}

async fn wait_for_checkpoint(store: &PgEventStore, name: &str, target: Cursor, within: Duration) {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if store
            .checkpoint(name)
            .await
            .unwrap()
            .is_some_and(|c| c >= target)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("relay checkpoint did not reach {target} within {within:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outbox_relay_survives_a_broker_outage_and_the_audit_sink_archives_idempotently() {
    let bootstrap = carebus_tests::kafka_bootstrap();
    let (store, _) = fresh("ops_relay").await;
    let topic = carebus_tests::unique_name("store_ops_relay");
    kafka_support::create_topic(&bootstrap, &topic, 3, 1).await;
    let streams = ["o1", "o2", "o3", "o4"];
    for s in streams {
        store
            .append(
                &format!("Patient-{s}"),
                ExpectedVersion::Any,
                topic_events(s, 13, &topic),
            )
            .await
            .unwrap();
    }
    let transport = Arc::new(kafka_support::transport(&bootstrap));
    let relay_store = store.clone();
    let relay_transport = transport.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let relay = tokio::spawn(async move {
        OutboxRelay::new(relay_store, relay_transport, "relay-test")
            .batch_size(10)
            .max_backoff(Duration::from_millis(500))
            .run(async move {
                let _ = stop_rx.await;
            })
            .await
    });
    let first = settled(&store, 56).await;
    wait_for_checkpoint(
        &store,
        "relay-test",
        first[9].cursor(),
        Duration::from_secs(60),
    )
    .await;

    // Broker down mid-relay; more events are appended meanwhile; broker back within seconds.
    carebus_tests::services(&["stop", "kafka"]).expect("stopping kafka");
    let outage = Instant::now();
    for s in streams {
        store
            .append(
                &format!("Patient-{s}"),
                ExpectedVersion::Any,
                topic_events(s, 4, &topic)[1..].to_vec(),
            )
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = carebus_tests::services(&["start", "kafka"]);
    assert!(
        outage.elapsed() < Duration::from_secs(30),
        "outage took {:?}",
        outage.elapsed()
    );
    started.expect("starting kafka");
    let all = settled(&store, 72).await;
    wait_for_checkpoint(
        &store,
        "relay-test",
        all.last().unwrap().cursor(),
        Duration::from_secs(120),
    )
    .await;
    stop_tx.send(()).unwrap();
    let stats = relay.await.unwrap().unwrap();
    assert!(stats.relayed >= 62, "{stats:?}");
    // A new run resumes from the checkpoint: nothing left to send.
    let again = OutboxRelay::new(store.clone(), transport.clone(), "relay-test")
        .run_until_idle()
        .await
        .unwrap();
    assert_eq!(again.relayed, 0, "{again:?}");
    assert_eq!(again.cursor, all.last().unwrap().cursor());

    // Consume everything: nothing lost, per-stream order kept (first occurrences in order).
    let consumer = kafka_support::subscribe(
        &transport,
        &carebus_tests::unique_name("relay_check"),
        &topic,
    )
    .await;
    let version_of: HashMap<String, (String, u64)> = all
        .iter()
        .map(|e| {
            (
                e.event_id.to_string(),
                (e.stream_id.clone(), e.stream_version),
            )
        })
        .collect();
    let mut firsts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut seen = HashSet::new();
    let until = Instant::now() + Duration::from_secs(60);
    while seen.len() < all.len() && Instant::now() < until {
        let batch = kafka_support::consume(&consumer, 1, false, Duration::from_secs(2)).await;
        for r in batch {
            let id = carebus::transport::header_str(&r.headers, "ce_id")
                .unwrap()
                .to_string();
            let (stream, version) = version_of[&id].clone();
            assert_eq!(
                r.key.as_deref(),
                Some(stream.trim_start_matches("Patient-").as_bytes())
            );
            if seen.insert(id) {
                firsts.entry(stream).or_default().push(version);
            }
        }
    }
    assert_eq!(seen.len(), 72, "every appended event reached the topic");
    for (stream, versions) in &firsts {
        assert_eq!(
            *versions,
            (1..=18).collect::<Vec<u64>>(),
            "order of {stream}"
        );
    }

    // The audit sink archives the topic into another store, once per event id.
    let (audit, _) = fresh("ops_audit").await;
    for round in 0..2 {
        let group = carebus_tests::unique_name("audit");
        let sink = AuditSink::new(
            audit.clone(),
            transport.clone(),
            SubscribeConfig::new(group, &[topic.as_str()]),
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let audit_check = audit.clone();
        let watcher = tokio::spawn(async move {
            let until = Instant::now() + Duration::from_secs(60);
            let mut last_change = Instant::now();
            let mut last = 0;
            while Instant::now() < until {
                let n = audit_check
                    .count(&EventFilter::all(), Cursor::START)
                    .await
                    .unwrap();
                if n != last {
                    last = n;
                    last_change = Instant::now();
                }
                if n >= 72 && last_change.elapsed() > Duration::from_secs(3) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let _ = tx.send(());
        });
        let sink_stats = if round == 0 {
            sink.run(async move {
                let _ = rx.await;
            })
            .await
            .unwrap()
        } else {
            // Second group re-reads the whole topic: every record is a duplicate.
            let r = sink
                .run(tokio::time::sleep(Duration::from_secs(15)))
                .await
                .unwrap();
            drop(rx);
            r
        };
        watcher.abort();
        if round == 0 {
            assert_eq!(sink_stats.stored, 72, "{sink_stats:?}");
        } else {
            assert_eq!(sink_stats.stored, 0, "{sink_stats:?}");
            assert!(sink_stats.duplicates >= 72, "{sink_stats:?}");
        }
        assert_eq!(sink_stats.rejected, 0);
        let stored = settled(&audit, 72).await;
        let ids: HashSet<_> = stored.iter().map(|e| e.event_id.to_string()).collect();
        assert_eq!(ids, version_of.keys().cloned().collect());
        // The archived payloads decode as the events that were appended.
        let original: HashMap<_, _> = all.iter().map(|e| (e.event_id, e.data.clone())).collect();
        for e in &stored {
            assert_eq!(e.data, original[&e.event_id]);
            PatientsEvent::decode(&e.event_type, e.event_version, &e.data).unwrap();
        }
    }
}
