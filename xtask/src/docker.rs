//! The Docker CLI as xtask uses it: one engine check, one way to build a command.

use std::process::{Command, Stdio};

use anyhow::{Result, bail};

/// `docker`, from PATH.
pub(crate) fn docker() -> Command {
    Command::new("docker")
}

/// Fails with one line saying what to do when no engine answers.
pub(crate) fn require_engine() -> Result<()> {
    let output = docker()
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

/// Whether an image exists locally under `reference`.
pub(crate) fn image_exists(reference: &str) -> bool {
    docker()
        .args(["image", "inspect", "--format", "{{.Id}}", reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Whether this CLI builds with BuildKit (it has buildx); otherwise the legacy builder is used.
pub(crate) fn has_buildkit() -> bool {
    docker()
        .args(["buildx", "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Tries to pull `reference`; `false` when no registry serves it.
pub(crate) fn pull(reference: &str) -> bool {
    eprintln!("pulling {reference}");
    docker()
        .args(["pull", "--quiet", reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The 127.0.0.1 address Docker published for a container port (`8080/tcp`).
pub(crate) fn published_address(container: &str, port: &str) -> Result<std::net::SocketAddr> {
    let output = crate::process::capture(docker().args(["port", container, port]))?;
    output
        .lines()
        .find_map(|line| {
            line.trim()
                .parse::<std::net::SocketAddr>()
                .ok()
                .filter(std::net::SocketAddr::is_ipv4)
        })
        .ok_or_else(|| {
            anyhow::anyhow!("docker port printed no IPv4 address for {port}: {output:?}")
        })
}
