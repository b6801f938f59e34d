//! The one place that makes sure a Docker engine answers; every command that needs Docker goes
//! through [`require`]. When none answers on a Debian or Ubuntu machine with root, it offers to
//! install Debian's `docker.io` and start `dockerd` (`--yes` or `CI=true` answers for the user);
//! anywhere else it says, in one line, what to install or start.

use std::fs::{self, File};
use std::io::{BufRead, IsTerminal, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::docker;
use crate::process;
use crate::process::wait;
use crate::tools;
use crate::tools::debian;

const PID_FILE: &str = "/var/run/docker.pid";

/// Ensures an engine answers, installing and starting one where this machine allows it.
pub(crate) fn require() -> Result<()> {
    let Err(unreachable) = answers_or_why() else {
        return Ok(());
    };
    // A DOCKER_HOST elsewhere, or a machine we may not administer: say what to do, nothing more.
    let local_engine = std::env::var_os("DOCKER_HOST").is_none_or(|host| host.is_empty());
    if !local_engine || !debian::is_root() || !process::available("apt-get") {
        return Err(unreachable);
    }
    let installed = process::available("dockerd");
    let action = if installed {
        "start dockerd"
    } else {
        "install Debian's docker.io and start dockerd"
    };
    if !consent(action) {
        return Err(unreachable.context(format!("not done: {action} (pass --yes to allow it)")));
    }
    if !installed {
        tools::require(&["dockerd"])?;
    }
    start_dockerd()
}

/// `--yes` or `CI=true` answer yes; on a terminal the user is asked; otherwise the answer is no.
fn consent(action: &str) -> bool {
    if tools::install_allowed() {
        return true;
    }
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("No Docker engine answers. {action} now? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok()
        && matches!(answer.trim(), "y" | "Y" | "yes")
}

fn start_dockerd() -> Result<()> {
    // A pid file left by a daemon that is gone stops a new one from starting.
    if let Ok(pid) = fs::read_to_string(PID_FILE)
        && !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists()
    {
        fs::remove_file(PID_FILE).with_context(|| format!("cannot remove the stale {PID_FILE}"))?;
    }
    let log_path = crate::files::target_dir().join("xtask").join("dockerd.log");
    fs::create_dir_all(log_path.parent().context("log path has a parent")?)?;
    let log = File::create(&log_path)?;
    eprintln!("starting dockerd (log: {})", log_path.display());
    Command::new("dockerd")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start dockerd")?;
    let started = Instant::now();
    let answered = wait::until(Duration::from_mins(1), Duration::from_millis(250), || {
        Ok(answers().then_some(()))
    })?;
    if answered.is_none() {
        bail!(
            "dockerd did not answer within 60 s; see {}",
            log_path.display()
        );
    }
    eprintln!(
        "dockerd answers after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Whether an engine answers now; for callers that only report it.
pub(crate) fn answers() -> bool {
    answers_or_why().is_ok()
}

/// Whether an engine answers, or one line saying what to do.
fn answers_or_why() -> Result<()> {
    let output = docker::docker()
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .output();
    match output {
        Err(_) => bail!(
            "the docker CLI is not installed: install Docker (https://docs.docker.com/engine/install/) \
             or, on Debian, `apt-get install docker.io`"
        ),
        Ok(output) if !output.status.success() => bail!(
            "no Docker engine is reachable: start it (`sudo systemctl start docker`, Docker Desktop, \
             or `sudo dockerd &`) and check that `docker info` works"
        ),
        Ok(_) => Ok(()),
    }
}
