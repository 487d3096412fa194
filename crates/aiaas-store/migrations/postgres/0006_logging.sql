-- aiaas metadata schema, version 6 (PostgreSQL): what the prediction log keeps of each model's
-- The same tables as migrations/sqlite/0006_logging.sql (where the comments are), in PostgreSQL types:
-- INTEGER is BIGINT (the code binds i64), REAL is DOUBLE PRECISION, BLOB is BYTEA.
CREATE TABLE logging_policies (
    model         TEXT    NOT NULL PRIMARY KEY,
    policy_json   TEXT    NOT NULL,
    updated_at_ms BIGINT  NOT NULL
);
