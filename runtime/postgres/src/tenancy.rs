//! Tenant-scoped PostgreSQL access: the administrator's role setup (`sql/roles.sql`) as SQL text, pools whose connections act as the `carebus_tenant` role (NOSUPERUSER, subject to row-level security) for one tenant, and the per-transaction tenant the HTTP query endpoint sets.
//!
//! Roles are cluster-wide and creating them needs privileges a schema owner does not have, so
//! they are not in the migrations: an administrator runs [`admin_setup_sql`] (the file
//! `runtime/postgres/sql/roles.sql`) once. It creates the group role `carebus_tenant`, a
//! login role that owns the schema and runs the migrations, and a login role for the query
//! endpoint (a member of `carebus_tenant`, neither superuser nor BYPASSRLS). The migrations
//! grant `carebus_tenant` the store's tables and add the policies: a row of `events`,
//! `streams`, `snapshots` or `events_archive` is visible and writable only when its
//! `tenant_id` is the setting `carebus.tenant` ([`TENANT_SETTING`]); `subject_keys` and
//! `checkpoints` are not granted; `access_log` only for INSERT.
//!
//! Superusers and the tables' owner bypass row-level security, so the owner's pool (the one
//! that migrates, relays and compacts) sees every tenant. Two ways to act as one tenant:
//! - [`connect_tenant`]: a pool whose every connection runs `SET ROLE carebus_tenant` and sets
//!   `carebus.tenant` for the session (the login must be a member of `carebus_tenant`). Code
//!   given such a pool must not run SQL that changes the setting or the role (the store's own
//!   queries never do).
//! - [`begin_as_tenant`]: a transaction on a pool of a login that is itself a member of
//!   `carebus_tenant`, with `carebus.tenant` set for that transaction only (what the HTTP
//!   endpoint does per request; [`check_subject_to_rls`] refuses a pool that would bypass the
//!   policies).

use super::query::rows::backend;
use crate::PgEventStore;
use carebus_store::StoreError;
use sqlx::Executor;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;

/// The role tenant-scoped connections use.
pub const TENANT_ROLE: &str = "carebus_tenant";

/// The setting the row-level security policies compare `tenant_id` with.
pub const TENANT_SETTING: &str = "carebus.tenant";

/// The administrator's setup script, `runtime/postgres/sql/roles.sql`, with its psql variables
/// (`:"schema"`, `:"owner"`, `:"reader"`) unfilled.
pub const ROLES_SQL: &str = include_str!("../sql/roles.sql");

/// The roles and schema one deployment needs, for [`admin_setup_sql`]. Each name is a plain
/// identifier (lower-case ASCII letters, digits and `_`, not starting with a digit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdminSetup<'a> {
    /// The store's schema, created owned by `owner` (needs `owner`).
    pub schema: Option<&'a str>,
    /// The login role that owns the schema and runs the migrations.
    pub owner: Option<&'a str>,
    /// The HTTP query endpoint's login role (a member of `carebus_tenant`).
    pub reader: Option<&'a str>,
}

/// [`ROLES_SQL`] with the names of `setup` filled in, for an administrator (a superuser or a
/// role with CREATEROLE) to run once before the first migration. A statement naming a role or
/// schema `setup` leaves `None` is left out: `AdminSetup::default()` gives only the
/// idempotent creation of `carebus_tenant`. Passwords are set separately
/// (`ALTER ROLE ... PASSWORD`), so this text holds no secret.
pub fn admin_setup_sql(setup: &AdminSetup<'_>) -> Result<String, StoreError> {
    let vars = [
        ("schema", setup.schema),
        ("owner", setup.owner),
        ("reader", setup.reader),
    ];
    for name in vars.iter().filter_map(|(_, v)| *v) {
        crate::check_identifier(name)?;
    }
    let mut out = String::with_capacity(ROLES_SQL.len());
    'lines: for line in ROLES_SQL.lines() {
        let mut line = line.to_string();
        for (var, value) in vars {
            let placeholder = format!(":\"{var}\"");
            if line.contains(&placeholder) {
                match value {
                    Some(v) => line = line.replace(&placeholder, &format!("\"{v}\"")),
                    None => continue 'lines,
                }
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

/// Create the group role `carebus_tenant` if it is missing (the part of [`admin_setup_sql`]
/// that names no deployment), on a pool whose login may create roles. For tests and
/// single-user setups whose administrator and owner are one role.
pub async fn create_tenant_role(pool: &PgPool) -> Result<(), StoreError> {
    let sql = admin_setup_sql(&AdminSetup::default())?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .map_err(backend("create role carebus_tenant"))?;
    Ok(())
}

/// Begin a transaction on `pool` acting for `tenant`: `carebus.tenant` is set for this
/// transaction only (`set_config(.., true)`), so a connection returned to the pool carries no
/// tenant. Row-level security applies only if the pool's login is subject to it (see
/// [`check_subject_to_rls`]).
pub async fn begin_as_tenant(
    pool: &PgPool,
    tenant: &str,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
    check_tenant_id(tenant)?;
    let mut tx = pool
        .begin()
        .await
        .map_err(backend("begin tenant transaction"))?;
    sqlx::query("SELECT set_config('carebus.tenant', $1, true)")
        .bind(tenant)
        .execute(&mut *tx)
        .await
        .map_err(backend("set tenant"))?;
    Ok(tx)
}

/// Refuse a pool whose login would bypass row-level security: a superuser, a role with
/// BYPASSRLS, the owner of the `events` table, or a role that is not a member of
/// `carebus_tenant` (which the policies name).
pub async fn check_subject_to_rls(pool: &PgPool) -> Result<(), StoreError> {
    let row: (String, bool, bool, bool, bool) = sqlx::query_as(
        "SELECT current_user::text, r.rolsuper, r.rolbypassrls, \
           COALESCE((SELECT c.relowner = r.oid FROM pg_class c \
                     WHERE c.oid = to_regclass('events')), false), \
           pg_has_role(current_user, 'carebus_tenant', 'USAGE') \
         FROM pg_roles r WHERE r.rolname = current_user",
    )
    .fetch_one(pool)
    .await
    .map_err(|e| {
        let mut err = backend("check query role")(e);
        if let StoreError::Backend { message, .. } = &mut err {
            message.push_str(
                "; does the role carebus_tenant exist? An administrator creates it with \
                 runtime/postgres/sql/roles.sql (tenancy::admin_setup_sql)",
            );
        }
        err
    })?;
    let (role, superuser, bypass, owner, member) = row;
    let why = if superuser {
        "is a superuser"
    } else if bypass {
        "has BYPASSRLS"
    } else if owner {
        "owns the events table"
    } else if !member {
        "is not a member of carebus_tenant"
    } else {
        return Ok(());
    };
    Err(StoreError::Backend {
        operation: "check query role",
        message: format!(
            "the database role `{role}` {why}, so row-level security would not separate \
             tenants; connect with the reader role of runtime/postgres/sql/roles.sql \
             (tenancy::admin_setup_sql)"
        ),
        retriable: false,
        source: None,
    })
}

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
/// path). Every connection runs `SET ROLE carebus_tenant` and sets `carebus.tenant` (a bound
/// parameter) for the session before it is handed out.
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
                sqlx::query("SELECT set_config('carebus.tenant', $1, false)")
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
