-- Journey engine: saga instances parked for a person. When a compensation is still not
-- confirmed after its last attempt the engine stops retrying and writes why here (names only,
-- no event data); the instance's `data` holds the compensation in progress. Cleared when the
-- confirmation arrives after all.
ALTER TABLE journey_instances ADD COLUMN parked_reason text;
CREATE INDEX journey_instances_parked ON journey_instances (journey) WHERE parked_reason IS NOT NULL;
