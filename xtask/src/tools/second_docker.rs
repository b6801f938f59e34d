//! Docker 26 for the second engine ([`crate::docker::second_engine`]): Debian trixie's
//! `docker.io`, unpacked under the target directory ([`super::trixie`]) so that it never
//! replaces the system's `docker` or `dockerd`. Its `dockerd` and `docker-proxy` are all it
//! takes: it starts bookworm's `containerd` (which runs bookworm's `runc`) itself, and the
//! docker CLI already on PATH talks to it (it negotiates the API version).

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::{debian, programs, trixie};

const PACKAGE: &str = "docker.io";

/// An unpacked trixie `docker.io`.
#[derive(Debug, Clone)]
pub(crate) struct SecondDocker {
    root: PathBuf,
}

impl SecondDocker {
    /// The folder of `dockerd` and the `docker-proxy` it runs; put first on its PATH.
    pub(crate) fn sbin(&self) -> PathBuf {
        self.root.join("usr").join("sbin")
    }

    pub(crate) fn dockerd(&self) -> PathBuf {
        self.sbin().join("dockerd")
    }
}

fn root() -> PathBuf {
    super::tools_dir().join("docker-26")
}

/// Docker 26, when it is unpacked already.
pub(crate) fn installed() -> Option<SecondDocker> {
    let docker = SecondDocker { root: root() };
    docker.dockerd().exists().then_some(docker)
}

/// The tools door for Docker 26: unpacks it when `--yes` or `CI=true` allows it as root;
/// otherwise one line says how to get it.
pub(crate) fn require() -> Result<SecondDocker> {
    if let Some(docker) = installed() {
        return Ok(docker);
    }
    if !super::install_allowed() || !debian::is_root() {
        let program = programs::find_trixie("dockerd", PACKAGE)
            .context("the second engine's dockerd is in the table of programs")?;
        bail!(
            "Docker 26 is not installed, needed for {}: {}, or run `cargo xtask ci --yes`",
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
