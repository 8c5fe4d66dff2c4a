-- Event store operations (carebus runtime/src/store/{compaction,shred,tenancy}.rs): the archive
-- of compacted stream prefixes, per-subject PHI data keys, and row-level security by tenant.
-- Numbers 0100-0199 belong to store operations; never edit an applied migration: add one.

-- Rows moved out of `events` by compaction (snapshot-then-archive, retention). Same columns,
-- same values (global_position and tx_id keep the order of the log), plus when they moved.
CREATE TABLE events_archive (
    global_position bigint PRIMARY KEY,
    tx_id           xid8 NOT NULL,
    event_id        uuid NOT NULL UNIQUE,
    stream_id       text NOT NULL,
    stream_version  bigint NOT NULL,
    aggregate_type  text NOT NULL,
    event_type      text NOT NULL,
    event_version   integer NOT NULL,
    data_format     text NOT NULL,
    data            bytea NOT NULL,
    data_json       jsonb,
    metadata        jsonb NOT NULL,
    tenant_id       text,
    correlation_id  text,
    causation_id    text,
    event_time      timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    archived_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_archive_tx_position ON events_archive (tx_id, global_position);

-- One AES-256-GCM data key per subject (patient), wrapped by the master key. Erasure
-- (crypto-shredding) sets wrapped_key to NULL: the events stay, their PHI can no longer be read.
CREATE TABLE subject_keys (
    subject_id  text PRIMARY KEY,
    tenant_id   text,
    -- nonce (12 bytes) || AES-256-GCM(master key, data key); NULL once destroyed.
    wrapped_key bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    destroyed_at timestamptz
);

-- Query API: counts by day and browsing by position.
CREATE INDEX events_recorded_position ON events (recorded_at, global_position);

-- Row-level security. The role `carebus_tenant` (NOLOGIN, NOSUPERUSER, NOBYPASSRLS, cluster-wide)
-- is created once by an administrator (`carebus_postgres::tenancy::admin_setup_sql`), not here:
-- migrations run as the schema's owner, which may not create roles. Its members (the query
-- endpoint's login role, or a connection that ran `SET ROLE carebus_tenant`) see only the rows
-- of their tenant; superusers and the tables' owner are not subject to these policies.
DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO carebus_tenant', current_schema());
END
$$;
GRANT SELECT, INSERT, UPDATE ON streams, events, snapshots TO carebus_tenant;
GRANT SELECT ON events_archive TO carebus_tenant;

ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE streams ENABLE ROW LEVEL SECURITY;
ALTER TABLE snapshots ENABLE ROW LEVEL SECURITY;
ALTER TABLE events_archive ENABLE ROW LEVEL SECURITY;
ALTER TABLE subject_keys ENABLE ROW LEVEL SECURITY;

-- (0102 replaces these policies with ones keyed by `carebus.tenant`.)
-- A row is visible and writable only when its tenant is the connection's `app.tenant_id`
-- (unset = no tenant = no rows; rows without a tenant are never visible to tenant roles).
CREATE POLICY tenant_isolation ON events FOR ALL TO carebus_tenant
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
CREATE POLICY tenant_isolation ON streams FOR ALL TO carebus_tenant
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
CREATE POLICY tenant_isolation ON snapshots FOR ALL TO carebus_tenant
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
CREATE POLICY tenant_isolation ON events_archive FOR SELECT TO carebus_tenant
    USING (tenant_id = current_setting('app.tenant_id', true));
