//! An event store's tables in, a [`Verification`] out: global positions, stream versions against `streams.version`, each row's JSON form against its binary payload, and a digest of the log to compare two copies (a restore against its source).
//!
//! What is checked, over `events` and `events_archive` together (compaction moves a stream's
//! prefix to the archive; the log is their union):
//! - **Global positions**: unique by construction (primary keys); [`Verification::position_gaps`]
//!   counts missing numbers between the first and the last. A gap is not by itself a lost
//!   event: an append rolled back, or a batch that lost an id race, consumes identity values,
//!   and after a crash or a restore PostgreSQL's sequence jumps ahead (it logs 32 values in
//!   advance). Gaps are a problem only when the caller asks for a contiguous log
//!   ([`VerifyOptions::contiguous`]: a store where no append ever rolled back).
//! - **Stream versions**: for each stream (tenant and id), its events' versions are exactly
//!   `1..=n` and `n` is `streams.version`. An event lost from the middle or the end of a
//!   stream shows here, because the stream row and the events commit in one transaction.
//! - **JSON form**: for each row in Avro's JSON encoding (`data_json_form = 'avro'`) with a
//!   JSON form, the caller's decoder turns the binary payload into its JSON form and it must
//!   equal `data_json`. Rows of event types the decoder does not know are counted, not judged.
//! - **Digest**: MD5 over `(global_position, event_id, md5(data))` of every row in position
//!   order: equal digests mean the same events with the same payloads at the same positions.
//!
//! Reports name positions, event ids and stream ids, never event data.

use crate::PgEventStore;
use crate::rows::backend;
use carebus_store::StoreError;
use serde_json::Value;
use sqlx::Row;

/// Most problems of one kind listed in a report (the counts are always complete).
const LISTED: usize = 20;

/// Rows read per batch for the JSON form check.
const BATCH: i64 = 1_000;

/// Turns an event's binary payload (type, version, bytes) into its JSON form; `None` when the
/// event type or version is unknown to it, `Some(Err(reason))` when the payload does not decode.
pub type JsonOfPayload<'a> = &'a (dyn Fn(&str, u32, &[u8]) -> Option<Result<Value, String>> + Sync);

/// What [`verify`] checks beyond the defaults.
#[derive(Clone, Copy, Debug, Default)]
pub struct VerifyOptions {
    /// Treat gaps between global positions as problems (a store where no append rolled back,
    /// e.g. a test's).
    pub contiguous: bool,
}

/// The outcome of [`verify`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verification {
    /// Rows in `events`.
    pub events: u64,
    /// Rows in `events_archive`.
    pub archived: u64,
    /// Rows in `streams`.
    pub streams: u64,
    /// Lowest and highest global position over both tables.
    pub positions: Option<(i64, i64)>,
    /// Missing global positions between the lowest and the highest.
    pub position_gaps: u64,
    /// The first missing ranges `(from, to)`, inclusive.
    pub gap_ranges: Vec<(i64, i64)>,
    /// Streams whose versions are not `1..=streams.version` (at most 20 listed).
    pub broken_streams: Vec<String>,
    /// How many streams are broken.
    pub broken_stream_count: u64,
    /// Rows whose JSON form was compared with their payload and matched.
    pub json_matched: u64,
    /// Rows whose JSON form differs from their payload, or whose payload does not decode:
    /// `(global position, event id)` (at most 20 listed).
    pub json_mismatched: Vec<(i64, uuid::Uuid)>,
    /// How many rows mismatched.
    pub json_mismatch_count: u64,
    /// Rows not compared: no JSON form, another JSON form than Avro's, or an event type or
    /// version the decoder does not know.
    pub json_unchecked: u64,
    /// MD5 (hex) over `(global_position, event_id, md5(data))` in position order.
    pub digest: String,
    /// Whether gaps count as problems (from [`VerifyOptions::contiguous`]).
    pub contiguous: bool,
}

impl Verification {
    /// One line per problem found; empty when the store is sound.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.contiguous && self.position_gaps > 0 {
            out.push(format!(
                "{} global positions missing (first ranges: {:?})",
                self.position_gaps, self.gap_ranges
            ));
        }
        if self.broken_stream_count > 0 {
            out.push(format!(
                "{} streams whose versions are not 1..=streams.version: {}",
                self.broken_stream_count,
                self.broken_streams.join(", ")
            ));
        }
        if self.json_mismatch_count > 0 {
            let rows: Vec<String> = self
                .json_mismatched
                .iter()
                .map(|(p, id)| format!("position {p} (event {id})"))
                .collect();
            out.push(format!(
                "{} rows whose JSON form differs from their payload: {}",
                self.json_mismatch_count,
                rows.join(", ")
            ));
        }
        out
    }

    /// No problems.
    pub fn is_sound(&self) -> bool {
        self.problems().is_empty()
    }
}

impl std::fmt::Display for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "events: {} (+{} archived) in {} streams",
            self.events, self.archived, self.streams
        )?;
        match self.positions {
            Some((lo, hi)) => writeln!(
                f,
                "global positions: {lo}..={hi}, {} missing{}",
                self.position_gaps,
                if self.position_gaps > 0 && !self.contiguous {
                    " (rolled-back appends or a sequence jump after a restart; not a loss by itself)"
                } else {
                    ""
                }
            )?,
            None => writeln!(f, "global positions: none")?,
        }
        writeln!(
            f,
            "stream versions: {} streams broken",
            self.broken_stream_count
        )?;
        writeln!(
            f,
            "JSON form: {} match their payload, {} differ, {} not checked",
            self.json_matched, self.json_mismatch_count, self.json_unchecked
        )?;
        write!(f, "digest: {}", self.digest)
    }
}

/// Check `store`'s log (see the module documentation); `json_of` decodes payloads for the
/// JSON form check. Reads only; safe while the store is in use (appends committing meanwhile
/// may or may not be counted).
pub async fn verify(
    store: &PgEventStore,
    json_of: JsonOfPayload<'_>,
    options: VerifyOptions,
) -> Result<Verification, StoreError> {
    let pool = store.pool();
    let mut v = Verification {
        contiguous: options.contiguous,
        ..Verification::default()
    };
    let counts = sqlx::query(
        "SELECT (SELECT count(*) FROM events) AS events, \
                (SELECT count(*) FROM events_archive) AS archived, \
                (SELECT count(*) FROM streams) AS streams",
    )
    .fetch_one(pool)
    .await
    .map_err(backend("verify: count rows"))?;
    let get = |name: &str| -> Result<u64, StoreError> {
        Ok(counts
            .try_get::<i64, _>(name)
            .map_err(backend("verify: count rows"))? as u64)
    };
    v.events = get("events")?;
    v.archived = get("archived")?;
    v.streams = get("streams")?;

    let log = "(SELECT global_position, event_id, data, tenant_id, stream_id, stream_version \
               FROM events UNION ALL SELECT global_position, event_id, data, tenant_id, \
               stream_id, stream_version FROM events_archive)";
    let range = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT min(global_position) AS lo, max(global_position) AS hi, count(*) AS n FROM {log} l"
    )))
    .fetch_one(pool)
    .await
    .map_err(backend("verify: global positions"))?;
    let lo: Option<i64> = range.try_get("lo").map_err(backend("verify"))?;
    let hi: Option<i64> = range.try_get("hi").map_err(backend("verify"))?;
    let n: i64 = range.try_get("n").map_err(backend("verify"))?;
    if let (Some(lo), Some(hi)) = (lo, hi) {
        v.positions = Some((lo, hi));
        v.position_gaps = (hi - lo + 1 - n).max(0) as u64;
        if v.position_gaps > 0 {
            v.gap_ranges = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(format!(
                "SELECT global_position + 1, next - 1 FROM \
                 (SELECT global_position, lead(global_position) OVER (ORDER BY global_position) \
                  AS next FROM {log} l) g WHERE next > global_position + 1 \
                 ORDER BY global_position LIMIT {LISTED}"
            )))
            .fetch_all(pool)
            .await
            .map_err(backend("verify: global position gaps"))?;
        }
    }

    // Per stream: count, min and max of its versions against streams.version.
    let broken = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT coalesce(s.stream_id, l.stream_id) AS stream_id, count(*) OVER () AS total \
         FROM streams s FULL JOIN \
           (SELECT tenant_id, stream_id, count(*) AS n, count(DISTINCT stream_version) AS d, \
                   min(stream_version) AS lo, max(stream_version) AS hi \
            FROM {log} l GROUP BY tenant_id, stream_id) l \
         ON s.stream_id = l.stream_id AND s.tenant_id IS NOT DISTINCT FROM l.tenant_id \
         WHERE s.stream_id IS NULL OR l.stream_id IS NULL OR l.lo <> 1 OR l.hi <> s.version \
            OR l.n <> s.version OR l.d <> l.n \
         ORDER BY 1 LIMIT {LISTED}"
    )))
    .fetch_all(pool)
    .await
    .map_err(backend("verify: stream versions"))?;
    for row in &broken {
        v.broken_streams
            .push(row.try_get("stream_id").map_err(backend("verify"))?);
        v.broken_stream_count = row.try_get::<i64, _>("total").map_err(backend("verify"))? as u64;
    }

    for table in ["events", "events_archive"] {
        check_json(store, table, json_of, &mut v).await?;
    }

    v.digest = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT coalesce(md5(string_agg(global_position::text || ':' || event_id::text || ':' \
         || md5(data), ',' ORDER BY global_position)), md5('')) FROM {log} l"
    )))
    .fetch_one(pool)
    .await
    .map_err(backend("verify: digest"))?;
    Ok(v)
}

/// The JSON form check over one table, in batches by position.
async fn check_json(
    store: &PgEventStore,
    table: &str,
    json_of: JsonOfPayload<'_>,
    v: &mut Verification,
) -> Result<(), StoreError> {
    let mut after = i64::MIN;
    loop {
        // `table` is one of two fixed names, never input.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT global_position, event_id, event_type, event_version, data, data_json, \
             data_json_form FROM {table} WHERE global_position > $1 \
             ORDER BY global_position LIMIT $2"
        )))
        .bind(after)
        .bind(BATCH)
        .fetch_all(store.pool())
        .await
        .map_err(backend("verify: read JSON forms"))?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.try_get("global_position").map_err(backend("verify"))?;
        for row in &rows {
            let form: String = row.try_get("data_json_form").map_err(backend("verify"))?;
            let json: Option<Value> = row.try_get("data_json").map_err(backend("verify"))?;
            let Some(json) = json.filter(|_| form == "avro") else {
                v.json_unchecked += 1;
                continue;
            };
            let event_type: String = row.try_get("event_type").map_err(backend("verify"))?;
            let version: i32 = row.try_get("event_version").map_err(backend("verify"))?;
            let data: Vec<u8> = row.try_get("data").map_err(backend("verify"))?;
            let same = match json_of(&event_type, version.max(0) as u32, &data) {
                None => {
                    v.json_unchecked += 1;
                    continue;
                }
                Some(Ok(decoded)) => decoded == json,
                Some(Err(_)) => false,
            };
            if same {
                v.json_matched += 1;
            } else {
                v.json_mismatch_count += 1;
                if v.json_mismatched.len() < LISTED {
                    v.json_mismatched.push((
                        row.try_get("global_position").map_err(backend("verify"))?,
                        row.try_get("event_id").map_err(backend("verify"))?,
                    ));
                }
            }
        }
    }
}
