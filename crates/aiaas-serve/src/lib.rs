//! The aiaas inference runtime (DESIGN.md section 7): which model versions are loaded, one
//! dynamic batcher per loaded version, their forward passes run by one compute pool shared
//! fairly between them, and the KServe V2 tensors that go in and out. No HTTP and no database
//! here: `aiaas-api` maps requests and errors, and the runtime reaches the registry only through
//! [`ModelSource`] and [`PredictionSink`].

mod batcher;
mod compute;
mod compute_pool;
mod error;
mod graph;
mod image;
mod infer;
mod loaded;
pub mod metrics;
mod pool;
mod prediction_log;
mod signature;
mod source;
pub mod v2;

pub use self::metrics::{ModelMetrics, Outcome};
pub use batcher::{Arrivals, Arriving, Batcher, BatcherConfig, BatcherStats};
pub use compute::{Compute, Dense};
pub use compute_pool::{ComputePool, QUANTUM};
pub use error::ServeError;
pub use graph::{Graph, GraphSignature};
pub use infer::{count_refused, infer};
pub use loaded::{DenseModel, GraphModel, InUse, LoadedModel, Runtime};
pub use pool::{ModelPool, PoolConfig, Preload, VersionState};
pub use prediction_log::PredictionLog;
pub use signature::{DENSE_INPUT, MAX_REQUEST_INPUTS, MAX_ROWS, Signature};
pub use source::{BoxFuture, ModelSource, PredictionSink, SourceModel};
