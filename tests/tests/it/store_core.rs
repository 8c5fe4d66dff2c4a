//! The PostgreSQL event store core against a real server: concurrent writers, out-of-order commits under a live subscriber, snapshots, upcasting, idempotent appends, conflicts, resumable replay, inline projections.
//!
//! Each test gets its own schema (`unique_name`), so tests run in parallel without sharing
//! rows. Needs `scripts/services up postgres`; without it every test fails with that command.

use carebus::TopicEvents;
use carebus::postgres::{PgEventStore, Projection, ProjectionSink, rebuild};
use carebus::store::{
    CatchUp, Cursor, EventFilter, EventStore, ExpectedVersion, HandlerSink, NewEvent, Repository,
    SnapshotPolicy, StoreError, StoredEvent, Upcasters, decode_stored,
};
use carebus_schemas::{PatientCreated, PatientsEvent};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
use crate::store_support::{PatientFile, context, created, created_v1, fresh_store, updated};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_writers_one_winner_per_version_and_no_gaps() {
    let store = fresh_store("writers").await;
    let stream = "Patient-race";

    // Round 1: all 16 create the stream at once; exactly one may.
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..16 {
        let store = store.clone();
        tasks.spawn(async move {
            let e = NewEvent::from_event(&created(&format!("race-{w}")), &context()).unwrap();
            store
                .append(stream, ExpectedVersion::NoStream, vec![e])
                .await
        });
    }
    let mut wins = 0;
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok(a) => {
                wins += 1;
                assert_eq!(a.stream_version, 1);
            }
            Err(StoreError::Conflict { actual, .. }) => assert_eq!(actual, Some(1)),
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(wins, 1, "exactly one writer creates the stream");

    // Round 2: each writer appends 5 events at the version it read, retrying on conflict.
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..16 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut conflicts = 0u32;
            let mut mine = Vec::new();
            while mine.len() < 5 {
                let v = store.stream_version(stream).await.unwrap().unwrap();
                let e = NewEvent::from_event(&updated("race", w), &context()).unwrap();
                let id = e.event_id;
                match store
                    .append(stream, ExpectedVersion::Exact(v), vec![e])
                    .await
                {
                    Ok(a) => {
                        assert_eq!(a.stream_version, v + 1, "appended right after {v}");
                        mine.push((v + 1, id));
                    }
                    Err(StoreError::Conflict { .. }) => conflicts += 1,
                    Err(other) => panic!("unexpected error: {other}"),
                }
            }
            (mine, conflicts)
        });
    }
    let mut won: HashMap<u64, carebus::Uuid> = HashMap::new();
    while let Some(r) = tasks.join_next().await {
        let (mine, _conflicts) = r.unwrap();
        for (version, id) in mine {
            assert!(
                won.insert(version, id).is_none(),
                "version {version} won twice"
            );
        }
    }
    let events = store.read_stream(stream, 1, 1000).await.unwrap();
    let versions: Vec<u64> = events.iter().map(|e| e.stream_version).collect();
    assert_eq!(
        versions,
        (1..=81).collect::<Vec<u64>>(),
        "no gaps, no duplicates"
    );
    for e in &events[1..] {
        assert_eq!(
            won[&e.stream_version], e.event_id,
            "the winner's event is stored"
        );
    }
    assert_eq!(store.stream_version(stream).await.unwrap(), Some(81));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_subscriber_misses_nothing_when_transactions_commit_out_of_order() {
    let store = fresh_store("out_of_order").await;
    let seen: Arc<Mutex<Vec<carebus::Uuid>>> = Arc::default();
    let sink_seen = seen.clone();
    let mut sink = HandlerSink::new(store.clone(), "audit", move |e: &StoredEvent| {
        sink_seen.lock().unwrap().push(e.event_id);
        Ok(())
    });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sub_store = store.clone();
    let subscriber = tokio::spawn(async move {
        CatchUp::new(sub_store)
            .batch_size(7)
            .poll_interval(Duration::from_millis(5))
            .run_live(&mut sink, async {
                let _ = stop_rx.await;
            })
            .await
    });

    let mut expected = BTreeSet::new();
    let mut out_of_order = 0;
    for round in 0..10 {
        // Hold a transaction open with a low position...
        let mut held = store.pool().begin().await.unwrap();
        let e = NewEvent::from_event(&created(&format!("held-{round}")), &context()).unwrap();
        expected.insert(e.event_id);
        let held_result = store
            .append_in(
                &mut held,
                &format!("Patient-held-{round}"),
                ExpectedVersion::Any,
                vec![e],
            )
            .await
            .unwrap();
        // ...while later ones (higher positions) commit first.
        let mut later_positions = Vec::new();
        for i in 0..5 {
            let e =
                NewEvent::from_event(&created(&format!("late-{round}-{i}")), &context()).unwrap();
            expected.insert(e.event_id);
            let r = store
                .append(
                    &format!("Patient-late-{round}-{i}"),
                    ExpectedVersion::Any,
                    vec![e],
                )
                .await
                .unwrap();
            later_positions.push(r.events[0].cursor.position);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let held_position = held_result.events[0].cursor.position;
        if later_positions.iter().all(|p| *p > held_position) {
            out_of_order += 1;
        }
        held.commit().await.unwrap();
    }
    assert_eq!(out_of_order, 10, "the setup commits higher positions first");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().len() < expected.len() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_tx.send(()).unwrap();
    subscriber.await.unwrap().unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), expected.len(), "every event exactly once");
    assert_eq!(seen.iter().copied().collect::<BTreeSet<_>>(), expected);
    let checkpoint = store.checkpoint("audit").await.unwrap().unwrap();
    assert!(checkpoint > Cursor::START);
}

#[tokio::test]
async fn snapshot_plus_tail_equals_full_replay_and_outdated_shapes_are_rebuilt() {
    let store = fresh_store("snapshots").await;
    let repo: Repository<PgEventStore, PatientFile> =
        Repository::new(store.clone(), crate::store_support::upcasters())
            .with_snapshots(SnapshotPolicy::every(10).keep(2));
    repo.execute("p1", &context(), |_| {
        Ok::<_, String>(vec![PatientsEvent::from(created("p1"))])
    })
    .await
    .unwrap();
    for i in 0..24 {
        repo.execute("p1", &context(), |state: &PatientFile| {
            if !state.registered {
                return Err("not registered".to_string());
            }
            Ok(vec![PatientsEvent::from(updated("p1", i))])
        })
        .await
        .unwrap();
    }
    let loaded = repo.load("p1").await.unwrap();
    assert_eq!(loaded.version, 25);
    assert_eq!(
        loaded.from_snapshot,
        Some(20),
        "snapshot at 20, then 5 events"
    );
    let full = repo.load_from_events("p1").await.unwrap();
    assert_eq!(loaded.state, full.state);
    assert_eq!(full.state.updates, 24);

    // Only the newest 2 snapshots are kept.
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM snapshots WHERE stream_id = 'Patient-p1'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(count, 2);

    // A snapshot of an older shape is ignored and replaced.
    let mut old = store.latest_snapshot("Patient-p1").await.unwrap().unwrap();
    old.version = 25;
    old.state_version = 0;
    old.data = carebus::__private::serde_json::json!({"shape": "from an older release"});
    store.save_snapshot(old).await.unwrap();
    let reloaded = repo.load("p1").await.unwrap();
    assert_eq!(reloaded.from_snapshot, None, "outdated shape not used");
    assert_eq!(reloaded.state, full.state);
    let rebuilt = store.latest_snapshot("Patient-p1").await.unwrap().unwrap();
    assert_eq!((rebuilt.version, rebuilt.state_version), (25, 1));
    assert_eq!(repo.load("p1").await.unwrap().from_snapshot, Some(25));

    // A command refusal appends nothing.
    let refused = repo
        .execute("p2", &context(), |state: &PatientFile| {
            if state.registered {
                Ok(vec![])
            } else {
                Err("patient p2 is not registered".to_string())
            }
        })
        .await;
    assert!(refused.is_err());
    assert_eq!(store.stream_version("Patient-p2").await.unwrap(), None);
}

#[tokio::test]
async fn patient_created_v1_is_read_as_v2() {
    let store = fresh_store("upcast").await;
    let v1 = created_v1("old-1");
    let e = NewEvent::from_event(&v1, &context()).unwrap();
    store
        .append("Patient-old-1", ExpectedVersion::NoStream, vec![e])
        .await
        .unwrap();
    let stored = store.read_stream("Patient-old-1", 1, 10).await.unwrap();
    assert_eq!(
        (stored[0].event_type.as_str(), stored[0].event_version),
        ("PatientCreated", 1)
    );

    assert_eq!(
        stored[0]
            .data_json
            .as_ref()
            .and_then(|j| j.get("patientId")),
        Some(&carebus::__private::serde_json::json!("old-1"))
    );
    // A lean store skips the JSON form; typed decoding only needs the binary payload.
    let lean = store.clone().without_json_on_read();
    let lean_rows = lean.read_stream("Patient-old-1", 1, 10).await.unwrap();
    assert_eq!(lean_rows[0].data_json, None);
    assert_eq!(lean_rows[0].data, stored[0].data);
    assert_eq!(lean_rows[0].context, stored[0].context);
    let as_written: PatientsEvent = decode_stored(&stored[0], &Upcasters::new()).unwrap();
    assert!(matches!(as_written, PatientsEvent::PatientCreatedV1(_)));

    let upcasters = crate::store_support::upcasters();
    assert!(upcasters.missing(PatientsEvent::EVENTS).is_empty());
    assert_eq!(
        Upcasters::new().missing(PatientsEvent::EVENTS),
        vec![("PatientCreated".to_string(), 1)]
    );
    let current: PatientsEvent = decode_stored(&stored[0], &upcasters).unwrap();
    let PatientsEvent::PatientCreated(v2) = current else {
        panic!("expected PatientCreated v2, got {current:?}");
    };
    assert_eq!(v2, PatientCreated::from(v1.clone()));
    assert_eq!(v2.first_name.expose(), v1.first_name.expose());
    assert_eq!(
        *v2.gender.expose(),
        carebus_schemas::AdministrativeGender::Unknown
    );
}

#[tokio::test]
async fn appending_a_stored_event_id_again_is_a_no_op() {
    let store = fresh_store("idempotent").await;
    let batch: Vec<NewEvent> = (0..3)
        .map(|i| NewEvent::from_event(&updated("idem", i), &context()).unwrap())
        .collect();
    let first = store
        .append("Patient-idem", ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap();
    assert_eq!((first.stream_version, first.duplicates), (3, 0));

    // The retried batch (even with its now stale expected version) returns the same positions.
    let retry = store
        .append("Patient-idem", ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap();
    assert_eq!(retry.events, first.events);
    assert_eq!((retry.stream_version, retry.duplicates), (3, 3));

    // A batch mixing a stored id and a new one appends only the new one.
    let new = NewEvent::from_event(&updated("idem", 9), &context()).unwrap();
    let mixed = store
        .append(
            "Patient-idem",
            ExpectedVersion::Exact(3),
            vec![batch[2].clone(), new.clone()],
        )
        .await
        .unwrap();
    assert_eq!((mixed.stream_version, mixed.duplicates), (4, 1));
    assert_eq!(mixed.events[0], first.events[2]);
    assert_eq!(mixed.events[1].stream_version, 4);
    // count(), not read_all(): the safe cursor may hold back events while transactions of
    // other tests (anywhere in the cluster) are still open.
    let stored = store
        .count(&EventFilter::all(), Cursor::START)
        .await
        .unwrap();
    assert_eq!(stored, 4, "nothing stored twice");
}

#[tokio::test]
async fn conflict_names_the_stream_and_both_versions_but_no_data() {
    let store = fresh_store("conflict").await;
    let e1 = NewEvent::from_event(&created("c-1"), &context()).unwrap();
    let e2 = NewEvent::from_event(&updated("c-1", 1), &context()).unwrap();
    store
        .append("Patient-c-1", ExpectedVersion::NoStream, vec![e1, e2])
        .await
        .unwrap();
    let late = NewEvent::from_event(&updated("c-1", 2), &context()).unwrap();
    let err = store
        .append("Patient-c-1", ExpectedVersion::Exact(1), vec![late.clone()])
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, StoreError::Conflict { ref stream, expected: ExpectedVersion::Exact(1), actual: Some(2) } if stream == "Patient-c-1"),
        "{err:?}"
    );
    assert!(text.contains("Patient-c-1"), "{text}");
    assert!(text.contains("expected version 1"), "{text}");
    assert!(text.contains("is at version 2"), "{text}");
    assert!(
        !text.contains("Jordan") && !text.contains("Rivera"),
        "no PHI: {text}"
    );
    let none = store
        .append("Patient-missing", ExpectedVersion::Exact(4), vec![late])
        .await
        .unwrap_err();
    assert!(none.to_string().contains("no stream"), "{none}");
}

/// Counts every event it applies in its own table: a double application shows as n = 2.
struct SeenProjection {
    table: &'static str,
    slow: Duration,
}

impl Projection for SeenProjection {
    fn name(&self) -> &str {
        self.table
    }
    fn apply<'a>(
        &'a self,
        tx: &'a mut sqlx::PgConnection,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            if !self.slow.is_zero() {
                tokio::time::sleep(self.slow).await;
            }
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO {} (event_id, n) VALUES ($1, 1) \
                 ON CONFLICT (event_id) DO UPDATE SET n = {}.n + 1",
                self.table, self.table
            )))
            .bind(event.event_id.0)
            .execute(tx)
            .await
            .map_err(|e| StoreError::projection(self.table, e))?;
            Ok(())
        })
    }
    fn reset<'a>(
        &'a self,
        tx: &'a mut sqlx::PgConnection,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {}", self.table)))
                .execute(tx)
                .await
                .map_err(|e| StoreError::projection(self.table, e))?;
            Ok(())
        })
    }
}

async fn seen_table(store: &PgEventStore, table: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {table} (event_id uuid PRIMARY KEY, n int NOT NULL)"
    )))
    .execute(store.pool())
    .await
    .unwrap();
}

async fn seen_counts(store: &PgEventStore, table: &str) -> (i64, i64, i64) {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*), coalesce(min(n), 0)::int8, coalesce(max(n), 0)::int8 FROM {table}"
    )))
    .fetch_one(store.pool())
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_killed_midway_resumes_from_its_checkpoint_exactly_once() {
    let store = fresh_store("replay").await;
    seen_table(&store, "replay_seen").await;
    for s in 0..30 {
        let batch = (0..10)
            .map(|i| NewEvent::from_event(&updated(&format!("r{s}"), i), &context()).unwrap())
            .collect();
        store
            .append(&format!("Patient-r{s}"), ExpectedVersion::NoStream, batch)
            .await
            .unwrap();
    }
    let projection = Arc::new(SeenProjection {
        table: "replay_seen",
        slow: Duration::from_millis(2),
    });
    let replay = CatchUp::new(store.clone()).batch_size(25);

    // First run: killed (its task dropped) part-way, possibly inside a batch's transaction.
    let first_store = store.clone();
    let first_projection = projection.clone();
    let first_replay = replay.clone();
    let killed = tokio::spawn(async move {
        let mut sink = ProjectionSink::new(first_store, first_projection);
        first_replay.run_to_end(&mut sink, |_| {}).await
    });
    // Killed once the first batch is in, however slow the machine (each event takes 2 ms more).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen_counts(&store, "replay_seen").await.0 == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    killed.abort();
    assert!(
        killed.await.unwrap_err().is_cancelled(),
        "killed before the end"
    );
    let (part, _, max) = seen_counts(&store, "replay_seen").await;
    assert!(
        part > 0 && part < 300,
        "interrupted part-way: {part} of 300"
    );
    assert_eq!(max, 1);

    // Second run resumes from the checkpoint and reports the rest.
    let mut reports = Vec::new();
    let mut sink = ProjectionSink::new(store.clone(), projection.clone());
    let done = replay
        .run_to_end(&mut sink, |p| reports.push(*p))
        .await
        .unwrap();
    assert_eq!(done.done as i64, 300 - part, "only the rest");
    assert_eq!(done.remaining, 0);
    assert!(reports.first().unwrap().remaining > 0);
    assert!(done.events_per_sec > 0.0);
    assert_eq!(
        seen_counts(&store, "replay_seen").await,
        (300, 1, 1),
        "exactly once overall"
    );

    // Rebuild from zero: the read model is emptied and refilled once.
    rebuild(&store, projection.as_ref()).await.unwrap();
    assert_eq!(seen_counts(&store, "replay_seen").await.0, 0);
    let mut sink = ProjectionSink::new(store.clone(), projection);
    let again = replay.run_to_end(&mut sink, |_| {}).await.unwrap();
    assert_eq!(again.done, 300);
    assert_eq!(seen_counts(&store, "replay_seen").await, (300, 1, 1));
}

#[tokio::test]
async fn selective_replay_by_type_tenant_and_correlation() {
    let store = fresh_store("selective").await;
    let a = context().tenant("hospital-a").correlation("visit-1");
    let b = context().tenant("hospital-b").correlation("visit-2");
    store
        .append(
            "Patient-s1",
            ExpectedVersion::Any,
            vec![
                NewEvent::from_event(&created("s1"), &a).unwrap(),
                NewEvent::from_event(&updated("s1", 1), &a).unwrap(),
            ],
        )
        .await
        .unwrap();
    store
        .append(
            "Patient-s2",
            ExpectedVersion::Any,
            vec![NewEvent::from_event(&created("s2"), &b).unwrap()],
        )
        .await
        .unwrap();
    let count = |f: EventFilter| {
        let store = store.clone();
        async move {
            let mut n = 0;
            let mut sink = HandlerSink::new(
                store.clone(),
                carebus_tests::unique_name("sel"),
                |_: &StoredEvent| {
                    n += 1;
                    Ok(())
                },
            );
            let p = CatchUp::new(store)
                .filter(f)
                .run_to_end(&mut sink, |_| {})
                .await
                .unwrap();
            drop(sink);
            assert_eq!(p.done, n);
            n
        }
    };
    assert_eq!(count(EventFilter::all()).await, 3);
    assert_eq!(
        count(EventFilter::all().event_type("PatientCreated")).await,
        2
    );
    assert_eq!(count(EventFilter::all().tenant("hospital-a")).await, 2);
    assert_eq!(count(EventFilter::all().correlation("visit-2")).await, 1);
    assert_eq!(count(EventFilter::all().stream("Patient-s1")).await, 2);
    assert_eq!(
        count(EventFilter::all().aggregate_type("Appointment")).await,
        0
    );
    let now = carebus::Timestamp::now();
    assert_eq!(
        count(EventFilter::all().recorded_between(None, Some(now))).await,
        3
    );
    assert_eq!(
        count(EventFilter::all().recorded_between(Some(now), None)).await,
        0
    );
}

#[tokio::test]
async fn inline_projection_commits_and_rolls_back_with_the_append() {
    let base = fresh_store("inline").await;
    seen_table(&base, "inline_seen").await;
    let store = base
        .clone()
        .with_inline_projection(Arc::new(SeenProjection {
            table: "inline_seen",
            slow: Duration::ZERO,
        }));
    let batch = (0..4)
        .map(|i| NewEvent::from_event(&updated("in", i), &context()).unwrap())
        .collect();
    store
        .append("Patient-in", ExpectedVersion::NoStream, batch)
        .await
        .unwrap();
    assert_eq!(seen_counts(&base, "inline_seen").await, (4, 1, 1));

    // A failing inline projection (its table is gone) rolls the append back.
    sqlx::query("DROP TABLE inline_seen")
        .execute(base.pool())
        .await
        .unwrap();
    let e = NewEvent::from_event(&updated("in", 9), &context()).unwrap();
    let err = store
        .append("Patient-in", ExpectedVersion::Exact(4), vec![e])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Projection { .. }), "{err}");
    assert_eq!(base.stream_version("Patient-in").await.unwrap(), Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_held_back_by_an_open_transaction_reports_a_stall_then_catches_up() {
    let store = fresh_store("stall").await;
    let mut held = store.pool().begin().await.unwrap();
    let first = NewEvent::from_event(&created("st-1"), &context()).unwrap();
    store
        .append_in(
            &mut held,
            "Patient-st-1",
            ExpectedVersion::NoStream,
            vec![first],
        )
        .await
        .unwrap();
    let later = NewEvent::from_event(&created("st-2"), &context()).unwrap();
    store
        .append("Patient-st-2", ExpectedVersion::NoStream, vec![later])
        .await
        .unwrap();

    let seen = Arc::new(Mutex::new(0u64));
    let sink_seen = seen.clone();
    let mut sink = HandlerSink::new(store.clone(), "stalled", move |_: &StoredEvent| {
        *sink_seen.lock().unwrap() += 1;
        Ok(())
    });
    let subscription = CatchUp::new(store.clone())
        .poll_interval(Duration::from_millis(10))
        .stall_after(Duration::from_millis(100));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        subscription
            .run_live(&mut sink, async {
                let _ = stop_rx.await;
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        *seen.lock().unwrap(),
        0,
        "the open transaction holds the cursor back"
    );
    held.commit().await.unwrap();
    for _ in 0..500 {
        if *seen.lock().unwrap() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop_tx.send(()).unwrap();
    let progress = running.await.unwrap().unwrap();
    assert_eq!(progress.done, 2);
    assert!(progress.stalls >= 1, "stall reported: {progress:?}");
}

#[tokio::test]
async fn safe_cursor_orders_by_transaction_id_numerically_then_position() {
    let store = fresh_store("tx_order").await;
    // Rows written by transactions 10 (first, lower position) and 9 (later, higher position):
    // readers must see transaction 9 first, and compare ids as numbers ('10' < '9' as text).
    for (tx, id) in [
        ("10", "00000000-0000-4000-8000-00000000000a"),
        ("9", "00000000-0000-4000-8000-000000000009"),
    ] {
        sqlx::query(
            "INSERT INTO events (tx_id, event_id, stream_id, stream_version, aggregate_type, \
             event_type, event_version, data_format, data, event_time) \
             VALUES ($1::text::xid8, $2::uuid, 'Patient-tx-' || $1, 1, 'Patient', \
             'PatientUpdated', 1, 'avro', '\\x00'::bytea, now())",
        )
        .bind(tx)
        .bind(id)
        .execute(store.pool())
        .await
        .unwrap();
    }
    let all = store.read_all(Cursor::START, 10).await.unwrap();
    let order: Vec<(u64, i64)> = all.iter().map(|e| (e.tx_id, e.global_position)).collect();
    assert_eq!(order, vec![(9, 2), (10, 1)]);
    let after_nine = store.read_all(all[0].cursor(), 10).await.unwrap();
    assert_eq!(after_nine.len(), 1);
    assert_eq!(after_nine[0].tx_id, 10);
}

/// With every connection taken (as in a database outage, when none can be opened), an append
/// fails after the configured acquire timeout with a retriable error instead of waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_with_no_connection_to_be_had_fails_fast_and_retriably() {
    let migrated = fresh_store("acquire").await;
    let schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(migrated.pool())
        .await
        .unwrap();
    let store = PgEventStore::connect_with(
        &carebus_tests::database_url(),
        &carebus::postgres::PgStoreOptions {
            schema: Some(schema),
            max_connections: 1,
            acquire_timeout: Duration::from_millis(300),
        },
    )
    .await
    .unwrap();
    let held = store.pool().acquire().await.unwrap();
    let started = std::time::Instant::now();
    let error = store
        .append(
            "Patient-acquire",
            ExpectedVersion::Any,
            vec![NewEvent::from_event(&created("acquire"), &context()).unwrap()],
        )
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(error.is_retriable(), "{error}");
    assert!(
        waited < Duration::from_secs(3),
        "failed after {waited:?}, not the acquire timeout"
    );
    drop(held);
    store
        .append(
            "Patient-acquire",
            ExpectedVersion::Any,
            vec![NewEvent::from_event(&created("acquire"), &context()).unwrap()],
        )
        .await
        .expect("appends again once a connection is free");
}
