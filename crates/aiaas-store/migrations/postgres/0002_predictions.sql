-- aiaas metadata schema, version 2 (PostgreSQL): the prediction log.
-- The same tables as migrations/sqlite/0002_predictions.sql (where the comments are), in PostgreSQL types:
-- INTEGER is BIGINT (the code binds i64), REAL is DOUBLE PRECISION, BLOB is BYTEA.
CREATE TABLE predictions (
    model           TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    version         BIGINT  NOT NULL,
    at_ms           BIGINT  NOT NULL,
    latency_us      BIGINT  NOT NULL,
    inputs          BYTEA    NOT NULL,
    categories      TEXT,
    predicted_class TEXT,
    predicted_value DOUBLE PRECISION,
    label_class     TEXT,
    label_value     DOUBLE PRECISION,
    labelled_at_ms  BIGINT,
    PRIMARY KEY (model, id)
);
CREATE INDEX predictions_by_time ON predictions (model, at_ms);
