//! The Docker CLI plugins users run, `docker compose` (v2) and `docker buildx`, for machines
//! whose distribution ships neither (Debian bookworm has compose v1 and no buildx). Debian
//! trixie's packages depend only on a libc that bookworm has, so their binaries are fetched with
//! an apt source list of their own (no system upgrade), unpacked, and put where the docker CLI
//! looks for plugins: `$DOCKER_CONFIG/cli-plugins`, or `~/.docker/cli-plugins`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::process;

const PLUGINS: [(&str, &str); 2] = [
    ("docker-compose", "docker-compose"),
    ("docker-buildx", "docker-buildx"),
];
const SUITE: &str = "trixie";
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

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
    if !process::available("apt-get") || !process::available("dpkg") {
        bail!(
            "the compose v2 and buildx plugins come from Debian's packages here, which needs \
             apt-get and dpkg; install Docker's plugins yourself (docker-compose-plugin, \
             docker-buildx-plugin)"
        );
    }
    let work = crate::tools::tools_dir().join("docker-plugins");
    let lists = work.join("lists");
    let cache = work.join("cache");
    let debs = work.join("debs");
    for folder in [
        lists.join("partial"),
        cache.join("archives/partial"),
        debs.clone(),
    ] {
        fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    let sources = work.join("sources.list");
    fs::write(
        &sources,
        format!("deb [signed-by={KEYRING}] {} {SUITE} main\n", mirror()),
    )?;
    let apt = |dir: &Path| {
        let mut command = Command::new("apt-get");
        command
            .current_dir(dir)
            .arg("-q")
            // The download folder is ours, not the `_apt` user's: no sandbox to drop into.
            .arg("-oAPT::Sandbox::User=root")
            .arg(format!("-oDir::Etc::sourcelist={}", sources.display()))
            .arg("-oDir::Etc::sourceparts=-")
            .arg(format!("-oDir::State::Lists={}", lists.display()))
            .arg(format!("-oDir::Cache={}", cache.display()));
        command
    };
    eprintln!(
        "fetching the docker compose and buildx plugins from Debian {SUITE} into {}",
        dir.display()
    );
    process::run(apt(&work).arg("update"))?;
    process::run(
        apt(&debs)
            .arg("download")
            .args(missing.iter().map(|(_, package)| package)),
    )?;
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (binary, package) in missing {
        let deb = fs::read_dir(&debs)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .find(|path| {
                path.file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with(&format!("{package}_")))
            })
            .with_context(|| format!("apt-get downloaded no {package} package"))?;
        let unpacked = work.join("unpacked");
        process::run(Command::new("dpkg").arg("-x").arg(&deb).arg(&unpacked))?;
        let from = unpacked.join("usr/libexec/docker/cli-plugins").join(binary);
        fs::copy(&from, dir.join(binary))
            .with_context(|| format!("cannot copy {} into {}", from.display(), dir.display()))?;
    }
    Ok(())
}

/// The Debian mirror this machine's own sources name; Debian's default otherwise.
fn mirror() -> String {
    let deb822 = fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default();
    let one_line = fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    deb822
        .lines()
        .find_map(|line| line.strip_prefix("URIs:"))
        .and_then(|uris| uris.split_whitespace().next())
        .map(str::to_owned)
        .or_else(|| {
            one_line
                .lines()
                .map(str::trim)
                .filter(|line| line.starts_with("deb "))
                .find_map(|line| {
                    line.split_whitespace()
                        .find(|word| word.starts_with("http"))
                        .map(str::to_owned)
                })
        })
        .unwrap_or_else(|| "http://deb.debian.org/debian".to_owned())
}
