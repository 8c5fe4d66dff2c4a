//! Event store benchmark against real PostgreSQL, printed as a table: append throughput (batches of 1 and 100) vs raw single-row INSERT / multi-row INSERT / COPY of the same rows, load of a 1,000-event aggregate with and without a snapshot, and replay rate.
//!
//! Run: `scripts/services up postgres && cargo bench -p carebus-tests --bench store`.
//! Each measurement runs in its own fresh schema of the test database.

use carebus::postgres::PgEventStore;
use carebus::postgres::compaction::WithArchive;
use carebus::store::{
    Aggregate, CatchUp, EventContext, EventStore, ExpectedVersion, HandlerSink, NewEvent,
    Repository, StoreError, StoredEvent, Upcasters, decode_stored,
};
use carebus::{Date, Phi, Timestamp};
use carebus_schemas::{PatientCreated, PatientCreatedV1, PatientUpdated, PatientsEvent, Reference};
use std::time::{Duration, Instant};

/// Events per append measurement (a multiple of 100).
fn append_events() -> usize {
    carebus_tests::bench_size(5_000, 500)
}
/// Events in the replay measurement (a multiple of 1,000).
fn replay_events() -> usize {
    carebus_tests::bench_size(50_000, 5_000)
}

#[derive(
    Clone,
    Debug,
    Default,
    carebus::__private::serde::Serialize,
    carebus::__private::serde::Deserialize,
)]
#[serde(crate = "carebus::__private::serde")]
struct PatientFile {
    patient_id: String,
    updates: u32,
    languages: Vec<String>,
}

impl Aggregate for PatientFile {
    type Event = PatientsEvent;
    const AGGREGATE_TYPE: &'static str = "Patient";
    const STATE_VERSION: u32 = 1;
    fn apply(&mut self, event: &PatientsEvent) {
        match event {
            PatientsEvent::PatientCreated(e) => self.patient_id = e.patient_id.clone(),
            PatientsEvent::PatientUpdated(e) => {
                self.updates += 1;
                if let Some(l) = &e.preferred_language
                    && !self.languages.contains(l)
                {
                    self.languages.push(l.clone());
                }
            }
            _ => {}
        }
    }
}

async fn fresh(prefix: &str) -> PgEventStore {
    let url = carebus_tests::database_url();
    let schema = carebus_tests::unique_name(prefix);
    let store = PgEventStore::connect_in_schema(&url, Some(&schema), 4)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test database: {e}"));
    carebus::postgres::tenancy::create_tenant_role(store.pool())
        .await
        .expect("create the role carebus_tenant");
    store.migrate().await.expect("migrate");
    store
}

fn events(stream_no: usize, n: usize) -> Vec<NewEvent> {
    let ctx = EventContext::new("PRM Service")
        .tenant("hospital-a")
        .correlation("bench");
    let id = format!("p{stream_no}");
    let mut out = Vec::with_capacity(n);
    out.push(
        NewEvent::from_event(
            &PatientCreated::from(PatientCreatedV1 {
                patient_id: id.clone(),
                first_name: Phi::new("Jordan".into()),
                last_name: Phi::new("Rivera".into()),
                date_of_birth: Phi::new(Date::from_ymd(1980, 1, 2).unwrap()),
                email: None,
            }),
            &ctx,
        )
        .unwrap(),
    );
    for i in 1..n {
        let e = PatientUpdated {
            patient_id: id.clone(),
            changed_fields: vec![format!("field{i}")],
            name: None,
            date_of_birth: None,
            gender: None,
            telecom: None,
            address: None,
            preferred_language: Some("en-US".into()),
            updated_by: Reference {
                r#type: "Practitioner".into(),
                id: "dr-1".into(),
                display: None,
            },
            updated_at: Timestamp::now(),
        };
        out.push(NewEvent::from_event(&e, &ctx).unwrap());
    }
    out
}

/// [`append_events`] events in streams of 100.
fn workload() -> Vec<Vec<NewEvent>> {
    (0..append_events() / 100).map(|s| events(s, 100)).collect()
}

struct Row {
    what: String,
    events: usize,
    elapsed: Duration,
}

impl Row {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
}

async fn append_store(batch: usize) -> Row {
    let store = fresh("bench_append").await;
    let work = workload();
    let started = Instant::now();
    for (s, stream_events) in work.into_iter().enumerate() {
        let stream = format!("Patient-p{s}");
        let mut version = 0u64;
        for chunk in stream_events.chunks(batch) {
            let r = store
                .append(&stream, ExpectedVersion::Exact(version), chunk.to_vec())
                .await
                .expect("append");
            version = r.stream_version;
        }
    }
    Row {
        what: format!("EventStore::append, batches of {batch}"),
        events: append_events(),
        elapsed: started.elapsed(),
    }
}

const RAW_INSERT: &str = "INSERT INTO events (event_id, stream_id, stream_version, aggregate_type, \
    event_type, event_version, data_format, data, data_json, metadata, tenant_id, correlation_id, \
    event_time) SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::int8[], $4::text[], $5::text[], \
    $6::int4[], $7::text[], $8::bytea[], $9::jsonb[], $10::jsonb[], $11::text[], $12::text[], \
    $13::timestamptz[])";

/// The same rows by plain INSERTs: one row per statement (batch 1) or one multi-row
/// `INSERT ... SELECT FROM UNNEST` per batch, no version check, no dedupe.
async fn raw_insert(batch: usize) -> Row {
    let store = fresh("bench_raw").await;
    let work = workload();
    let started = Instant::now();
    for (s, stream_events) in work.into_iter().enumerate() {
        let stream = format!("Patient-p{s}");
        for (c, chunk) in stream_events.chunks(batch).enumerate() {
            let n = chunk.len();
            let versions: Vec<i64> = (0..n).map(|i| (c * batch + i + 1) as i64).collect();
            let times: Vec<String> = chunk.iter().map(|e| e.event_time.to_string()).collect();
            sqlx::query(RAW_INSERT)
                .bind(chunk.iter().map(|e| e.event_id.0).collect::<Vec<_>>())
                .bind(vec![stream.as_str(); n])
                .bind(&versions)
                .bind(
                    chunk
                        .iter()
                        .map(|e| e.aggregate_type.as_str())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    chunk
                        .iter()
                        .map(|e| e.event_type.as_str())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    chunk
                        .iter()
                        .map(|e| e.event_version as i32)
                        .collect::<Vec<_>>(),
                )
                .bind(vec!["avro"; n])
                .bind(chunk.iter().map(|e| e.data.as_slice()).collect::<Vec<_>>())
                .bind(
                    chunk
                        .iter()
                        .map(|e| e.data_json.clone())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    chunk
                        .iter()
                        .map(NewEvent::metadata_json)
                        .collect::<Vec<_>>(),
                )
                .bind(
                    chunk
                        .iter()
                        .map(|e| e.context.tenant_id.as_deref())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    chunk
                        .iter()
                        .map(|e| e.context.correlation_id.as_deref())
                        .collect::<Vec<_>>(),
                )
                .bind(times.iter().map(|t| t.as_str()).collect::<Vec<_>>())
                .execute(store.pool())
                .await
                .expect("raw insert");
        }
    }
    Row {
        what: format!("raw INSERT, {batch} row(s) per statement"),
        events: append_events(),
        elapsed: started.elapsed(),
    }
}

fn csv(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// The same rows by `COPY ... FROM STDIN (FORMAT csv)`, one COPY per 100 rows.
async fn raw_copy() -> Row {
    let store = fresh("bench_copy").await;
    let work = workload();
    let mut conn = store.pool().acquire().await.expect("connection");
    let started = Instant::now();
    for (s, stream_events) in work.into_iter().enumerate() {
        let mut body = String::new();
        for (i, e) in stream_events.iter().enumerate() {
            let hex: String = e.data.iter().map(|b| format!("{b:02x}")).collect();
            body.push_str(&format!(
                "{},Patient-p{s},{},{},{},{},avro,\\x{hex},{},{},{},{},{}\n",
                e.event_id,
                i + 1,
                e.aggregate_type,
                e.event_type,
                e.event_version,
                csv(&e
                    .data_json
                    .as_ref()
                    .map(|j| j.to_string())
                    .unwrap_or_default()),
                csv(&e.metadata_json().to_string()),
                e.context.tenant_id.as_deref().unwrap_or(""),
                e.context.correlation_id.as_deref().unwrap_or(""),
                e.event_time,
            ));
        }
        let mut copy = conn
            .copy_in_raw(
                "COPY events (event_id, stream_id, stream_version, aggregate_type, event_type, \
                 event_version, data_format, data, data_json, metadata, tenant_id, \
                 correlation_id, event_time) FROM STDIN (FORMAT csv)",
            )
            .await
            .expect("copy");
        copy.send(body.as_bytes()).await.expect("copy send");
        copy.finish().await.expect("copy finish");
    }
    Row {
        what: "raw COPY, 100 rows per COPY".into(),
        events: append_events(),
        elapsed: started.elapsed(),
    }
}

async fn load_aggregate() -> (Row, Row) {
    let store = fresh("bench_load").await;
    let all = events(0, 1000);
    for chunk in all.chunks(500) {
        store
            .append("Patient-p0", ExpectedVersion::Any, chunk.to_vec())
            .await
            .expect("append");
    }
    let repo: Repository<_, PatientFile> = Repository::new(store.clone(), Upcasters::new());
    let rounds = 20;
    let started = Instant::now();
    for _ in 0..rounds {
        let l = repo.load_from_events("p0").await.expect("load");
        assert_eq!(l.version, 1000);
    }
    let full = Row {
        what: "load 1,000-event aggregate, no snapshot".into(),
        events: rounds,
        elapsed: started.elapsed(),
    };
    repo.snapshot("p0").await.expect("snapshot");
    let started = Instant::now();
    for _ in 0..rounds {
        let l = repo.load("p0").await.expect("load");
        assert_eq!(l.from_snapshot, Some(1000));
    }
    let snap = Row {
        what: "load 1,000-event aggregate, from snapshot".into(),
        events: rounds,
        elapsed: started.elapsed(),
    };
    (full, snap)
}

/// Replay every event of `source` through `handle` from the start (a new subscriber `name`,
/// batches of 5,000) and time it; asserts each of the [`replay_events`] reached `handle`.
async fn timed_replay<S: EventStore + Clone>(
    source: S,
    name: &str,
    mut handle: impl FnMut(&StoredEvent) -> Result<(), StoreError> + Send,
) -> Duration {
    let mut seen = 0usize;
    let mut sink = HandlerSink::new(source.clone(), name, |e: &StoredEvent| {
        handle(e)?;
        seen += 1;
        Ok(())
    });
    let started = Instant::now();
    CatchUp::new(source)
        .batch_size(5000)
        .run_to_end(&mut sink, |_| {})
        .await
        .expect("replay");
    let elapsed = started.elapsed();
    drop(sink);
    assert_eq!(seen, replay_events(), "{name} saw every event");
    elapsed
}

async fn replay() -> (Row, Row, Row, Row) {
    let store = fresh("bench_replay").await;
    for s in 0..replay_events() / 1000 {
        let evs = events(s, 1000);
        for chunk in evs.chunks(1000) {
            store
                .append(
                    &format!("Patient-p{s}"),
                    ExpectedVersion::Any,
                    chunk.to_vec(),
                )
                .await
                .expect("append");
        }
    }
    // What autovacuum would do after a bulk load: fresh planner statistics.
    sqlx::query("ANALYZE events")
        .execute(store.pool())
        .await
        .expect("analyze");
    let upcasters = Upcasters::new();
    let typed_decode = |e: &StoredEvent| decode_stored::<PatientsEvent>(e, &upcasters).map(drop);
    let raw = timed_replay(store.clone(), "bench-replay", |_| Ok(())).await;
    let typed = timed_replay(store.clone(), "bench-replay-typed", typed_decode).await;
    let with = WithArchive::new(store.clone());
    let archive = timed_replay(with, "bench-replay-archive", |_| Ok(())).await;
    let lean = WithArchive::new(store.clone()).binary_only();
    let binary = timed_replay(lean, "bench-replay-binary", typed_decode).await;
    (
        Row {
            what: "replay (CatchUp, batches of 5,000)".into(),
            events: replay_events(),
            elapsed: raw,
        },
        Row {
            what: "replay + typed decode".into(),
            events: replay_events(),
            elapsed: typed,
        },
        Row {
            what: "replay through compaction::WithArchive (log + archive)".into(),
            events: replay_events(),
            elapsed: archive,
        },
        Row {
            what: "replay through WithArchive::binary_only + typed decode".into(),
            events: replay_events(),
            elapsed: binary,
        },
    )
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let a1 = append_store(1).await;
        let r1 = raw_insert(1).await;
        let a100 = append_store(100).await;
        let r100 = raw_insert(100).await;
        let copy = raw_copy().await;
        let (full, snap) = load_aggregate().await;
        let (replay, typed, archive, binary) = replay().await;
        println!("| measurement | events | time | rate |");
        println!("|---|---:|---:|---:|");
        for r in [
            &a1, &r1, &a100, &r100, &copy, &replay, &typed, &archive, &binary,
        ] {
            println!(
                "| {} | {} | {:.2} s | {:.0} events/s |",
                r.what,
                r.events,
                r.elapsed.as_secs_f64(),
                r.rate()
            );
        }
        for r in [&full, &snap] {
            println!(
                "| {} | {} loads | {:.1} ms per load | |",
                r.what,
                r.events,
                r.elapsed.as_secs_f64() * 1000.0 / r.events as f64
            );
        }
        println!();
        println!(
            "append batch 100 / raw multi-row INSERT: {:.2}x the time; / COPY: {:.2}x; \
             batch 1 / raw single-row INSERT: {:.2}x",
            a100.elapsed.as_secs_f64() / r100.elapsed.as_secs_f64(),
            a100.elapsed.as_secs_f64() / copy.elapsed.as_secs_f64(),
            a1.elapsed.as_secs_f64() / r1.elapsed.as_secs_f64(),
        );
    });
}
