//! A range of the log given as global positions or times in, its events in global-position order out: what a replay onto Kafka (`carebus-store replay`) reads, batch by batch.
//!
//! Unlike the safe-cursor reads of [`EventStore::read`](carebus_store::EventStore::read), these
//! read by `global_position` alone: a replay runs over a store at rest (after a restore) or over
//! a range whose appends have committed (an `--until` in the past). Rows archived by compaction
//! are not replayed (their streams continue from a snapshot).

use crate::PgEventStore;
use crate::rows::{COLUMNS, backend, stored_event};
use carebus_store::{StoreError, StoredEvent};

/// One end of a replay range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bound {
    /// A global position (inclusive).
    Position(i64),
    /// A time PostgreSQL reads as `timestamptz` (`2026-12-07T23:00:00Z`): compared with the
    /// time the store recorded each event (`recorded_at`), inclusive.
    Time(String),
}

impl Bound {
    /// A number is a position, anything else a time.
    pub fn parse(text: &str) -> Bound {
        match text.trim().parse::<i64>() {
            Ok(p) => Bound::Position(p),
            Err(_) => Bound::Time(text.trim().to_string()),
        }
    }
}

impl PgEventStore {
    /// The first global position at or after `bound` (`None`: no event there).
    pub async fn position_from(&self, bound: &Bound) -> Result<Option<i64>, StoreError> {
        let q = match bound {
            Bound::Position(p) => sqlx::query_scalar(
                "SELECT min(global_position) FROM events WHERE global_position >= $1",
            )
            .bind(*p),
            Bound::Time(t) => sqlx::query_scalar(
                "SELECT min(global_position) FROM events WHERE recorded_at >= $1::text::timestamptz",
            )
            .bind(t.clone()),
        };
        q.fetch_one(self.pool()).await.map_err(backend(
            "find the start of the range (is the time readable as timestamptz?)",
        ))
    }

    /// The last global position at or before `bound` (`None`: no event there).
    pub async fn position_until(&self, bound: &Bound) -> Result<Option<i64>, StoreError> {
        let q = match bound {
            Bound::Position(p) => sqlx::query_scalar(
                "SELECT max(global_position) FROM events WHERE global_position <= $1",
            )
            .bind(*p),
            Bound::Time(t) => sqlx::query_scalar(
                "SELECT max(global_position) FROM events WHERE recorded_at <= $1::text::timestamptz",
            )
            .bind(t.clone()),
        };
        q.fetch_one(self.pool()).await.map_err(backend(
            "find the end of the range (is the time readable as timestamptz?)",
        ))
    }

    /// How many events lie in `(after, until]`, only those of `topic` when given.
    pub async fn count_range(
        &self,
        after: i64,
        until: i64,
        topic: Option<&str>,
    ) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE global_position > $1 AND global_position <= $2 \
             AND ($3::text IS NULL OR metadata->>'topic' = $3)",
        )
        .bind(after)
        .bind(until)
        .bind(topic)
        .fetch_one(self.pool())
        .await
        .map_err(backend("count the replay range"))?;
        Ok(n as u64)
    }

    /// Up to `limit` events of `(after, until]` in global-position order, only those of `topic`
    /// when given.
    pub async fn read_range(
        &self,
        after: i64,
        until: i64,
        topic: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM events WHERE global_position > $1 AND global_position <= $2 \
             AND ($3::text IS NULL OR metadata->>'topic' = $3) ORDER BY global_position LIMIT $4"
        )))
        .bind(after)
        .bind(until)
        .bind(topic)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await
        .map_err(backend("read the replay range"))?;
        rows.iter().map(stored_event).collect()
    }
}
