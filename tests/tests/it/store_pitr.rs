//! A throwaway archiving PostgreSQL, an event store in it and a point in time in, a restored server holding exactly the events up to that point (verified by the store) out: the restore runbook (`scripts/postgres/pitr.sh`) run end to end.
//!
//! The test starts its own servers (never the shared one on 15432) under
//! `target/tests/<unique>/` on free ports, and stops and removes them when it ends, also when it
//! fails. Needs PostgreSQL's server binaries (`scripts/services up postgres` installs them).

use carebus::postgres::PgEventStore;
use carebus::postgres::verify::{VerifyOptions, verify};
use carebus::store::{EventContext, EventStore, ExpectedVersion, NewEvent};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `scripts/postgres/pitr.sh` with `args`; panics with its output when it fails.
fn pitr(args: &[&str]) {
    let script = carebus_tests::repo_root().join("scripts/postgres/pitr.sh");
    let out = Command::new(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "pitr.sh {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Stops the servers of the test's directory and removes it, however the test ends.
struct Servers {
    dir: PathBuf,
    data_dirs: Vec<PathBuf>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        for data in &self.data_dirs {
            let _ = Command::new(carebus_tests::repo_root().join("scripts/postgres/pitr.sh"))
                .arg("stop")
                .arg(data)
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn require_server_binaries() {
    let found = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.flatten()
                .any(|v| v.path().join("bin/pg_basebackup").exists())
        })
        .unwrap_or(false);
    assert!(
        found || std::env::var_os("PG_BIN").is_some(),
        "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: run \
         `./scripts/services up postgres` (it installs them) or set PG_BIN"
    );
}

/// `patients` streams of `per_stream` events each, stream ids `Patient-{prefix}{k}`.
fn batch(prefix: &str, patients: usize, per_stream: usize) -> Vec<(String, Vec<NewEvent>)> {
    let ctx = EventContext::new("PRM Service").tenant("hospital-a");
    (0..patients)
        .map(|k| {
            let events = (0..per_stream)
                .map(|i| {
                    NewEvent::from_event(&carebus_tests::bench_event(k * 10 + i), &ctx)
                        .expect("a bench event encodes")
                })
                .collect();
            (format!("Patient-{prefix}{k}"), events)
        })
        .collect()
}

async fn append_all(store: &PgEventStore, batches: Vec<(String, Vec<NewEvent>)>) -> Vec<String> {
    let mut ids = Vec::new();
    for (stream, events) in batches {
        let done = store
            .append(&stream, ExpectedVersion::Any, events)
            .await
            .unwrap_or_else(|e| panic!("append to {stream}: {e}"));
        ids.extend(done.events.iter().map(|e| e.event_id.to_string()));
    }
    ids
}

async fn store_at(port: u16) -> PgEventStore {
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    PgEventStore::connect_in_schema(&url, Some("carebus"), 4)
        .await
        .unwrap_or_else(|e| panic!("connecting to the throwaway server on port {port}: {e}"))
}

async fn event_ids(store: &PgEventStore) -> BTreeSet<String> {
    sqlx::query_scalar::<_, uuid::Uuid>("SELECT event_id FROM events")
        .fetch_all(store.pool())
        .await
        .expect("reading event ids")
        .into_iter()
        .map(|u| u.to_string())
        .collect()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 test path")
}

#[tokio::test]
async fn restore_to_a_point_in_time_keeps_exactly_the_events_up_to_it() {
    require_server_binaries();
    let dir = carebus_tests::repo_root()
        .join("target/tests")
        .join(carebus_tests::unique_name("pitr"));
    std::fs::create_dir_all(&dir).expect("creating the test directory");
    let (primary_port, restored_port) = (free_port(), free_port());
    let _servers = Servers {
        dir: dir.clone(),
        data_dirs: vec![dir.join("primary/data"), dir.join("restored")],
    };
    pitr(&[
        "primary",
        path(&dir.join("primary")),
        &primary_port.to_string(),
    ]);
    let conninfo = format!("postgres://postgres@127.0.0.1:{primary_port}/postgres");

    let store = store_at(primary_port).await;
    carebus::postgres::tenancy::create_tenant_role(store.pool())
        .await
        .expect("creating carebus_tenant");
    store.migrate().await.expect("migrating the event store");

    // Before the base backup; after it (kept); after the target (discarded).
    let mut kept = append_all(&store, batch("a", 3, 3)).await;
    pitr(&["basebackup", &conninfo, path(&dir.join("backup"))]);
    kept.extend(append_all(&store, batch("b", 2, 2)).await);
    kept.extend(append_all(&store, batch("a", 1, 1)).await); // Patient-a0 to version 4
    let at_target = verify(
        &store,
        &carebus_schemas::payload_json,
        VerifyOptions { contiguous: true },
    )
    .await
    .expect("verifying the primary");
    assert!(at_target.is_sound(), "primary: {:?}", at_target.problems());
    let lsn: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
        .fetch_one(store.pool())
        .await
        .expect("reading the WAL position");
    let discarded = append_all(&store, batch("c", 2, 2)).await;
    let discarded_too = append_all(&store, batch("a", 1, 1)).await; // Patient-a0 to version 5
    store.pool().close().await;
    pitr(&["flush", &conninfo]);

    pitr(&[
        "restore",
        path(&dir.join("backup")),
        path(&dir.join("primary/archive")),
        path(&dir.join("restored")),
        &restored_port.to_string(),
        "--lsn",
        &lsn,
    ]);
    let restored = store_at(restored_port).await;
    let report = verify(
        &restored,
        &carebus_schemas::payload_json,
        VerifyOptions { contiguous: true },
    )
    .await
    .expect("verifying the restored store");
    assert!(report.is_sound(), "restored: {:?}", report.problems());
    assert_eq!(report.events, 9 + 4 + 1, "{report}");
    assert_eq!(report.json_matched, report.events, "{report}");
    assert_eq!(report.positions, Some((1, 14)), "{report}");
    assert_eq!(
        report.digest, at_target.digest,
        "same events, payloads and positions"
    );
    assert_eq!(
        event_ids(&restored).await,
        kept.iter().cloned().collect::<BTreeSet<_>>()
    );
    assert_eq!(
        restored.stream_version("Patient-a0").await.unwrap(),
        Some(4),
        "the append after the target is gone"
    );
    for id in discarded.iter().chain(&discarded_too) {
        assert!(
            !event_ids(&restored).await.contains(id),
            "event {id} is after the target"
        );
    }

    // The restored store takes appends again (the sequence may jump: gaps are allowed then).
    append_all(&restored, batch("d", 1, 1)).await;
    let after = verify(
        &restored,
        &carebus_schemas::payload_json,
        VerifyOptions::default(),
    )
    .await
    .expect("verifying after a new append");
    assert!(after.is_sound(), "{:?}", after.problems());
    assert_eq!(after.events, 15);

    // What verify catches: an event lost from the middle of a stream, a JSON form that no
    // longer says what the payload says.
    sqlx::raw_sql(
        "UPDATE events SET data_json = jsonb_set(data_json, '{patient_id}', '\"someone-else\"') \
         WHERE global_position = 3; DELETE FROM events WHERE global_position = 5",
    )
    .execute(restored.pool())
    .await
    .expect("damaging the restored store");
    let damaged = verify(
        &restored,
        &carebus_schemas::payload_json,
        VerifyOptions { contiguous: true },
    )
    .await
    .expect("verifying the damaged store");
    assert_eq!(
        damaged.broken_streams,
        vec!["Patient-a1".to_string()],
        "{damaged}"
    );
    assert_eq!(damaged.json_mismatch_count, 1, "{damaged}");
    assert_eq!(damaged.json_mismatched[0].0, 3, "{damaged}");
    // (The append after the restore may have left a gap too: the sequence jumps on recovery.)
    assert!(damaged.gap_ranges.contains(&(5, 5)), "{damaged}");
    assert_eq!(damaged.problems().len(), 3, "{:?}", damaged.problems());
    restored.pool().close().await;
}
