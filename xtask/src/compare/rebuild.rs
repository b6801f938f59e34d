//! The rebuild probe: how long an image takes to build again after a source-only edit, timed in
//! a copy of the build context so the checkout is never touched; and, for the multi-stage
//! images, what the builder adds to that: the same edit compiled on the host with the same
//! profile and flags, the two timed in alternating pairs so that the machine's drift falls on
//! both alike. One pair by default: a first run is waited through, and each pair is two
//! compiles of the service; `--rebuild-pairs N` times more and reports their medians.

use std::cell::{Cell, OnceCell};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::docker;
use crate::docker::build;
use crate::git;
use crate::measure::median;
use crate::measure::time;
use crate::oci::Image;
use crate::oci::builder::{self, Source};
use crate::process;
use crate::project::profile::CargoProfile;
use crate::project::static_binary;
use crate::project::variant::Variant;

/// A rebuild after a source-only edit, measured, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rebuild {
    /// The image's rebuild: the median of the samples (one sample: itself).
    pub(crate) image: f64,
    /// The same edit compiled on the host with the same profile: the median of the samples.
    /// Multi-stage images only (the single-stage rebuild is a full compile).
    pub(crate) host: Option<f64>,
    /// The median of the pairs' differences (image − host).
    pub(crate) builder_adds: Option<f64>,
    /// How many (image, host) pairs were timed; `None` for an image timed alone.
    pub(crate) pairs: Option<usize>,
}

/// A copy of the build context (every file git would consider, ignored ones excluded) in a
/// scratch directory, where a source file can be edited without touching the checkout. Removed,
/// with the images built from it, when dropped.
pub(super) struct ContextCopy {
    path: PathBuf,
    /// `app/src/main.rs` as checked out: each edit starts from it, so that the next image's
    /// first build from the copy finds the cache of the checkout's own build.
    main_rs: String,
    /// The host builds' own target directory, kept between runs: its dependencies are compiled
    /// once per machine and profile, as the image's dependency layer is cached.
    host_target: PathBuf,
    /// Set once the daemonless builds compiled the dependencies in the copy with the shipped
    /// profile and the same flags: the host builds of that profile then use their target
    /// directory, and a first run compiles the dependencies on the host once, not twice.
    daemonless_target: OnceCell<PathBuf>,
    /// Whether a host build has run in [`Self::host_target`]'s folder: the first compiles
    /// the dependencies it lacks, untimed.
    host_warm: Cell<bool>,
}

impl ContextCopy {
    pub(super) fn create() -> Result<Self> {
        let xtask_dir = crate::files::target_dir().join("xtask");
        // A fixed name: a copy left by an interrupted run is cleared, not accumulated. (Fixed
        // also for the host builds: the path is in their flags, and a new one would rebuild
        // every dependency.)
        let path = xtask_dir.join("rebuild-context");
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("cannot clear {}", path.display()))?;
        }
        copy_build_context(&crate::files::root(), &path)?;
        let main_rs = std::fs::read_to_string(path.join(MAIN_RS))
            .with_context(|| format!("cannot read {MAIN_RS} in {}", path.display()))?;
        Ok(Self {
            path,
            main_rs,
            host_target: xtask_dir.join("rebuild-host-target"),
            daemonless_target: OnceCell::new(),
            host_warm: Cell::new(false),
        })
    }

    /// Builds `variant` from the copy once (all cached), then edits one source file and times
    /// the build that follows. Multi-stage images: `pairs` edits, each built as an image and
    /// then on the host. The single-stage image, which compiles everything again: one edit,
    /// image only.
    pub(super) fn rebuild_after_source_change(
        &self,
        variant: Variant,
        profile: &CargoProfile,
        pairs: usize,
    ) -> Result<Rebuild> {
        let probe_tag = probe_tag(variant);
        self.write_main_rs("")?;
        build::build(variant, &self.path, &probe_tag, profile, false, false)?;
        if variant == Variant::Single {
            self.write_main_rs(&edit_comment(0))?;
            let image_seconds =
                build::build(variant, &self.path, &probe_tag, profile, false, false)?.seconds;
            return Ok(Rebuild {
                image: image_seconds,
                host: None,
                builder_adds: None,
                pairs: None,
            });
        }
        // The daemonless builds' folder holds every dependency already (their build scripts
        // read none of the variables those builds set).
        let own_folder = self.host_target(profile) == self.host_target;
        if own_folder && !self.host_warm.replace(true) {
            eprintln!(
                "  the host's build of the same sources ({}; the first one on this machine \
                 compiles the dependencies)",
                profile.name
            );
            self.host_build(profile)?;
        }
        let (mut image, mut host, mut added) = (Vec::new(), Vec::new(), Vec::new());
        for pair in 0..pairs.max(1) {
            self.write_main_rs(&edit_comment(pair))?;
            let image_seconds =
                build::build(variant, &self.path, &probe_tag, profile, false, false)?.seconds;
            let host_seconds = self.host_build(profile)?;
            eprintln!(
                "  pair {}: image {image_seconds:.1} s, host {host_seconds:.1} s",
                pair + 1
            );
            image.push(image_seconds);
            host.push(host_seconds);
            added.push(image_seconds - host_seconds);
        }
        Ok(Rebuild {
            image: median(&mut image),
            host: Some(median(&mut host)),
            builder_adds: Some(median(&mut added)),
            pairs: Some(image.len()),
        })
    }

    /// The daemonless scratch image built from the copy in a target directory of its own: a
    /// second clean build, at another path, of what the checkout built (the reproducibility
    /// check); then rebuilt after a source edit. The clean build's image and the rebuild's
    /// seconds.
    pub(super) fn daemonless_builds(&self, checkout: &Source) -> Result<(Image, f64)> {
        let target = self.path.join("target-daemonless");
        let copy = Source {
            dir: self.path.clone(),
            ..checkout.clone()
        };
        self.write_main_rs("")?;
        let clean = builder::build(Variant::Scratch, &copy, &target)?;
        self.write_main_rs(&edit_comment(0))?;
        let started = Instant::now();
        builder::build(Variant::Scratch, &copy, &target)?;
        let seconds = started.elapsed().as_secs_f64();
        self.write_main_rs("")?;
        let _ = self.daemonless_target.set(target);
        Ok((clean.image, seconds))
    }

    /// Where the host builds of `profile` compile: the daemonless builds' target directory in
    /// this copy when those compiled the dependencies with this profile, else the host builds'
    /// own.
    fn host_target(&self, profile: &CargoProfile) -> PathBuf {
        self.daemonless_target
            .get()
            .filter(|_| profile.is_shipped())
            .unwrap_or(&self.host_target)
            .clone()
    }

    /// Compiles the copy on the host as the Dockerfile compiles it; the seconds it took. As in
    /// the image, where the edited sources arrive in a new layer, the service's crate is built
    /// whole (build script, library and binary) on compiled dependencies: what is compared is
    /// the same compile with and without the builder around it.
    fn host_build(&self, profile: &CargoProfile) -> Result<f64> {
        let target = self.host_target(profile);
        process::capture(
            process::cargo()
                .current_dir(&self.path)
                .env("CARGO_TARGET_DIR", &target)
                .args(["clean", "--package", "app", "--profile", &profile.name])
                .args(["--target", static_binary::TARGET]),
        )?;
        let mut command = static_binary::command(&self.path, &target, profile);
        let started = Instant::now();
        process::capture(&mut command)
            .with_context(|| format!("the host build of {} failed", self.path.display()))?;
        let seconds = started.elapsed().as_secs_f64();
        static_binary::binary(&target, profile)?;
        Ok(seconds)
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

/// A comment that makes new source of the same program.
fn edit_comment(sample: usize) -> String {
    format!(
        "// source-only change {sample} made by `cargo xtask compare` at {}\n",
        time::now_unix()
    )
}

fn copy_build_context(from: &Path, to: &Path) -> Result<()> {
    let files = match git::listed_files(from) {
        Ok(files) => files,
        // Sources without git (an archive of the repository, a machine without git): what the
        // builds read is all there is.
        Err(error) => {
            eprintln!("  {error}: copying every file but the build output");
            every_file(from, &crate::files::target_dir())?
        }
    };
    for relative in files {
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

/// Every file below `root`, relative to it, leaving out `.git` and the build output: the
/// folders `target` at the root and `target_dir`, wherever it is.
fn every_file(root: &Path, target_dir: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    let mut folders = vec![PathBuf::new()];
    while let Some(folder) = folders.pop() {
        let path = root.join(&folder);
        for entry in
            std::fs::read_dir(&path).with_context(|| format!("cannot list {}", path.display()))?
        {
            let entry = entry?;
            let relative = folder.join(entry.file_name());
            let top_level_skipped = folder.as_os_str().is_empty()
                && matches!(entry.file_name().to_str(), Some("target" | ".git"));
            if top_level_skipped || entry.path() == target_dir {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                folders.push(relative);
            } else if kind.is_file() {
                files.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_git_every_file_but_the_build_output_is_copied() {
        let root = std::env::temp_dir().join(format!("xtask-context-{}", std::process::id()));
        for file in [
            "Cargo.toml",
            "app/src/main.rs",
            "docker/Dockerfile.multi-stage",
            "target/debug/app",
            ".git/HEAD",
            "elsewhere/xtask/rebuild-context/Cargo.toml",
            "app/target/kept.txt",
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("a folder");
            std::fs::write(&path, "x").expect("a file");
        }
        let files = every_file(&root, &root.join("elsewhere"));
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(
            files.expect("listed"),
            [
                "Cargo.toml",
                "app/src/main.rs",
                "app/target/kept.txt",
                "docker/Dockerfile.multi-stage"
            ]
        );
    }
}
