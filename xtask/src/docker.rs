//! The Docker CLI as xtask uses it: one engine check, one way to build a command.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

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

/// The docker CLI that builds images, and with which builder.
#[derive(Debug, Clone)]
pub(crate) struct Builder {
    program: PathBuf,
    pub(crate) buildkit: bool,
}

impl Builder {
    /// `docker` of this builder, with `DOCKER_BUILDKIT` set to match.
    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.env("DOCKER_BUILDKIT", if self.buildkit { "1" } else { "0" });
        command
    }
}

/// How images are built, chosen once: BuildKit whenever some `docker` on PATH can use it (a
/// buildx plugin, or a CLI older than 23, which has BuildKit built in), since BuildKit skips
/// unused stages and costs far less per step; otherwise the legacy builder. `DOCKER_BUILDKIT=0`
/// or `1` decides instead.
pub(crate) fn builder() -> &'static Builder {
    static BUILDER: OnceLock<Builder> = OnceLock::new();
    BUILDER.get_or_init(|| {
        let first = PathBuf::from("docker");
        let forced = match std::env::var("DOCKER_BUILDKIT").as_deref() {
            Ok("0") => Some(false),
            Ok("1") => Some(true),
            _ => None,
        };
        if let Some(buildkit) = forced {
            return Builder {
                program: first,
                buildkit,
            };
        }
        let candidates = clis_on_path();
        let chosen = candidates
            .iter()
            .position(|cli| can_use_buildkit(cli))
            .map(|index| (index, &candidates[index]));
        match chosen {
            Some((0, _)) | None => Builder {
                program: first,
                buildkit: chosen.is_some(),
            },
            Some((_, cli)) => {
                eprintln!(
                    "the first docker on PATH has no BuildKit (no buildx plugin); building with {}, which has it built in",
                    cli.display()
                );
                Builder {
                    program: cli.clone(),
                    buildkit: true,
                }
            }
        }
    })
}

/// Every `docker` executable on PATH, in PATH order, each once.
fn clis_on_path() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut seen = Vec::new();
    for directory in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let candidate = directory.join("docker");
        let Ok(real) = std::fs::canonicalize(&candidate) else {
            continue;
        };
        if real.is_file() && !seen.contains(&real) {
            seen.push(real);
            found.push(candidate);
        }
    }
    found
}

fn can_use_buildkit(cli: &Path) -> bool {
    let succeeds = |args: &[&str]| {
        Command::new(cli)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    if succeeds(&["buildx", "version"]).is_some() {
        return true;
    }
    // Before 23.0 the CLI carried BuildKit's client itself (`DOCKER_BUILDKIT=1 docker build`);
    // since then it needs the buildx plugin.
    succeeds(&["version", "--format", "{{.Client.Version}}"])
        .as_deref()
        .is_some_and(has_built_in_buildkit)
}

/// Whether a CLI of this version builds with BuildKit without the buildx plugin (18.09–22.x).
fn has_built_in_buildkit(version: &str) -> bool {
    let mut parts = version.split(['.', '-', '+']);
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
    match (major, minor) {
        (Some(18), Some(minor)) => minor >= 9,
        (Some(major), Some(_)) => (19..23).contains(&major),
        _ => false,
    }
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

#[cfg(test)]
mod tests {
    use super::has_built_in_buildkit;

    #[test]
    fn knows_which_cli_versions_carry_buildkit_themselves() {
        for version in ["18.09.1", "19.03.15", "20.10.24+dfsg1", "22.06.0-beta.0"] {
            assert!(has_built_in_buildkit(version), "{version}");
        }
        for version in ["18.06.3-ce", "23.0.0", "28.2.2", "", "unknown"] {
            assert!(!has_built_in_buildkit(version), "{version}");
        }
    }
}
