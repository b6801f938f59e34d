//! Debian trixie's packages on a bookworm machine, without a system upgrade: the Docker pieces
//! bookworm ships too old (compose v2, buildx, Docker 26) depend only on a libc bookworm has, so
//! their packages are downloaded with an apt source list of their own and unpacked with
//! `dpkg -x` into a folder under the target directory. Nothing is installed system-wide;
//! apt's lists and cache for trixie live beside the unpacked files.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::process;

pub(crate) const SUITE: &str = "trixie";
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Where apt keeps trixie's lists and downloads.
fn apt_dir() -> PathBuf {
    crate::tools::tools_dir().join("trixie-apt")
}

/// Downloads `packages` from trixie and unpacks each into `into` (created if missing), as
/// `dpkg -x` lays them out (`usr/bin/...`, `usr/sbin/...`). `for_what` names the reason in the
/// error when apt-get or dpkg is missing.
pub(crate) fn unpack(packages: &[&str], into: &Path, for_what: &str) -> Result<()> {
    if !process::available("apt-get") || !process::available("dpkg") {
        bail!(
            "{for_what} come from Debian {SUITE}'s packages here, which needs apt-get and dpkg \
             (Debian or Ubuntu)"
        );
    }
    let work = apt_dir();
    let lists = work.join("lists");
    let cache = work.join("cache");
    // A folder per call, so that only the packages asked for are unpacked.
    let debs = work.join(format!("debs-{}", std::process::id()));
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
    // apt's and dpkg's output go to the setup log, never to stdout, the command's report.
    let result = (|| {
        process::run_logged(apt(&work).arg("update"))?;
        process::run_logged(apt(&debs).arg("download").args(packages))?;
        for package in packages {
            let deb = fs::read_dir(&debs)?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .find(|path| {
                    path.file_name().is_some_and(|name| {
                        name.to_string_lossy().starts_with(&format!("{package}_"))
                    })
                })
                .with_context(|| format!("apt-get downloaded no {package} package"))?;
            process::run_logged(Command::new("dpkg").arg("-x").arg(&deb).arg(into))?;
        }
        Ok(())
    })();
    let _ = fs::remove_dir_all(&debs);
    result
}

/// The Debian mirror this machine's own sources name (deb822 or one-line); Debian's default
/// otherwise.
pub(crate) fn mirror() -> String {
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
