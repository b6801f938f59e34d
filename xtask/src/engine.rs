//! Getting a Docker engine for `cargo xtask ci` on a machine that has none running (a fresh CI
//! machine): start Debian's `dockerd` in the background and wait until it answers.

use std::fs::{self, File};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{debian, docker};

const PID_FILE: &str = "/var/run/docker.pid";

/// Ensures an engine answers; starts one when allowed (root, `--yes` or `CI=true`).
pub(crate) fn ensure(may_start: bool) -> Result<()> {
    if docker::require_engine().is_ok() {
        return Ok(());
    }
    if !may_start || !debian::is_root() {
        return docker::require_engine().context(
            "the image tests need a Docker engine; `cargo xtask ci --yes` as root starts one",
        );
    }
    // A pid file left by a daemon that is gone stops a new one from starting.
    if let Ok(pid) = fs::read_to_string(PID_FILE)
        && !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists()
    {
        fs::remove_file(PID_FILE).with_context(|| format!("cannot remove the stale {PID_FILE}"))?;
    }
    let log_path = crate::target_dir().join("xtask").join("dockerd.log");
    fs::create_dir_all(log_path.parent().context("log path has a parent")?)?;
    let log = File::create(&log_path)?;
    eprintln!("starting dockerd (log: {})", log_path.display());
    Command::new("dockerd")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start dockerd; install Docker (`apt-get install docker.io`)")?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_mins(1) {
        if docker::require_engine().is_ok() {
            eprintln!(
                "dockerd answers after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    bail!(
        "dockerd did not answer within 60 s; see {}",
        log_path.display()
    )
}
