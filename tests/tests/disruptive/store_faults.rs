//! The PostgreSQL store when the database crashes under concurrent appenders (`scripts/services crash-restart postgres`: immediate mode, every connection cut, some of them mid-COMMIT): every append the store acknowledged is stored exactly once, and an append whose commit's outcome was unknown is retried by the store with the same event ids.

use crate::store_common::*;
use carebus::postgres::PgStoreOptions;
use std::collections::BTreeSet;

const APPENDERS: usize = 4;
const BATCHES: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_crash_under_concurrent_appenders_loses_and_duplicates_nothing_acknowledged() {
    let _exclusive = crate::exclusive().await;
    let (_, schema) = fresh("faults").await;
    let url = carebus_tests::database_url();
    let store = PgEventStore::connect_with(
        &url,
        &PgStoreOptions {
            schema: Some(schema.clone()),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(20),
        },
    )
    .await
    .unwrap();
    let context = ctx("hospital-a", "faults");
    let mut tasks = tokio::task::JoinSet::new();
    for a in 0..APPENDERS {
        let store = store.clone();
        let context = context.clone();
        tasks.spawn(async move {
            let mut acknowledged = Vec::new();
            let mut failed = 0;
            let mut slow = 0;
            for b in 0..BATCHES {
                let stream = format!("Patient-fault-{a}-{b}");
                let batch = patient_events(&format!("fault-{a}-{b}"), 2, &context);
                let ids: Vec<String> = batch.iter().map(|e| e.event_id.to_string()).collect();
                let started = Instant::now();
                let appended = store
                    .append(&stream, ExpectedVersion::NoStream, batch)
                    .await;
                if started.elapsed() > Duration::from_millis(300) {
                    slow += 1;
                }
                match appended {
                    Ok(_) => acknowledged.extend(ids),
                    Err(e) => {
                        failed += 1;
                        eprintln!("append {a}/{b} failed: {e}");
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (acknowledged, failed, slow)
        });
    }
    // Crash the database while the appenders run.
    tokio::time::sleep(Duration::from_millis(600)).await;
    tokio::task::spawn_blocking(|| carebus_tests::services(&["crash-restart", "postgres"]))
        .await
        .unwrap()
        .expect("crash-restart postgres");
    let mut acknowledged = Vec::new();
    let (mut failed, mut spanning) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        let (ids, f, s) = done.unwrap();
        acknowledged.extend(ids);
        failed += f;
        spanning += s;
    }
    println!(
        "{} events acknowledged, {failed} appends failed, {spanning} spanned the crash (of {})",
        acknowledged.len(),
        APPENDERS * BATCHES
    );
    assert!(
        spanning > 0,
        "the crash landed between appends only: nothing was tested"
    );
    assert_eq!(
        failed, 0,
        "the store retries across the restart within its acquire timeout"
    );

    let stored: Vec<(String, i64)> =
        sqlx::query_as("SELECT event_id::text, count(*) FROM events GROUP BY event_id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let counts: HashMap<String, i64> = stored.into_iter().collect();
    let acknowledged_set: BTreeSet<&String> = acknowledged.iter().collect();
    assert_eq!(acknowledged_set.len(), acknowledged.len(), "ids are unique");
    for id in &acknowledged {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "acknowledged event {id} is stored exactly once"
        );
    }
    assert_eq!(acknowledged.len(), APPENDERS * BATCHES * 3);
}
