-- carebus-postgres: the roles and schema of one deployment, created once by an administrator (a
-- superuser or a role with CREATEROLE) before the first migration. The migrations then run as
-- the owner role, which needs no superuser or role privileges.
--
--   psql "$ADMIN_URL" -v schema=carebus -v owner=carebus_owner -v reader=carebus_query \
--        -f runtime/postgres/sql/roles.sql
--   psql "$ADMIN_URL" -c "ALTER ROLE carebus_owner PASSWORD '...'" -c "ALTER ROLE carebus_query PASSWORD '...'"
--
-- carebus_tenant: the group role row-level security applies to (migration 0100 grants it the
-- store's tables, 0102 keys its policies by `carebus.tenant`). Cluster-wide, created if missing.
-- owner: owns the schema and its tables, runs the migrations, the relay and compaction; as
-- the tables' owner it is not subject to row-level security: never give it to the query endpoint.
-- reader: the HTTP query endpoint's login: a member of carebus_tenant, no superuser, no
-- BYPASSRLS; it sees one tenant per transaction and may only append to the access log.
-- `carebus_postgres::tenancy::admin_setup_sql` returns this file with the names filled in; a
-- line naming a role or schema it is not given is left out.
DO $$
BEGIN
    CREATE ROLE carebus_tenant NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
CREATE SCHEMA :"schema" AUTHORIZATION :"owner";
CREATE ROLE :"reader" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS IN ROLE carebus_tenant;
