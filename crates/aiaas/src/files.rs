//! Files the commands write (exports, downloads): whole or not at all, never half written.

use anyhow::Context;
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `out` whole or not at all: a temporary file beside it, synced and renamed.
pub fn write_atomically(out: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = staged(out)?;
    tmp.write_all(bytes)
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    persist(tmp, out)
}

/// A temporary file beside `out`, to be [`persist`]ed as it.
pub fn staged(out: &Path) -> anyhow::Result<tempfile::NamedTempFile> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".aiaas-export-").suffix(".tmp");
    // The permissions of any new file (umask applied), not tempfile's private 0600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))
}

/// Syncs `tmp` and renames it to `out`.
pub fn persist(tmp: tempfile::NamedTempFile, out: &Path) -> anyhow::Result<()> {
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(out)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}
