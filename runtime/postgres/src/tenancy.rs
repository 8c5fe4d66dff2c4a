//! Tenant-scoped PostgreSQL connections: a pool whose every connection switches to the `carebus_tenant` role (NOSUPERUSER, subject to row-level security) with `app.tenant_id` set, so it can neither read nor write another tenant's rows, whatever the query.
//!
//! Migration `0100_store_operations.sql` creates the role, grants it the store's tables and
//! adds the policies (`tenant_id = current_setting('app.tenant_id', true)` on `events`,
//! `streams`, `snapshots`, `events_archive`; `subject_keys` and `checkpoints` are not granted).
//! Superusers and table owners bypass row-level security, so the administrative pool (the
//! one that migrates, relays and compacts) sees every tenant; give application code and the
//! HTTP query endpoint a tenant pool. The login role must be allowed to `SET ROLE
//! carebus_tenant` (`GRANT carebus_tenant TO <login>`). The scope is set when a connection
//! opens: code given a tenant pool must not run SQL that changes `app.tenant_id` or the role
//! (the store's own queries never do).

use super::query::rows::backend;
use crate::PgEventStore;
use carebus_store::StoreError;
use sqlx::Executor;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;

/// The role tenant-scoped connections use.
pub const TENANT_ROLE: &str = "carebus_tenant";

/// Check a tenant id: 1..=128 bytes, no control characters.
pub fn check_tenant_id(tenant: &str) -> Result<(), StoreError> {
    if tenant.is_empty() || tenant.len() > 128 || tenant.chars().any(char::is_control) {
        return Err(StoreError::Backend {
            operation: "connect tenant",
            message: "a tenant id must be 1 to 128 bytes without control characters".into(),
            retriable: false,
            source: None,
        });
    }
    Ok(())
}

/// A pool scoped to `tenant`, on `schema` (the store's schema; `None` = the default search
/// path). Every connection runs `SET ROLE carebus_tenant` and sets `app.tenant_id` (a bound
/// parameter) before it is handed out.
pub async fn connect_tenant(
    url: &str,
    schema: Option<&str>,
    tenant: &str,
    max_connections: u32,
) -> Result<PgPool, StoreError> {
    check_tenant_id(tenant)?;
    let mut options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Backend {
        operation: "connect tenant",
        message: format!(
            "the database URL is not valid ({e}); expected postgres://user:password@host:port/database"
        ),
        retriable: false,
        source: None,
    })?;
    if let Some(schema) = schema {
        options = options.options([("search_path", schema)]);
    }
    let tenant = tenant.to_string();
    PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .after_connect(move |conn, _| {
            let tenant = tenant.clone();
            Box::pin(async move {
                conn.execute("SET ROLE carebus_tenant").await?;
                sqlx::query("SELECT set_config('app.tenant_id', $1, false)")
                    .bind(&tenant)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(backend("connect tenant"))
}

/// An event store seeing only `tenant`'s rows (appending another tenant's events fails).
pub async fn tenant_store(
    url: &str,
    schema: Option<&str>,
    tenant: &str,
    max_connections: u32,
) -> Result<PgEventStore, StoreError> {
    Ok(PgEventStore::new(
        connect_tenant(url, schema, tenant, max_connections).await?,
    ))
}
