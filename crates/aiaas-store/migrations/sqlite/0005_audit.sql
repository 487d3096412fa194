-- aiaas metadata schema, version 5 (SQLite): the audit log.
--
-- Every call that changes something and every refused call: who (the key's id, name and role,
-- copied so that a revoked key's rows still say who it was), what (method, route template, the
-- path as called) and how it ended (status), from where (the client's address). Never a secret.
CREATE TABLE audit_log (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms    INTEGER NOT NULL,
    key_id   TEXT,
    key_name TEXT,
    role     TEXT,
    method   TEXT    NOT NULL,
    route    TEXT    NOT NULL,
    target   TEXT    NOT NULL,
    status   INTEGER NOT NULL,
    client   TEXT    NOT NULL
);

CREATE INDEX audit_log_at ON audit_log (at_ms);
