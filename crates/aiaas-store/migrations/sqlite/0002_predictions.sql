-- aiaas metadata schema, version 2 (SQLite): the prediction log.
--
-- One row per predicted row, keyed by the model and the row's id (the request's id, or
-- `<id>/<row>` for a request of several rows). `inputs` holds the raw feature values in schema
-- order (NaN for a categorical feature), as little-endian f32, or only the nonzero ones with
-- their positions (see `encode_inputs` in predictions.rs), `categories` the
-- categorical values as a JSON array of strings in schema order (NULL when there are none).
-- The prediction and the label are text for a class, a number for regression.
CREATE TABLE predictions (
    model           TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    at_ms           INTEGER NOT NULL,
    latency_us      INTEGER NOT NULL,
    inputs          BLOB    NOT NULL,
    categories      TEXT,
    predicted_class TEXT,
    predicted_value REAL,
    label_class     TEXT,
    label_value     REAL,
    labelled_at_ms  INTEGER,
    PRIMARY KEY (model, id)
);
CREATE INDEX predictions_by_time ON predictions (model, at_ms);
