//! Where things are: the repository, its build directory, and scratch paths.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The repository root.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Cargo's target directory, where the release app and the tools `cargo xtask ci` installs are.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| project_root().join("target"), PathBuf::from)
}

/// A path under the temporary directory, ending in `name`, that no other test uses: every test
/// runs in this one process, several at a time, so the process id alone does not set them apart.
pub(crate) fn scratch_path(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "system-tests-{}-{}-{name}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// What a second engine of xtask's left in the target directory: nothing, once it is dropped.
pub(crate) fn second_engine_leftovers() -> Vec<PathBuf> {
    std::fs::read_dir(target_dir().join("xtask"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| {
                    entry
                        .file_name()
                        .to_string_lossy()
                        .starts_with("second-engine-")
                })
                .map(|entry| entry.path())
                .collect()
        })
        .unwrap_or_default()
}
