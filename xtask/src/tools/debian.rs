//! Debian's packages: installing the programs of the table with apt-get, as root or through
//! password-less sudo.

use std::process::Command;

use anyhow::{Result, bail};

use super::programs::{Origin, Program};
use crate::process;

/// What the test command needs beyond what the commands themselves require.
pub(crate) const TEST_PROGRAMS: &[&str] = &[
    "promtool",
    "wrk",
    "valgrind",
    "dockerd",
    "docker-compose",
    "docker-registry",
    "htpasswd",
    "openssl",
    "skopeo",
    "umoci",
    "npm",
    "debootstrap",
    "chromium",
];

pub(crate) fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

pub(crate) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().next())
            == Some("0")
    })
}

/// A way to run apt-get as root: directly when root, through password-less sudo otherwise
/// (as on hosted CI runners); `None` when neither works.
fn apt_get() -> Option<fn() -> Command> {
    if !process::available("apt-get") {
        return None;
    }
    if is_root() {
        return Some(|| {
            let mut command = Command::new("apt-get");
            command.env("DEBIAN_FRONTEND", "noninteractive");
            command
        });
    }
    let sudo_works = Command::new("sudo")
        .args(["-n", "true"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    sudo_works.then_some(|| {
        let mut command = Command::new("sudo");
        command.args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        command
    })
}

/// Installs Debian packages; `false` when apt-get cannot run as root here.
pub(crate) fn install(packages: &[&str]) -> Result<bool> {
    let Some(apt_get) = apt_get() else {
        return Ok(false);
    };
    eprintln!("installing Debian packages: {}", packages.join(" "));
    // apt-get's pages of progress go to the setup log: the terminal gets xtask's one line, and
    // stdout stays the command's report (`compare --json` on a fresh machine installs Docker
    // before it prints the JSON).
    process::run_logged(apt_get().args(["update", "-q"]))?;
    process::run_logged(
        apt_get()
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(packages),
    )?;
    Ok(true)
}

/// Makes sure every program is on PATH: installs the missing ones with apt-get when allowed and
/// possible; otherwise names what to install. Fails only when CI must have them.
pub(crate) fn ensure(programs: &[&Program], may_install: bool) -> Result<()> {
    let missing: Vec<&Program> = programs
        .iter()
        .copied()
        .filter(|p| !process::available(p.name))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<&str> = missing.iter().filter_map(|p| package(p)).collect();
    packages.dedup();
    if may_install && install(&packages)? {
        let still_missing: Vec<&str> = missing
            .iter()
            .filter(|p| !process::available(p.name))
            .map(|p| p.name)
            .collect();
        if !still_missing.is_empty() {
            bail!(
                "installed {} but {} is still not on PATH",
                packages.join(" "),
                still_missing.join(", ")
            );
        }
        return Ok(());
    }
    for program in &missing {
        eprintln!(
            "missing: `{}` ({}), needed for {}",
            program.name,
            super::how_to_get(program),
            program.used_for
        );
    }
    let advice = format!(
        "install them with `sudo apt-get install {}`, or run `cargo xtask ci --yes` as root or with password-less sudo",
        packages.join(" ")
    );
    if is_ci() {
        bail!("CI needs every test tool; {advice}");
    }
    eprintln!("warning: the tests that need them will be SKIPPED; {advice}");
    Ok(())
}

/// The Debian package of a program, if it comes from one.
pub(crate) fn package(program: &Program) -> Option<&'static str> {
    match program.origin {
        Origin::Debian(package) => Some(package),
        _ => None,
    }
}
