//! The commands that run on this machine, without a server: `train` into a bundle directory,
//! `eval` and `predict` with a bundle, `optimize` a bundle into a variant, `export` a bundle as
//! ONNX.

pub mod eval;
pub mod export;
mod input;
pub mod optimize;
pub mod predict;
pub mod train;

use aiaas_artifact::{ArtifactError, Bundle};
use anyhow::Context;
use std::path::Path;

/// The bundle in `dir`, or an error that says what `dir` is and where bundles are: a path
/// that does not exist says so; a bare name (`iris`) is pointed at `models/iris`, where
/// `aiaas train` writes, or at `--server` for a registered model.
pub fn read_bundle(dir: &Path) -> anyhow::Result<Bundle> {
    let bare_name = dir.components().count() == 1;
    let hint = |dir: &Path| {
        let name = dir.display();
        if bare_name {
            format!(
                "; `aiaas train` writes bundles to models/<name> (try --model models/{name}), \
                 and a model registered on a server needs --server URL"
            )
        } else {
            String::new()
        }
    };
    if !dir.exists() {
        anyhow::bail!(
            "no model bundle at {}: the path does not exist{}",
            dir.display(),
            hint(dir)
        );
    }
    match Bundle::read(dir) {
        Err(ArtifactError::NotABundle(_)) => anyhow::bail!(
            "{} is not a model bundle (it holds no manifest.json){}",
            dir.display(),
            hint(dir)
        ),
        other => other.with_context(|| format!("reading the model bundle {}", dir.display())),
    }
}
