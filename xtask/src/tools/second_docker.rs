//! Docker 25 or later for the second engine ([`crate::docker::second_engine`]): the system's
//! own `dockerd` when it is that recent (Docker's packages, GitHub's runners), else Debian
//! trixie's `docker.io` 26, unpacked under the target directory ([`super::trixie`]) so that it
//! never replaces the system's `docker` or `dockerd`. Its `dockerd` and `docker-proxy` are all
//! it takes: it starts bookworm's `containerd` (which runs bookworm's `runc`) itself, and the
//! docker CLI already on PATH talks to it (it negotiates the API version).

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::{debian, programs, trixie};

const PACKAGE: &str = "docker.io";

/// The first Docker whose `docker save` writes the OCI image layout.
const OCI_SAVE_MAJOR: u32 = 25;

/// A `dockerd` of Docker 25 or later.
#[derive(Debug, Clone)]
pub(crate) struct SecondDocker {
    dockerd: PathBuf,
}

impl SecondDocker {
    /// The folder of `dockerd` and the `docker-proxy` it runs; put first on its PATH.
    pub(crate) fn sbin(&self) -> PathBuf {
        self.dockerd
            .parent()
            .map_or_else(PathBuf::new, std::path::Path::to_path_buf)
    }

    pub(crate) fn dockerd(&self) -> PathBuf {
        self.dockerd.clone()
    }
}

fn root() -> PathBuf {
    super::tools_dir().join("docker-26")
}

/// The system's `dockerd` if it is Docker 25 or later, else Docker 26 when it is unpacked
/// already.
pub(crate) fn installed() -> Option<SecondDocker> {
    if let Some(system) = crate::process::find_on_path("dockerd")
        && major_version(&system).is_some_and(|major| major >= OCI_SAVE_MAJOR)
    {
        return Some(SecondDocker { dockerd: system });
    }
    let unpacked = root().join("usr").join("sbin").join("dockerd");
    unpacked
        .exists()
        .then_some(SecondDocker { dockerd: unpacked })
}

/// `Docker version 28.2.2, build e6534b4` → 28.
fn major_version(dockerd: &std::path::Path) -> Option<u32> {
    let output = std::process::Command::new(dockerd)
        .arg("--version")
        .output()
        .ok()?;
    parse_major(&String::from_utf8_lossy(&output.stdout))
}

fn parse_major(version: &str) -> Option<u32> {
    version
        .strip_prefix("Docker version ")?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// The tools door for Docker 25 or later: the system's, or trixie's 26, unpacked when `--yes` or `CI=true` allows it as root;
/// otherwise one line says how to get it.
pub(crate) fn require() -> Result<SecondDocker> {
    if let Some(docker) = installed() {
        return Ok(docker);
    }
    if !super::install_allowed() || !debian::is_root() {
        let program = programs::find_trixie("dockerd", PACKAGE)
            .context("the second engine's dockerd is in the table of programs")?;
        bail!(
            "the system's dockerd is older than Docker {OCI_SAVE_MAJOR} and Docker 26 is not \
             unpacked, needed for {}: {}, or run `cargo xtask ci --yes`",
            program.used_for,
            super::how_to_get(program)
        );
    }
    install()
}

/// Unpacks trixie's `docker.io` into a folder of its own, renamed into place once complete so
/// that a broken download never looks installed.
fn install() -> Result<SecondDocker> {
    let started = Instant::now();
    let root = root();
    let partial = root.with_extension("partial");
    let _ = fs::remove_dir_all(&partial);
    eprintln!(
        "fetching Docker 26 (Debian {}'s {PACKAGE}) into {}",
        trixie::SUITE,
        root.display()
    );
    trixie::unpack(&[PACKAGE], &partial, "Docker 26 for the second engine")?;
    let _ = fs::remove_dir_all(&root);
    fs::rename(&partial, &root)
        .with_context(|| format!("cannot move {} to {}", partial.display(), root.display()))?;
    eprintln!(
        "Docker 26 unpacked in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    installed().context("trixie's docker.io holds no usr/sbin/dockerd")
}

#[cfg(test)]
mod tests {
    use super::parse_major;

    #[test]
    fn reads_the_major_version() {
        assert_eq!(
            parse_major("Docker version 20.10.24+dfsg1, build 297e128\n"),
            Some(20)
        );
        assert_eq!(
            parse_major("Docker version 28.2.2, build e6534b4"),
            Some(28)
        );
        assert_eq!(parse_major("dockerd: not found"), None);
    }
}
