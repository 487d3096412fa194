-- aiaas metadata schema, version 3 (SQLite): the model update loop.
--
-- A monitoring policy per model (JSON, read by the service layer) and when it is next checked;
-- and a model's event history (breaches, retrains, promotions, rollbacks), numbered per model.
CREATE TABLE monitor_policies (
    model         TEXT    NOT NULL PRIMARY KEY,
    policy_json   TEXT    NOT NULL,
    next_check_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);

CREATE TABLE model_events (
    model     TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    at_ms     INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    data_json TEXT    NOT NULL,
    PRIMARY KEY (model, seq)
);
