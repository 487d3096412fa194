-- aiaas metadata schema, version 7 (PostgreSQL): hyperparameter sweeps.
-- The same tables as migrations/sqlite/0007_sweeps.sql (where the comments are), in PostgreSQL types.
CREATE TABLE sweeps (
    id             TEXT    NOT NULL PRIMARY KEY,
    state          TEXT    NOT NULL,
    spec_json      TEXT    NOT NULL,
    dataset        TEXT    NOT NULL,
    model          TEXT    NOT NULL,
    metric         TEXT    NOT NULL,
    error          TEXT,
    result_version BIGINT,
    result_job     TEXT,
    created_at_ms  BIGINT  NOT NULL,
    finished_at_ms BIGINT
);
CREATE INDEX sweeps_by_created ON sweeps (created_at_ms, id);
CREATE INDEX sweeps_by_state ON sweeps (state);

ALTER TABLE jobs ADD COLUMN sweep_id TEXT;
ALTER TABLE jobs ADD COLUMN score DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN output_digest TEXT;
CREATE INDEX jobs_by_sweep ON jobs (sweep_id);
