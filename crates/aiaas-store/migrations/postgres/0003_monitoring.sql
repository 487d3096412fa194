-- aiaas metadata schema, version 3 (PostgreSQL): the model update loop.
-- The same tables as migrations/sqlite/0003_monitoring.sql (where the comments are), in PostgreSQL types:
-- INTEGER is BIGINT (the code binds i64), REAL is DOUBLE PRECISION, BLOB is BYTEA.
CREATE TABLE monitor_policies (
    model         TEXT    NOT NULL PRIMARY KEY,
    policy_json   TEXT    NOT NULL,
    next_check_ms BIGINT  NOT NULL,
    updated_at_ms BIGINT  NOT NULL
);

CREATE TABLE model_events (
    model     TEXT    NOT NULL,
    seq       BIGINT  NOT NULL,
    at_ms     BIGINT  NOT NULL,
    kind      TEXT    NOT NULL,
    data_json TEXT    NOT NULL,
    PRIMARY KEY (model, seq)
);
