-- aiaas metadata schema, version 1 (PostgreSQL).
-- The same tables as migrations/sqlite/0001_init.sql (where the comments are), in PostgreSQL types:
-- INTEGER is BIGINT (the code binds i64), REAL is DOUBLE PRECISION, BLOB is BYTEA.

-- Registered datasets: the CSV bytes are the blob `digest`.
CREATE TABLE datasets (
    name          TEXT    NOT NULL PRIMARY KEY,
    digest        TEXT    NOT NULL,
    target        TEXT    NOT NULL,
    task          TEXT    NOT NULL,
    rows          BIGINT  NOT NULL,
    size_bytes    BIGINT  NOT NULL,
    schema_json   TEXT    NOT NULL,
    profile_json  TEXT    NOT NULL,
    created_at_ms BIGINT  NOT NULL
);
CREATE INDEX datasets_by_digest ON datasets (digest);

-- A model is the family of its versions. `last_version` only grows, so a deleted version's
-- number is never handed out again.
CREATE TABLE models (
    name          TEXT    NOT NULL PRIMARY KEY,
    task          TEXT    NOT NULL,
    last_version  BIGINT  NOT NULL DEFAULT 0,
    created_at_ms BIGINT  NOT NULL
);

-- Published, immutable model versions. `dataset` and `parent` are lineage, not foreign keys:
-- a version may come from a dataset that was never registered here, and a parent may be deleted.
CREATE TABLE versions (
    model           TEXT    NOT NULL REFERENCES models (name),
    version         BIGINT  NOT NULL,
    manifest_digest TEXT    NOT NULL,
    weights_digest  TEXT    NOT NULL,
    size_bytes      BIGINT  NOT NULL,
    dataset         TEXT,
    dataset_digest  TEXT,
    job_id          TEXT    UNIQUE,
    parent          BIGINT,
    metrics_json    TEXT    NOT NULL,
    manifest_json   TEXT    NOT NULL,
    created_at_ms   BIGINT  NOT NULL,
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
    version       BIGINT  NOT NULL,
    updated_at_ms BIGINT  NOT NULL,
    PRIMARY KEY (model, alias),
    FOREIGN KEY (model, version) REFERENCES versions (model, version)
);
CREATE INDEX aliases_by_version ON aliases (model, version);

CREATE TABLE tags (
    model   TEXT    NOT NULL,
    version BIGINT  NOT NULL,
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
    result_version    BIGINT,
    checkpoint_digest TEXT,
    checkpoint_epoch  BIGINT,
    attempts          BIGINT  NOT NULL DEFAULT 0,
    cancel_requested  BIGINT  NOT NULL DEFAULT 0,
    lease_owner       TEXT,
    heartbeat_at_ms   BIGINT,
    created_at_ms     BIGINT  NOT NULL,
    started_at_ms     BIGINT,
    finished_at_ms    BIGINT
);
CREATE INDEX jobs_by_state ON jobs (state, created_at_ms, id);
CREATE INDEX jobs_by_created ON jobs (created_at_ms, id);
CREATE INDEX jobs_by_dataset ON jobs (dataset);
CREATE INDEX jobs_by_checkpoint ON jobs (checkpoint_digest);

-- What happened to a job, in order: seq is 1, 2, ... per job.
CREATE TABLE job_events (
    job_id    TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq       BIGINT  NOT NULL,
    at_ms     BIGINT  NOT NULL,
    kind      TEXT    NOT NULL,
    data_json TEXT    NOT NULL,
    PRIMARY KEY (job_id, seq)
);

-- One row per finished epoch; a resumed job that redoes an epoch overwrites its row.
CREATE TABLE job_metrics (
    job_id     TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    epoch      BIGINT  NOT NULL,
    epochs     BIGINT  NOT NULL,
    train_loss DOUBLE PRECISION NOT NULL,
    val_loss   DOUBLE PRECISION,
    val_metric DOUBLE PRECISION,
    lr         DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (job_id, epoch)
);
