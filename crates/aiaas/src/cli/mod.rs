//! Command-line interface: every command and flag, with help text. `options` turns the flags of
//! `train` and `optimize` into the library crates' request types.

use aiaas_types::{
    Activation, AliasName, DatasetName, JobId, JobState, KeyId, KeyName, LossKind, ModelKind,
    ModelName, OptimizerKind, PruneScope, QuantScheme, Role, Task, Version,
};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

mod options;
mod sweep;
mod train;

pub use sweep::{SweepArgs, SweepCommand, SweepRun};
pub use train::TrainArgs;

#[derive(Parser)]
#[command(
    name = "aiaas",
    version,
    about = "AI models as a service: train, evaluate and predict, locally or on an aiaas server"
)]
pub struct Cli {
    /// Compute threads (default: all cores).
    #[arg(long, global = true, env = "AIAAS_THREADS", value_parser = clap::value_parser!(usize))]
    pub threads: Option<usize>,
    /// API key for the server (`Authorization: Bearer`); the first admin key is in the
    /// server's <data-dir>/admin.key.
    #[arg(long, global = true, env = "AIAAS_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// PEM certificate of a CA to trust for an https:// server (besides the system's).
    #[arg(long, global = true, env = "AIAAS_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Train a model on a CSV file or a bundled sample: locally into a model bundle, or as a job
    /// on a server with --server (or AIAAS_URL).
    Train(TrainArgs),
    /// Score a model bundle on a CSV file with the same columns.
    Eval(EvalArgs),
    /// Predict with a model bundle for every row of a CSV file.
    Predict(PredictArgs),
    /// Write a model bundle as an ONNX file that ONNX Runtime, Triton or a browser runs (input
    /// scaling folded in, labels in its metadata); for a registered model, `aiaas models export
    /// NAME V --format onnx`.
    Export(ExportArgs),
    /// Derive a pruned, quantized or distilled variant of a model and compare it with its
    /// parent: locally from a bundle directory, or as a job on a server with --server.
    Optimize(OptimizeArgs),
    /// Run the server: management API, job workers and the model registry.
    Serve(ServeArgs),
    /// Datasets registered on an aiaas server.
    Datasets(DatasetsArgs),
    /// Training jobs on an aiaas server.
    Jobs(JobsArgs),
    /// Hyperparameter sweeps on a server: one training job per point of a grid or a random
    /// draw, spread over the workers, the best registered as a version.
    Sweep(SweepArgs),
    /// Models and versions registered on an aiaas server.
    Models(ModelsArgs),
    /// Load-test a model on a server: batch-1 V2 infer requests from many connections.
    Bench(BenchArgs),
    /// Send true labels for logged predictions (a CSV with columns id,label) to a server.
    Feedback(FeedbackArgs),
    /// A model's production quality (with the confusion matrix) and input drift on a server.
    Monitor(MonitorArgs),
    /// API keys of a server (admin only).
    Keys(KeysArgs),
    /// The audit log of a server: every call that changed something and every refused one
    /// (admin only).
    Audit(AuditArgs),
}

#[derive(Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub server: ServerOpts,
    /// Only entries at or after this time (ms since the Unix epoch).
    #[arg(long, default_value_t = 0)]
    pub since: i64,
    /// At most this many entries (1 to 10000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
}

#[derive(Args)]
pub struct KeysArgs {
    #[command(flatten)]
    pub server: ServerOpts,
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key; its secret is printed once and never shown again.
    Create {
        /// What the key is for (ci, grafana, ...).
        #[arg(long)]
        name: KeyName,
        /// What it may do.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The models it may name, e.g. iris,digits (default: all).
        #[arg(long, value_delimiter = ',')]
        models: Option<Vec<ModelName>>,
        /// Days until it stops working (default: never).
        #[arg(long)]
        expires_in_days: Option<f64>,
        /// Requests per second it may make (default: the server's --rate-limit).
        #[arg(long)]
        rate_limit: Option<f64>,
    },
    /// List the keys (never their secrets).
    List,
    /// Revoke a key: it is refused from the next call on.
    Revoke { id: KeyId },
}

/// `--role`.
#[derive(Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Operator,
    Predictor,
    Viewer,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Operator => Role::Operator,
            RoleArg::Predictor => Role::Predictor,
            RoleArg::Viewer => Role::Viewer,
        }
    }
}

#[derive(Args)]
pub struct BenchArgs {
    /// URL of the aiaas server.
    #[arg(long, env = "AIAAS_URL", default_value = DEFAULT_SERVER)]
    pub server: String,
    /// Model to call (its default version: champion, else the newest).
    #[arg(long)]
    pub model: String,
    /// What each request calls: `infer` (a batch-1 request), `metadata` (`GET /v2/models/M`),
    /// `ready` (`GET /v2/models/M/ready`) or `live` (`GET /v2/health/live`, the server's floor).
    #[arg(long, value_enum, default_value_t = BenchEndpoint::Infer)]
    pub endpoint: BenchEndpoint,
    /// The infer request body to send, as a file: a V2 JSON request, or Triton's binary form
    /// (the JSON, then the raw tensor bytes it declares with `binary_data_size`). Without it,
    /// one row of uniform values in [0, 1) written with 4 decimals, as normalized features look.
    #[arg(long, value_name = "FILE")]
    pub payload: Option<std::path::PathBuf>,
    /// Call over gRPC (the V2 `GRPCInferenceService`) at this address instead of REST; with no
    /// address, the server's default gRPC port. Infer sends its row (or `--payload`) with raw
    /// contents, as `tritonclient.grpc` does.
    #[arg(long, value_name = "HOST:PORT", num_args = 0..=1, default_missing_value = "127.0.0.1:8081")]
    pub grpc: Option<String>,
    /// Spread the load over N models, MODEL-0 to MODEL-(N-1) (one per customer, say), each
    /// request's model drawn by a Zipf law (--zipf); the report adds the latency of each model's
    /// first request, a cold start on a server that has not loaded it yet. REST only.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub spread: Option<u32>,
    /// The exponent of --spread's Zipf law: the k-th model (from 1) is called in proportion to
    /// 1/k^S (0: evenly).
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    pub zipf: f64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// How long to send requests.
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    pub json: bool,
}

/// What `aiaas bench` calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchEndpoint {
    Infer,
    Metadata,
    Ready,
    Live,
}

/// Where `aiaas serve` listens unless told otherwise, and so where the client looks.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// The server a command that can run either way (`train`, `predict`, `optimize`) runs on:
/// `--server` or `AIAAS_URL`, where an empty value counts as unset. `None`: run locally.
pub fn remote(server: Option<&str>) -> Option<&str> {
    server.filter(|s| !s.trim().is_empty())
}

#[derive(Args)]
pub struct EvalArgs {
    /// Model bundle directory.
    #[arg(long)]
    pub model: PathBuf,
    /// CSV file with the model's feature columns and its target column (or a bundled sample).
    #[arg(long)]
    pub data: String,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Model bundle directory.
    #[arg(long)]
    pub model: PathBuf,
    /// File to write (default: the bundle's model name with `.onnx`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct PredictArgs {
    /// Model bundle directory; with a server, the registered model's name.
    #[arg(long)]
    pub model: String,
    /// Predict on this aiaas server over the V2 protocol instead of locally (default: local,
    /// unless AIAAS_URL is set).
    #[arg(long, env = "AIAAS_URL")]
    pub server: Option<String>,
    /// With a server: the version number or alias (default: champion, else the newest).
    #[arg(long)]
    pub version: Option<String>,
    /// CSV file with the model's feature columns (or a bundled sample).
    #[arg(long)]
    pub data: String,
    /// Write the predictions here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "AIAAS_ADDR")]
    pub addr: String,
    /// Address for V2 inference over gRPC (the KServe / Triton `GRPCInferenceService`); empty
    /// serves no gRPC.
    #[arg(long, default_value = "127.0.0.1:8081", env = "AIAAS_GRPC_ADDR")]
    pub grpc_addr: String,
    /// Directory for the database and blobs.
    #[arg(long, default_value = "aiaas-data", env = "AIAAS_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Metadata database (default: SQLite in the data directory).
    #[arg(long, env = "AIAAS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Blob store (default: the data directory), or s3://bucket/prefix with credentials from AWS_*.
    #[arg(long, env = "AIAAS_STORE_URL")]
    pub store_url: Option<String>,
    /// What this process does: `all` (the API and the job workers), `api` (an API replica: the
    /// API and inference, no jobs) or `worker` (jobs and monitoring checks; its --addr answers
    /// /v2/health/* and /metrics only). `api` and `worker` share a PostgreSQL --database-url.
    #[arg(long, value_enum, default_value = "all", env = "AIAAS_ROLE")]
    pub role: ServeRole,
    /// On a shared database, seconds a running job's lease lasts without a heartbeat; then
    /// another worker takes the job over from its last checkpoint.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(2..=3600), env = "AIAAS_LEASE_S")]
    pub lease_s: u64,
    /// Serve a model from a file at start, as NAME=PATH: an archive `aiaas models export` made,
    /// an .onnx file, or a directory holding one of them (where KServe's storage initializer
    /// puts a model: /mnt/models). Imported and made the champion unless the model has one.
    #[arg(
        long = "import",
        value_name = "NAME=PATH",
        env = "AIAAS_IMPORT",
        value_delimiter = ','
    )]
    pub imports: Vec<String>,
    /// Register the bundled datasets and train the iris and digits demo models if missing.
    #[arg(long)]
    pub demo: bool,
    /// Training jobs run at once.
    #[arg(long, default_value_t = 1, env = "AIAAS_WORKERS")]
    pub workers: usize,
    /// Epochs between checkpoints of a running job.
    #[arg(long, default_value_t = 5, env = "AIAAS_CHECKPOINT_EVERY")]
    pub checkpoint_every: usize,
    /// Largest dataset or model upload, in MiB.
    #[arg(long, default_value_t = 256, env = "AIAAS_MAX_UPLOAD_MB")]
    pub max_upload_mb: usize,
    /// Fraction of inference requests logged with their inputs and predictions, for feedback,
    /// quality and drift (0 turns the log off).
    #[arg(long, default_value_t = 1.0, env = "AIAAS_PREDICTION_SAMPLE")]
    pub prediction_sample: f64,
    /// Days logged predictions are kept.
    #[arg(long, default_value_t = 30, env = "AIAAS_PREDICTION_RETENTION_DAYS")]
    pub prediction_retention_days: u64,
    /// Logged predictions kept per model at most (the newest).
    #[arg(long, default_value_t = 1_000_000, env = "AIAAS_PREDICTION_KEEP")]
    pub prediction_keep: u64,
    /// What loads before the server says it is ready: `pinned` (the versions tagged
    /// serve.pinned=true; every other version loads on its first request) or `aliased` (also
    /// the version every alias and every model name means).
    #[arg(long, value_enum, default_value = "pinned", env = "AIAAS_PRELOAD")]
    pub preload: PreloadArg,
    /// MiB the loaded model versions may hold together; loading one past that unloads the least
    /// recently used first (never a pinned one, nor one with requests in flight).
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u64).range(1..), env = "AIAAS_MAX_LOADED_MB")]
    pub max_loaded_mb: u64,
    /// Connections open at once; more are closed as they arrive.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..), env = "AIAAS_MAX_CONNECTIONS")]
    pub max_connections: u32,
    /// Seconds a client may take to send a request's headers, or stay idle between requests.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600), env = "AIAAS_HEADER_TIMEOUT_S")]
    pub header_timeout_s: u64,
    /// Seconds a request body may send nothing before it is cut off.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600), env = "AIAAS_BODY_TIMEOUT_S")]
    pub body_timeout_s: u64,
    /// Seconds shutdown waits for open requests to finish before it drops their connections.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600), env = "AIAAS_SHUTDOWN_TIMEOUT_S")]
    pub shutdown_timeout_s: u64,
    /// Days audit log entries are kept.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u64).range(1..=36_500), env = "AIAAS_AUDIT_RETENTION_DAYS")]
    pub audit_retention_days: u64,
    /// Requests per second an API key may make unless it has its own rate_limit (a burst of one
    /// second's worth is allowed).
    #[arg(long, default_value_t = aiaas_api::DEFAULT_RATE_LIMIT, env = "AIAAS_RATE_LIMIT")]
    pub rate_limit: f64,
    /// Serve HTTPS with this PEM certificate chain (the server's certificate first); needs
    /// --tls-key.
    #[arg(long, env = "AIAAS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "AIAAS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The first admin key's secret (`aiaas_` and 64 hex digits), used when the database has no
    /// key yet instead of making one into <data-dir>/admin.key: replicas that start together
    /// share it from one Secret. Prefer the variable: a flag shows in the process list.
    #[arg(
        long,
        env = "AIAAS_ADMIN_KEY",
        hide_env_values = true,
        conflicts_with = "no_auth"
    )]
    pub admin_key: Option<String>,
    /// Serve without API keys: every call is allowed. Only behind a gateway that authenticates.
    #[arg(long, env = "AIAAS_NO_AUTH")]
    pub no_auth: bool,
    /// Let anyone scrape /metrics without a key.
    #[arg(long, env = "AIAAS_PUBLIC_METRICS")]
    pub public_metrics: bool,
}

/// What `aiaas serve` loads before it is ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PreloadArg {
    /// The pinned versions (tag serve.pinned=true).
    Pinned,
    /// The pinned versions and what every alias and model name means.
    Aliased,
}

/// What an `aiaas serve` process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ServeRole {
    /// The API, inference and the job workers: one process does everything.
    All,
    /// The API and inference only.
    Api,
    /// Jobs and the background checks only.
    Worker,
}

#[derive(Args)]
pub struct OptimizeArgs {
    #[command(subcommand)]
    pub method: OptimizeMethod,
}

#[derive(Subcommand)]
pub enum OptimizeMethod {
    /// Magnitude pruning: zero the smallest weights (a sparse bundle), or with --structured
    /// remove whole hidden neurons (smaller layers, faster).
    Prune {
        #[command(flatten)]
        common: OptimizeCommon,
        /// Fraction removed, strictly between 0 and 1: of the weights, or with --structured of
        /// each hidden layer's neurons.
        #[arg(long, allow_hyphen_values = true)]
        sparsity: f64,
        /// Remove whole hidden neurons (by the norm of their weights).
        #[arg(long)]
        structured: bool,
        /// Where the magnitude threshold is taken (unstructured pruning).
        #[arg(long, value_enum, default_value = "layer")]
        scope: ScopeArg,
        /// Fine-tuning epochs on the parent's training rows with its optimizer settings; pruned
        /// weights stay zero.
        #[arg(long, default_value_t = 0)]
        epochs: usize,
    },
    /// Store the weights with fewer bits: int8 with per-channel scales (served by the int8
    /// kernel) or f16.
    Quantize {
        #[command(flatten)]
        common: OptimizeCommon,
        #[arg(long, value_enum, default_value = "int8")]
        scheme: SchemeArg,
    },
    /// Train a smaller student on the model's soft targets (knowledge distillation).
    Distill {
        #[command(flatten)]
        common: OptimizeCommon,
        /// The student's hidden layer sizes, e.g. 32 or 64,32.
        #[arg(long, value_delimiter = ',', required = true)]
        hidden: Vec<usize>,
        /// Softmax temperature of the soft targets.
        #[arg(long, default_value_t = aiaas_types::DEFAULT_TEMPERATURE)]
        temperature: f32,
        /// Weight of the soft loss (1 - alpha weighs the labels).
        #[arg(long, default_value_t = aiaas_types::DEFAULT_ALPHA)]
        alpha: f32,
        /// Training epochs (default: the parent's).
        #[arg(long)]
        epochs: Option<usize>,
        /// Seed of the student (default: the parent's).
        #[arg(long)]
        seed: Option<u64>,
    },
}

/// What every `aiaas optimize` method takes.
#[derive(Args)]
pub struct OptimizeCommon {
    /// The parent: a bundle directory; with a server, NAME or NAME@VERSION (a number or an
    /// alias; default: champion, else the newest).
    #[arg(long)]
    pub model: String,
    /// Locally: the data the parent was trained on (CSV, MNIST directory or bundled sample;
    /// default: the bundled sample the parent's lineage names).
    #[arg(long)]
    pub data: Option<String>,
    /// Locally: bundle directory to write (default: the parent's directory plus -METHOD).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Largest accuracy drop against the parent (absolute, default 0.01), or RMSE rise
    /// (relative, default 0.05) for regression; a variant beyond it is not kept.
    #[arg(long, allow_hyphen_values = true)]
    pub max_drop: Option<f64>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Run as a job on this aiaas server (default: local, unless AIAAS_URL is set).
    #[arg(long, env = "AIAAS_URL")]
    pub server: Option<String>,
}

#[derive(Args)]
pub struct FeedbackArgs {
    #[command(flatten)]
    pub server: ServerOpts,
    /// The model the predictions came from.
    pub name: ModelName,
    /// CSV with a header and the columns `id` (the inference response's id) and `label` (the
    /// true class, or value for regression).
    #[arg(long)]
    pub file: PathBuf,
}

#[derive(Args)]
pub struct MonitorArgs {
    #[command(flatten)]
    pub server: ServerOpts,
    pub name: ModelName,
    /// Version (default: champion, else the newest).
    #[arg(long)]
    pub version: Option<Version>,
    /// Only predictions from this time on (ms since the Unix epoch).
    #[arg(long)]
    pub since: Option<i64>,
    /// Only the most recent this many predictions.
    #[arg(long)]
    pub last: Option<usize>,
}

/// Options shared by every command that talks to a server.
#[derive(Args)]
pub struct ServerOpts {
    /// URL of the aiaas server.
    #[arg(long, global = true, env = "AIAAS_URL", default_value = DEFAULT_SERVER)]
    pub server: String,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Args)]
pub struct DatasetsArgs {
    #[command(flatten)]
    pub server: ServerOpts,
    #[command(subcommand)]
    pub command: DatasetsCommand,
}

#[derive(Subcommand)]
pub enum DatasetsCommand {
    /// Upload a CSV file (or a bundled sample such as iris) as a new dataset.
    Upload {
        /// A CSV or Parquet file, a tar or zip archive, a folder (the four MNIST files, or one
        /// folder of images per class), or a bundled sample: iris, wine, breast_cancer, digits,
        /// diabetes, mnist.
        file: String,
        /// Dataset name (default: the file name without its extension).
        #[arg(long)]
        name: Option<DatasetName>,
        /// Column to predict (default: the column named `target`).
        #[arg(long)]
        target: Option<String>,
        /// Override the inferred task.
        #[arg(long, value_enum)]
        task: Option<TaskArg>,
    },
    /// List the datasets.
    List,
    /// Show a dataset's schema and size.
    Show { name: DatasetName },
    /// Delete a dataset no model version was trained on.
    Delete { name: DatasetName },
}

#[derive(Args)]
pub struct JobsArgs {
    #[command(flatten)]
    pub server: ServerOpts,
    #[command(subcommand)]
    pub command: JobsCommand,
}

#[derive(Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only jobs in this state.
        #[arg(long, value_enum)]
        state: Option<JobStateArg>,
    },
    /// Show a job with its per-epoch history.
    Show { id: JobId },
    /// Cancel a queued or running job.
    Cancel { id: JobId },
    /// Follow a job with a progress bar until it ends.
    Follow { id: JobId },
}

#[derive(Args)]
pub struct ModelsArgs {
    #[command(flatten)]
    pub server: ServerOpts,
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// List the models with their latest version and aliases.
    List,
    /// Show a model's versions, or one version in detail.
    Show {
        name: ModelName,
        /// Version number or alias to show in detail.
        #[arg(long, value_parser = version_or_alias)]
        version: Option<String>,
    },
    /// Point an alias (such as champion) at a version.
    Alias {
        name: ModelName,
        alias: AliasName,
        version: Version,
    },
    /// Restore the previous champion: swap the aliases champion and previous.
    Rollback { name: ModelName },
    /// Delete a version no alias points at.
    Delete { name: ModelName, version: Version },
    /// Download a version as a tar archive, or as an ONNX file that ONNX Runtime, Triton or a
    /// browser runs (`--format onnx`: input scaling folded in, labels in its metadata).
    Export {
        name: ModelName,
        /// Version number or alias.
        #[arg(value_parser = version_or_alias)]
        version: String,
        /// File to write (default: NAME-VERSION.tar, or NAME-VERSION.onnx).
        #[arg(long)]
        out: Option<PathBuf>,
        /// `tar` (the version's bundle, to import elsewhere) or `onnx`.
        #[arg(long, default_value = "tar", value_parser = ["tar", "onnx"])]
        format: String,
    },
    /// Register a model as a new version: a bundle folder such as `models/iris`, an archive of
    /// one (from `aiaas models export`, or `tar -czf` of the folder), or an ONNX file
    /// (`model.onnx`; the server refuses a graph it cannot run, naming what it lacks).
    Import {
        path: PathBuf,
        /// Model to register it under (default: the name in the bundle's manifest; needed for
        /// an ONNX file).
        #[arg(long)]
        name: Option<ModelName>,
        /// For an ONNX classifier: its class labels, one per line in the order of its score
        /// columns; it then answers `label` and takes feedback (default: the labels in the
        /// file's metadata, if any).
        #[arg(long, value_name = "FILE")]
        labels: Option<PathBuf>,
        /// For an ONNX image model: a preprocess.json (resize, center_crop, channels, layout,
        /// scale, mean, std); it then takes encoded PNG or JPEG images as BYTES.
        #[arg(long, value_name = "FILE")]
        preprocess: Option<PathBuf>,
        /// For an ONNX text model: its Hugging Face tokenizer.json; it then also takes BYTES
        /// `text` and fills input_ids, attention_mask and token_type_ids itself.
        #[arg(long, value_name = "FILE")]
        tokenizer: Option<PathBuf>,
        /// For an ONNX graph that is a plain dense network: adopt it as a model trained here,
        /// scored on this registered dataset (its columns as they are, its classes named by the
        /// labels), so that it can be optimized, monitored and retrained.
        #[arg(long)]
        dataset: Option<DatasetName>,
    },
}

/// A version number or an alias name, checked before it becomes part of a URL.
fn version_or_alias(s: &str) -> Result<String, String> {
    if s.parse::<Version>().is_ok() || AliasName::new(s).is_ok() {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is neither a version number nor an alias name"
        ))
    }
}

/// Mirrors of the shared enums, so that clap can list their values in help and errors.
macro_rules! value_enum {
    ($arg:ident => $target:ty { $($variant:ident $(= $name:literal)? => $value:expr),* $(,)? }) => {
        #[derive(Clone, Copy, ValueEnum)]
        pub enum $arg { $($(#[value(name = $name)])? $variant),* }
        impl From<$arg> for $target {
            fn from(a: $arg) -> $target {
                match a { $($arg::$variant => $value),* }
            }
        }
    };
}

value_enum!(TaskArg => Task { Classification => Task::Classification, Regression => Task::Regression });
value_enum!(ModelArg => ModelKind { Linear => ModelKind::Linear, Logistic => ModelKind::Logistic, Mlp => ModelKind::Mlp });
value_enum!(ActivationArg => Activation {
    Relu => Activation::Relu, Tanh => Activation::Tanh, Sigmoid => Activation::Sigmoid, Identity => Activation::Identity,
});
value_enum!(LossArg => LossKind {
    Mse => LossKind::Mse, Bce => LossKind::Bce, CrossEntropy = "cross_entropy" => LossKind::CrossEntropy,
});
value_enum!(OptimizerArg => OptimizerKind {
    Gd => OptimizerKind::Gd, Sgd => OptimizerKind::Sgd, Adam => OptimizerKind::Adam, Adamw = "adamw" => OptimizerKind::AdamW,
    Lbfgs => OptimizerKind::Lbfgs,
});

value_enum!(JobStateArg => JobState {
    Queued => JobState::Queued, Running => JobState::Running, Succeeded => JobState::Succeeded,
    Failed => JobState::Failed, Cancelled => JobState::Cancelled,
});

value_enum!(ScopeArg => PruneScope { Layer => PruneScope::Layer, Global => PruneScope::Global });
value_enum!(SchemeArg => QuantScheme { Int8 => QuantScheme::Int8, F16 => QuantScheme::F16 });

#[derive(Clone, Copy, ValueEnum)]
pub enum ScheduleArg {
    Constant,
    Step,
    Cosine,
}
