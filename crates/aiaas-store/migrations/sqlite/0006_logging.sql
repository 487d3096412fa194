-- aiaas metadata schema, version 6 (SQLite): what the prediction log keeps of each model's
-- inputs (a JSON `LoggingPolicy`; no row: all of them).
CREATE TABLE logging_policies (
    model         TEXT    NOT NULL PRIMARY KEY,
    policy_json   TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
