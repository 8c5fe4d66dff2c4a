//! PostgreSQL rows into store values (events, snapshots, checkpoints) and sqlx errors into [`StoreError`]s that name the operation, never the data.

use carebus_core::event::PayloadFormat;
use carebus_core::types::Timestamp;
use carebus_core::wire::JsonForm;
use carebus_store::StoreError;
use carebus_store::{Cursor, EventContext, Snapshot, StoredEvent};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

/// The event columns every read selects, in the form [`stored_event`] reads.
///
/// The text form of `tx_id` is aliased `tx_text`, not `tx_id`: an `ORDER BY tx_id` would
/// otherwise sort by the *text* (`'10' < '9'`) instead of the `xid8` column.
pub(crate) const COLUMNS: &str = "global_position, tx_id::text AS tx_text, event_id, stream_id, \
    stream_version, aggregate_type, event_type, event_version, data_format, data, data_json, \
    data_json_form, \
    metadata->>'aggregateId' AS m_aggregate_id, metadata->>'topic' AS m_topic, \
    metadata->>'schemaFingerprint' AS m_fingerprint, metadata->>'userId' AS m_user_id, \
    metadata->>'source' AS m_source, metadata->>'ipAddress' AS m_ip_address, \
    metadata->>'traceparent' AS m_traceparent, tenant_id, correlation_id, causation_id, \
    (extract(epoch FROM event_time) * 1000000)::int8 AS event_time_us, \
    (extract(epoch FROM recorded_at) * 1000000)::int8 AS recorded_at_us";

/// [`COLUMNS`] with `NULL` for `data_json`: replays that decode the binary payload skip
/// parsing the JSON form (about twice as fast).
pub(crate) const COLUMNS_WITHOUT_JSON: &str = "global_position, tx_id::text AS tx_text, event_id, \
    stream_id, stream_version, aggregate_type, event_type, event_version, data_format, data, \
    NULL::jsonb AS data_json, 'avro' AS data_json_form, \
    metadata->>'aggregateId' AS m_aggregate_id, metadata->>'topic' AS m_topic, \
    metadata->>'schemaFingerprint' AS m_fingerprint, metadata->>'userId' AS m_user_id, \
    metadata->>'source' AS m_source, metadata->>'ipAddress' AS m_ip_address, \
    metadata->>'traceparent' AS m_traceparent, tenant_id, correlation_id, causation_id, \
    (extract(epoch FROM event_time) * 1000000)::int8 AS event_time_us, \
    (extract(epoch FROM recorded_at) * 1000000)::int8 AS recorded_at_us";

/// Map a sqlx error, naming the operation. Database errors keep their message and SQLSTATE
/// (PostgreSQL puts row values in the DETAIL, which is dropped).
pub(crate) fn backend(operation: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| {
        let (message, retriable) = match &e {
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                let retriable = matches!(code.as_str(), "40001" | "40P01" | "57P01" | "57P03")
                    || code.starts_with("08");
                (format!("{} (SQLSTATE {code})", db.message()), retriable)
            }
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::Protocol(_)
            | sqlx::Error::Tls(_) => (e.to_string(), true),
            _ => (e.to_string(), false),
        };
        StoreError::Backend {
            operation,
            message,
            retriable,
            source: Some(Box::new(e)),
        }
    }
}

pub(crate) fn column<'r, T>(row: &'r PgRow, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(name).map_err(backend("decode row"))
}

/// The `data_json_form` column of a row.
pub(crate) fn json_form(row: &PgRow) -> Result<JsonForm, StoreError> {
    JsonForm::parse(&column::<String>(row, "data_json_form")?)
        .ok_or_else(|| bad_row("data_json_form"))
}

pub(crate) fn bad_row(what: &str) -> StoreError {
    StoreError::Backend {
        operation: "decode row",
        message: format!("column {what} holds a value this version of carebus does not know"),
        retriable: false,
        source: None,
    }
}

/// An `events` row selected with [`COLUMNS`].
pub(crate) fn stored_event(row: &PgRow) -> Result<StoredEvent, StoreError> {
    let tx_text: String = column(row, "tx_text")?;
    let tx_id = tx_text.parse().map_err(|_| bad_row("tx_id"))?;
    let format = match column::<String>(row, "data_format")?.as_str() {
        "avro" => PayloadFormat::Avro,
        "protobuf" => PayloadFormat::Protobuf,
        _ => return Err(bad_row("data_format")),
    };
    let meta = |k: &str| column::<Option<String>>(row, k);
    let event_time = Timestamp(column(row, "event_time_us")?);
    Ok(StoredEvent {
        global_position: column(row, "global_position")?,
        tx_id,
        event_id: carebus_core::Uuid(column(row, "event_id")?),
        stream_id: column(row, "stream_id")?,
        stream_version: column::<i64>(row, "stream_version")? as u64,
        aggregate_type: column(row, "aggregate_type")?,
        aggregate_id: meta("m_aggregate_id")?.unwrap_or_default(),
        event_type: column(row, "event_type")?,
        event_version: column::<i32>(row, "event_version")? as u32,
        topic: meta("m_topic")?.unwrap_or_default(),
        format,
        fingerprint: meta("m_fingerprint")?.and_then(|f| u64::from_str_radix(&f, 16).ok()),
        data: column(row, "data")?,
        data_json: column(row, "data_json")?,
        data_json_form: json_form(row)?,
        context: EventContext {
            tenant_id: column(row, "tenant_id")?,
            correlation_id: column(row, "correlation_id")?,
            causation_id: column(row, "causation_id")?,
            user_id: meta("m_user_id")?,
            source: meta("m_source")?.unwrap_or_default(),
            ip_address: meta("m_ip_address")?,
            traceparent: meta("m_traceparent")?,
            event_time: Some(event_time),
        },
        event_time,
        recorded_at: Timestamp(column(row, "recorded_at_us")?),
    })
}

/// A `snapshots` row (with `created_us`).
pub(crate) fn snapshot(row: &PgRow) -> Result<Snapshot, StoreError> {
    Ok(Snapshot {
        stream_id: column(row, "stream_id")?,
        version: column::<i64>(row, "version")? as u64,
        state_version: column::<i32>(row, "state_version")? as u32,
        aggregate_type: column(row, "aggregate_type")?,
        tenant_id: column(row, "tenant_id")?,
        data: column(row, "data")?,
        created_at: Timestamp(column(row, "created_us")?),
    })
}

/// The stored checkpoint of `subscription`.
pub(crate) async fn load_checkpoint(
    pool: &PgPool,
    subscription: &str,
) -> Result<Option<Cursor>, StoreError> {
    let row = sqlx::query(
        "SELECT last_tx_id::text AS tx, last_position FROM checkpoints WHERE subscription = $1",
    )
    .bind(subscription)
    .fetch_optional(pool)
    .await
    .map_err(backend("load checkpoint"))?;
    row.map(|r| {
        let tx: String = column(&r, "tx")?;
        Ok(Cursor {
            tx_id: tx.parse().map_err(|_| bad_row("last_tx_id"))?,
            position: column(&r, "last_position")?,
        })
    })
    .transpose()
}

/// Upsert a checkpoint. With `expected`, only if the stored one is still `expected` (or
/// absent and `expected` is the start): returns whether it was written, so two runners of one
/// projection cannot both apply a batch.
pub(crate) async fn save_checkpoint(
    conn: &mut PgConnection,
    subscription: &str,
    cursor: Cursor,
    expected: Option<Cursor>,
) -> Result<bool, StoreError> {
    let base = "INSERT INTO checkpoints (subscription, last_tx_id, last_position) \
                VALUES ($1, $2::text::xid8, $3) ON CONFLICT (subscription) DO UPDATE \
                SET last_tx_id = EXCLUDED.last_tx_id, last_position = EXCLUDED.last_position, \
                updated_at = now()";
    let q = match expected {
        None => sqlx::query(base),
        Some(_) => sqlx::query(
            "INSERT INTO checkpoints (subscription, last_tx_id, last_position) \
             VALUES ($1, $2::text::xid8, $3) ON CONFLICT (subscription) DO UPDATE \
             SET last_tx_id = EXCLUDED.last_tx_id, last_position = EXCLUDED.last_position, \
             updated_at = now() \
             WHERE (checkpoints.last_tx_id, checkpoints.last_position) = ($4::text::xid8, $5)",
        ),
    };
    let mut q = q
        .bind(subscription)
        .bind(cursor.tx_id.to_string())
        .bind(cursor.position);
    if let Some(e) = expected {
        q = q.bind(e.tx_id.to_string()).bind(e.position);
    }
    let done = q.execute(conn).await.map_err(backend("save checkpoint"))?;
    Ok(done.rows_affected() == 1)
}
