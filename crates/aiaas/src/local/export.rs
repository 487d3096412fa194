//! `aiaas export --model DIR [--out FILE]`: a bundle directory as an ONNX file.

use crate::cli::ExportArgs;
use std::path::PathBuf;

pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let bundle = super::read_bundle(&args.model)?;
    let name = bundle.manifest.name.clone();
    let onnx = aiaas_service::bundle_to_onnx(&bundle, &name)?;
    let out = (args.out.clone()).unwrap_or_else(|| PathBuf::from(format!("{name}.onnx")));
    crate::files::write_atomically(&out, &onnx)?;
    println!("wrote {} ({} bytes)", out.display(), onnx.len());
    Ok(())
}
