-- The FHIR service's tables (in its own schema): current resources, their history, and the events applied.

-- The current version of each resource, one JSON document with meta.versionId and meta.lastUpdated.
CREATE TABLE fhir_resource (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    version_id    BIGINT NOT NULL,
    last_updated  TIMESTAMPTZ NOT NULL,
    -- ce_time of the newest event applied: an older event of the same aggregate is not applied.
    event_time    BIGINT NOT NULL,
    resource      JSONB NOT NULL,
    PRIMARY KEY (resource_type, id)
);
CREATE INDEX fhir_resource_identifier ON fhir_resource USING GIN ((resource -> 'identifier') jsonb_path_ops);

-- Every version of every resource, for `_history`.
CREATE TABLE fhir_resource_history (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    version_id    BIGINT NOT NULL,
    last_updated  TIMESTAMPTZ NOT NULL,
    event_id      TEXT NOT NULL,
    resource      JSONB NOT NULL,
    PRIMARY KEY (resource_type, id, version_id)
);

-- Each consumed event once: a redelivered event id changes nothing.
CREATE TABLE fhir_applied_event (
    event_id   TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    -- applied | stale (older than a resource's newest event) | missing (its resource does not exist)
    outcome    TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
