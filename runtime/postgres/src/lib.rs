//! The PostgreSQL event store: [`EventStore`] over the `streams`/`events`/`snapshots`/`checkpoints` tables of `migrations/`, appending one batch per transaction and reading by the safe `(tx_id, global_position)` cursor.
//!
//! Notes for operators:
//! - `xmin` is cluster-wide: a transaction left open anywhere on the server (another database
//!   included) holds every subscriber back until it ends. [`CatchUp`](carebus_store::CatchUp)
//!   reports that as a stall (metric + warning); `count` still sees the pending events.
//! - `xid8` values do not survive `pg_dump`/restore into another cluster: after a restore,
//!   `DELETE FROM checkpoints` and rebuild the projections (replays are idempotent by event id
//!   for the Kafka sink; projections start from an empty read model via [`rebuild`]).
//! - Every statement is parameterised; the only text put into SQL is the schema name of
//!   [`PgEventStore::connect_in_schema`] and the role names of [`tenancy::admin_setup_sql`],
//!   each checked to be a plain identifier first.
//! - A stream is identified by its tenant and its id: two tenants may use the same stream id
//!   without seeing each other. The owner's store, which sees every tenant, reads both under
//!   that id (`read_stream`, `stream_version`); read one tenant's stream through a tenant store
//!   ([`tenancy::tenant_store`]). Appends pick the stream by the batch's tenant.
//! - Migrations run as the schema's owner; the roles they grant to are created once by an
//!   administrator (`runtime/postgres/sql/roles.sql`, see [`tenancy`]).

#![warn(missing_docs)]

mod append;
pub mod auth;
pub mod compaction;
pub mod http;
pub mod json_form;
mod projection;
pub mod query;
pub mod replay;
pub(crate) mod rows;
pub mod shred;
pub mod tenancy;
pub mod verify;

pub use projection::{Projection, ProjectionSink, rebuild};

use carebus_store::EventFilter;
use carebus_store::EventStore;
use carebus_store::StoreError;
use carebus_store::{
    AppendResult, Cursor, ExpectedVersion, NewEvent, ParkedEvent, Snapshot, StoredEvent,
};
use rows::{COLUMNS, COLUMNS_WITHOUT_JSON, backend, stored_event};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use std::str::FromStr;
use std::sync::Arc;

/// The store's migrations (`runtime/postgres/migrations/*.sql`), embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// An event store on PostgreSQL. Clones share the pool.
#[derive(Clone)]
pub struct PgEventStore {
    pool: PgPool,
    inline: Arc<Vec<Arc<dyn Projection>>>,
    json_on_read: bool,
    /// How long an append whose connection broke (its commit's outcome unknown) is retried.
    commit_retry: std::time::Duration,
}

/// How a [`PgEventStore`] connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgStoreOptions {
    /// The schema every connection's `search_path` is set to (created if missing); `None`
    /// for the role's default.
    pub schema: Option<String>,
    /// Connections in the pool (default 10).
    pub max_connections: u32,
    /// How long an operation waits for a connection before it fails with a retriable
    /// [`StoreError::Backend`] (default 5 s): during a database outage calls fail fast instead
    /// of queueing for ever. An append whose commit's outcome is unknown is retried for as long.
    pub acquire_timeout: std::time::Duration,
}

impl Default for PgStoreOptions {
    fn default() -> Self {
        PgStoreOptions {
            schema: None,
            max_connections: 10,
            acquire_timeout: std::time::Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for PgEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEventStore")
            .field("inline_projections", &self.inline.len())
            .finish_non_exhaustive()
    }
}

impl PgEventStore {
    /// A store on an existing pool (run [`PgEventStore::migrate`] once before use).
    pub fn new(pool: PgPool) -> Self {
        PgEventStore {
            pool,
            inline: Arc::new(Vec::new()),
            json_on_read: true,
            commit_retry: PgStoreOptions::default().acquire_timeout,
        }
    }

    /// Connect to `url` (`postgres://user:password@host:port/db`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, &PgStoreOptions::default()).await
    }

    /// Connect with every connection's `search_path` set to `schema` (created if missing), so
    /// several stores (tenants' deployments, tests) can share one database. `schema` must be a
    /// plain identifier: lower-case ASCII letters, digits and `_`, not starting with a digit.
    pub async fn connect_in_schema(
        url: &str,
        schema: Option<&str>,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        let options = PgStoreOptions {
            schema: schema.map(str::to_owned),
            max_connections,
            ..PgStoreOptions::default()
        };
        Self::connect_with(url, &options).await
    }

    /// Connect with `options` (schema, pool size, how long to wait for a connection).
    pub async fn connect_with(url: &str, store: &PgStoreOptions) -> Result<Self, StoreError> {
        let schema = store.schema.as_deref();
        let mut options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Backend {
            operation: "connect",
            message: format!("the database URL is not valid ({e}); expected postgres://user:password@host:port/database"),
            retriable: false,
            source: None,
        })?;
        if let Some(schema) = schema {
            check_identifier(schema)?;
            let mut conn = <PgConnection as sqlx::Connection>::connect_with(&options)
                .await
                .map_err(backend("connect"))?;
            // An owner role may use a schema an administrator created for it without the
            // database-wide CREATE privilege that even `CREATE SCHEMA IF NOT EXISTS` checks.
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                    .bind(schema)
                    .fetch_one(&mut conn)
                    .await
                    .map_err(backend("connect"))?;
            if !exists {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema}"
                )))
                .execute(&mut conn)
                .await
                .map_err(backend("create schema"))?;
            }
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(store.max_connections.max(1))
            .acquire_timeout(store.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(backend("connect"))?;
        let mut connected = Self::new(pool);
        connected.commit_retry = store.acquire_timeout;
        Ok(connected)
    }

    /// Apply the migrations not applied yet, as the schema's owner (no superuser needed). The
    /// role `carebus_tenant` must exist: an administrator creates it once with
    /// `runtime/postgres/sql/roles.sql` ([`tenancy::admin_setup_sql`]).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let role: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'carebus_tenant')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(backend("migrate"))?;
        if !role {
            return Err(StoreError::Backend {
                operation: "migrate",
                message: "the role carebus_tenant does not exist; an administrator creates it \
                          once with runtime/postgres/sql/roles.sql \
                          (carebus_postgres::tenancy::admin_setup_sql), then migrate again"
                    .into(),
                retriable: false,
                source: None,
            });
        }
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Backend {
                operation: "migrate",
                message: e.to_string(),
                retriable: false,
                source: Some(Box::new(e)),
            })
    }

    /// The connection pool (for projections' own tables and queries).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Run `projection` inside every append's transaction (an inline projection): its writes
    /// commit or roll back with the events.
    pub fn with_inline_projection(mut self, projection: Arc<dyn Projection>) -> Self {
        let mut list: Vec<_> = self.inline.iter().cloned().collect();
        list.push(projection);
        self.inline = Arc::new(list);
        self
    }

    /// Reads leave [`StoredEvent::data_json`] `None` (the binary payload is always read):
    /// replays and aggregates that decode typed events skip parsing the JSON form.
    pub fn without_json_on_read(mut self) -> Self {
        self.json_on_read = false;
        self
    }

    /// Append inside the caller's transaction (e.g. together with an outbox row or a
    /// projection). Inline projections run too. If a concurrent writer stored some of the
    /// same event ids first, this fails with a retriable error: roll back and retry.
    pub async fn append_in(
        &self,
        conn: &mut PgConnection,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        match append::append_tx(conn, stream, expected, &events, &self.inline).await? {
            append::Outcome::Done(result) => Ok(result),
            append::Outcome::Raced => Err(StoreError::Backend {
                operation: "append",
                message: "a concurrent append stored some of these event ids first; \
                          roll back and retry the transaction"
                    .into(),
                retriable: true,
                source: None,
            }),
        }
    }

    /// The safe-cursor read on a given connection (inside a transaction, it sees the
    /// transaction's snapshot).
    pub async fn read_on(
        &self,
        conn: &mut PgConnection,
        filter: &EventFilter,
        after: Cursor,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let columns = self.columns();
        let mut q = QueryBuilder::<Postgres>::new(format!("SELECT {columns} FROM events WHERE "));
        push_after(&mut q, after);
        q.push(" AND tx_id < pg_snapshot_xmin(pg_current_snapshot())");
        push_filter(&mut q, filter);
        q.push(" ORDER BY events.tx_id, events.global_position LIMIT ");
        q.push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = q
            .build()
            .fetch_all(&mut *conn)
            .await
            .map_err(backend("read"))?;
        rows.iter().map(stored_event).collect()
    }
}

impl PgEventStore {
    fn columns(&self) -> &'static str {
        if self.json_on_read {
            COLUMNS
        } else {
            COLUMNS_WITHOUT_JSON
        }
    }
}

/// `schema` (a schema or role name) is safe to put in SQL unquoted.
pub(crate) fn check_identifier(schema: &str) -> Result<(), StoreError> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !schema.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(StoreError::Backend {
            operation: "connect",
            message: "a schema or role name must be lower-case ASCII letters, digits and _ (at most 63, not starting with a digit)".into(),
            retriable: false,
            source: None,
        })
    }
}

fn push_after(q: &mut QueryBuilder<Postgres>, after: Cursor) {
    q.push("(tx_id, global_position) > (");
    q.push_bind(after.tx_id.to_string());
    q.push("::text::xid8, ");
    q.push_bind(after.position);
    q.push(")");
}

/// The filter as parameterised conditions (`AND ...`) over the columns of `events`; values
/// are always bound.
pub(crate) fn push_filter(q: &mut QueryBuilder<Postgres>, f: &EventFilter) {
    if let Some(s) = &f.stream_id {
        q.push(" AND stream_id = ").push_bind(s.clone());
    }
    if let Some(a) = &f.aggregate_type {
        q.push(" AND aggregate_type = ").push_bind(a.clone());
    }
    if !f.event_types.is_empty() {
        q.push(" AND event_type = ANY(")
            .push_bind(f.event_types.clone())
            .push(")");
    }
    if let Some(t) = &f.tenant_id {
        q.push(" AND tenant_id = ").push_bind(t.clone());
    }
    if let Some(from) = f.recorded_from {
        q.push(" AND recorded_at >= to_timestamp(0) + ")
            .push_bind(from.0)
            .push(" * interval '1 microsecond'");
    }
    if let Some(until) = f.recorded_until {
        q.push(" AND recorded_at < to_timestamp(0) + ")
            .push_bind(until.0)
            .push(" * interval '1 microsecond'");
    }
    if let Some(c) = &f.correlation_id {
        q.push(" AND correlation_id = ").push_bind(c.clone());
    }
}

impl EventStore for PgEventStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        append::append(
            &self.pool,
            stream,
            expected,
            events,
            &self.inline,
            self.commit_retry,
        )
        .await
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let columns = self.columns();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {columns} FROM events WHERE stream_id = $1 AND stream_version >= $2 \
             ORDER BY stream_version LIMIT $3"
        )))
        .bind(stream)
        .bind(i64::try_from(from_version).unwrap_or(i64::MAX))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(backend("read stream"))?;
        rows.iter().map(stored_event).collect()
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        let v: Option<i64> = sqlx::query_scalar("SELECT version FROM streams WHERE stream_id = $1")
            .bind(stream)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend("read stream version"))?;
        Ok(v.map(|v| v as u64))
    }

    async fn read(
        &self,
        filter: &EventFilter,
        after: Cursor,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend("read"))?;
        self.read_on(&mut conn, filter, after, limit).await
    }

    async fn count(&self, filter: &EventFilter, after: Cursor) -> Result<u64, StoreError> {
        let mut q = QueryBuilder::<Postgres>::new("SELECT count(*) FROM events WHERE ");
        push_after(&mut q, after);
        push_filter(&mut q, filter);
        let n: i64 = q
            .build()
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(backend("count"))?;
        Ok(n as u64)
    }

    async fn save_snapshot(&self, s: Snapshot) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO snapshots (stream_id, version, state_version, aggregate_type, tenant_id, data) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, stream_id, version) DO UPDATE SET state_version = EXCLUDED.state_version, \
             data = EXCLUDED.data, created_at = now()",
        )
        .bind(&s.stream_id)
        .bind(s.version as i64)
        .bind(s.state_version as i32)
        .bind(&s.aggregate_type)
        .bind(&s.tenant_id)
        .bind(&s.data)
        .execute(&self.pool)
        .await
        .map_err(backend("save snapshot"))?;
        Ok(())
    }

    async fn latest_snapshot(&self, stream: &str) -> Result<Option<Snapshot>, StoreError> {
        let row = sqlx::query(
            "SELECT stream_id, version, state_version, aggregate_type, tenant_id, data, \
             (extract(epoch FROM created_at) * 1000000)::int8 AS created_us \
             FROM snapshots WHERE stream_id = $1 ORDER BY version DESC LIMIT 1",
        )
        .bind(stream)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend("load snapshot"))?;
        row.map(|r| rows::snapshot(&r)).transpose()
    }

    async fn prune_snapshots(&self, stream: &str, keep: usize) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM snapshots WHERE stream_id = $1 AND version NOT IN \
             (SELECT version FROM snapshots WHERE stream_id = $1 ORDER BY version DESC LIMIT $2)",
        )
        .bind(stream)
        .bind(i64::try_from(keep).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .map_err(backend("prune snapshots"))?;
        Ok(done.rows_affected())
    }

    async fn checkpoint(&self, subscription: &str) -> Result<Option<Cursor>, StoreError> {
        rows::load_checkpoint(&self.pool, subscription).await
    }

    async fn save_checkpoint(&self, subscription: &str, cursor: Cursor) -> Result<(), StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(backend("save checkpoint"))?;
        rows::save_checkpoint(&mut conn, subscription, cursor, None).await?;
        Ok(())
    }

    async fn delete_checkpoint(&self, subscription: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM checkpoints WHERE subscription = $1")
            .bind(subscription)
            .execute(&self.pool)
            .await
            .map_err(backend("delete checkpoint"))?;
        Ok(())
    }

    async fn park(&self, parked: ParkedEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO outbox_parked \
             (relay, event_id, tx_id, global_position, event_type, topic, reason, parked_at) \
             VALUES ($1, $2, $3::text::xid8, $4, $5, $6, $7, to_timestamp($8::float8 / 1000000)) \
             ON CONFLICT (relay, event_id) DO UPDATE \
             SET reason = EXCLUDED.reason, parked_at = EXCLUDED.parked_at",
        )
        .bind(&parked.relay)
        .bind(parked.event_id.0)
        .bind(parked.cursor.tx_id.to_string())
        .bind(parked.cursor.position)
        .bind(&parked.event_type)
        .bind(&parked.topic)
        .bind(&parked.reason)
        .bind(parked.parked_at.value() as f64)
        .execute(&self.pool)
        .await
        .map_err(backend("park event"))?;
        Ok(())
    }

    async fn parked(&self, relay: &str) -> Result<Vec<ParkedEvent>, StoreError> {
        sqlx::query(
            "SELECT event_id, tx_id::text AS tx, global_position, event_type, topic, reason, \
             (extract(epoch FROM parked_at) * 1000000)::int8 AS parked_us \
             FROM outbox_parked WHERE relay = $1 ORDER BY tx_id, global_position",
        )
        .bind(relay)
        .fetch_all(&self.pool)
        .await
        .map_err(backend("list parked events"))?
        .iter()
        .map(|r| {
            let tx: String = rows::column(r, "tx")?;
            Ok(ParkedEvent {
                relay: relay.to_string(),
                event_id: carebus_core::Uuid(rows::column(r, "event_id")?),
                cursor: Cursor {
                    tx_id: tx
                        .parse()
                        .map_err(|_| rows::bad_row("outbox_parked.tx_id"))?,
                    position: rows::column(r, "global_position")?,
                },
                event_type: rows::column(r, "event_type")?,
                topic: rows::column(r, "topic")?,
                reason: rows::column(r, "reason")?,
                parked_at: carebus_core::Timestamp(rows::column(r, "parked_us")?),
            })
        })
        .collect()
    }

    async fn unpark(&self, relay: &str, event_id: carebus_core::Uuid) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM outbox_parked WHERE relay = $1 AND event_id = $2")
            .bind(relay)
            .bind(event_id.0)
            .execute(&self.pool)
            .await
            .map_err(backend("unpark event"))?;
        Ok(())
    }
}
