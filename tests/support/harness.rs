//! The runner of the system tests (libtest-mimic): each test is listed with what it needs,
//! checked before it runs, so a test that cannot run here is reported by the runner as
//! `ignored`, with its reason, and counted in the summary's `N ignored`, never as passed.
//! Under `CI=true`, which installs every tool and starts an engine, a missing need is a failure.

use std::process::ExitCode;

use libtest_mimic::{Arguments, Completion, Failed, Trial};

use super::needs;

/// One system test: its name (`module::function`, as libtest names it, so filters keep
/// working), its body, and what it needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SystemTest {
    pub(crate) name: &'static str,
    pub(crate) run: fn(),
    /// Whether it builds images or runs containers on the Docker engine.
    pub(crate) engine: bool,
    /// Programs that must be installed (on PATH, or among those `cargo xtask ci` installs).
    pub(crate) tools: &'static [&'static str],
}

impl SystemTest {
    /// Why it cannot run here, if it cannot.
    fn missing(&self) -> Option<String> {
        if self.engine && !needs::engine_answers() {
            return Some(
                "no Docker engine answers: start one, or run `cargo xtask ci --yes` as root"
                    .to_owned(),
            );
        }
        let absent: Vec<&str> = self
            .tools
            .iter()
            .copied()
            .filter(|tool| !needs::tool_present(tool))
            .collect();
        (!absent.is_empty()).then(|| {
            format!(
                "not installed: {}; `cargo xtask ci --yes` installs it",
                absent.join(", ")
            )
        })
    }
}

/// Runs `tests` as libtest would, with its arguments (filters, `--list`, `--test-threads`).
pub(crate) fn main(tests: &[SystemTest]) -> ExitCode {
    let args = Arguments::from_args();
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let trials = tests
        .iter()
        .copied()
        .map(|test| {
            Trial::ignorable_test(test.name, move || match test.missing() {
                Some(reason) if ci => Err(Failed::from(format!("{reason}; CI must provide it"))),
                Some(reason) => Ok(Completion::ignored_with(reason)),
                None => {
                    let started = std::time::Instant::now();
                    (test.run)();
                    // Where the run's minutes go, in the log.
                    let seconds = started.elapsed().as_secs_f64();
                    eprintln!("{}: {seconds:.1} s", test.name);
                    Ok(Completion::Completed)
                }
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
