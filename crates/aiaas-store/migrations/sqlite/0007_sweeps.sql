-- aiaas metadata schema, version 7: hyperparameter sweeps.
-- A sweep is a parent of train jobs (its trials, `jobs.sweep_id`), one per point of its search.
-- It stays `running` until every trial has finished; then the best trial's bundle is published
-- as a version (`result_version`) and the sweep ends `succeeded`, or `failed` when no trial
-- succeeded, or `cancelled` when asked (its queued trials cancelled, its running ones asked to
-- stop).
CREATE TABLE sweeps (
    id             TEXT    NOT NULL PRIMARY KEY,
    state          TEXT    NOT NULL,
    spec_json      TEXT    NOT NULL,
    dataset        TEXT    NOT NULL,
    model          TEXT    NOT NULL,
    metric         TEXT    NOT NULL,
    error          TEXT,
    result_version INTEGER,
    result_job     TEXT,
    created_at_ms  INTEGER NOT NULL,
    finished_at_ms INTEGER
);
CREATE INDEX sweeps_by_created ON sweeps (created_at_ms, id);
CREATE INDEX sweeps_by_state ON sweeps (state);

-- A trial keeps its score (the sweep's metric on the validation split) and the bundle it
-- trained, as one archive blob, until its sweep ends: the winner's is published, every one is
-- then collected.
ALTER TABLE jobs ADD COLUMN sweep_id TEXT;
ALTER TABLE jobs ADD COLUMN score REAL;
ALTER TABLE jobs ADD COLUMN output_digest TEXT;
CREATE INDEX jobs_by_sweep ON jobs (sweep_id);
