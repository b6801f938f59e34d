//! The rebuild probe: how long a multi-stage image takes to build again after a source-only
//! edit, timed in a copy of the build context so the checkout is never touched.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::docker;
use crate::docker::build;
use crate::project::variant::Variant;
use crate::util::git;
use crate::util::process;
use crate::util::time;

/// Rebuilds timed per multi-stage image; the median is reported.
const REBUILD_SAMPLES: usize = 3;

/// A copy of the build context (every file git would consider, ignored ones excluded) in a
/// scratch directory, where a source file can be edited without touching the checkout. Removed,
/// with the images built from it, when dropped.
pub(super) struct ContextCopy {
    path: std::path::PathBuf,
    /// `app/src/main.rs` as checked out: each edit starts from it, so that the next image's
    /// first build from the copy finds the cache of the checkout's own build.
    main_rs: String,
}

impl ContextCopy {
    pub(super) fn create() -> Result<Self> {
        // A fixed name: a copy left by an interrupted run is cleared, not accumulated.
        let path = crate::project::target_dir()
            .join("xtask")
            .join("rebuild-context");
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("cannot clear {}", path.display()))?;
        }
        copy_build_context(&crate::project::root(), &path)?;
        let main_rs = std::fs::read_to_string(path.join(MAIN_RS))
            .with_context(|| format!("cannot read {MAIN_RS} in {}", path.display()))?;
        Ok(Self { path, main_rs })
    }

    /// Builds `variant` from the copy once (all cached), then edits one source file and times
    /// the build that follows: the median of a few such edits for the multi-stage images, whose
    /// rebuild takes seconds; one for the single-stage image, which compiles everything again.
    pub(super) fn rebuild_after_source_change(&self, variant: Variant) -> Result<f64> {
        let probe_tag = probe_tag(variant);
        self.write_main_rs("")?;
        build::build(variant, &self.path, &probe_tag, false, false)?;
        let samples = if variant == Variant::Single {
            1
        } else {
            REBUILD_SAMPLES
        };
        let mut seconds = Vec::with_capacity(samples);
        for sample in 0..samples {
            self.write_main_rs(&format!(
                "// source-only change {sample} made by `cargo xtask compare` at {}\n",
                time::now_unix()
            ))?;
            seconds.push(build::build(variant, &self.path, &probe_tag, false, false)?.seconds);
        }
        Ok(crate::util::stats::median(&mut seconds))
    }

    /// `main.rs` as checked out plus `comment`: new source, same program.
    fn write_main_rs(&self, comment: &str) -> Result<()> {
        let source = self.path.join(MAIN_RS);
        std::fs::write(&source, format!("{}{comment}", self.main_rs))
            .with_context(|| format!("cannot write {}", source.display()))
    }
}

const MAIN_RS: &str = "app/src/main.rs";

pub(super) fn probe_tag(variant: Variant) -> String {
    format!("{}-rebuild-probe", variant.tag())
}

impl Drop for ContextCopy {
    fn drop(&mut self) {
        // Whichever probes were built, a failed one included; removing an absent tag is harmless.
        for variant in Variant::ALL {
            let _ = process::capture(docker::docker().args(["rmi", &probe_tag(variant)]));
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn copy_build_context(from: &Path, to: &Path) -> Result<()> {
    for relative in
        git::listed_files(from).context("the rebuild timing copies the files git lists")?
    {
        let relative = relative.as_str();
        let source = from.join(relative);
        if !source.is_file() {
            continue; // deleted in the working tree
        }
        let target = to.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&source, &target).with_context(|| format!("cannot copy {relative}"))?;
    }
    if !to.join("docker").is_dir() {
        bail!("the copied build context has no docker/ directory");
    }
    Ok(())
}
