-- aiaas metadata schema, version 1 (SQLite).
--
-- Portable conventions, so that migrations/postgres/ can mirror this file table for table:
-- ids and names are TEXT, timestamps are INTEGER milliseconds since the Unix epoch, booleans are
-- INTEGER 0/1, JSON documents are TEXT, digests are 64 lowercase hex characters (TEXT).
-- (In PostgreSQL, INTEGER columns become BIGINT, since the code binds i64, and REAL becomes
-- DOUBLE PRECISION.)

-- Registered datasets: the CSV bytes are the blob `digest`.
CREATE TABLE datasets (
    name          TEXT    NOT NULL PRIMARY KEY,
    digest        TEXT    NOT NULL,
    target        TEXT    NOT NULL,
    task          TEXT    NOT NULL,
    rows          INTEGER NOT NULL,
    size_bytes    INTEGER NOT NULL,
    schema_json   TEXT    NOT NULL,
    profile_json  TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX datasets_by_digest ON datasets (digest);

-- A model is the family of its versions. `last_version` only grows, so a deleted version's
-- number is never handed out again.
CREATE TABLE models (
    name          TEXT    NOT NULL PRIMARY KEY,
    task          TEXT    NOT NULL,
    last_version  INTEGER NOT NULL DEFAULT 0,
    created_at_ms INTEGER NOT NULL
);

-- Published, immutable model versions. `dataset` and `parent` are lineage, not foreign keys:
-- a version may come from a dataset that was never registered here, and a parent may be deleted.
CREATE TABLE versions (
    model           TEXT    NOT NULL REFERENCES models (name),
    version         INTEGER NOT NULL,
    manifest_digest TEXT    NOT NULL,
    weights_digest  TEXT    NOT NULL,
    size_bytes      INTEGER NOT NULL,
    dataset         TEXT,
    dataset_digest  TEXT,
    job_id          TEXT    UNIQUE,
    parent          INTEGER,
    metrics_json    TEXT    NOT NULL,
    manifest_json   TEXT    NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (model, version)
);
CREATE INDEX versions_by_dataset ON versions (dataset);
CREATE INDEX versions_by_manifest ON versions (manifest_digest);
CREATE INDEX versions_by_weights ON versions (weights_digest);
CREATE INDEX versions_by_dataset_digest ON versions (dataset_digest);

-- Movable names for versions; a version cannot be deleted while an alias points at it.
CREATE TABLE aliases (
    model         TEXT    NOT NULL,
    alias         TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (model, alias),
    FOREIGN KEY (model, version) REFERENCES versions (model, version)
);
CREATE INDEX aliases_by_version ON aliases (model, version);

CREATE TABLE tags (
    model   TEXT    NOT NULL,
    version INTEGER NOT NULL,
    key     TEXT    NOT NULL,
    value   TEXT    NOT NULL,
    PRIMARY KEY (model, version, key),
    FOREIGN KEY (model, version) REFERENCES versions (model, version) ON DELETE CASCADE
);

-- The job queue. queued -> running -> succeeded | failed | cancelled.
CREATE TABLE jobs (
    id                TEXT    NOT NULL PRIMARY KEY,
    kind              TEXT    NOT NULL,
    state             TEXT    NOT NULL,
    spec_json         TEXT    NOT NULL,
    dataset           TEXT    NOT NULL,
    model             TEXT    NOT NULL,
    error             TEXT,
    progress_json     TEXT,
    result_model      TEXT,
    result_version    INTEGER,
    checkpoint_digest TEXT,
    checkpoint_epoch  INTEGER,
    attempts          INTEGER NOT NULL DEFAULT 0,
    cancel_requested  INTEGER NOT NULL DEFAULT 0,
    lease_owner       TEXT,
    heartbeat_at_ms   INTEGER,
    created_at_ms     INTEGER NOT NULL,
    started_at_ms     INTEGER,
    finished_at_ms    INTEGER
);
CREATE INDEX jobs_by_state ON jobs (state, created_at_ms, id);
CREATE INDEX jobs_by_created ON jobs (created_at_ms, id);
CREATE INDEX jobs_by_dataset ON jobs (dataset);
CREATE INDEX jobs_by_checkpoint ON jobs (checkpoint_digest);

-- What happened to a job, in order: seq is 1, 2, ... per job.
CREATE TABLE job_events (
    job_id    TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    at_ms     INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    data_json TEXT    NOT NULL,
    PRIMARY KEY (job_id, seq)
);

-- One row per finished epoch; a resumed job that redoes an epoch overwrites its row.
CREATE TABLE job_metrics (
    job_id     TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    epoch      INTEGER NOT NULL,
    epochs     INTEGER NOT NULL,
    train_loss REAL    NOT NULL,
    val_loss   REAL,
    val_metric REAL,
    lr         REAL    NOT NULL,
    PRIMARY KEY (job_id, epoch)
);
