//! `events` / `events_archive` rows into [`StoredEvent`]s for the store-operation modules (query, compaction, shredding), and sqlx errors into [`StoreError`]s naming the operation, never the data.

use carebus_core::event::PayloadFormat;
use carebus_core::types::Timestamp;
use carebus_store::StoreError;
use carebus_store::{EventContext, StoredEvent};
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;

/// The columns both tables share, in table order (an `events_archive` row is this plus
/// `archived_at`).
pub(crate) const RAW_COLUMNS: &str = "global_position, tx_id, event_id, stream_id, \
    stream_version, aggregate_type, event_type, event_version, data_format, data, data_json, \
    data_json_form, metadata, tenant_id, correlation_id, causation_id, event_time, recorded_at";

/// The live log and the archive as one relation `e` (for reads that include archived rows).
pub(crate) const WITH_ARCHIVE: &str = "(SELECT global_position, tx_id, event_id, stream_id, \
    stream_version, aggregate_type, event_type, event_version, data_format, data, data_json, \
    data_json_form, metadata, tenant_id, correlation_id, causation_id, event_time, recorded_at \
    FROM events \
    UNION ALL SELECT global_position, tx_id, event_id, stream_id, \
    stream_version, aggregate_type, event_type, event_version, data_format, data, data_json, \
    data_json_form, metadata, tenant_id, correlation_id, causation_id, event_time, recorded_at \
    FROM events_archive) e";

/// What reads select, in the form [`stored_event`] decodes.
pub(crate) const SELECT: &str = "global_position, tx_id::text AS tx_id, event_id, stream_id, \
    stream_version, aggregate_type, event_type, event_version, data_format, data, data_json, \
    data_json_form, metadata, tenant_id, correlation_id, causation_id, \
    (extract(epoch FROM event_time) * 1000000)::int8 AS event_time_us, \
    (extract(epoch FROM recorded_at) * 1000000)::int8 AS recorded_at_us";

/// What binary-only reads select, in the form [`stored_event_binary`] decodes: no JSON form,
/// the metadata fields extracted by the server (no JSON parsing on the client).
pub(crate) const SELECT_BINARY: &str = "global_position, tx_id::text, event_id, stream_id, \
    stream_version, aggregate_type, event_type, event_version, data_format, data, \
    tenant_id, correlation_id, causation_id, \
    (extract(epoch FROM event_time) * 1000000)::int8, \
    (extract(epoch FROM recorded_at) * 1000000)::int8, \
    metadata->>'aggregateId', metadata->>'topic', metadata->>'schemaFingerprint', \
    metadata->>'source', metadata->>'userId', metadata->>'ipAddress', metadata->>'traceparent'";

// Error mapping and column access are the core store's, so both read paths report alike.
pub(crate) use crate::rows::{backend, bad_row, column, json_form};
use carebus_core::wire::JsonForm;

/// A row selected with [`SELECT`].
pub(crate) fn stored_event(row: &PgRow) -> Result<StoredEvent, StoreError> {
    let tx_text: String = column(row, "tx_id")?;
    let tx_id = tx_text.parse().map_err(|_| bad_row("tx_id"))?;
    let format = match column::<String>(row, "data_format")?.as_str() {
        "avro" => PayloadFormat::Avro,
        "protobuf" => PayloadFormat::Protobuf,
        _ => return Err(bad_row("data_format")),
    };
    let metadata: Value = column(row, "metadata")?;
    let meta = |k: &str| metadata.get(k).and_then(Value::as_str).map(str::to_owned);
    let event_time = Timestamp(column(row, "event_time_us")?);
    Ok(StoredEvent {
        global_position: column(row, "global_position")?,
        tx_id,
        event_id: carebus_core::Uuid(column(row, "event_id")?),
        stream_id: column(row, "stream_id")?,
        stream_version: column::<i64>(row, "stream_version")? as u64,
        aggregate_type: column(row, "aggregate_type")?,
        aggregate_id: meta("aggregateId").unwrap_or_default(),
        event_type: column(row, "event_type")?,
        event_version: column::<i32>(row, "event_version")? as u32,
        topic: meta("topic").unwrap_or_default(),
        format,
        fingerprint: meta("schemaFingerprint").and_then(|f| u64::from_str_radix(&f, 16).ok()),
        data: column(row, "data")?,
        data_json: column(row, "data_json")?,
        data_json_form: json_form(row)?,
        context: EventContext {
            tenant_id: column(row, "tenant_id")?,
            correlation_id: column(row, "correlation_id")?,
            causation_id: column(row, "causation_id")?,
            user_id: meta("userId"),
            source: meta("source").unwrap_or_default(),
            ip_address: meta("ipAddress"),
            traceparent: meta("traceparent"),
            event_time: Some(event_time),
        },
        event_time,
        recorded_at: Timestamp(column(row, "recorded_at_us")?),
    })
}

/// A row selected with [`SELECT_BINARY`] (columns by index; `data_json` is `None`).
pub(crate) fn stored_event_binary(row: &PgRow) -> Result<StoredEvent, StoreError> {
    fn at<'r, T>(row: &'r PgRow, i: usize) -> Result<T, StoreError>
    where
        T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        row.try_get(i).map_err(backend("decode row"))
    }
    let tx_text: String = at(row, 1)?;
    let format = match at::<&str>(row, 8)? {
        "avro" => PayloadFormat::Avro,
        "protobuf" => PayloadFormat::Protobuf,
        _ => return Err(bad_row("data_format")),
    };
    let event_time = Timestamp(at(row, 13)?);
    Ok(StoredEvent {
        global_position: at(row, 0)?,
        tx_id: tx_text.parse().map_err(|_| bad_row("tx_id"))?,
        event_id: carebus_core::Uuid(at(row, 2)?),
        stream_id: at(row, 3)?,
        stream_version: at::<i64>(row, 4)? as u64,
        aggregate_type: at(row, 5)?,
        aggregate_id: at::<Option<String>>(row, 15)?.unwrap_or_default(),
        event_type: at(row, 6)?,
        event_version: at::<i32>(row, 7)? as u32,
        topic: at::<Option<String>>(row, 16)?.unwrap_or_default(),
        format,
        fingerprint: at::<Option<&str>>(row, 17)?.and_then(|f| u64::from_str_radix(f, 16).ok()),
        data: at(row, 9)?,
        data_json: None,
        data_json_form: JsonForm::Avro,
        context: EventContext {
            tenant_id: at(row, 10)?,
            correlation_id: at(row, 11)?,
            causation_id: at(row, 12)?,
            user_id: at(row, 19)?,
            source: at::<Option<String>>(row, 18)?.unwrap_or_default(),
            ip_address: at(row, 20)?,
            traceparent: at(row, 21)?,
            event_time: Some(event_time),
        },
        event_time,
        recorded_at: Timestamp(at(row, 14)?),
    })
}
