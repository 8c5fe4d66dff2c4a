-- Event store core (carebus runtime/src/store.rs): streams and the append-only event log.
-- Migrations 0001-0099 belong to the store core; 0100-0199 to store operations (query API,
-- archive, PHI keys, row-level security, outbox). Never edit an applied migration: add one.

CREATE TABLE streams (
    stream_id      text PRIMARY KEY,
    -- The category of the stream: the aggregate type (`Patient`).
    aggregate_type text NOT NULL,
    tenant_id      text,
    -- Number of events in the stream (the stream_version of its last event); 0 = none yet.
    version        bigint NOT NULL CHECK (version >= 0),
    archived       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX streams_aggregate_type ON streams (aggregate_type);
CREATE INDEX streams_tenant ON streams (tenant_id, created_at);

CREATE TABLE events (
    -- Order of insertion. NOT commit order: subscribers read by (tx_id, global_position)
    -- below the oldest running transaction (see store.rs, "the safe cursor").
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The writing transaction. xid8 does not survive dump/restore: after a restore, reset
    -- every checkpoint (DELETE FROM checkpoints) and rebuild the projections.
    tx_id           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id        uuid NOT NULL,
    stream_id       text NOT NULL,
    -- 1-based position of the event in its stream.
    stream_version  bigint NOT NULL CHECK (stream_version >= 1),
    aggregate_type  text NOT NULL,
    event_type      text NOT NULL,
    -- Schema version of the payload as written (upcasters lift it on read).
    event_version   integer NOT NULL CHECK (event_version >= 1),
    data_format     text NOT NULL CHECK (data_format IN ('avro', 'protobuf')),
    -- The payload as published: Avro datum or Protobuf message. The source of truth.
    data            bytea NOT NULL,
    -- The same data in the JSON form, for SQL queries; NULL when the writer chose not to
    -- keep it (e.g. PHI-only events).
    data_json       jsonb,
    -- Envelope facts without a column: aggregateId, topic, schemaFingerprint, causationId,
    -- userId, source, ipAddress, traceparent.
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    tenant_id       text,
    correlation_id  text,
    causation_id    text,
    -- When the event happened (envelope eventTime) and when the store recorded it.
    event_time      timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
);
-- Indexes for every read the store offers.
CREATE INDEX events_tx_position ON events (tx_id, global_position);
CREATE INDEX events_aggregate_type_position ON events (aggregate_type, global_position);
CREATE INDEX events_tenant_recorded ON events (tenant_id, recorded_at);
CREATE INDEX events_correlation ON events (correlation_id) WHERE correlation_id IS NOT NULL;
CREATE INDEX events_type_recorded ON events (event_type, recorded_at);
CREATE INDEX events_recorded_brin ON events USING brin (recorded_at);
