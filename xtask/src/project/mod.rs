//! This repository as the commands see it: where it is, where cargo builds, the images and the
//! static binary it makes.

pub(crate) mod daemonless;
pub(crate) mod final_stage;
pub(crate) mod profile;
pub(crate) mod static_binary;
pub(crate) mod variant;

use std::path::{Path, PathBuf};

/// The workspace root, whatever directory cargo was started from.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Where cargo puts build output.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}
