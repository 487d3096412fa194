//! L-BFGS as `torch.optim.LBFGS(line_search_fn="strong_wolfe")` runs one `step(closure)`, over
//! a flat parameter buffer: the two-loop recursion over the last `history_size` curvature pairs
//! (a pair is kept only when `yᵀs > 1e-10`), a first step of `min(1, 1/‖g‖₁)·lr`, then `lr`, a
//! strong-Wolfe line search (`c1 = 1e-4`, `c2 = 0.9`, at most 25 evaluations, cubic
//! interpolation) and torch's stopping tests in torch's order.
//!
//! Vectors are f32 like the parameters; dot products accumulate in f64 and the line search's
//! scalars are f64, so results agree with torch's to float32 rounding, not bit for bit. The
//! loss-change test compares float32 losses, as torch's are.

use std::collections::VecDeque;

/// The function minimised: its value at `params`, with its gradient written into `grad`.
pub type Objective<'a> = dyn FnMut(&[f32], &mut [f32]) -> f64 + 'a;

/// What L-BFGS is told; torch's `LBFGS` arguments of the same names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    pub lr: f64,
    pub history_size: usize,
    pub tolerance_grad: f64,
    pub tolerance_change: f64,
    /// Most function evaluations over the whole run (torch's `max_eval`, by default
    /// `max_iter · 5 / 4`).
    pub max_eval: usize,
}

/// Why L-BFGS stopped before its last iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// No gradient entry exceeds `tolerance_grad`: the optimum.
    Gradient,
    /// The loss changed by less than `tolerance_change` in the last iteration.
    LossChange,
    /// No parameter moved by more than `tolerance_change` in the last iteration.
    StepChange,
    /// The search direction no longer descends (`gᵀd > -tolerance_change`).
    NoDescent,
    /// `max_eval` function evaluations were spent.
    EvaluationLimit,
}

impl End {
    /// Whether this end means the optimum was reached, as opposed to a budget running out.
    pub fn converged(self) -> bool {
        self != End::EvaluationLimit
    }
}

/// One L-BFGS run: the parameters' loss and gradient at the current point and the curvature
/// pairs gathered so far.
pub struct Lbfgs {
    settings: Settings,
    loss: f64,
    grad: Vec<f32>,
    /// The last search direction and step length.
    direction: Vec<f32>,
    step: f64,
    prev_grad: Vec<f32>,
    /// Gradient changes `y`, parameter changes `s`, and `1 / yᵀs`, oldest first.
    pairs: VecDeque<(Vec<f32>, Vec<f32>, f64)>,
    /// Scale of the initial inverse Hessian: `yᵀs / yᵀy` of the newest pair.
    h_diag: f64,
    iterations: usize,
    evaluations: usize,
}

impl Lbfgs {
    /// Evaluates `f` at `params` (torch's first closure call) and is ready to iterate; returns
    /// [`End::Gradient`] as well when that point already satisfies `tolerance_grad`.
    pub fn start(settings: Settings, params: &[f32], f: &mut Objective) -> (Lbfgs, Option<End>) {
        let mut grad = vec![0.0; params.len()];
        let loss = f(params, &mut grad);
        let done = (max_abs(&grad) <= settings.tolerance_grad).then_some(End::Gradient);
        let lbfgs = Lbfgs {
            settings,
            loss,
            grad,
            direction: vec![0.0; params.len()],
            step: 0.0,
            prev_grad: vec![0.0; params.len()],
            pairs: VecDeque::with_capacity(settings.history_size),
            h_diag: 1.0,
            iterations: 0,
            evaluations: 1,
        };
        (lbfgs, done)
    }

    /// The loss at the current parameters.
    pub fn loss(&self) -> f64 {
        self.loss
    }

    /// The gradient at the current parameters.
    pub fn grad(&self) -> &[f32] {
        &self.grad
    }

    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// Function evaluations so far, the first one included.
    pub fn evaluations(&self) -> usize {
        self.evaluations
    }

    /// One iteration from `params` (the point of the last evaluation): a direction, a line
    /// search along it, `params` moved to the point it accepts. Returns why the run should stop
    /// here, if it should; torch stops at its last iteration whatever this says.
    pub fn iterate(&mut self, params: &mut [f32], f: &mut Objective) -> Option<End> {
        self.iterations += 1;
        if self.iterations == 1 {
            self.direction
                .iter_mut()
                .zip(&self.grad)
                .for_each(|(d, g)| *d = -g);
        } else {
            self.remember_curvature();
            self.two_loop();
        }
        self.prev_grad.copy_from_slice(&self.grad);
        let prev_loss = self.loss;
        let t = if self.iterations == 1 {
            let l1: f64 = self.grad.iter().map(|g| f64::from(g.abs())).sum();
            (1.0f64).min(1.0 / l1) * self.settings.lr
        } else {
            self.settings.lr
        };
        let gtd = dot(&self.grad, &self.direction);
        if gtd > -self.settings.tolerance_change {
            return Some(End::NoDescent);
        }
        let found = strong_wolfe(
            f,
            params,
            t,
            &self.direction,
            self.loss,
            &self.grad,
            gtd,
            self.settings.tolerance_change,
        );
        self.step = found.t;
        self.loss = found.f;
        self.grad = found.g;
        self.evaluations += found.evaluations;
        add_scaled(params, self.step, &self.direction);

        let tol = self.settings.tolerance_change;
        if self.evaluations >= self.settings.max_eval {
            Some(End::EvaluationLimit)
        } else if max_abs(&self.grad) <= self.settings.tolerance_grad {
            Some(End::Gradient)
        } else if max_abs(&self.direction) * self.step.abs() <= tol {
            Some(End::StepChange)
        } else if f64::from((self.loss as f32 - prev_loss as f32).abs()) < tol {
            // Compared in float32, as torch compares its float32 losses: a change below their
            // resolution is no change.
            Some(End::LossChange)
        } else {
            None
        }
    }

    /// Keeps the pair of the last step when its curvature `yᵀs` is positive enough, dropping
    /// the oldest past `history_size`.
    fn remember_curvature(&mut self) {
        let y: Vec<f32> = self
            .grad
            .iter()
            .zip(&self.prev_grad)
            .map(|(g, p)| g - p)
            .collect();
        let t = self.step as f32;
        let s: Vec<f32> = self.direction.iter().map(|d| d * t).collect();
        let ys = dot(&y, &s);
        if ys > 1e-10 {
            if self.pairs.len() == self.settings.history_size {
                self.pairs.pop_front();
            }
            self.h_diag = ys / dot(&y, &y);
            self.pairs.push_back((y, s, 1.0 / ys));
        }
    }

    /// The direction `-H·g` by the two-loop recursion, into `self.direction`.
    fn two_loop(&mut self) {
        let q = &mut self.direction;
        q.iter_mut().zip(&self.grad).for_each(|(q, g)| *q = -g);
        let mut al = vec![0.0f64; self.pairs.len()];
        for (i, (y, s, ro)) in self.pairs.iter().enumerate().rev() {
            al[i] = dot(s, q) * ro;
            add_scaled(q, -al[i], y);
        }
        let h = self.h_diag as f32;
        q.iter_mut().for_each(|q| *q *= h);
        for ((y, s, ro), al) in self.pairs.iter().zip(&al) {
            let be = dot(y, q) * ro;
            add_scaled(q, al - be, s);
        }
    }
}

/// `a += alpha · b`, in f32 as torch's `add_(b, alpha=...)`.
fn add_scaled(a: &mut [f32], alpha: f64, b: &[f32]) {
    let alpha = alpha as f32;
    a.iter_mut().zip(b).for_each(|(a, b)| *a += alpha * b);
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| f64::from(*a) * f64::from(*b))
        .sum()
}

fn max_abs(v: &[f32]) -> f64 {
    f64::from(v.iter().fold(0.0f32, |m, x| m.max(x.abs())))
}

/// A point on the search line: its step, loss, gradient and directional derivative.
struct Point {
    t: f64,
    f: f64,
    g: Vec<f32>,
    gtd: f64,
}

/// What the line search settles on.
struct Found {
    t: f64,
    f: f64,
    g: Vec<f32>,
    evaluations: usize,
}

/// Torch's `_cubic_interpolate`: the minimiser of the cubic through two points with their
/// slopes, clamped to `bounds` (default: between the points); the middle when it has none.
fn cubic_interpolate(a: (f64, f64, f64), b: (f64, f64, f64), bounds: Option<(f64, f64)>) -> f64 {
    let ((x1, f1, g1), (x2, f2, g2)) = (a, b);
    let (lo, hi) = bounds.unwrap_or(if x1 <= x2 { (x1, x2) } else { (x2, x1) });
    let d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
    let d2_square = d1 * d1 - g1 * g2;
    if d2_square >= 0.0 {
        let d2 = d2_square.sqrt();
        let min_pos = if x1 <= x2 {
            x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
        } else {
            x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
        };
        min_pos.max(lo).min(hi)
    } else {
        (lo + hi) / 2.0
    }
}

/// Torch's `_strong_wolfe` from `x` along `d`, starting at step `t`, where `x` has loss `f`,
/// gradient `g` and directional derivative `gtd`.
#[allow(clippy::too_many_arguments)]
fn strong_wolfe(
    f_at: &mut Objective,
    x: &[f32],
    mut t: f64,
    d: &[f32],
    f: f64,
    g: &[f32],
    gtd: f64,
    tolerance_change: f64,
) -> Found {
    const C1: f64 = 1e-4;
    const C2: f64 = 0.9;
    const MAX_LS: usize = 25;
    let d_norm = max_abs(d);
    let mut trial = vec![0.0f32; x.len()];
    let mut evaluations = 0;
    let mut evaluate = |t: f64| -> Point {
        trial.copy_from_slice(x);
        add_scaled(&mut trial, t, d);
        let mut g = vec![0.0; x.len()];
        let f = f_at(&trial, &mut g);
        evaluations += 1;
        let gtd = dot(&g, d);
        Point { t, f, g, gtd }
    };

    // Bracketing: grow the step until an interval holds a point satisfying the conditions.
    let mut new = evaluate(t);
    let mut prev = Point {
        t: 0.0,
        f,
        g: g.to_vec(),
        gtd,
    };
    let mut ls_iter = 0;
    let mut bracket: Vec<Point>;
    let mut done = false;
    loop {
        if ls_iter >= MAX_LS {
            let origin = Point {
                t: 0.0,
                f,
                g: g.to_vec(),
                gtd,
            };
            bracket = vec![origin, new];
            break;
        }
        if new.f > f + C1 * new.t * gtd || (ls_iter > 1 && new.f >= prev.f) {
            bracket = vec![prev, new];
            break;
        }
        if new.gtd.abs() <= -C2 * gtd {
            bracket = vec![new];
            done = true;
            break;
        }
        if new.gtd >= 0.0 {
            bracket = vec![prev, new];
            break;
        }
        let bounds = (new.t + 0.01 * (new.t - prev.t), new.t * 10.0);
        t = cubic_interpolate(
            (prev.t, prev.f, prev.gtd),
            (new.t, new.f, new.gtd),
            Some(bounds),
        );
        prev = new;
        new = evaluate(t);
        ls_iter += 1;
    }

    // Zoom: shrink the bracket until a point satisfies the strong Wolfe conditions.
    let order = |b: &[Point]| {
        if b[0].f <= b[b.len() - 1].f {
            (0, 1)
        } else {
            (1, 0)
        }
    };
    let (mut low, mut high) = order(&bracket);
    let mut insufficient_progress = false;
    while !done && ls_iter < MAX_LS {
        let (lo_t, hi_t) = (
            bracket[0].t.min(bracket[1].t),
            bracket[0].t.max(bracket[1].t),
        );
        if (bracket[1].t - bracket[0].t).abs() * d_norm < tolerance_change {
            break;
        }
        let (a, b) = (&bracket[0], &bracket[1]);
        t = cubic_interpolate((a.t, a.f, a.gtd), (b.t, b.f, b.gtd), None);
        // Too close to an end: move a tenth of the interval inside, unless the last try
        // already made progress.
        let eps = 0.1 * (hi_t - lo_t);
        if (hi_t - t).min(t - lo_t) < eps {
            if insufficient_progress || t >= hi_t || t <= lo_t {
                t = if (t - hi_t).abs() < (t - lo_t).abs() {
                    hi_t - eps
                } else {
                    lo_t + eps
                };
                insufficient_progress = false;
            } else {
                insufficient_progress = true;
            }
        } else {
            insufficient_progress = false;
        }
        let new = evaluate(t);
        ls_iter += 1;
        if new.f > f + C1 * t * gtd || new.f >= bracket[low].f {
            bracket[high] = new;
            (low, high) = order(&bracket);
        } else {
            if new.gtd.abs() <= -C2 * gtd {
                done = true;
            } else if new.gtd * (bracket[high].t - bracket[low].t) >= 0.0 {
                bracket.swap(high, low);
            }
            bracket[low] = new;
        }
    }
    let best = bracket.swap_remove(low);
    Found {
        t: best.t,
        f: best.f,
        g: best.g,
        evaluations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            lr: 1.0,
            history_size: 10,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            max_eval: 1000,
        }
    }

    /// Rosenbrock's valley, the classic hard case for a line search.
    fn rosenbrock(p: &[f32], g: &mut [f32]) -> f64 {
        let (x, y) = (f64::from(p[0]), f64::from(p[1]));
        g[0] = (-2.0 * (1.0 - x) - 400.0 * x * (y - x * x)) as f32;
        g[1] = (200.0 * (y - x * x)) as f32;
        (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
    }

    #[test]
    fn finds_the_minimum_of_the_rosenbrock_valley() {
        let mut p = vec![-1.5f32, 2.0];
        let f = &mut rosenbrock;
        let (mut run, mut end) = Lbfgs::start(settings(), &p, f);
        while end.is_none() && run.iterations() < 200 {
            end = run.iterate(&mut p, f);
        }
        assert!(end.is_some_and(End::converged), "{end:?}");
        assert!(
            (p[0] - 1.0).abs() < 1e-3 && (p[1] - 1.0).abs() < 2e-3,
            "{p:?}"
        );
        assert!(run.loss() < 1e-6, "{}", run.loss());
    }

    #[test]
    fn an_ill_conditioned_quadratic_is_solved_in_few_iterations() {
        // f = ½ pᵀAp - bᵀp with A = diag(1, 10, 100): gradient descent would need hundreds of
        // steps; the curvature pairs make L-BFGS reach A⁻¹b in a handful.
        let a = [1.0f64, 10.0, 100.0];
        let b = [1.0f64, 2.0, 3.0];
        let mut f = |p: &[f32], g: &mut [f32]| {
            let mut v = 0.0;
            for i in 0..3 {
                let pi = f64::from(p[i]);
                g[i] = (a[i] * pi - b[i]) as f32;
                v += 0.5 * a[i] * pi * pi - b[i] * pi;
            }
            v
        };
        let mut p = vec![0.0f32; 3];
        let (mut run, mut end) = Lbfgs::start(settings(), &p, &mut f);
        while end.is_none() {
            end = run.iterate(&mut p, &mut f);
        }
        assert!(end.is_some_and(End::converged), "{end:?}");
        assert!(run.iterations() <= 15, "{} iterations", run.iterations());
        for i in 0..3 {
            assert!((f64::from(p[i]) - b[i] / a[i]).abs() < 1e-5, "{p:?}");
        }
    }

    #[test]
    fn a_start_at_the_optimum_stops_at_once() {
        let mut f = |p: &[f32], g: &mut [f32]| {
            g[0] = 2.0 * p[0];
            f64::from(p[0] * p[0])
        };
        let (run, end) = Lbfgs::start(settings(), &[0.0], &mut f);
        assert_eq!(end, Some(End::Gradient));
        assert_eq!(run.evaluations(), 1);
    }

    #[test]
    fn the_evaluation_budget_is_kept() {
        let mut p = vec![-1.5f32, 2.0];
        let f = &mut rosenbrock;
        let s = Settings {
            max_eval: 5,
            ..settings()
        };
        let (mut run, _) = Lbfgs::start(s, &p, f);
        let mut end = None;
        while end.is_none() {
            end = run.iterate(&mut p, f);
        }
        assert_eq!(end, Some(End::EvaluationLimit));
        assert!(run.evaluations() >= 5);
    }

    #[test]
    fn cubic_interpolation_finds_a_parabola_vertex() {
        // f(x) = (x - 1)², through x = 0 (f 1, slope -2) and x = 3 (f 4, slope 4).
        let t = cubic_interpolate((0.0, 1.0, -2.0), (3.0, 4.0, 4.0), None);
        assert!((t - 1.0).abs() < 1e-12, "{t}");
        // Clamped to the bounds given.
        let t = cubic_interpolate((0.0, 1.0, -2.0), (3.0, 4.0, 4.0), Some((2.0, 5.0)));
        assert_eq!(t, 2.0);
    }
}
