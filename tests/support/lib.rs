//! Helpers for the system tests: run `cargo xtask`, find out whether Docker is there, and keep
//! tests that share images and containers from running at the same time.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The repository root.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `cargo xtask ARGS`, run from the repository root.
pub fn xtask(args: &[&str]) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(project_root())
        .args(["run", "--quiet", "--package", "xtask", "--"])
        .args(args)
        .stdin(Stdio::null());
    command
}

/// Runs `cargo xtask ARGS` and returns its output, echoing both streams for the test log.
pub fn run_xtask(args: &[&str]) -> Output {
    let output = xtask(args).output().expect("cargo runs");
    eprintln!(
        "$ cargo xtask {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Whether a Docker engine answers. Without one the caller skips, loudly; under `CI=true` that
/// is a failure, because CI starts an engine for these tests.
pub fn docker_available(test: &str) -> bool {
    let answers = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !answers {
        let message = format!("no Docker engine answers, so `{test}` cannot run");
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{message}; CI must start one"
        );
        eprintln!("SKIPPED: {message} (start Docker, or run `cargo xtask ci --yes` as root)");
    }
    answers
}

/// Serialises the tests that build images or run containers: they share tags and cores.
pub fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
