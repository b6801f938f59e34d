//! `cargo xtask ci`: the one test command, the same on a laptop and in CI.

use std::time::Instant;

use anyhow::{Context, Result};

use crate::flags::{Bench, Ci};
use crate::{debian, process};

impl Ci {
    pub(crate) fn run(self) -> Result<()> {
        let may_install = self.yes || debian::is_ci();
        let mut timings = Vec::new();
        let mut step = |name: &'static str, action: &mut dyn FnMut() -> Result<()>| -> Result<()> {
            eprintln!("\n==> {name}");
            let started = Instant::now();
            action().with_context(|| format!("ci step `{name}` failed"))?;
            timings.push((name, started.elapsed()));
            Ok(())
        };

        step("test tools", &mut || {
            debian::ensure(debian::TEST_TOOLS, may_install)
        })?;
        step("format", &mut || {
            process::run(process::cargo().args(["fmt", "--all", "--check"]))
        })?;
        step("lint", &mut || {
            process::run(process::cargo().args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ]))
        })?;
        step("tests", &mut || {
            process::run(process::cargo().args(["test", "--workspace", "--locked"]))
        })?;
        // The benchmark's figures are printed, never judged; this run proves the command works.
        step("benchmark smoke run", &mut || {
            if process::available("wrk") {
                Bench {
                    duration_secs: 2,
                    ..Bench::default()
                }
                .run()
            } else {
                eprintln!("SKIPPED: wrk is not installed (Debian package `wrk`)");
                Ok(())
            }
        })?;

        eprintln!("\nci passed:");
        for (name, elapsed) in timings {
            eprintln!("  {name:<22} {:>6.1} s", elapsed.as_secs_f64());
        }
        Ok(())
    }
}
