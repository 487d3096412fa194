//! Adopting an imported dense network as a model trained here: scored on a registered dataset,
//! it gets a native bundle (schema, metrics, profile, training spec), so that it is optimized,
//! monitored and retrained like one, with the file it came from in its lineage.

use crate::ServiceError;
use aiaas_artifact::{Bundle, DatasetRef, OnnxBundle};
use aiaas_data::Dataset;
use aiaas_onnx::OnnxModel;
use aiaas_types::SplitSpec;

/// `imported`'s graph (`model`, as the runtime read it) as a native bundle scored on `ds` (registered as `dataset`) with the
/// default split, on `threads` threads. Refused unless the graph runs on the native engine and
/// takes the dataset's columns: preprocessing and tokenizers, for serving the graph on inputs
/// a dataset does not hold, have no place in an adopted model.
pub(crate) fn adopt(
    imported: OnnxBundle,
    model: &OnnxModel,
    ds: &Dataset,
    dataset: DatasetRef,
    threads: usize,
) -> Result<Bundle, ServiceError> {
    let refuse = |why: &str| Err(ServiceError::Invalid(format!("adopting the model: {why}")));
    if imported.manifest.preprocess.is_some() || imported.tokenizer.is_some() {
        return refuse(
            "an adopted model takes the dataset's columns; import it without preprocess.json \
             and tokenizer.json, or without a dataset to serve the graph as it is",
        );
    }
    let Some(native) = model.native() else {
        return refuse(
            "the graph is not a plain dense network (it runs on tract), so it cannot be \
             optimized or retrained here; import it without a dataset to serve it as it is",
        );
    };
    let classes = (imported.manifest.classes.map(|c| c.labels)).or(native.classes);
    let trained = aiaas_train::adopt(
        ds,
        native.network.clone(),
        classes.as_deref(),
        &SplitSpec::default(),
        threads,
    )
    .map_err(|e| ServiceError::Invalid(e.to_string()))?;
    let mut bundle = trained.to_bundle("", dataset, None);
    bundle.manifest.lineage.imported = Some(imported.manifest.lineage);
    Ok(bundle)
}
