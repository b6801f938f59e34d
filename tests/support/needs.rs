//! What a test needs to run here. A test that cannot run says so loudly and skips; under
//! `CI=true`, which provides every tool and an engine, that is a failure instead.

use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use super::process::tools_path;

/// Whether a Docker engine answers and every one of `tools` is installed. If so, the caller
/// holds the returned guard until it ends: the tests that build images or run containers share
/// tags and cores, so they take turns.
pub(crate) fn docker_exclusive(test: &str, tools: &[&str]) -> Option<MutexGuard<'static, ()>> {
    static LOCK: Mutex<()> = Mutex::new(());
    if !docker_available(test) || !tools_available(test, tools) {
        return None;
    }
    Some(LOCK.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Whether a Docker engine answers (asked once).
pub(crate) fn engine_answers() -> bool {
    static ANSWERS: OnceLock<bool> = OnceLock::new();
    *ANSWERS.get_or_init(|| {
        Command::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    })
}

/// Whether a Docker engine answers; says so loudly when none does.
fn docker_available(test: &str) -> bool {
    let answers = engine_answers();
    if !answers {
        skip(
            &format!("no Docker engine answers, so `{test}` cannot run"),
            "CI must start one",
            " (start Docker, or run `cargo xtask ci --yes` as root)",
        );
    }
    answers
}

/// Whether every one of `tools` is on PATH (or among the tools `cargo xtask ci` installs).
pub(crate) fn tools_available(test: &str, tools: &[&str]) -> bool {
    tools.iter().all(|tool| tool_available(test, tool))
}

/// Whether `program` runs here (on PATH, or among the tools `cargo xtask ci` installs).
pub(crate) fn tool_present(program: &str) -> bool {
    Command::new(program)
        .env("PATH", tools_path())
        .arg(match program {
            "nginx" => "-v",
            "openssl" => "version",
            _ => "--version",
        })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn tool_available(test: &str, program: &str) -> bool {
    let present = tool_present(program);
    if !present {
        skip(
            &format!("`{program}` is not installed, so `{test}` cannot run"),
            "CI must install it",
            "",
        );
    }
    present
}

/// Says loudly that something cannot be checked here; under `CI=true`, fails instead.
pub(crate) fn skip(message: &str, ci_requirement: &str, hint: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message}; {ci_requirement}"
    );
    eprintln!("SKIPPED: {message}{hint}");
}
