//! Bakes build metadata into the binary: git revision, build time, rustc version, profile.
//!
//! Container builds exclude `.git` from the context, so `GIT_REVISION` (a build arg) wins over
//! asking git. `SOURCE_DATE_EPOCH` pins the build time for reproducible builds.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=GIT_REVISION");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    let revision = std::env::var("GIT_REVISION")
        .ok()
        .filter(|value| !value.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    watch_git_head();

    let build_epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|value| value.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(0))
        });

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map_or_else(|| "unknown".to_owned(), |text| text.trim().to_owned());

    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".to_owned());

    println!("cargo:rustc-env=APP_GIT_REVISION={revision}");
    println!("cargo:rustc-env=APP_BUILD_EPOCH={build_epoch}");
    println!("cargo:rustc-env=APP_RUSTC_VERSION={rustc_version}");
    println!("cargo:rustc-env=APP_BUILD_PROFILE={profile}");
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// Re-run when HEAD moves, so the revision never goes stale in incremental builds. Only files
/// that exist are watched: cargo re-runs the script on every build for a missing one.
fn watch_git_head() {
    let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) else {
        return;
    };
    let mut watched = vec![format!("{git_dir}/HEAD"), format!("{git_dir}/packed-refs")];
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(format!("{git_dir}/{reference}"));
    }
    for path in watched
        .iter()
        .filter(|path| std::path::Path::new(path).exists())
    {
        println!("cargo:rerun-if-changed={path}");
    }
}
