//! The one place that runs `git`: the revision images are labelled and tagged with, the commit
//! time builds are dated by, the files a build context holds.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::process;

fn git(dir: &Path) -> Command {
    let mut command = Command::new("git");
    command.current_dir(dir);
    command
}

/// The checked-out commit, abbreviated to 12 hex digits; `unknown` outside a git checkout.
pub(crate) fn revision() -> String {
    process::capture(git(&crate::files::root()).args(["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The last commit's time in Unix seconds, if this is a git checkout.
pub(crate) fn commit_time() -> Option<u64> {
    process::capture(git(&crate::files::root()).args(["log", "-1", "--format=%ct"]))
        .ok()?
        .parse()
        .ok()
}

/// Whether tracked files differ from the last commit.
pub(crate) fn is_dirty() -> bool {
    process::capture(git(&crate::files::root()).args([
        "status",
        "--porcelain",
        "--untracked-files=no",
    ]))
    .is_ok_and(|status| !status.is_empty())
}

/// Every file git would consider in `dir` (tracked and untracked, ignored ones left out).
pub(crate) fn listed_files(dir: &Path) -> Result<Vec<String>> {
    let listing = process::capture(git(dir).args([
        "ls-files",
        "--cached",
        "--others",
        "--exclude-standard",
        "-z",
    ]))
    .with_context(|| {
        format!(
            "cannot list the files of {}; is it a git checkout?",
            dir.display()
        )
    })?;
    Ok(listing
        .split('\0')
        .filter(|path| !path.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Writes the files of the last commit (what a clean checkout holds, without `.git`) into `dir`.
pub(crate) fn export_head(dir: &Path) -> Result<()> {
    let output = git(&crate::files::root())
        .args(["archive", "--format=tar", "HEAD"])
        .output()
        .context("cannot run git archive")?;
    if !output.status.success() {
        anyhow::bail!(
            "git archive HEAD failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    tar::Archive::new(output.stdout.as_slice())
        .unpack(dir)
        .with_context(|| format!("cannot write the commit's files to {}", dir.display()))
}
