-- aiaas metadata schema, version 5 (PostgreSQL): the audit log.
-- The same tables as migrations/sqlite/0005_audit.sql (where the comments are), in PostgreSQL types:
-- INTEGER is BIGINT (the code binds i64), REAL is DOUBLE PRECISION, BLOB is BYTEA.
CREATE TABLE audit_log (
    seq      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms    BIGINT  NOT NULL,
    key_id   TEXT,
    key_name TEXT,
    role     TEXT,
    method   TEXT    NOT NULL,
    route    TEXT    NOT NULL,
    target   TEXT    NOT NULL,
    status   BIGINT  NOT NULL,
    client   TEXT    NOT NULL
);

CREATE INDEX audit_log_at ON audit_log (at_ms);
