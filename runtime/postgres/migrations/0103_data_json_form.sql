-- Which JSON form `data_json` holds: 'avro' (Avro's JSON encoding: unions as
-- {"<branch>": value}, bytes as ISO-8859-1 text, dates and timestamps as numbers) or
-- 'carebus-legacy' (carebus's JSON form before it: bare union values, hex bytes, ISO dates,
-- decimals as text). Every row written before this migration is 'carebus-legacy'; the default
-- stays 'carebus-legacy' so that a writer that does not name the column (an older carebus
-- still running during a rollout) is marked right too. carebus writes 'avro' explicitly.
-- `PgEventStore::upgrade_json_form` rewrites legacy rows to 'avro' from the event's schema.
ALTER TABLE events
    ADD COLUMN data_json_form text NOT NULL DEFAULT 'carebus-legacy'
        CONSTRAINT events_data_json_form_check CHECK (data_json_form IN ('avro', 'carebus-legacy'));
ALTER TABLE events_archive
    ADD COLUMN data_json_form text NOT NULL DEFAULT 'carebus-legacy'
        CONSTRAINT events_archive_data_json_form_check CHECK (data_json_form IN ('avro', 'carebus-legacy'));
-- The upgrade finds the rows it has left to do without reading the log.
CREATE INDEX events_data_json_legacy ON events (global_position) WHERE data_json_form = 'carebus-legacy';
