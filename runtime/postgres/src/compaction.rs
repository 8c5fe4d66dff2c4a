//! Compaction: old stream prefixes moved to `events_archive` once a snapshot covers them, retention per aggregate type (archive or delete events older than N days), and an [`EventStore`] view that reads the archive too, so replays can include archived rows.
//!
//! Archiving keeps each row's `global_position` and `tx_id`, so a replay through
//! [`WithArchive`] sees archived and live rows in their original safe-cursor order. Archive
//! only what every subscription has already processed: a subscriber behind the archived rows
//! does not see them unless it reads through [`WithArchive`].

use super::query::push_filter;
use super::query::rows::{
    RAW_COLUMNS, SELECT, SELECT_BINARY, WITH_ARCHIVE, backend, stored_event, stored_event_binary,
};
use crate::PgEventStore;
use carebus_core::types::Timestamp;
use carebus_store::EventFilter;
use carebus_store::EventStore;
use carebus_store::StoreError;
use carebus_store::{
    AppendResult, Cursor, ExpectedVersion, NewEvent, ParkedEvent, Snapshot, StoredEvent,
};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use std::collections::BTreeMap;
use std::time::Duration;

/// Move events of `stream` with `stream_version <= through` to the archive; returns how many.
pub async fn archive_prefix(
    store: &PgEventStore,
    stream: &str,
    through: u64,
) -> Result<u64, StoreError> {
    let mut tx = store.pool().begin().await.map_err(backend("archive"))?;
    let moved = move_rows(
        &mut tx,
        "stream_id = $1 AND stream_version <= $2",
        stream,
        i64::try_from(through).unwrap_or(i64::MAX),
    )
    .await?;
    tx.commit().await.map_err(backend("archive commit"))?;
    Ok(moved)
}

/// Snapshot-then-archive: archive the events the stream's newest snapshot of shape
/// `state_version` includes. Returns how many moved (0 without such a snapshot). A later
/// shape change rebuilds from [`WithArchive::read_stream`].
pub async fn archive_to_snapshot(
    store: &PgEventStore,
    stream: &str,
    state_version: u32,
) -> Result<u64, StoreError> {
    let version: Option<i64> = sqlx::query_scalar(
        "SELECT max(version) FROM snapshots WHERE stream_id = $1 AND state_version = $2",
    )
    .bind(stream)
    .bind(state_version as i32)
    .fetch_one(store.pool())
    .await
    .map_err(backend("archive"))?;
    match version {
        Some(v) => archive_prefix(store, stream, v as u64).await,
        None => Ok(0),
    }
}

async fn move_rows(
    conn: &mut PgConnection,
    condition: &str,
    text: &str,
    number: i64,
) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "WITH moved AS (DELETE FROM events WHERE {condition} RETURNING {RAW_COLUMNS}), \
         ins AS (INSERT INTO events_archive ({RAW_COLUMNS}) SELECT {RAW_COLUMNS} FROM moved \
         ON CONFLICT (event_id) DO NOTHING RETURNING 1) SELECT count(*) FROM moved"
    )))
    .bind(text)
    .bind(number)
    .fetch_one(&mut *conn)
    .await
    .map_err(backend("archive"))?;
    Ok(n as u64)
}

/// What to do with events older than a rule's age.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetentionAction {
    /// Move to `events_archive`.
    Archive,
    /// Delete (from the log and the archive).
    Delete,
}

/// Retention per aggregate type; types without a rule are kept forever.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Per aggregate type: the age (by `recorded_at`) past which events get the action.
    pub rules: BTreeMap<String, (Duration, RetentionAction)>,
}

impl RetentionPolicy {
    /// Events of `aggregate_type` recorded more than `days` days ago get `action`.
    pub fn rule(mut self, aggregate_type: &str, days: u32, action: RetentionAction) -> Self {
        self.rules.insert(
            aggregate_type.to_string(),
            (Duration::from_secs(u64::from(days) * 86_400), action),
        );
        self
    }
}

/// What [`apply_retention`] did, per aggregate type: (archived, deleted).
pub type RetentionReport = BTreeMap<String, (u64, u64)>;

/// Apply `policy` as of `now`, one transaction per aggregate type.
pub async fn apply_retention(
    store: &PgEventStore,
    policy: &RetentionPolicy,
    now: Timestamp,
) -> Result<RetentionReport, StoreError> {
    let mut report = RetentionReport::new();
    for (aggregate_type, (age, action)) in &policy.rules {
        let cutoff = now
            .0
            .saturating_sub(i64::try_from(age.as_micros()).unwrap_or(i64::MAX));
        let older =
            "aggregate_type = $1 AND recorded_at < to_timestamp(0) + $2 * interval '1 microsecond'";
        let mut tx = store.pool().begin().await.map_err(backend("retention"))?;
        let entry = match action {
            RetentionAction::Archive => {
                (move_rows(&mut tx, older, aggregate_type, cutoff).await?, 0)
            }
            RetentionAction::Delete => {
                let mut deleted = 0;
                for table in ["events", "events_archive"] {
                    deleted += sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DELETE FROM {table} WHERE {older}"
                    )))
                    .bind(aggregate_type)
                    .bind(cutoff)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend("retention"))?
                    .rows_affected();
                }
                (0, deleted)
            }
        };
        tx.commit().await.map_err(backend("retention commit"))?;
        report.insert(aggregate_type.clone(), entry);
    }
    Ok(report)
}

/// The store seen with its archive: reads, counts and stream reads include archived rows (in
/// their original order); writes, snapshots and checkpoints go to the store unchanged. Give it
/// to [`CatchUp`](carebus_store::CatchUp) for a replay that includes archived events.
#[derive(Clone, Debug)]
pub struct WithArchive {
    store: PgEventStore,
    json: bool,
}

impl WithArchive {
    /// `store` with its archive.
    pub fn new(store: PgEventStore) -> Self {
        WithArchive { store, json: true }
    }
    /// Read events without their JSON form (`data_json` is `None`): faster replays for
    /// consumers that decode the binary payload (typed events, republishing).
    pub fn binary_only(mut self) -> Self {
        self.json = false;
        self
    }
    fn decode(&self, rows: &[sqlx::postgres::PgRow]) -> Result<Vec<StoredEvent>, StoreError> {
        if self.json {
            rows.iter().map(stored_event).collect()
        } else {
            rows.iter().map(stored_event_binary).collect()
        }
    }
    fn select(&self) -> &'static str {
        if self.json { SELECT } else { SELECT_BINARY }
    }
}

impl EventStore for WithArchive {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        self.store.append(stream, expected, events).await
    }
    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let select = self.select();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {select} FROM {WITH_ARCHIVE} WHERE stream_id = $1 AND stream_version >= $2 \
             ORDER BY stream_version LIMIT $3"
        )))
        .bind(stream)
        .bind(i64::try_from(from_version).unwrap_or(i64::MAX))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.store.pool())
        .await
        .map_err(backend("read stream with archive"))?;
        self.decode(&rows)
    }
    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        self.store.stream_version(stream).await
    }
    async fn read(
        &self,
        filter: &EventFilter,
        after: Cursor,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "SELECT {} FROM {WITH_ARCHIVE} WHERE (tx_id, global_position) > (",
            self.select()
        ));
        q.push_bind(after.tx_id.to_string())
            .push("::text::xid8, ")
            .push_bind(after.position)
            .push(") AND tx_id < pg_snapshot_xmin(pg_current_snapshot())");
        push_filter(&mut q, filter);
        q.push(" ORDER BY e.tx_id, e.global_position LIMIT ")
            .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = q
            .build()
            .fetch_all(self.store.pool())
            .await
            .map_err(backend("read with archive"))?;
        self.decode(&rows)
    }
    async fn count(&self, filter: &EventFilter, after: Cursor) -> Result<u64, StoreError> {
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "SELECT count(*) FROM {WITH_ARCHIVE} WHERE (tx_id, global_position) > ("
        ));
        q.push_bind(after.tx_id.to_string())
            .push("::text::xid8, ")
            .push_bind(after.position)
            .push(")");
        push_filter(&mut q, filter);
        let n: i64 = q
            .build()
            .fetch_one(self.store.pool())
            .await
            .and_then(|r| r.try_get(0))
            .map_err(backend("count with archive"))?;
        Ok(n as u64)
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.store.save_snapshot(snapshot).await
    }
    async fn latest_snapshot(&self, stream: &str) -> Result<Option<Snapshot>, StoreError> {
        self.store.latest_snapshot(stream).await
    }
    async fn prune_snapshots(&self, stream: &str, keep: usize) -> Result<u64, StoreError> {
        self.store.prune_snapshots(stream, keep).await
    }
    async fn checkpoint(&self, subscription: &str) -> Result<Option<Cursor>, StoreError> {
        self.store.checkpoint(subscription).await
    }
    async fn save_checkpoint(&self, subscription: &str, cursor: Cursor) -> Result<(), StoreError> {
        self.store.save_checkpoint(subscription, cursor).await
    }
    async fn delete_checkpoint(&self, subscription: &str) -> Result<(), StoreError> {
        self.store.delete_checkpoint(subscription).await
    }

    async fn park(&self, parked: ParkedEvent) -> Result<(), StoreError> {
        self.store.park(parked).await
    }

    async fn parked(&self, relay: &str) -> Result<Vec<ParkedEvent>, StoreError> {
        self.store.parked(relay).await
    }

    async fn unpark(&self, relay: &str, event_id: carebus_core::Uuid) -> Result<(), StoreError> {
        self.store.unpark(relay, event_id).await
    }
}
