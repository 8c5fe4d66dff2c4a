//! Rows whose `data_json` is in carebus's JSON form from before Avro's JSON encoding (`data_json_form = 'carebus-legacy'`) rewritten into Avro's JSON encoding, from each event's schema.
//!
//! Migration `0103_data_json_form.sql` marks every row written before carebus wrote Avro's
//! JSON encoding as `carebus-legacy`; reads report the mark ([`StoredEvent::data_json_form`],
//! the query endpoint's `dataJsonForm`). [`upgrade_json_form`] rewrites those rows in batches
//! with [`carebus_core::json_legacy::upcast`] and the `.avsc` of each event type and version
//! (the generated `EVENTS` table), in `events` and `events_archive`. A row it cannot rewrite
//! exactly stays `carebus-legacy` and is counted: an event type this build does not know, a
//! Protobuf event (its JSON form did not change: marked `avro` as it is), or a value that does
//! not read — e.g. PHI sealed by crypto-shredding (`{"$phi": …}`) or erased (`"[erased]"`).
//!
//! [`StoredEvent::data_json_form`]: carebus_store::StoredEvent::data_json_form

use crate::PgEventStore;
use crate::query::rows::backend;
use carebus_core::event::PayloadFormat;
use carebus_core::topic::EventInfo;
use carebus_store::StoreError;
use serde_json::Value;
use sqlx::Row;

/// What [`upgrade_json_form`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JsonFormUpgrade {
    /// Rows rewritten into Avro's JSON encoding (or marked `avro`: Protobuf events, rows
    /// without a JSON form).
    pub upgraded: u64,
    /// Rows left `carebus-legacy`: unknown event type or version, or a JSON form that does not
    /// read with the event's schema (sealed or erased PHI). Reads still report them as legacy.
    pub left_legacy: u64,
}

/// Rewrite every `carebus-legacy` row of `events` and `events_archive` whose event type and
/// version `events` knows, `batch` rows per transaction. Safe to run while the store is in use
/// and to run again (it only touches legacy rows, and leaves the ones it cannot rewrite).
pub async fn upgrade_json_form(
    store: &PgEventStore,
    events: &[EventInfo],
    batch: usize,
) -> Result<JsonFormUpgrade, StoreError> {
    let mut report = JsonFormUpgrade::default();
    for table in ["events", "events_archive"] {
        // Rows left legacy are skipped by position, so each batch makes progress.
        let mut after = i64::MIN;
        loop {
            // `table` is one of the two names above, never input.
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT global_position, event_type, event_version, data_json FROM {table} \
                 WHERE data_json_form = 'carebus-legacy' AND global_position > $1 \
                 ORDER BY global_position LIMIT $2"
            )))
            .bind(after)
            .bind(i64::try_from(batch.max(1)).unwrap_or(i64::MAX))
            .fetch_all(store.pool())
            .await
            .map_err(backend("read legacy JSON rows"))?;
            let Some(last) = rows.last() else { break };
            after = last
                .try_get("global_position")
                .map_err(backend("decode row"))?;
            let mut positions = Vec::with_capacity(rows.len());
            let mut upgraded = Vec::with_capacity(rows.len());
            for row in &rows {
                let position: i64 = row
                    .try_get("global_position")
                    .map_err(backend("decode row"))?;
                let event_type: String =
                    row.try_get("event_type").map_err(backend("decode row"))?;
                let version: i32 = row
                    .try_get("event_version")
                    .map_err(backend("decode row"))?;
                let json: Option<Value> =
                    row.try_get("data_json").map_err(backend("decode row"))?;
                let info = events.iter().find(|i| {
                    i.event_type == event_type && i64::from(i.version) == i64::from(version)
                });
                let new = match (info, json) {
                    (None, _) => None,
                    (Some(_), None) => Some(Value::Null),
                    (Some(i), Some(json)) if i.format == PayloadFormat::Protobuf => Some(json),
                    (Some(i), Some(json)) => {
                        carebus_core::json_legacy::upcast(i.schema, &json).ok()
                    }
                };
                match new {
                    Some(v) => {
                        positions.push(position);
                        upgraded.push(v);
                    }
                    None => report.left_legacy += 1,
                }
            }
            if positions.is_empty() {
                continue;
            }
            // `Value::Null` stands for "no JSON form": written back as SQL NULL.
            let json: Vec<Option<Value>> = upgraded
                .into_iter()
                .map(|v| (!v.is_null()).then_some(v))
                .collect();
            let done = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} t SET data_json = u.data_json, data_json_form = 'avro' \
                 FROM UNNEST($1::int8[], $2::jsonb[]) AS u(global_position, data_json) \
                 WHERE t.global_position = u.global_position \
                   AND t.data_json_form = 'carebus-legacy'"
            )))
            .bind(&positions)
            .bind(&json)
            .execute(store.pool())
            .await
            .map_err(backend("rewrite legacy JSON rows"))?;
            report.upgraded += done.rows_affected();
        }
    }
    Ok(report)
}
