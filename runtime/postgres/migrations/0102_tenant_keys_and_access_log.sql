-- Event store operations (carebus-postgres tenancy.rs, http.rs): stream identity within a tenant,
-- row-level security keyed by the transaction's `carebus.tenant`, and the query endpoint's
-- access log. Numbers 0100-0199 belong to store operations; never edit an applied migration.

-- A stream id names a stream within its tenant. Another tenant's stream of the same id is a
-- different stream, so a tenant's append can neither see nor collide with it: an append with
-- "no stream expected" to an id another tenant uses succeeds as it would on an absent stream.
-- NULLS NOT DISTINCT: streams without a tenant are unique by id as before.
ALTER TABLE streams DROP CONSTRAINT streams_pkey;
ALTER TABLE streams ADD CONSTRAINT streams_tenant_stream_key
    UNIQUE NULLS NOT DISTINCT (tenant_id, stream_id);
CREATE INDEX streams_stream ON streams (stream_id);

ALTER TABLE events DROP CONSTRAINT events_stream_version_key;
ALTER TABLE events ADD CONSTRAINT events_stream_version_key
    UNIQUE NULLS NOT DISTINCT (tenant_id, stream_id, stream_version);
-- Reads by stream without a tenant (the owner's administrative pool).
CREATE INDEX events_stream ON events (stream_id, stream_version);

ALTER TABLE events_archive DROP CONSTRAINT events_archive_stream_id_stream_version_key;
ALTER TABLE events_archive ADD CONSTRAINT events_archive_stream_version_key
    UNIQUE NULLS NOT DISTINCT (tenant_id, stream_id, stream_version);

ALTER TABLE snapshots DROP CONSTRAINT snapshots_pkey;
ALTER TABLE snapshots ADD CONSTRAINT snapshots_tenant_stream_version_key
    UNIQUE NULLS NOT DISTINCT (tenant_id, stream_id, version);

-- Row-level security: a row is visible and writable only to members of `carebus_tenant` whose
-- transaction (or session) set `carebus.tenant` to the row's tenant. Unset or empty = no rows;
-- rows without a tenant are never visible to tenant roles.
DROP POLICY tenant_isolation ON events;
DROP POLICY tenant_isolation ON streams;
DROP POLICY tenant_isolation ON snapshots;
DROP POLICY tenant_isolation ON events_archive;
CREATE POLICY tenant_isolation ON events FOR ALL TO carebus_tenant
    USING (tenant_id = NULLIF(current_setting('carebus.tenant', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('carebus.tenant', true), ''));
CREATE POLICY tenant_isolation ON streams FOR ALL TO carebus_tenant
    USING (tenant_id = NULLIF(current_setting('carebus.tenant', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('carebus.tenant', true), ''));
CREATE POLICY tenant_isolation ON snapshots FOR ALL TO carebus_tenant
    USING (tenant_id = NULLIF(current_setting('carebus.tenant', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('carebus.tenant', true), ''));
CREATE POLICY tenant_isolation ON events_archive FOR SELECT TO carebus_tenant
    USING (tenant_id = NULLIF(current_setting('carebus.tenant', true), ''));

-- HIPAA disclosure accounting: one row per request to the HTTP query endpoint, allowed or
-- denied, written before the response is sent (an allowed read commits with it). Holds who,
-- which tenant, when, what was asked and which events were returned; never event data.
CREATE TABLE access_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The verified token's `sub` and tenant; NULL when no token was verified (401).
    subject       text,
    tenant_id     text,
    -- `GET /events`, `GET /events/{id}`, `GET /streams/{stream}/events`, `GET /events/stats`.
    route         text NOT NULL,
    -- The accepted query parameters (names and values: identifiers, types, times, cursors);
    -- for a refused request only the names.
    parameters    jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- The HTTP status answered.
    status        smallint NOT NULL,
    -- The events whose data the response carried, in response order.
    event_ids     uuid[] NOT NULL DEFAULT '{}',
    -- Whether any returned event carried a PHI value unredacted (the caller had `phi:read`).
    phi_disclosed boolean NOT NULL DEFAULT false
);
CREATE INDEX access_log_subject_at ON access_log (subject, at);
CREATE INDEX access_log_tenant_at ON access_log (tenant_id, at);
CREATE INDEX access_log_event_ids ON access_log USING gin (event_ids);

-- Append-only: no role may change or delete an entry (retention: an administrator drops the
-- trigger in a maintenance transaction, deletes by `at`, and recreates it).
CREATE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'access_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_append_only();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION access_log_append_only();

-- The endpoint (a member of carebus_tenant) writes entries and cannot read them.
GRANT INSERT ON access_log TO carebus_tenant;
