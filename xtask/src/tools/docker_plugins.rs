//! The Docker CLI plugins users run, `docker compose` (v2) and `docker buildx`, for machines
//! whose distribution ships neither (Debian bookworm has compose v1 and no buildx): Debian
//! trixie's builds ([`super::trixie`]), put where the docker CLI looks for plugins:
//! `$DOCKER_CONFIG/cli-plugins`, or `~/.docker/cli-plugins`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::trixie;

const PLUGINS: [(&str, &str); 2] = [
    ("docker-compose", "docker-compose"),
    ("docker-buildx", "docker-buildx"),
];

/// Where the docker CLI looks for plugins.
pub(crate) fn plugin_dir() -> Option<PathBuf> {
    let config = std::env::var_os("DOCKER_CONFIG")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".docker")))?;
    Some(config.join("cli-plugins"))
}

/// Installs whichever of the two plugins is missing; what is there is kept.
pub(crate) fn ensure() -> Result<()> {
    let dir = plugin_dir().context("neither DOCKER_CONFIG nor HOME is set")?;
    let missing: Vec<(&str, &str)> = PLUGINS
        .iter()
        .copied()
        .filter(|(binary, _)| !dir.join(binary).exists())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "fetching the docker compose and buildx plugins from Debian {} into {}",
        trixie::SUITE,
        dir.display()
    );
    let unpacked = crate::tools::tools_dir().join("docker-plugins");
    let packages: Vec<&str> = missing.iter().map(|(_, package)| *package).collect();
    trixie::unpack(
        &packages,
        &unpacked,
        "the compose v2 and buildx plugins (else install Docker's docker-compose-plugin and \
         docker-buildx-plugin)",
    )?;
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (binary, _) in missing {
        let from = unpacked.join("usr/libexec/docker/cli-plugins").join(binary);
        fs::copy(&from, dir.join(binary))
            .with_context(|| format!("cannot copy {} into {}", from.display(), dir.display()))?;
    }
    Ok(())
}
