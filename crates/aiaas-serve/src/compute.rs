//! What a batcher's thread runs: a model that answers the rows of several requests in one pass.
//! [`Dense`] is a network trained here (the engine's `Network`); `Graph` (in `graph.rs`) is an
//! imported ONNX model. The batcher owns the queue, the waiting and the metrics; a `Compute`
//! owns only the arithmetic and the buffers it reuses.

use crate::ServeError;
use aiaas_engine::{Network, NetworkWorkspace};
use std::sync::Arc;

/// A model a [`crate::Batcher`] can run. Shared between callers (who [`check`](Compute::check)
/// their rows before queuing them) and the batching thread (which [`run`](Compute::run)s them).
pub trait Compute: Send + Sync + 'static {
    /// One request's rows, as its caller queues them.
    type Rows: Default + Send + 'static;
    /// One request's answer.
    type Answer: Default + Send + 'static;
    /// What the batching thread keeps between passes (buffers reused by every batch).
    type Scratch: Send + 'static;

    /// A fresh scratch for passes on `threads` threads (also after a pass panicked).
    fn scratch(&self, threads: usize) -> Self::Scratch;

    /// Why `x` is not `rows` rows of this model, checked as a request is queued so that one
    /// caller's mistake never fails a batch.
    fn check(&self, x: &Self::Rows, rows: usize) -> Result<(), String>;

    /// Runs `batch` (each request's rows and their count, in queue order) and pushes one answer
    /// per request, in the same order, to `answers`. The batch holds at most `max_batch` rows,
    /// or one request alone with more, which is run in passes of at most `max_batch` rows.
    fn run(
        &self,
        scratch: &mut Self::Scratch,
        batch: &[(Self::Rows, usize)],
        max_batch: usize,
        answers: &mut Vec<Result<Self::Answer, ServeError>>,
    );
}

/// A network trained here: requests are rows of scaled inputs (`rows x inputs` f32), answers
/// their logits (`rows x outputs`).
pub struct Dense(pub Arc<Network>);

/// [`Dense`]'s reused buffers: the network's workspace and the batch's joined rows.
pub struct DenseScratch {
    ws: NetworkWorkspace,
    input: Vec<f32>,
}

impl Compute for Dense {
    type Rows = Vec<f32>;
    type Answer = Vec<f32>;
    type Scratch = DenseScratch;

    fn scratch(&self, threads: usize) -> DenseScratch {
        DenseScratch {
            ws: NetworkWorkspace::new(threads),
            input: Vec::new(),
        }
    }

    fn check(&self, x: &Vec<f32>, rows: usize) -> Result<(), String> {
        let inputs = self.0.inputs();
        if x.len() == rows * inputs {
            Ok(())
        } else {
            Err(format!(
                "{} values are not {rows} rows of {inputs} inputs",
                x.len()
            ))
        }
    }

    fn run(
        &self,
        scratch: &mut DenseScratch,
        batch: &[(Vec<f32>, usize)],
        max_batch: usize,
        answers: &mut Vec<Result<Vec<f32>, ServeError>>,
    ) {
        let network = &*self.0;
        let (inputs, outputs) = (network.inputs(), network.outputs());
        let rows: usize = batch.iter().map(|(_, n)| n).sum();
        let DenseScratch { ws, input } = scratch;
        if rows <= max_batch {
            input.clear();
            for (x, _) in batch {
                input.extend_from_slice(x);
            }
            let logits = network.forward(input, rows, ws);
            let mut at = 0;
            for (_, n) in batch {
                answers.push(Ok(logits[at..at + n * outputs].to_vec()));
                at += n * outputs;
            }
            return;
        }
        for (x, n) in batch {
            let mut out = Vec::with_capacity(n * outputs);
            for chunk in x.chunks(max_batch * inputs) {
                out.extend_from_slice(network.forward(chunk, chunk.len() / inputs, ws));
            }
            answers.push(Ok(out));
        }
    }
}
