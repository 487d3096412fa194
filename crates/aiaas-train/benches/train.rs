//! Throughput of the training hot path, at 1 and at 2 threads: the f32 GEMM rate, one Adam step
//! of a 784-256-128-10 MLP at batch 128, inference forward passes, and one full MNIST epoch
//! through the real training path.
//!
//! Run with `cargo bench -p aiaas-train`. `AIAAS_BENCH_QUICK=1` shortens the iteration counts
//! for a smoke run (the MNIST epoch is still a full epoch); naming sections after `--` (`step`,
//! `forward`, `mnist`) runs only those. The training step is timed beside
//! PyTorch's (`tests/torch/train_step.py`, run by `$AIAAS_BENCH_PYTHON`, default `python3`, which
//! needs `pip install torch==2.9.1`) in the same run.

use aiaas_data::{encode, fit_schema, profile, split};
use aiaas_engine::{Mlp, Transpose, Workspace, matmul, stack};
use aiaas_stats::Metrics;
use aiaas_train::{Optimizer, Part, Silent, evaluate, fit, loss_and_grad, resolve, train};
use aiaas_types::{Activation, LossKind, OptimizerKind, OptimizerSpec, SplitSpec, TrainOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::time::Instant;

const THREADS: [usize; 2] = [1, 2];
const INPUTS: usize = 784;
const HIDDEN: [usize; 2] = [256, 128];
const CLASSES: usize = 10;
const BATCH: usize = 128;
const GEMM_N: usize = 1024;

/// Iteration counts: `(warm-up, measured)` per section.
struct Counts {
    gemm: (usize, usize),
    step: (usize, usize),
    /// Measured forward calls per batch size; warm-up is a tenth of that.
    forward: [(usize, usize); 3],
}

impl Counts {
    fn get() -> Counts {
        let quick = std::env::var("AIAAS_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        if quick {
            Counts {
                gemm: (1, 3),
                step: (3, 20),
                forward: [(1, 200), (32, 100), (256, 20)],
            }
        } else {
            Counts {
                gemm: (3, 10),
                step: (20, 200),
                forward: [(1, 5000), (32, 2000), (256, 500)],
            }
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty(), "median of nothing");
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Busy CPU seconds of the whole machine (including time stolen by the hypervisor) and of this
/// process, from Linux's `/proc`; `None` elsewhere. Counts are in clock ticks, assumed 100/s.
fn cpu_seconds() -> Option<(f64, f64)> {
    const TICK: f64 = 0.01;
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal: everything but idle and iowait.
    let machine: f64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = own.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((machine * TICK, (utime + stime) * TICK))
}

/// Measures how much CPU other processes took while a section ran: on a shared machine that is
/// what makes the figures noisy, above all at 2 threads.
struct Contention {
    start: Instant,
    cpu: Option<(f64, f64)>,
}

impl Contention {
    fn start() -> Contention {
        Contention {
            start: Instant::now(),
            cpu: cpu_seconds(),
        }
    }

    fn report(&self) {
        if let (Some((m0, o0)), Some((m1, o1))) = (self.cpu, cpu_seconds()) {
            let wall = self.start.elapsed().as_secs_f64();
            println!(
                "  CPU taken by other processes during this section: {:.2} of {} CPUs on average",
                ((m1 - m0) - (o1 - o0)).max(0.0) / wall,
                std::thread::available_parallelism().map_or(0, |n| n.get())
            );
        }
    }
}

/// Seconds taken by each of `runs` calls of `f`, after `warm` untimed calls.
fn time_calls(warm: usize, runs: usize, mut f: impl FnMut()) -> Vec<f64> {
    for _ in 0..warm {
        f();
    }
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect()
}

fn random(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn threads_index(threads: usize) -> usize {
    THREADS
        .iter()
        .position(|&t| t == threads)
        .expect("a benched thread count")
}

/// Median seconds of one `m x n x k` product with the given operand layouts.
fn time_gemm(
    m: usize,
    n: usize,
    k: usize,
    ta: Transpose,
    tb: Transpose,
    threads: usize,
    (warm, runs): (usize, usize),
) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64((m * 31 + n * 7 + k) as u64);
    let a = random(&mut rng, m * k);
    let b = random(&mut rng, k * n);
    let mut c = vec![0.0f32; m * n];
    median(time_calls(warm, runs, || {
        matmul(&mut c, &a, ta, &b, tb, m, n, k, false, threads);
        black_box(&mut c);
    }))
}

/// Section 1: GFLOP/s of a square f32 product, per thread count.
fn gemm_rates(counts: &Counts) -> [f64; 2] {
    println!("== 1. f32 GEMM {GEMM_N}x{GEMM_N}x{GEMM_N} (aiaas_engine::matmul) ==");
    println!(
        "  {:>7}  {:>10}  {:>9}   (median of {} runs after {} warm-up)",
        "threads", "median ms", "GFLOP/s", counts.gemm.1, counts.gemm.0
    );
    let flops = 2.0 * (GEMM_N as f64).powi(3);
    let mut rates = [0.0; 2];
    for threads in THREADS {
        let n = GEMM_N;
        let t = time_gemm(n, n, n, Transpose::No, Transpose::No, threads, counts.gemm);
        rates[threads_index(threads)] = flops / t / 1e9;
        println!(
            "  {threads:>7}  {:>10.2}  {:>9.1}",
            t * 1e3,
            rates[threads_index(threads)]
        );
    }
    rates
}

/// Useful FLOPs of one training step of the benched MLP at batch `b`: forward, weight gradients
/// of every layer, input gradients of every layer but the first.
fn step_flops(b: usize) -> f64 {
    let dims: Vec<(usize, usize)> = {
        let mut widths = vec![INPUTS];
        widths.extend(HIDDEN);
        widths.push(CLASSES);
        widths.windows(2).map(|w| (w[0], w[1])).collect()
    };
    let all: usize = dims.iter().map(|(i, o)| i * o).sum();
    let not_first: usize = dims[1..].iter().map(|(i, o)| i * o).sum();
    (2 * b * all + 2 * b * all + 2 * b * not_first) as f64
}

/// PyTorch's median step in milliseconds at `threads`, from `tests/torch/train_step.py` run by
/// `$AIAAS_BENCH_PYTHON` (default `python3`) with `(warm-up, measured)` steps; why not, if it
/// could not run.
fn pytorch_step_ms(threads: usize, (warm, steps): (usize, usize)) -> Result<f64, String> {
    let python = std::env::var("AIAAS_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/torch/train_step.py"
    );
    let out = std::process::Command::new(&python)
        .args([
            script,
            &threads.to_string(),
            &steps.to_string(),
            &warm.to_string(),
        ])
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("").to_string();
        return Err(format!(
            "{python} failed ({last}); pip install torch==2.9.1, or point AIAAS_BENCH_PYTHON at a python that has it"
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("unexpected output from {script}: {e}"))
}

fn mlp() -> Mlp {
    Mlp::new(stack(INPUTS, &HIDDEN, CLASSES, Activation::Relu), 42).expect("a valid stack")
}

/// Section 2: one Adam step at batch 128 on synthetic data, the training loop's sequence.
fn training_step(counts: &Counts, gemm: [f64; 2]) {
    println!(
        "== 2. training step: mlp {INPUTS}-{}-{}-{CLASSES} relu, batch {BATCH}, adam, cross_entropy ==",
        HIDDEN[0], HIDDEN[1]
    );
    let flops = step_flops(BATCH);
    println!(
        "  useful work {:.1} MFLOP/step; median of {} steps after {} warm-up",
        flops / 1e6,
        counts.step.1,
        counts.step.0
    );
    println!(
        "  {:>7}  {:>9}  {:>10}  {:>9}  {:>11}  {:>10}  {:>9}  target",
        "threads", "median ms", "samples/s", "GFLOP/s", "of GEMM rate", "PyTorch ms", "speed-up"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let x: Vec<f32> = (0..BATCH * INPUTS)
        .map(|_| rng.random_range(0.0f32..1.0))
        .collect();
    let y: Vec<f32> = (0..BATCH)
        .map(|_| rng.random_range(0..CLASSES) as f32)
        .collect();
    let mut phases = Vec::new();
    let mut torch_missing = None;
    for threads in THREADS {
        let mut step = Step::new(threads);
        let t = median(time_calls(counts.step.0, counts.step.1, || {
            step.run(&x, &y)
        }));
        let rate = flops / t / 1e9;
        let fraction = rate / gemm[threads_index(threads)];
        let target = ">= 70%";
        let (torch, speedup) = match pytorch_step_ms(threads, counts.step) {
            Ok(ms) => (format!("{ms:.3}"), format!("{:.2}x", ms / (t * 1e3))),
            Err(why) => {
                torch_missing.get_or_insert(why);
                ("-".into(), "-".into())
            }
        };
        println!(
            "  {threads:>7}  {:>9.3}  {:>10.0}  {:>9.1}  {:>11.1}%  {torch:>10}  {speedup:>9}  {target} of GEMM, >= 2x PyTorch",
            t * 1e3,
            BATCH as f64 / t,
            rate,
            fraction * 100.0
        );
        phases.push((threads, step.phase_times(&x, &y, counts.step.1)));
    }
    match torch_missing {
        Some(why) => println!("  PyTorch not run: {why}"),
        None => println!(
            "  PyTorch: tests/torch/train_step.py, the same model, batch, optimizer and thread count, median of as many steps"
        ),
    }
    println!(
        "  phases (median ms): {:>7}  {:>8}  {:>8}  {:>8}  {:>8}",
        "threads", "forward", "loss", "backward", "adam"
    );
    for (threads, [f, l, b, a]) in phases {
        println!(
            "                      {threads:>7}  {:>8.3}  {:>8.3}  {:>8.3}  {:>8.3}",
            f * 1e3,
            l * 1e3,
            b * 1e3,
            a * 1e3
        );
    }
    step_products(counts, flops);
}

/// The training loop's step on the benched MLP: what it owns between steps.
struct Step {
    mlp: Mlp,
    optimizer: Optimizer,
    lr: f32,
    ws: Workspace,
    grads: Vec<f32>,
}

impl Step {
    fn new(threads: usize) -> Step {
        let mlp = mlp();
        let optimizer = Optimizer::new(
            OptimizerSpec::defaults(OptimizerKind::Adam),
            mlp.param_count(),
        )
        .with_threads(threads);
        Step {
            lr: optimizer.spec().lr,
            ws: Workspace::new(threads),
            grads: vec![0.0f32; mlp.param_count()],
            mlp,
            optimizer,
        }
    }

    /// One step on the batch `x`, `y`: forward, loss gradient, backward, Adam.
    fn run(&mut self, x: &[f32], y: &[f32]) {
        self.mlp.forward(x, BATCH, &mut self.ws);
        let (out, grad) = self.ws.output_and_grad_mut();
        black_box(loss_and_grad(LossKind::CrossEntropy, out, y, CLASSES, grad));
        self.mlp.backward(x, &mut self.ws, &mut self.grads);
        self.optimizer
            .step(self.mlp.params_mut(), &self.grads, self.lr);
    }

    /// Where the time goes: `runs` steps, each phase timed on its own. Median seconds of the
    /// forward pass, the loss, the backward pass and the Adam update.
    fn phase_times(&mut self, x: &[f32], y: &[f32], runs: usize) -> [f64; 4] {
        let mut times = [const { Vec::new() }; 4];
        for _ in 0..runs {
            let t0 = Instant::now();
            self.mlp.forward(x, BATCH, &mut self.ws);
            let t1 = Instant::now();
            let (out, grad) = self.ws.output_and_grad_mut();
            black_box(loss_and_grad(LossKind::CrossEntropy, out, y, CLASSES, grad));
            let t2 = Instant::now();
            self.mlp.backward(x, &mut self.ws, &mut self.grads);
            let t3 = Instant::now();
            self.optimizer
                .step(self.mlp.params_mut(), &self.grads, self.lr);
            let t4 = Instant::now();
            for (v, (a, b)) in times
                .iter_mut()
                .zip([(t0, t1), (t1, t2), (t2, t3), (t3, t4)])
            {
                v.push((b - a).as_secs_f64());
            }
        }
        times.map(median)
    }
}

/// The step's products in isolation, shaped and laid out as Mlp::forward / backward call them;
/// `flops` is the whole step's useful work, for the rate of their sum.
fn step_products(counts: &Counts, flops: f64) {
    let (h1, h2) = (HIDDEN[0], HIDDEN[1]);
    let (no, yes) = (Transpose::No, Transpose::Yes);
    let shapes = [
        ("fwd L1  x·W1ᵀ", BATCH, h1, INPUTS, no, yes),
        ("fwd L2  h1·W2ᵀ", BATCH, h2, h1, no, yes),
        ("fwd L3  h2·W3ᵀ", BATCH, CLASSES, h2, no, yes),
        ("dW3  d3ᵀ·h2", CLASSES, h2, BATCH, yes, no),
        ("dh2  d3·W3", BATCH, h2, CLASSES, no, no),
        ("dW2  d2ᵀ·h1", h2, h1, BATCH, yes, no),
        ("dh1  d2·W2", BATCH, h1, h2, no, no),
        ("dW1  d1ᵀ·x", h1, INPUTS, BATCH, yes, no),
    ];
    println!(
        "  step products alone: {:<15} {:>14}  {}",
        "product",
        "m x n x k",
        THREADS
            .map(|t| format!("{:>9} {:>7}", format!("ms@{t}t"), "GFLOP/s"))
            .join("  ")
    );
    let mut sums = [0.0f64; 2];
    for (name, m, n, k, ta, tb) in shapes {
        let cells: Vec<String> = THREADS
            .iter()
            .map(|&threads| {
                let t = time_gemm(m, n, k, ta, tb, threads, (counts.step.0, counts.step.1));
                sums[threads_index(threads)] += t;
                format!(
                    "{:>9.3} {:>7.1}",
                    t * 1e3,
                    2.0 * (m * n * k) as f64 / t / 1e9
                )
            })
            .collect();
        println!(
            "                       {name:<15} {:>14}  {}",
            format!("{m}x{n}x{k}"),
            cells.join("  ")
        );
    }
    println!(
        "                       {:<15} {:>14}  {}",
        "sum",
        "",
        sums.map(|s| format!("{:>9.3} {:>7.1}", s * 1e3, flops / s / 1e9))
            .join("  ")
    );
}

/// Section 3: inference logits with a reused workspace.
fn forward_passes(counts: &Counts) {
    println!("== 3. forward (Mlp::forward, logits, reused workspace) ==");
    println!(
        "  {:>7}  {:>5}  {:>9}  {:>12}  {:>6}",
        "threads", "batch", "median µs", "rows/s", "calls"
    );
    let mlp = mlp();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for threads in THREADS {
        let mut ws = Workspace::new(threads);
        for (batch, runs) in counts.forward {
            let x: Vec<f32> = (0..batch * INPUTS)
                .map(|_| rng.random_range(0.0f32..1.0))
                .collect();
            let t = median(time_calls(runs / 10, runs, || {
                black_box(mlp.forward(&x, batch, &mut ws));
            }));
            println!(
                "  {threads:>7}  {batch:>5}  {:>9.1}  {:>12.0}  {runs:>6}",
                t * 1e6,
                batch as f64 / t
            );
        }
    }
}

fn accuracy(metrics: &Metrics) -> f64 {
    match metrics {
        Metrics::Classification(m) => m.accuracy,
        Metrics::Regression(_) => panic!("mnist is a classification task"),
    }
}

/// Section 4: one MNIST epoch through the real training path.
fn mnist_epoch() {
    println!(
        "== 4. one MNIST epoch: mlp {INPUTS}-{}-{}-{CLASSES} relu, batch {BATCH}, adam, default split ==",
        HIDDEN[0], HIDDEN[1]
    );
    let t = Instant::now();
    let ds = aiaas_data::load("mnist", None, None).expect("the bundled MNIST data");
    let load_s = t.elapsed().as_secs_f64();
    let options = TrainOptions {
        hidden: Some(HIDDEN.to_vec()),
        epochs: Some(1),
        batch_size: Some(BATCH),
        ..Default::default()
    };
    let spec = resolve(&options, &ds).expect("a valid spec");
    let split_spec = SplitSpec::default();

    // What `train` does before `fit`: split, fit the schema on training rows, encode.
    let t = Instant::now();
    let parts = split(&ds, &split_spec).expect("a valid split");
    let schema = fit_schema(&ds, &parts.train);
    let width = ds.width();
    let part = |rows: &[usize]| Part {
        x: encode(&schema, &ds.x, rows, width),
        y: rows.iter().map(|&r| ds.y[r]).collect(),
        rows: rows.len(),
    };
    let (train_part, val_part, test_part) =
        (part(&parts.train), part(&parts.val), part(&parts.test));
    let prepare_s = t.elapsed().as_secs_f64();
    println!(
        "  rows train/val/test {}/{}/{}; load {load_s:.2} s, split+schema+encode {prepare_s:.2} s (not in the times below)",
        train_part.rows, val_part.rows, test_part.rows
    );
    println!(
        "  {:>7}  {:>12}  {:>13}  {:>20}  {:>13}  target",
        "threads", "fit() s", "test accuracy", "train() end-to-end s", "test accuracy"
    );
    let mut added = Vec::new();
    for threads in THREADS {
        let mlp = Mlp::new(
            stack(
                width,
                &spec.model.hidden,
                schema.num_classes(),
                spec.model.activation,
            ),
            spec.seed,
        )
        .expect("a valid stack");
        let t = Instant::now();
        let fitted = fit(
            mlp,
            &spec,
            &train_part,
            &val_part,
            threads,
            &mut Silent,
            None,
        )
        .expect("training runs");
        let fit_s = t.elapsed().as_secs_f64();
        let fit_acc = accuracy(&evaluate(
            &fitted.mlp,
            &schema,
            &test_part.x,
            &test_part.y,
            threads,
        ));

        let t = Instant::now();
        let Some(trained) =
            train(&ds, &spec, &split_spec, threads, &mut Silent, None).expect("training runs")
        else {
            unreachable!("nothing suspends this run")
        };
        let train_s = t.elapsed().as_secs_f64();
        let train_acc = accuracy(trained.metrics.test.as_ref().expect("a test part"));
        println!(
            "  {threads:>7}  {fit_s:>12.2}  {:>12.2}%  {train_s:>20.2}  {:>12.2}%  < 3 s, end-to-end <= 1.5x fit() ({:.2}x)",
            fit_acc * 100.0,
            train_acc * 100.0,
            train_s / fit_s
        );
        // What train() adds to fit(), each part timed alone as train() runs it.
        let t = Instant::now();
        for part in [&train_part, &val_part, &test_part] {
            black_box(evaluate(&fitted.mlp, &schema, &part.x, &part.y, threads));
        }
        let score_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        black_box(profile(&ds, &parts.train, threads));
        let profile_s = t.elapsed().as_secs_f64();
        added.push(format!(
            "{threads} thread(s): scoring {score_s:.2} s, profile {profile_s:.2} s"
        ));
    }
    println!(
        "  fit() = the training loop alone ({} steps + one validation pass); train() adds split, encode, scoring of every part and profiling",
        train_part.rows.div_ceil(BATCH)
    );
    println!("  alone, beside split+schema+encode: {}", added.join("; "));
}

fn main() {
    let counts = Counts::get();
    println!(
        "aiaas-train bench: {} logical CPUs{}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if std::env::var("AIAAS_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0") {
            ", AIAAS_BENCH_QUICK (short counts)"
        } else {
            ""
        }
    );
    // `cargo bench -p aiaas-train --bench train -- step mnist` runs only the named sections
    // (the GEMM rate, which the step is measured against, always runs).
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let runs = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    let contention = Contention::start();
    let gemm = gemm_rates(&counts);
    contention.report();
    let sections: [(&str, &dyn Fn()); 3] = [
        ("step", &|| training_step(&counts, gemm)),
        ("forward", &|| forward_passes(&counts)),
        ("mnist", &mnist_epoch),
    ];
    for (name, section) in sections {
        if runs(name) {
            println!();
            let contention = Contention::start();
            section();
            contention.report();
        }
    }
}
