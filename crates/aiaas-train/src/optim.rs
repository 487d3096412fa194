//! Optimizers with `torch.optim` update rules, over a flat parameter buffer.
//!
//! - SGD: `g = grad + wd·p`; with momentum `b = g` on the first step, then
//!   `b = mu·b + (1 - dampening)·g`; Nesterov uses `g + mu·b`, else `b`; `p -= lr·g`.
//! - Adam: `g = grad + wd·p` (coupled L2); `m`, `v` moving averages with bias correction;
//!   `p -= lr·m̂ / (sqrt(v̂) + eps)`.
//! - AdamW: `p *= 1 - lr·wd` first (decoupled decay), then Adam without the L2 term.
//! - GD: SGD over the full training set (the training loop chooses the batch).

use crate::TrainError;
use aiaas_types::{OptimizerKind, OptimizerSpec};

/// What an optimizer has learned so far, for checkpoints: restoring it into a fresh optimizer of
/// the same spec continues the run exactly.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimizerState {
    /// SGD momentum buffer or Adam's first moment; empty when the optimizer keeps none.
    pub first: Vec<f32>,
    /// Adam's second moment; empty for SGD and GD.
    pub second: Vec<f32>,
    /// Steps taken (Adam's bias correction and SGD's first momentum step depend on it).
    pub steps: u64,
}

/// An optimizer and its per-parameter state.
#[derive(Clone, Debug)]
pub struct Optimizer {
    spec: OptimizerSpec,
    /// SGD momentum buffer, or Adam's first moment.
    first: Vec<f32>,
    /// Adam's second moment.
    second: Vec<f32>,
    steps: u64,
    /// Threads the Adam update may spread over.
    threads: usize,
}

/// Fewest parameters an update is split across threads for: below, a thread costs more than
/// it saves.
const MIN_PARALLEL_PARAMS: usize = 1 << 16;

impl Optimizer {
    pub fn new(spec: OptimizerSpec, params: usize) -> Self {
        let adam = matches!(spec.kind, OptimizerKind::Adam | OptimizerKind::AdamW);
        let momentum = spec.momentum != 0.0;
        Optimizer {
            first: vec![0.0; if adam || momentum { params } else { 0 }],
            second: vec![0.0; if adam { params } else { 0 }],
            spec,
            steps: 0,
            threads: 1,
        }
    }

    /// The same optimizer spreading its Adam update over `threads` threads, in contiguous
    /// blocks of parameters, where there are enough of them (each element's update is the same
    /// on any thread, so the result does not change).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    pub fn spec(&self) -> &OptimizerSpec {
        &self.spec
    }

    /// Number of steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// A copy of the per-parameter state.
    pub fn state(&self) -> OptimizerState {
        OptimizerState {
            first: self.first.clone(),
            second: self.second.clone(),
            steps: self.steps,
        }
    }

    /// Put back a state taken with [`Optimizer::state`] from an optimizer of the same spec and
    /// parameter count; buffers of another shape are refused and leave `self` as it was.
    pub fn restore(&mut self, state: &OptimizerState) -> Result<(), TrainError> {
        if state.first.len() != self.first.len() || state.second.len() != self.second.len() {
            return Err(TrainError::Checkpoint(format!(
                "optimizer state has buffers of {} and {} values, this {:?} optimizer needs {} and {}",
                state.first.len(),
                state.second.len(),
                self.spec.kind,
                self.first.len(),
                self.second.len()
            )));
        }
        self.first.copy_from_slice(&state.first);
        self.second.copy_from_slice(&state.second);
        self.steps = state.steps;
        Ok(())
    }

    /// One update of `params` from `grads` at learning rate `lr` (the schedule's current rate).
    pub fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f32) {
        assert_eq!(params.len(), grads.len(), "optimizer: gradient shape");
        self.steps += 1;
        match self.spec.kind {
            OptimizerKind::Gd | OptimizerKind::Sgd => self.sgd(params, grads, lr),
            OptimizerKind::Adam => self.adam(params, grads, lr, self.spec.weight_decay),
            OptimizerKind::AdamW => {
                let keep = 1.0 - lr * self.spec.weight_decay;
                params.iter_mut().for_each(|p| *p *= keep);
                self.adam(params, grads, lr, 0.0)
            }
            OptimizerKind::Lbfgs => {
                unreachable!("L-BFGS fits run in fit_lbfgs, not batch by batch")
            }
        }
    }

    fn sgd(&mut self, params: &mut [f32], grads: &[f32], lr: f32) {
        let OptimizerSpec {
            momentum,
            dampening,
            nesterov,
            weight_decay,
            ..
        } = self.spec;
        if momentum == 0.0 {
            for (p, &g) in params.iter_mut().zip(grads) {
                *p -= lr * (g + weight_decay * *p);
            }
            return;
        }
        let first_step = self.steps == 1;
        for ((p, &g), b) in params.iter_mut().zip(grads).zip(&mut self.first) {
            let g = g + weight_decay * *p;
            *b = if first_step {
                g
            } else {
                momentum * *b + (1.0 - dampening) * g
            };
            let d = if nesterov { g + momentum * *b } else { *b };
            *p -= lr * d;
        }
    }

    fn adam(&mut self, params: &mut [f32], grads: &[f32], lr: f32, l2: f32) {
        let OptimizerSpec {
            beta1, beta2, eps, ..
        } = self.spec;
        let t = self.steps as i32;
        let correction1 = 1.0 - (beta1 as f64).powi(t);
        let correction2 = 1.0 - (beta2 as f64).powi(t);
        // PyTorch's arrangement: p -= (lr / c1) · m / (sqrt(v) / sqrt(c2) + eps).
        let update = AdamUpdate {
            beta1,
            beta2,
            eps,
            l2,
            step_size: (lr as f64 / correction1) as f32,
            inv_sqrt_c2: (1.0 / correction2.sqrt()) as f32,
        };
        let (m, v) = (&mut self.first[..], &mut self.second[..]);
        if self.threads <= 1 || params.len() < MIN_PARALLEL_PARAMS {
            update.apply(params, grads, m, v);
            return;
        }
        let per = params.len().div_ceil(self.threads);
        rayon::scope(|scope| {
            for (((p, g), m), v) in params
                .chunks_mut(per)
                .zip(grads.chunks(per))
                .zip(m.chunks_mut(per))
                .zip(v.chunks_mut(per))
            {
                scope.spawn(move |_| update.apply(p, g, m, v));
            }
        });
    }
}

/// One Adam update's constants, applied element by element.
#[derive(Clone, Copy)]
struct AdamUpdate {
    beta1: f32,
    beta2: f32,
    eps: f32,
    l2: f32,
    step_size: f32,
    inv_sqrt_c2: f32,
}

impl AdamUpdate {
    /// The update over every parameter, 8 lanes wide where the CPU has AVX2 (chosen at run
    /// time), else as the baseline target allows. The same additions, multiplications, square
    /// roots and divisions in the same order either way, so the result is bit for bit the same.
    fn apply(self, params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, as just checked.
            #[allow(unsafe_code)]
            unsafe {
                self.apply_avx2(params, grads, m, v)
            };
            return;
        }
        self.kernel(params, grads, m, v);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[allow(unsafe_code)]
    unsafe fn apply_avx2(self, params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32]) {
        self.kernel(params, grads, m, v);
    }

    #[inline(always)]
    fn kernel(self, params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32]) {
        let AdamUpdate {
            beta1,
            beta2,
            eps,
            l2,
            step_size,
            inv_sqrt_c2,
        } = self;
        for (((p, &g), m), v) in params.iter_mut().zip(grads).zip(m).zip(v) {
            let g = g + l2 * *p;
            *m = beta1 * *m + (1.0 - beta1) * g;
            *v = beta2 * *v + (1.0 - beta2) * g * g;
            *p -= step_size * *m / (v.sqrt() * inv_sqrt_c2 + eps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs three steps on loss `sum(p²)` (gradient `2p`) from p = (1, -2) and compares each
    /// step with values worked out from the published `torch.optim` formulas in plain f64
    /// arithmetic, outside this implementation.
    fn check(spec: OptimizerSpec, want: [[f64; 2]; 3]) {
        let mut p = vec![1.0f32, -2.0];
        let mut opt = Optimizer::new(spec.clone(), 2);
        for (step, want) in want.iter().enumerate() {
            let g: Vec<f32> = p.iter().map(|p| 2.0 * p).collect();
            opt.step(&mut p, &g, spec.lr);
            for (got, want) in p.iter().zip(want) {
                assert!(
                    (*got as f64 - want).abs() < 2e-6,
                    "{:?} step {}: {got} vs {want}",
                    spec.kind,
                    step + 1
                );
            }
        }
    }

    fn spec(kind: OptimizerKind) -> OptimizerSpec {
        OptimizerSpec {
            lr: 0.1,
            ..OptimizerSpec::defaults(kind)
        }
    }

    #[test]
    fn gd_steps_against_the_gradient() {
        // p <- p - 0.1 * 2p = 0.8 p
        check(
            spec(OptimizerKind::Gd),
            [[0.8, -1.6], [0.64, -1.28], [0.512, -1.024]],
        );
    }

    #[test]
    fn sgd_momentum_starts_its_buffer_with_the_first_gradient() {
        // b1 = 2, p1 = 0.8; b2 = 0.9*2 + 1.6 = 3.4, p2 = 0.46; b3 = 3.06 + 0.92 = 3.98, p3 = 0.062
        let s = OptimizerSpec {
            momentum: 0.9,
            ..spec(OptimizerKind::Sgd)
        };
        check(s, [[0.8, -1.6], [0.46, -0.92], [0.062, -0.124]]);
    }

    #[test]
    fn sgd_nesterov_looks_ahead() {
        // step 1: g = 2, b = 2, d = 2 + 0.9*2 = 3.8, p = 0.62
        // step 2: g = 1.24, b = 1.8 + 1.24 = 3.04, d = 1.24 + 2.736 = 3.976, p = 0.2224
        let s = OptimizerSpec {
            momentum: 0.9,
            nesterov: true,
            ..spec(OptimizerKind::Sgd)
        };
        check(s, [[0.62, -1.24], [0.2224, -0.4448], [-0.108352, 0.216704]]);
    }

    #[test]
    fn sgd_weight_decay_is_added_to_the_gradient() {
        // g = 2p + 0.1p = 2.1p; b1 = 2.1, p1 = 0.79; b2 = 1.89 + 1.659 = 3.549, p2 = 0.4351
        let s = OptimizerSpec {
            momentum: 0.9,
            weight_decay: 0.1,
            ..spec(OptimizerKind::Sgd)
        };
        check(s, [[0.79, -1.58], [0.4351, -0.8702], [0.024319, -0.048638]]);
    }

    #[test]
    fn adam_applies_bias_correction() {
        // step 1: m̂ = g, v̂ = g², so p moves by lr·sign(g): 0.9, -1.9.
        // step 2 (first coordinate): g = 1.8, m = 0.36, v = 0.007236,
        //   m̂ = 0.36/0.19, v̂ = 0.007236/0.001999, p = 0.9 - 0.1·1.8947368/1.9025801 = 0.8004122
        check(
            spec(OptimizerKind::Adam),
            [
                [0.9, -1.9],
                [0.800_412_228_7, -1.800_166_486_1],
                [0.701_586_273, -1.700_623_392],
            ],
        );
    }

    #[test]
    fn adam_weight_decay_is_coupled_l2() {
        // g = 2p + 0.1p: the first step still moves by lr (m̂/sqrt(v̂) = 1), later ones differ
        // from plain Adam only in the tenth decimal on this problem.
        let s = OptimizerSpec {
            weight_decay: 0.1,
            ..spec(OptimizerKind::Adam)
        };
        check(
            s,
            [
                [0.9, -1.9],
                [0.800_412_228_6, -1.800_166_486_1],
                [0.701_586_272_9, -1.700_623_392],
            ],
        );
    }

    #[test]
    fn adamw_decays_the_weights_before_the_adam_step() {
        // step 1: p = 1·(1 - 0.1·0.1) = 0.99, then -0.1 -> 0.89; -2·0.99 + 0.1 = -1.88
        let s = OptimizerSpec {
            weight_decay: 0.1,
            ..spec(OptimizerKind::AdamW)
        };
        check(
            s,
            [
                [0.89, -1.88],
                [0.781_571_856, -1.761_408_951],
                [0.675_101_222, -1.644_368_684],
            ],
        );
    }

    #[test]
    fn adam_on_two_threads_is_adam_on_one() {
        let n = MIN_PARALLEL_PARAMS * 2 + 7;
        let start: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        let grads: Vec<f32> = (0..n)
            .map(|i| ((i * 13 % 71) as f32 - 35.0) / 10.0)
            .collect();
        let spec = OptimizerSpec {
            weight_decay: 0.01,
            ..spec(OptimizerKind::AdamW)
        };
        let (mut one, mut two) = (start.clone(), start);
        let mut a = Optimizer::new(spec.clone(), n);
        let mut b = Optimizer::new(spec, n).with_threads(2);
        for _ in 0..3 {
            a.step(&mut one, &grads, 0.1);
            b.step(&mut two, &grads, 0.1);
        }
        assert!(one == two && a.state() == b.state());
    }

    #[test]
    fn adam_and_coupled_decay_differ_from_adamw() {
        let mut a = vec![1.0f32];
        let mut b = vec![1.0f32];
        let mut adam = Optimizer::new(
            OptimizerSpec {
                weight_decay: 0.5,
                ..spec(OptimizerKind::Adam)
            },
            1,
        );
        let mut adamw = Optimizer::new(
            OptimizerSpec {
                weight_decay: 0.5,
                ..spec(OptimizerKind::AdamW)
            },
            1,
        );
        adam.step(&mut a, &[2.0], 0.1);
        adamw.step(&mut b, &[2.0], 0.1);
        assert!((a[0] - 0.9).abs() < 1e-6);
        assert!((b[0] - 0.85).abs() < 1e-6); // 0.95 - 0.1
    }
}
