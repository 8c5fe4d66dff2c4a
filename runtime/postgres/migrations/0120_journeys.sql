-- Journey engine (crate carebus-journey, runtime/journey/src/pg.rs): journey instances, their
-- history, the ids of the inputs (events, timer firings) already applied, and durable timers.
-- Numbers 0120-0129 belong to the journey engine; never edit an applied migration: add one.
-- The engine's outgoing events are not here: they go to `events` (the outbox) in the same
-- transaction, and the event store's outbox relay publishes them.

-- One row per instance, keyed by journey and correlation key (e.g. the patient id).
-- `version` is the optimistic-concurrency version: every write checks and increments it.
CREATE TABLE journey_instances (
    journey            text NOT NULL,
    correlation_key    text NOT NULL,
    instance_id        uuid NOT NULL UNIQUE,
    definition_version integer NOT NULL,
    state              text NOT NULL,
    finished           boolean NOT NULL,
    version            bigint NOT NULL,
    -- Stage count, saga steps completed, deferred events (their JSON form).
    data               jsonb NOT NULL,
    started_at         timestamptz NOT NULL,
    entered_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (journey, correlation_key)
);
CREATE INDEX journey_instances_by_state ON journey_instances (journey, state) WHERE NOT finished;

-- What happened to each instance, in order. Names only (states, event types, ids), no event data.
CREATE TABLE journey_history (
    entry_id    bigserial PRIMARY KEY,
    instance_id uuid NOT NULL,
    kind        text NOT NULL,
    trigger     text NOT NULL,
    cause_id    text NOT NULL,
    from_state  text,
    to_state    text,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journey_history_by_instance ON journey_history (instance_id, entry_id);

-- Inputs applied, per journey: a redelivered event (same id) or a timer fired twice finds its
-- row and changes nothing.
CREATE TABLE journey_processed (
    journey      text NOT NULL,
    cause_id     text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (journey, cause_id)
);

-- Durable timers. Engines claim due rows with FOR UPDATE SKIP LOCKED and delete a row in the
-- transaction that applies its firing: each fires once, across processes and restarts.
CREATE TABLE journey_timers (
    timer_id        uuid PRIMARY KEY,
    journey         text NOT NULL,
    correlation_key text NOT NULL,
    instance_id     uuid NOT NULL,
    name            text NOT NULL,
    due_at          timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (instance_id, name)
);
CREATE INDEX journey_timers_due ON journey_timers (due_at);
