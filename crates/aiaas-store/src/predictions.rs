//! The prediction log: what a served model answered, row by row, and the labels that arrive
//! for those rows later (feedback by id).

use crate::Store;
use crate::db::{DbRow, col, int, now_ms, to_i64, to_json};
use crate::error::{Result, StoreError};
use aiaas_types::{Erasure, ModelName, NewPrediction, PredictionRow, TargetValue, Version};
use serde::{Deserialize, Serialize};

/// Which logged rows to read: optionally one version, rows from `since_ms` on, and at most the
/// `last` most recent (or earliest); only labelled ones with `labelled`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Window {
    /// Only this version's rows.
    pub version: Option<Version>,
    /// Only rows logged at or after this time (ms since the Unix epoch).
    pub since_ms: Option<i64>,
    /// At most this many, the most recent (with `oldest`, the earliest).
    pub last: Option<usize>,
    /// Count `last` from the earliest row instead (a reference window).
    pub oldest: bool,
    /// Only rows with a label.
    pub labelled: bool,
}

/// What a batch of labels did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Labelled {
    /// Labels stored (a row labelled again gets the new label).
    pub matched: u64,
    /// Ids with no logged prediction (never logged, sampled out, or pruned).
    pub unknown: Vec<String>,
}

const COLUMNS: &str = "id, version, at_ms, latency_us, inputs, categories, predicted_class, \
                       predicted_value, label_class, label_value";

/// `(class, value)` columns of a target.
fn split(target: &TargetValue) -> (Option<&str>, Option<f64>) {
    match target {
        TargetValue::Class(c) => (Some(c), None),
        TargetValue::Value(v) => (None, Some(*v)),
    }
}

fn target(row: &DbRow, class: &str, value: &str) -> Result<Option<TargetValue>> {
    let c: Option<String> = col(row, class)?;
    let v: Option<f64> = col(row, value)?;
    Ok(c.map(TargetValue::Class).or(v.map(TargetValue::Value)))
}

/// The stored form of a row's raw inputs: tag 0 then every value as little-endian f32, or, when
/// fewer than half the values are nonzero (images: MNIST pixels are about 80% zero), tag 1, the
/// value count (u32) and each nonzero value as its position (u16) and value (f32). Smaller rows
/// are what lets the log keep up with the request rate: the database's cost grows with bytes.
fn encode_inputs(values: &[f32]) -> Vec<u8> {
    let nonzero = values.iter().filter(|v| v.to_bits() != 0).count();
    if nonzero * 2 < values.len() && values.len() <= usize::from(u16::MAX) + 1 {
        let mut out = Vec::with_capacity(5 + nonzero * 6);
        out.push(1);
        out.extend((values.len() as u32).to_le_bytes());
        for (i, v) in values.iter().enumerate().filter(|(_, v)| v.to_bits() != 0) {
            out.extend((i as u16).to_le_bytes());
            out.extend(v.to_le_bytes());
        }
        out
    } else {
        let mut out = Vec::with_capacity(1 + values.len() * 4);
        out.push(0);
        out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        out
    }
}

fn decode_inputs(blob: &[u8]) -> Result<Vec<f32>> {
    let bad = || StoreError::Invalid("column inputs: malformed".into());
    let f32_at = |b: &[u8]| f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    match blob.split_first() {
        Some((0, rest)) if rest.len() % 4 == 0 => Ok(rest.chunks_exact(4).map(f32_at).collect()),
        Some((1, rest)) if rest.len() >= 4 && (rest.len() - 4) % 6 == 0 => {
            let n = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if n > usize::from(u16::MAX) + 1 {
                return Err(bad());
            }
            let mut values = vec![0.0f32; n];
            for pair in rest[4..].chunks_exact(6) {
                let i = usize::from(u16::from_le_bytes([pair[0], pair[1]]));
                *values.get_mut(i).ok_or_else(bad)? = f32_at(&pair[2..]);
            }
            Ok(values)
        }
        _ => Err(bad()),
    }
}

fn from_row(row: &DbRow) -> Result<PredictionRow> {
    let blob: Vec<u8> = col(row, "inputs")?;
    let categories: Option<String> = col(row, "categories")?;
    let categories = categories
        .map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(|e| StoreError::Invalid(format!("column categories: {e}")))?;
    Ok(PredictionRow {
        id: col(row, "id")?,
        version: int(row, "version")?,
        at_ms: col(row, "at_ms")?,
        latency_us: int(row, "latency_us")?,
        inputs: decode_inputs(&blob)?,
        categories,
        predicted: target(row, "predicted_class", "predicted_value")?.ok_or_else(|| {
            StoreError::Invalid("a logged prediction has no predicted target".into())
        })?,
        label: target(row, "label_class", "label_value")?,
    })
}

impl Store {
    /// Logs `rows` in one transaction; a row whose id the model already logged replaces it.
    pub async fn insert_predictions(&self, rows: &[NewPrediction]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        // Several rows per statement: with SQLite every statement is a round trip to the
        // connection's thread, and with PostgreSQL to the server. A re-logged id replaces its
        // row, label included (the label was for the old prediction).
        const ROWS_PER_STATEMENT: usize = 64;
        const COLUMNS: usize = 9;
        // The last row of an id logged twice in this batch wins, as it would one at a time
        // (PostgreSQL refuses a statement that upserts one key twice).
        let mut seen = std::collections::HashSet::new();
        let mut rows: Vec<&NewPrediction> = rows
            .iter()
            .rev()
            .filter(|r| seen.insert((r.model.as_str(), r.id.as_str())))
            .collect();
        rows.reverse();
        let mut w = self.db.batch().await?;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut sql = String::from(
                "INSERT INTO predictions (model, id, version, at_ms, latency_us, inputs, \
                 categories, predicted_class, predicted_value) VALUES ",
            );
            sql.push_str(&self.db.values_list(chunk.len(), COLUMNS));
            sql.push_str(
                " ON CONFLICT (model, id) DO UPDATE SET version = excluded.version, \
                 at_ms = excluded.at_ms, latency_us = excluded.latency_us, \
                 inputs = excluded.inputs, categories = excluded.categories, \
                 predicted_class = excluded.predicted_class, \
                 predicted_value = excluded.predicted_value, label_class = NULL, \
                 label_value = NULL, labelled_at_ms = NULL",
            );
            let mut query = sqlx::query(&sql);
            for r in chunk {
                let (class, value) = split(&r.predicted);
                let categories = r.categories.as_ref().map(to_json).transpose()?;
                let inputs = encode_inputs(&r.inputs);
                query = query
                    .bind(r.model.as_str())
                    .bind(&r.id)
                    .bind(i64::from(r.version))
                    .bind(r.at_ms)
                    .bind(to_i64(r.latency_us, "latency")?)
                    .bind(inputs)
                    .bind(categories)
                    .bind(class)
                    .bind(value);
            }
            query
                .persistent(self.db.cache_optional_f64())
                .execute(&mut *w.tx)
                .await?;
        }
        w.commit().await
    }

    /// Stores the labels of logged rows of `model`, by id, in one transaction.
    pub async fn label_predictions(
        &self,
        model: &ModelName,
        labels: &[(String, TargetValue)],
    ) -> Result<Labelled> {
        let mut w = self.db.write().await?;
        let at = now_ms();
        let mut outcome = Labelled::default();
        for (id, label) in labels {
            let (class, value) = split(label);
            let done = sqlx::query(
                "UPDATE predictions SET label_class = $1, label_value = $2, labelled_at_ms = $3 \
                 WHERE model = $4 AND id = $5",
            )
            .bind(class)
            .bind(value)
            .bind(at)
            .bind(model.as_str())
            .bind(id)
            .persistent(self.db.cache_optional_f64())
            .execute(&mut *w.tx)
            .await?;
            if done.rows_affected() == 0 {
                outcome.unknown.push(id.clone());
            } else {
                outcome.matched += 1;
            }
        }
        w.commit().await?;
        Ok(outcome)
    }

    /// Logged rows of `model` in `window`, oldest first.
    pub async fn predictions(
        &self,
        model: &ModelName,
        window: &Window,
    ) -> Result<Vec<PredictionRow>> {
        let mut sql = format!("SELECT {COLUMNS} FROM predictions WHERE model = $1");
        if window.version.is_some() {
            sql.push_str(" AND version = $2");
        } else {
            sql.push_str(" AND $2 IS NULL");
        }
        sql.push_str(" AND at_ms >= $3");
        if window.labelled {
            sql.push_str(" AND (label_class IS NOT NULL OR label_value IS NOT NULL)");
        }
        sql.push_str(if window.oldest {
            " ORDER BY at_ms ASC, id ASC LIMIT $4"
        } else {
            " ORDER BY at_ms DESC, id DESC LIMIT $4"
        });
        let last = window
            .last
            .map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let rows = sqlx::query(&sql)
            .bind(model.as_str())
            .bind(window.version.map(i64::from))
            .bind(window.since_ms.unwrap_or(i64::MIN))
            .bind(last)
            .fetch_all(&self.db.pool)
            .await?;
        let mut out = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        if !window.oldest {
            out.reverse();
        }
        Ok(out)
    }

    /// Deletes the oldest logged predictions of `model` beyond its newest `keep`; how many went.
    pub async fn trim_predictions(&self, model: &ModelName, keep: u64) -> Result<u64> {
        // The (model, at_ms) index walks the newest `keep` rows and hands over the rest.
        let done = sqlx::query(
            "DELETE FROM predictions WHERE model = $1 AND id IN (SELECT id FROM predictions \
             WHERE model = $1 ORDER BY at_ms DESC, id DESC LIMIT $3 OFFSET $2)",
        )
        .bind(model.as_str())
        .bind(to_i64(keep, "kept predictions")?)
        .bind(i64::MAX)
        .execute(&self.db.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Erases the logged predictions of `model` that `which` names; how many went. At least one
    /// condition must be given (the service checks).
    pub async fn erase_predictions(&self, model: &ModelName, which: &Erasure) -> Result<u64> {
        let mut w = self.db.write().await?;
        let mut erased = 0;
        let (from, to) = (
            which.from_ms.unwrap_or(i64::MIN),
            which.to_ms.unwrap_or(i64::MAX),
        );
        match &which.ids {
            Some(ids) => {
                for id in ids {
                    erased += sqlx::query(
                        "DELETE FROM predictions WHERE model = $1 AND id = $2 AND at_ms >= $3 \
                         AND at_ms < $4",
                    )
                    .bind(model.as_str())
                    .bind(id)
                    .bind(from)
                    .bind(to)
                    .execute(&mut *w.tx)
                    .await?
                    .rows_affected();
                }
            }
            None => {
                erased = sqlx::query(
                    "DELETE FROM predictions WHERE model = $1 AND at_ms >= $2 AND at_ms < $3",
                )
                .bind(model.as_str())
                .bind(from)
                .bind(to)
                .execute(&mut *w.tx)
                .await?
                .rows_affected();
            }
        }
        w.commit().await?;
        Ok(erased)
    }

    /// Retention: deletes rows older than `older_than_ms`, then all but the `keep` newest rows of
    /// each model. Returns how many rows went.
    pub async fn prune_predictions(&self, older_than_ms: i64, keep: u64) -> Result<u64> {
        let mut w = self.db.write().await?;
        let old = sqlx::query("DELETE FROM predictions WHERE at_ms < $1")
            .bind(older_than_ms)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        let over = sqlx::query(
            "DELETE FROM predictions WHERE (model, id) IN (SELECT model, id FROM \
             (SELECT model, id, ROW_NUMBER() OVER (PARTITION BY model ORDER BY at_ms DESC, \
             id DESC) AS n FROM predictions) AS ranked WHERE n > $1)",
        )
        .bind(to_i64(keep, "kept predictions")?)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit().await?;
        Ok(old + over)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_round_trip_dense_and_sparse() {
        let dense = vec![1.5, -2.0, f32::NAN, 0.0];
        let blob = encode_inputs(&dense);
        assert_eq!((blob[0], blob.len()), (0, 17));
        let back = decode_inputs(&blob).unwrap();
        assert_eq!((back[0], back[1], back[3]), (1.5, -2.0, 0.0));
        assert!(back[2].is_nan());

        let mut sparse = vec![0.0f32; 784];
        sparse[3] = 0.5;
        sparse[700] = -1.0;
        let blob = encode_inputs(&sparse);
        assert_eq!((blob[0], blob.len()), (1, 1 + 4 + 2 * 6));
        assert_eq!(decode_inputs(&blob).unwrap(), sparse);
        // -0.0 is not zero bits: it is kept.
        let mut signed = vec![0.0f32; 10];
        signed[1] = -0.0;
        assert!(decode_inputs(&encode_inputs(&signed)).unwrap()[1].is_sign_negative());

        for bad in [
            &[][..],
            &[2, 0][..],
            &[0, 1, 2][..],
            &[1, 1, 0, 0, 0, 5, 0, 0, 0, 0, 0][..],
        ] {
            assert!(decode_inputs(bad).is_err(), "{bad:?}");
        }
    }
}
