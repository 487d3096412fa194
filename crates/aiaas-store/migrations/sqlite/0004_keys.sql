-- aiaas metadata schema, version 4 (SQLite): API keys.
--
-- Only the SHA-256 of each secret is stored (the secret is 256 random bits, so a plain hash
-- cannot be reversed); models_json scopes a predictor key to some models (NULL: all).
CREATE TABLE api_keys (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    models_json   TEXT,
    secret_sha256 TEXT    NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER,
    rate_limit    REAL
);
