-- aiaas metadata schema, version 4 (PostgreSQL): API keys.
-- The same tables as migrations/sqlite/0004_keys.sql (where the comments are), in PostgreSQL types:
-- INTEGER is BIGINT (the code binds i64), REAL is DOUBLE PRECISION, BLOB is BYTEA.
CREATE TABLE api_keys (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    models_json   TEXT,
    secret_sha256 TEXT    NOT NULL UNIQUE,
    created_at_ms BIGINT  NOT NULL,
    expires_at_ms BIGINT,
    rate_limit    DOUBLE PRECISION
);
