//! One append = one transaction: skip event ids already stored, move `streams.version` from the expected version (0 rows = conflict), insert the batch with one multi-row `INSERT ... SELECT FROM UNNEST`, run inline projections.
//!
//! A stream is identified by its tenant and its id (migration 0102): the batch's tenant (every
//! event of a batch carries the same one) picks the stream, so another tenant's stream of the
//! same id is neither seen nor moved, and a conflict never reports it.

use super::projection::Projection;
use super::rows::backend;
use carebus_core::event::PayloadFormat;
use carebus_core::types::Timestamp;
use carebus_store::StoreError;
use carebus_store::check_stream_id;
use carebus_store::{AppendResult, AppendedEvent, Cursor, ExpectedVersion, NewEvent, StoredEvent};
use sqlx::{PgConnection, PgPool, Row};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Most events in one append (the arrays are sent as single parameters; this bounds memory).
pub(crate) const MAX_BATCH: usize = 10_000;

/// How many times an append is retried when a concurrent writer stored some of its ids.
const RACE_RETRIES: usize = 3;

pub(crate) enum Outcome {
    Done(AppendResult),
    /// A concurrent transaction stored some of the batch's event ids between our check and
    /// our insert; the transaction must be rolled back and the append retried.
    Raced,
}

/// Append in a new transaction, retrying a lost id race, and retrying for up to `unknown_for`
/// when the connection broke (the database restarted, the network dropped) — also when it broke
/// during COMMIT, whose outcome is then unknown: the retry carries the same event ids, so it
/// either appends the batch or finds it already appended (reported as duplicates of the
/// caller's own append). The caller sees one clear result.
pub(crate) async fn append(
    pool: &PgPool,
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    inline: &[Arc<dyn Projection>],
    unknown_for: std::time::Duration,
) -> Result<AppendResult, StoreError> {
    let started = std::time::Instant::now();
    let mut backoff = std::time::Duration::from_millis(50);
    let mut races = 0;
    loop {
        match attempt(pool, stream, expected, &events, inline).await {
            Ok(Some(result)) => return Ok(result),
            Ok(None) => {
                races += 1;
                if races >= RACE_RETRIES {
                    break;
                }
            }
            Err(e) if connection_lost(&e) && started.elapsed() < unknown_for => {
                tracing::warn!(%stream, error = %e, "append: the connection broke; retrying with the same event ids");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Backend {
        operation: "append",
        message: format!(
            "concurrent appends of the same event ids to stream `{stream}` kept racing; retry"
        ),
        retriable: true,
        source: None,
    })
}

/// One transaction: the result, `None` after a lost id race (rolled back), or the error.
async fn attempt(
    pool: &PgPool,
    stream: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
    inline: &[Arc<dyn Projection>],
) -> Result<Option<AppendResult>, StoreError> {
    let mut tx = pool.begin().await.map_err(backend("append"))?;
    match append_tx(&mut tx, stream, expected, events, inline).await? {
        Outcome::Done(result) => {
            tx.commit().await.map_err(backend("append commit"))?;
            Ok(Some(result))
        }
        Outcome::Raced => {
            tx.rollback().await.map_err(backend("append rollback"))?;
            Ok(None)
        }
    }
}

/// Whether the error is the connection (or the server behind it) going away, rather than the
/// database refusing the statement: then the transaction's outcome may be unknown.
fn connection_lost(e: &StoreError) -> bool {
    let StoreError::Backend {
        source: Some(source),
        ..
    } = e
    else {
        return false;
    };
    match source.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::PoolTimedOut) => true,
        Some(sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed) => false,
        Some(sqlx::Error::Database(db)) => db
            .code()
            // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 08* connection
            .is_some_and(|c| matches!(&*c, "57P01" | "57P02" | "57P03") || c.starts_with("08")),
        _ => false,
    }
}

fn check_batch(stream: &str, events: &[NewEvent]) -> Result<(), StoreError> {
    check_stream_id(stream)?;
    let invalid = |reason: String| {
        Err(StoreError::InvalidAppend {
            stream: stream.to_string(),
            reason,
        })
    };
    if events.len() > MAX_BATCH {
        return invalid(format!(
            "{} events in one batch; at most {MAX_BATCH}",
            events.len()
        ));
    }
    if let Some(first) = events.first()
        && events
            .iter()
            .any(|e| e.context.tenant_id != first.context.tenant_id)
    {
        return invalid(
            "the events of one batch belong to different tenants; a stream has one tenant".into(),
        );
    }
    let mut seen = HashSet::new();
    if let Some(dup) = events.iter().find(|e| !seen.insert(e.event_id)) {
        return invalid(format!(
            "event id {} appears twice in the batch",
            dup.event_id
        ));
    }
    Ok(())
}

/// The append's statements on `conn`, inside the caller's transaction.
pub(crate) async fn append_tx(
    conn: &mut PgConnection,
    stream: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
    inline: &[Arc<dyn Projection>],
) -> Result<Outcome, StoreError> {
    check_batch(stream, events)?;
    let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.event_id.0).collect();
    let existing: HashMap<carebus_core::Uuid, AppendedEvent> = sqlx::query(
        "SELECT event_id, stream_version, tx_id::text AS tx_id, global_position \
         FROM events WHERE event_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend("append"))?
    .iter()
    .map(|r| -> Result<_, sqlx::Error> {
        let id = carebus_core::Uuid(r.try_get("event_id")?);
        let tx: String = r.try_get("tx_id")?;
        Ok((
            id,
            AppendedEvent {
                event_id: id,
                stream_version: r.try_get::<i64, _>("stream_version")? as u64,
                cursor: Cursor {
                    tx_id: tx.parse().unwrap_or(0),
                    position: r.try_get("global_position")?,
                },
            },
        ))
    })
    .collect::<Result<_, _>>()
    .map_err(backend("append"))?;

    let fresh: Vec<&NewEvent> = events
        .iter()
        .filter(|e| !existing.contains_key(&e.event_id))
        .collect();
    if fresh.is_empty() {
        // A retried batch (or an empty one): report where it is; nothing to check or write.
        let tenant = events.first().and_then(|e| e.context.tenant_id.as_deref());
        let version: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM streams WHERE stream_id = $1 AND tenant_id IS NOT DISTINCT FROM $2",
        )
        .bind(stream)
        .bind(tenant)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend("append"))?;
        return Ok(Outcome::Done(AppendResult {
            stream_id: stream.to_string(),
            events: ids
                .iter()
                .filter_map(|id| existing.get(&carebus_core::Uuid(*id)).copied())
                .collect(),
            stream_version: version.unwrap_or(0) as u64,
            duplicates: existing.len(),
        }));
    }

    let k = fresh.len() as i64;
    let first = fresh[0];
    let new_version = reserve_versions(conn, stream, expected, k, first).await?;
    let start = new_version - k;

    let n = fresh.len();
    let mut versions = Vec::with_capacity(n);
    let mut agg_types = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut event_versions = Vec::with_capacity(n);
    let mut formats = Vec::with_capacity(n);
    let mut data = Vec::with_capacity(n);
    let mut json = Vec::with_capacity(n);
    let mut metadata = Vec::with_capacity(n);
    let mut tenants = Vec::with_capacity(n);
    let mut correlations = Vec::with_capacity(n);
    let mut causations = Vec::with_capacity(n);
    let mut times = Vec::with_capacity(n);
    let mut fresh_ids = Vec::with_capacity(n);
    for (i, e) in fresh.iter().enumerate() {
        fresh_ids.push(e.event_id.0);
        versions.push(start + 1 + i as i64);
        agg_types.push(e.aggregate_type.as_str());
        types.push(e.event_type.as_str());
        event_versions.push(i32::try_from(e.event_version).unwrap_or(i32::MAX));
        formats.push(match e.format {
            PayloadFormat::Avro => "avro",
            PayloadFormat::Protobuf => "protobuf",
        });
        data.push(e.data.as_slice());
        json.push(e.data_json.clone());
        metadata.push(e.metadata_json());
        tenants.push(e.context.tenant_id.as_deref());
        correlations.push(e.context.correlation_id.as_deref());
        causations.push(e.context.causation_id.as_deref());
        times.push(e.event_time.0);
    }
    let inserted = sqlx::query(
        "INSERT INTO events (event_id, stream_id, stream_version, aggregate_type, event_type, \
           event_version, data_format, data, data_json, data_json_form, metadata, tenant_id, \
           correlation_id, causation_id, event_time) \
         SELECT u.event_id, $1, u.stream_version, u.aggregate_type, u.event_type, u.event_version, \
           u.data_format, u.data, u.data_json, 'avro', u.metadata, u.tenant_id, u.correlation_id, \
           u.causation_id, to_timestamp(0) + u.event_time_us * interval '1 microsecond' \
         FROM UNNEST($2::uuid[], $3::int8[], $4::text[], $5::text[], $6::int4[], $7::text[], \
           $8::bytea[], $9::jsonb[], $10::jsonb[], $11::text[], $12::text[], $13::text[], $14::int8[]) \
           AS u(event_id, stream_version, aggregate_type, event_type, event_version, data_format, \
           data, data_json, metadata, tenant_id, correlation_id, causation_id, event_time_us) \
         ORDER BY u.stream_version \
         ON CONFLICT (event_id) DO NOTHING \
         RETURNING event_id, global_position, tx_id::text AS tx_text, stream_version, \
           (extract(epoch FROM recorded_at) * 1000000)::int8 AS recorded_at_us",
    )
    .bind(stream)
    .bind(&fresh_ids)
    .bind(&versions)
    .bind(&agg_types)
    .bind(&types)
    .bind(&event_versions)
    .bind(&formats)
    .bind(&data)
    .bind(&json)
    .bind(&metadata)
    .bind(&tenants)
    .bind(&correlations)
    .bind(&causations)
    .bind(&times)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.constraint() == Some("events_stream_version_key") => {
            StoreError::Conflict {
                stream: stream.to_string(),
                expected,
                actual: None,
            }
        }
        _ => backend("append insert")(e),
    })?;
    if inserted.len() != fresh.len() {
        return Ok(Outcome::Raced);
    }
    let mut by_id: HashMap<carebus_core::Uuid, AppendedEvent> = existing.clone();
    let mut recorded_at = HashMap::with_capacity(inserted.len());
    for r in &inserted {
        let decoded = (|| -> Result<_, sqlx::Error> {
            let id: uuid::Uuid = r.try_get("event_id")?;
            let tx: String = r.try_get("tx_text")?;
            Ok((
                AppendedEvent {
                    event_id: carebus_core::Uuid(id),
                    stream_version: r.try_get::<i64, _>("stream_version")? as u64,
                    cursor: Cursor {
                        tx_id: tx.parse().unwrap_or(0),
                        position: r.try_get("global_position")?,
                    },
                },
                Timestamp(r.try_get("recorded_at_us")?),
            ))
        })()
        .map_err(backend("append insert"))?;
        recorded_at.insert(decoded.0.event_id, decoded.1);
        by_id.insert(decoded.0.event_id, decoded.0);
    }
    if !inline.is_empty() {
        // Inline projections see the events as stored, in stream order.
        let stored: Vec<StoredEvent> = fresh
            .iter()
            .filter_map(|e| {
                let at = by_id.get(&e.event_id)?;
                Some(StoredEvent::from_new(
                    (*e).clone(),
                    stream,
                    at.stream_version,
                    at.cursor,
                    recorded_at.get(&e.event_id).copied().unwrap_or_default(),
                ))
            })
            .collect();
        for projection in inline {
            for event in &stored {
                projection.apply(&mut *conn, event).await?;
            }
        }
    }
    Ok(Outcome::Done(AppendResult {
        stream_id: stream.to_string(),
        events: ids
            .iter()
            .filter_map(|id| by_id.get(&carebus_core::Uuid(*id)).copied())
            .collect(),
        stream_version: new_version as u64,
        duplicates: existing.len(),
    }))
}

/// Move the stream's version by `k` from the expected one; returns the new version.
async fn reserve_versions(
    conn: &mut PgConnection,
    stream: &str,
    expected: ExpectedVersion,
    k: i64,
    first: &NewEvent,
) -> Result<i64, StoreError> {
    let insert = "INSERT INTO streams (stream_id, aggregate_type, tenant_id, version) \
                  VALUES ($1, $2, $3, $4) ";
    let moved: Option<i64> = match expected {
        ExpectedVersion::Any => sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "{insert} ON CONFLICT (tenant_id, stream_id) DO UPDATE SET version = streams.version + EXCLUDED.version \
             RETURNING version"
        )))
        .bind(stream)
        .bind(&first.aggregate_type)
        .bind(&first.context.tenant_id)
        .bind(k)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend("append"))?,
        ExpectedVersion::NoStream | ExpectedVersion::Exact(0) => sqlx::query_scalar(
            sqlx::AssertSqlSafe(format!("{insert} ON CONFLICT (tenant_id, stream_id) DO NOTHING RETURNING version")),
        )
        .bind(stream)
        .bind(&first.aggregate_type)
        .bind(&first.context.tenant_id)
        .bind(k)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend("append"))?,
        ExpectedVersion::Exact(v) => sqlx::query_scalar(
            "UPDATE streams SET version = version + $2 WHERE stream_id = $1 AND version = $3 \
             AND tenant_id IS NOT DISTINCT FROM $4 RETURNING version",
        )
        .bind(stream)
        .bind(k)
        .bind(i64::try_from(v).unwrap_or(i64::MAX))
        .bind(&first.context.tenant_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend("append"))?,
    };
    match moved {
        Some(v) => Ok(v),
        None => {
            let actual: Option<i64> = sqlx::query_scalar(
                "SELECT version FROM streams WHERE stream_id = $1 \
                 AND tenant_id IS NOT DISTINCT FROM $2",
            )
            .bind(stream)
            .bind(&first.context.tenant_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend("append"))?;
            Err(StoreError::Conflict {
                stream: stream.to_string(),
                expected,
                actual: actual.map(|v| v as u64),
            })
        }
    }
}
