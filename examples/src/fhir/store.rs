//! Edits of FHIR resources in, versioned JSON documents and their history in PostgreSQL out (idempotent by event id, in order per resource).

use carebus::Timestamp;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Row};
use std::str::FromStr;

/// The FHIR service's migrations (`examples/migrations/fhir/*.sql`), embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/fhir");

/// How the current document of a resource (if any) becomes the new one.
type Change = Box<dyn Fn(Option<&Value>) -> Option<Value> + Send + Sync>;

/// One resource an event changes: its type, id and how the current document (if any) becomes
/// the new one (`None`: leave it alone, e.g. an update of a resource that does not exist).
pub struct Edit {
    /// FHIR resource type, e.g. `Patient`.
    pub kind: &'static str,
    /// Logical id.
    pub id: String,
    change: Change,
}

impl Edit {
    /// An edit of `kind/id`.
    pub fn new(
        kind: &'static str,
        id: &str,
        change: impl Fn(Option<&Value>) -> Option<Value> + Send + Sync + 'static,
    ) -> Edit {
        Edit {
            kind,
            id: id.to_string(),
            change: Box::new(change),
        }
    }

    /// The new document for `current` (without `meta`).
    pub fn apply(&self, current: Option<&Value>) -> Option<Value> {
        (self.change)(current)
    }
}

/// What applying an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// At least one resource got a new version.
    Applied,
    /// The event was applied before (a redelivery): nothing changed.
    Duplicate,
    /// Every resource it edits already reflects a newer event: nothing changed.
    Stale,
    /// Its resources do not exist (e.g. an update before the registration): nothing changed.
    Missing,
    /// The resources already had this content: no new version.
    Unchanged,
}

impl Outcome {
    /// The outcome as recorded and counted: applied, duplicate, stale, missing, unchanged.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
            Outcome::Missing => "missing",
            Outcome::Unchanged => "unchanged",
        }
    }
}

/// Why the store failed; names the operation, keeps the driver error (never a resource's content).
#[derive(Debug, thiserror::Error)]
#[error("FHIR store: {operation} failed: {source}")]
pub struct StoreError {
    /// What was being done, e.g. `read Patient`.
    pub operation: String,
    /// The driver's error.
    #[source]
    pub source: sqlx::Error,
}

fn failed(operation: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    let operation = operation.into();
    move |source| StoreError { operation, source }
}

/// One stored version of a resource.
#[derive(Clone, Debug)]
pub struct Version {
    /// The resource with its `meta`.
    pub resource: Value,
    /// `meta.versionId`.
    pub version_id: i64,
}

/// The resources in PostgreSQL; clones share the pool.
#[derive(Clone)]
pub struct FhirStore {
    pool: PgPool,
}

impl FhirStore {
    /// Connect to `url`, in `schema` (created when missing), and apply the migrations.
    pub async fn connect(url: &str, schema: &str) -> Result<FhirStore, StoreError> {
        if schema.is_empty()
            || !schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(StoreError {
                operation: format!(
                    "use schema {schema:?} (expected letters, digits and _ only; set CAREBUS_FHIR_DB_SCHEMA)"
                ),
                source: sqlx::Error::Configuration("not a plain identifier".into()),
            });
        }
        let options = PgConnectOptions::from_str(url).map_err(failed(
            "parse the database URL (expected postgres://user:password@host:port/database)",
        ))?;
        let mut conn = PgConnection::connect_with(&options)
            .await
            .map_err(failed("connect to PostgreSQL"))?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}"
        )))
        .execute(&mut conn)
        .await
        .map_err(failed(format!("create schema {schema}")))?;
        conn.close().await.ok();
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options.options([("search_path", schema)]))
            .await
            .map_err(failed("connect to PostgreSQL"))?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError {
            operation: format!("migrate schema {schema}"),
            source: e.into(),
        })?;
        Ok(FhirStore { pool })
    }

    /// Apply the edits of event `event_id` (CloudEvents time `event_time`) in one transaction:
    /// nothing when the event was applied before; per resource, nothing when it already
    /// reflects a newer event.
    pub async fn apply(
        &self,
        event_id: &str,
        event_type: &str,
        event_time: Timestamp,
        edits: &[Edit],
    ) -> Result<Outcome, StoreError> {
        let mut tx = self.pool.begin().await.map_err(failed("begin"))?;
        let fresh = sqlx::query(
            "INSERT INTO fhir_applied_event (event_id, event_type, outcome) VALUES ($1, $2, '') \
             ON CONFLICT DO NOTHING",
        )
        .bind(event_id)
        .bind(event_type)
        .execute(&mut *tx)
        .await
        .map_err(failed("record the event"))?
        .rows_affected();
        if fresh == 0 {
            return Ok(Outcome::Duplicate);
        }
        let mut outcome = Outcome::Missing;
        for edit in edits {
            let row = sqlx::query(
                "SELECT resource, version_id, event_time FROM fhir_resource \
                 WHERE resource_type = $1 AND id = $2 FOR UPDATE",
            )
            .bind(edit.kind)
            .bind(&edit.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failed(format!("read {}", edit.kind)))?;
            let (current, version, newest): (Option<Value>, i64, i64) = match row {
                Some(r) => (Some(r.get(0)), r.get(1), r.get(2)),
                None => (None, 0, i64::MIN),
            };
            if event_time.0 < newest {
                outcome = merge(outcome, Outcome::Stale);
                continue;
            }
            let mut current = current;
            if let Some(c) = current.as_mut().and_then(Value::as_object_mut) {
                c.remove("meta");
            }
            let Some(mut next) = edit.apply(current.as_ref()) else {
                continue;
            };
            if current.as_ref() == Some(&next) {
                outcome = merge(outcome, Outcome::Unchanged);
                continue;
            }
            let version = version + 1;
            let now = Timestamp::now().rfc3339_text().unwrap_or_default();
            next["meta"] = json!({ "versionId": version.to_string(), "lastUpdated": now });
            sqlx::query(
                "INSERT INTO fhir_resource (resource_type, id, version_id, last_updated, event_time, resource) \
                 VALUES ($1, $2, $3, $4::timestamptz, $5, $6) \
                 ON CONFLICT (resource_type, id) DO UPDATE SET version_id = $3, \
                 last_updated = $4::timestamptz, event_time = $5, resource = $6",
            )
            .bind(edit.kind)
            .bind(&edit.id)
            .bind(version)
            .bind(&now)
            .bind(event_time.0)
            .bind(&next)
            .execute(&mut *tx)
            .await
            .map_err(failed(format!("write {}", edit.kind)))?;
            sqlx::query(
                "INSERT INTO fhir_resource_history (resource_type, id, version_id, last_updated, event_id, resource) \
                 VALUES ($1, $2, $3, $4::timestamptz, $5, $6)",
            )
            .bind(edit.kind)
            .bind(&edit.id)
            .bind(version)
            .bind(&now)
            .bind(event_id)
            .bind(&next)
            .execute(&mut *tx)
            .await
            .map_err(failed(format!("write the history of {}", edit.kind)))?;
            outcome = Outcome::Applied;
        }
        sqlx::query("UPDATE fhir_applied_event SET outcome = $2 WHERE event_id = $1")
            .bind(event_id)
            .bind(outcome.label())
            .execute(&mut *tx)
            .await
            .map_err(failed("record the event's outcome"))?;
        tx.commit().await.map_err(failed("commit"))?;
        Ok(outcome)
    }

    /// The current version of `kind/id`.
    pub async fn read(&self, kind: &str, id: &str) -> Result<Option<Version>, StoreError> {
        let row = sqlx::query(
            "SELECT resource, version_id FROM fhir_resource WHERE resource_type = $1 AND id = $2",
        )
        .bind(kind)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed(format!("read {kind}")))?;
        Ok(row.map(|r| Version {
            resource: r.get(0),
            version_id: r.get(1),
        }))
    }

    /// Every version of `kind/id`, newest first (empty when it never existed).
    pub async fn history(&self, kind: &str, id: &str) -> Result<Vec<Version>, StoreError> {
        let rows = sqlx::query(
            "SELECT resource, version_id FROM fhir_resource_history \
             WHERE resource_type = $1 AND id = $2 ORDER BY version_id DESC",
        )
        .bind(kind)
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(failed(format!("read the history of {kind}")))?;
        Ok(rows
            .into_iter()
            .map(|r| Version {
                resource: r.get(0),
                version_id: r.get(1),
            })
            .collect())
    }

    /// Patients with an identifier of `system` (any system when `None`) and `value`.
    pub async fn patients_by_identifier(
        &self,
        system: Option<&str>,
        value: &str,
    ) -> Result<Vec<Value>, StoreError> {
        let wanted = match system {
            Some(s) => json!([{ "system": s, "value": value }]),
            None => json!([{ "value": value }]),
        };
        let rows = sqlx::query(
            "SELECT resource FROM fhir_resource WHERE resource_type = 'Patient' \
             AND resource -> 'identifier' @> $1 ORDER BY id",
        )
        .bind(&wanted)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("search Patient by identifier"))?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    /// The `(type, id)` of every stored resource, in order.
    pub async fn list(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT resource_type, id FROM fhir_resource ORDER BY 1, 2")
            .fetch_all(&self.pool)
            .await
            .map_err(failed("list resources"))?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

/// The outcome of an event from its resources' outcomes: applied wins, then unchanged, stale.
fn merge(so_far: Outcome, this: Outcome) -> Outcome {
    let rank = |o: Outcome| match o {
        Outcome::Applied => 3,
        Outcome::Unchanged => 2,
        Outcome::Stale => 1,
        _ => 0,
    };
    if rank(this) > rank(so_far) {
        this
    } else {
        so_far
    }
}
