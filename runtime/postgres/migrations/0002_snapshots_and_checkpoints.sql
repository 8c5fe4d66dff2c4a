-- Event store core (carebus runtime/src/store.rs): aggregate snapshots and subscription checkpoints.

CREATE TABLE snapshots (
    stream_id      text NOT NULL,
    -- Stream version the state includes (every event up to and including it).
    version        bigint NOT NULL CHECK (version >= 1),
    -- Version of the state's shape (Aggregate::STATE_VERSION); another shape is ignored on load.
    state_version  integer NOT NULL,
    aggregate_type text NOT NULL,
    tenant_id      text,
    -- The state as serde_json wrote it. May hold PHI, like the events it was built from.
    data           jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, version)
);

CREATE TABLE checkpoints (
    subscription  text PRIMARY KEY,
    -- The cursor of the last event processed: (last_tx_id, last_position). A checkpoint is
    -- written in the same transaction as the projection's write.
    last_tx_id    xid8 NOT NULL,
    last_position bigint NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
