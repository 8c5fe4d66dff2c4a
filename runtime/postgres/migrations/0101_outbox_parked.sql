-- Event store operations (carebus-postgres): events an outbox relay set aside because the
-- transport refused them for good (too large, unknown topic, not authorised). The event stays
-- in `events`; this row says which relay parked it and why, until it is delivered or an
-- operator gives it up (`OutboxRelay::retry_parked`, `EventStore::unpark`).
CREATE TABLE outbox_parked (
    relay           text NOT NULL,
    event_id        uuid NOT NULL,
    tx_id           xid8 NOT NULL,
    global_position bigint NOT NULL,
    event_type      text NOT NULL,
    topic           text NOT NULL,
    -- Names the topic and the failure, never event data.
    reason          text NOT NULL,
    parked_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (relay, event_id)
);
