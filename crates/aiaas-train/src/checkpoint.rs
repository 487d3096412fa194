//! Checkpoints of a training run: everything the training loop needs to carry on exactly where it
//! stopped, so that a suspended or crashed run, resumed, ends with the same weights, bit for bit,
//! as a run that was never interrupted.
//!
//! The shuffle RNG is not stored: it is seeded from the spec, so a resumed run replays the
//! shuffles of the epochs already done and skips the batches of the current one already done.
//!
//! On disk a checkpoint is a safetensors file: the f32 buffers (weights, best weights, optimizer
//! moments) as tensors, and the scalar state and the history as JSON in the `__metadata__` map.
//! Every f64 in that JSON is written as a string (Rust's shortest round-trip form, which also
//! covers `inf` and `NaN`) so that it reads back bit for bit.

use crate::TrainError;
use crate::optim::{Optimizer, OptimizerState};
use crate::run_state::{EpochProgress, Position, Record};
use aiaas_engine::{Mlp, param_count};
use aiaas_types::{LayerSpec, TrainSpec};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Version of the on-disk layout, refused when it is not this one.
const FORMAT: u32 = 1;
/// Key of the JSON state in the safetensors metadata.
const META_KEY: &str = "aiaas.checkpoint";
const PARAMS: &str = "params";
const BEST_PARAMS: &str = "best_params";
const FIRST: &str = "optimizer.first";
const SECOND: &str = "optimizer.second";

/// What a run trains: a checkpoint applies only to a run with the same spec, architecture and
/// row counts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Fingerprint {
    pub spec: TrainSpec,
    pub layers: Vec<LayerSpec>,
    pub train_rows: usize,
    pub val_rows: usize,
}

impl Fingerprint {
    pub fn of(spec: &TrainSpec, mlp: &Mlp, train_rows: usize, val_rows: usize) -> Self {
        Fingerprint {
            spec: spec.clone(),
            layers: mlp.layers().to_vec(),
            train_rows,
            val_rows,
        }
    }
}

/// The exact state of a training run between two batches.
///
/// Made by [`fit`](crate::fit) when its observer asks (see [`Observer`](crate::Observer)), stored
/// with [`Checkpoint::to_bytes`], read back with [`Checkpoint::from_bytes`] and handed to `fit`
/// or [`train`](crate::train) to resume.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub(crate) fingerprint: Fingerprint,
    pub(crate) position: Position,
    pub(crate) params: Vec<f32>,
    pub(crate) optimizer: OptimizerState,
    pub(crate) record: Record,
}

impl Checkpoint {
    /// Capture the run's state (this copies the weights, best weights and optimizer buffers).
    pub(crate) fn capture(
        fingerprint: Fingerprint,
        position: Position,
        mlp: &Mlp,
        optimizer: &Optimizer,
        record: &Record,
    ) -> Self {
        Checkpoint {
            fingerprint,
            position,
            params: mlp.params().to_vec(),
            optimizer: optimizer.state(),
            record: record.clone(),
        }
    }

    /// Epochs fully done when the checkpoint was taken.
    pub fn completed_epochs(&self) -> usize {
        self.position.epoch
    }

    /// Batches of the epoch in progress already done (0 at an epoch boundary).
    pub fn batches_done(&self) -> usize {
        self.position.batches_done
    }

    /// The finished epochs, as they were reported.
    pub fn history(&self) -> &[EpochProgress] {
        &self.record.history
    }

    /// The spec of the run; a resumed run must use this same spec.
    pub fn spec(&self) -> &TrainSpec {
        &self.fingerprint.spec
    }

    /// Number of model parameters.
    pub fn param_count(&self) -> usize {
        self.params.len()
    }

    /// Refuse to continue a run other than the one this checkpoint was taken from: another
    /// architecture, spec or split. `batches` is the number of batches in one epoch of the run.
    pub(crate) fn check(&self, run: &Fingerprint, batches: usize) -> Result<(), TrainError> {
        let mine = &self.fingerprint;
        if mine.layers != run.layers || self.params.len() != param_count(&run.layers) {
            return Err(bad(format!(
                "it is for a {} network with {} parameters, this model is {} with {}",
                shape(&mine.layers),
                self.params.len(),
                shape(&run.layers),
                param_count(&run.layers),
            )));
        }
        if mine.spec != run.spec {
            let (a, b) = (&mine.spec, &run.spec);
            let differ: Vec<&str> = [
                ("model", a.model != b.model),
                ("loss", a.loss != b.loss),
                ("optimizer", a.optimizer != b.optimizer),
                ("schedule", a.schedule != b.schedule),
                ("batch_size", a.batch_size != b.batch_size),
                ("epochs", a.epochs != b.epochs),
                ("patience", a.patience != b.patience),
                ("restore_best", a.restore_best != b.restore_best),
                ("seed", a.seed != b.seed),
            ]
            .into_iter()
            .filter_map(|(name, differs)| differs.then_some(name))
            .collect();
            return Err(bad(format!(
                "it was made with another training spec (differing in {}); resume with the spec \
                 it was made with",
                differ.join(", ")
            )));
        }
        if (mine.train_rows, mine.val_rows) != (run.train_rows, run.val_rows) {
            return Err(bad(format!(
                "it was made on {} training and {} validation rows, this run has {} and {}; \
                 resume on the same data and split",
                mine.train_rows, mine.val_rows, run.train_rows, run.val_rows
            )));
        }
        if self.position.batches_done > 0 && self.position.batches_done >= batches {
            return Err(bad(format!(
                "it has {} batches of an epoch done, an epoch of this run has {batches}",
                self.position.batches_done
            )));
        }
        Ok(())
    }

    /// The checkpoint as a safetensors file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let meta = Meta {
            format: FORMAT,
            spec: self.fingerprint.spec.clone(),
            layers: self.fingerprint.layers.clone(),
            train_rows: self.fingerprint.train_rows,
            val_rows: self.fingerprint.val_rows,
            epoch: self.position.epoch,
            batches_done: self.position.batches_done,
            partial_loss: exact(self.position.partial_loss),
            optimizer_steps: self.optimizer.steps,
            best_loss: exact(self.record.best_loss),
            best_epoch: self.record.best_epoch,
            since_best: self.record.since_best,
            history: self.record.history.iter().map(EpochRecord::from).collect(),
        };
        let json = serde_json::to_string(&meta).expect("the checkpoint state is plain data");
        let buffers = [
            (PARAMS, le_bytes(&self.params)),
            (BEST_PARAMS, le_bytes(&self.record.best_params)),
            (FIRST, le_bytes(&self.optimizer.first)),
            (SECOND, le_bytes(&self.optimizer.second)),
        ];
        let views = buffers.iter().map(|(name, bytes)| {
            let view = TensorView::new(Dtype::F32, vec![bytes.len() / 4], bytes)
                .expect("four bytes per f32");
            (*name, view)
        });
        safetensors::serialize(views, Some(HashMap::from([(META_KEY.to_string(), json)])))
            .expect("four small tensors serialize")
    }

    /// Read a checkpoint written by [`Checkpoint::to_bytes`], checking that it is whole and
    /// consistent; anything else is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint, TrainError> {
        let not_one = |e: safetensors::SafeTensorError| bad(format!("not a checkpoint file: {e}"));
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(not_one)?;
        let json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(META_KEY))
            .ok_or_else(|| bad(format!("not a checkpoint file: no `{META_KEY}` metadata")))?;
        let meta: Meta =
            serde_json::from_str(json).map_err(|e| bad(format!("unreadable state: {e}")))?;
        if meta.format != FORMAT {
            return Err(bad(format!(
                "format {} is not supported (this build reads format {FORMAT})",
                meta.format
            )));
        }
        let tensors = SafeTensors::deserialize(bytes).map_err(not_one)?;
        let buffer = |name: &str| -> Result<Vec<f32>, TrainError> {
            let t = tensors
                .tensor(name)
                .map_err(|e| bad(format!("tensor {name}: {e}")))?;
            if t.dtype() != Dtype::F32 || t.shape().len() != 1 {
                return Err(bad(format!(
                    "tensor {name} is {:?} of shape {:?}, expected a 1-D F32 tensor",
                    t.dtype(),
                    t.shape()
                )));
            }
            Ok(t.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        };
        let history = meta
            .history
            .iter()
            .map(EpochRecord::to_progress)
            .collect::<Result<Vec<_>, _>>()?;
        let checkpoint = Checkpoint {
            position: Position {
                epoch: meta.epoch,
                batches_done: meta.batches_done,
                partial_loss: parse(&meta.partial_loss)?,
            },
            params: buffer(PARAMS)?,
            optimizer: OptimizerState {
                first: buffer(FIRST)?,
                second: buffer(SECOND)?,
                steps: meta.optimizer_steps,
            },
            record: Record {
                best_params: buffer(BEST_PARAMS)?,
                best_loss: parse(&meta.best_loss)?,
                best_epoch: meta.best_epoch,
                since_best: meta.since_best,
                history,
            },
            fingerprint: Fingerprint {
                spec: meta.spec,
                layers: meta.layers,
                train_rows: meta.train_rows,
                val_rows: meta.val_rows,
            },
        };
        checkpoint.consistent()?;
        Ok(checkpoint)
    }

    /// Internal agreement of a checkpoint read from bytes.
    fn consistent(&self) -> Result<(), TrainError> {
        let n = param_count(&self.fingerprint.layers);
        let epoch = self.position.epoch;
        let problem = if self.params.len() != n || self.record.best_params.len() != n {
            Some(format!(
                "the {} network needs {n} parameters, it holds {} and {} best",
                shape(&self.fingerprint.layers),
                self.params.len(),
                self.record.best_params.len()
            ))
        } else if ![0, n].contains(&self.optimizer.first.len())
            || ![0, n].contains(&self.optimizer.second.len())
        {
            Some("its optimizer buffers do not match the parameters".into())
        } else if epoch > self.fingerprint.spec.epochs || self.record.history.len() != epoch {
            Some(format!(
                "it is at epoch {epoch} of {} with {} epochs of history",
                self.fingerprint.spec.epochs,
                self.record.history.len()
            ))
        } else if self.record.best_epoch > epoch || self.record.since_best > epoch {
            Some("its best epoch is after its current epoch".into())
        } else {
            None
        };
        problem.map_or(Ok(()), |p| Err(bad(format!("inconsistent: {p}"))))
    }
}

fn bad(message: String) -> TrainError {
    TrainError::Checkpoint(message)
}

/// A network's widths, e.g. `2-64-2`.
fn shape(layers: &[LayerSpec]) -> String {
    let mut widths: Vec<String> = layers
        .first()
        .map(|l| l.inputs.to_string())
        .into_iter()
        .collect();
    widths.extend(layers.iter().map(|l| l.outputs.to_string()));
    widths.join("-")
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A float as the shortest string that parses back to the same bits (`inf`, `NaN` included).
fn exact<T: std::fmt::Debug>(v: T) -> String {
    format!("{v:?}")
}

fn parse<T: std::str::FromStr>(s: &str) -> Result<T, TrainError> {
    s.parse()
        .map_err(|_| bad(format!("unreadable state: {s:?} is not a number")))
}

/// The scalar state, as JSON in the safetensors metadata.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    format: u32,
    spec: TrainSpec,
    layers: Vec<LayerSpec>,
    train_rows: usize,
    val_rows: usize,
    epoch: usize,
    batches_done: usize,
    partial_loss: String,
    optimizer_steps: u64,
    best_loss: String,
    best_epoch: usize,
    since_best: usize,
    history: Vec<EpochRecord>,
}

/// [`EpochProgress`] with its floats as exact strings.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EpochRecord {
    epoch: usize,
    epochs: usize,
    train_loss: String,
    val_loss: Option<String>,
    val_metric: Option<String>,
    lr: String,
    best: bool,
}

impl From<&EpochProgress> for EpochRecord {
    fn from(p: &EpochProgress) -> Self {
        EpochRecord {
            epoch: p.epoch,
            epochs: p.epochs,
            train_loss: exact(p.train_loss),
            val_loss: p.val_loss.map(exact),
            val_metric: p.val_metric.map(exact),
            lr: exact(p.lr),
            best: p.best,
        }
    }
}

impl EpochRecord {
    fn to_progress(&self) -> Result<EpochProgress, TrainError> {
        Ok(EpochProgress {
            epoch: self.epoch,
            epochs: self.epochs,
            train_loss: parse(&self.train_loss)?,
            val_loss: self.val_loss.as_deref().map(parse).transpose()?,
            val_metric: self.val_metric.as_deref().map(parse).transpose()?,
            lr: parse(&self.lr)?,
            best: self.best,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiaas_engine::stack;
    use aiaas_types::{
        Activation, LossKind, ModelKind, ModelSpec, OptimizerKind, OptimizerSpec, Schedule,
    };

    fn sample() -> Checkpoint {
        let spec = TrainSpec {
            model: ModelSpec {
                kind: ModelKind::Mlp,
                hidden: vec![3],
                activation: Activation::Relu,
            },
            loss: LossKind::Mse,
            optimizer: OptimizerSpec::defaults(OptimizerKind::Adam),
            schedule: Schedule::Constant,
            batch_size: 4,
            epochs: 10,
            patience: Some(2),
            restore_best: true,
            seed: 1,
        };
        let mlp = Mlp::new(stack(2, &[3], 1, Activation::Relu), 1).unwrap();
        let mut optimizer = Optimizer::new(spec.optimizer.clone(), mlp.param_count());
        let grads: Vec<f32> = (0..mlp.param_count()).map(|i| i as f32 * 0.1).collect();
        optimizer.step(&mut mlp.params().to_vec(), &grads, 0.01);
        let progress = |epoch, train_loss, val_loss: Option<f64>| EpochProgress {
            epoch,
            epochs: 10,
            train_loss,
            val_loss,
            val_metric: val_loss.map(|v| -v),
            lr: 0.1,
            best: epoch == 1,
        };
        let record = Record {
            best_params: mlp.params().iter().map(|p| p * 0.5).collect(),
            best_loss: 0.1 + 0.2,
            best_epoch: 1,
            since_best: 1,
            history: vec![
                progress(1, 1.0 / 3.0, Some(0.1 + 0.2)),
                progress(2, 7e-300, None),
            ],
        };
        let position = Position {
            epoch: 2,
            batches_done: 3,
            partial_loss: std::f64::consts::PI * 1e10,
        };
        let fingerprint = Fingerprint::of(&spec, &mlp, 40, 10);
        Checkpoint::capture(fingerprint, position, &mlp, &optimizer, &record)
    }

    #[test]
    fn bytes_round_trip_bit_for_bit() {
        let c = sample();
        let back = Checkpoint::from_bytes(&c.to_bytes()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.completed_epochs(), 2);
        assert_eq!(back.batches_done(), 3);
        assert_eq!(back.param_count(), 13);
    }

    #[test]
    fn an_infinite_best_loss_and_empty_optimizer_buffers_survive() {
        let mut c = sample();
        c.record.best_loss = f64::INFINITY;
        c.optimizer.first.clear();
        c.optimizer.second.clear();
        assert_eq!(Checkpoint::from_bytes(&c.to_bytes()).unwrap(), c);
    }

    #[test]
    fn every_truncation_and_garbage_is_an_error() {
        let bytes = sample().to_bytes();
        for len in 0..bytes.len() {
            assert!(
                Checkpoint::from_bytes(&bytes[..len]).is_err(),
                "length {len}"
            );
        }
        assert!(Checkpoint::from_bytes(b"definitely not a checkpoint").is_err());
        assert!(Checkpoint::from_bytes(&[0xff; 64]).is_err());
    }

    #[test]
    fn inconsistent_contents_are_refused() {
        let mut c = sample();
        c.params.pop();
        let err = Checkpoint::from_bytes(&c.to_bytes()).unwrap_err();
        assert!(err.to_string().contains("needs 13 parameters"), "{err}");
        let mut c = sample();
        c.position.epoch = 3;
        assert!(Checkpoint::from_bytes(&c.to_bytes()).is_err());
    }

    #[test]
    fn shape_names_the_widths() {
        assert_eq!(shape(&stack(2, &[64, 8], 3, Activation::Relu)), "2-64-8-3");
    }
}
