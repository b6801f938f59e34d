//! Running programs: `cargo xtask` as a user types it, helper programs that must succeed, and
//! the servers a test starts.

use std::ffi::{OsStr, OsString};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::files::{project_root, target_dir};

/// `cargo xtask ARGS` from the repository root, with the tools `cargo xtask ci` installs first
/// on PATH. Configure it with [`Xtask::env`] or [`Xtask::setup`], then [`Xtask::run`] it.
pub(crate) fn xtask(args: &[&str]) -> Xtask {
    let mut command = cargo();
    command
        .args(["run", "--quiet", "--package", "xtask", "--"])
        .args(args)
        .env("PATH", tools_path())
        .stdin(Stdio::null());
    Xtask {
        command,
        line: args.join(" "),
    }
}

/// The cargo that runs these tests, in the repository root.
pub(crate) fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(project_root());
    command
}

/// A `cargo xtask` run being set up.
#[derive(Debug)]
pub(crate) struct Xtask {
    command: Command,
    line: String,
}

impl Xtask {
    /// Sets one environment variable for this run.
    pub(crate) fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Adjusts the command, for a setup shared by several runs (an AWS endpoint, say).
    pub(crate) fn setup(mut self, setup: impl FnOnce(&mut Command)) -> Self {
        setup(&mut self.command);
        self
    }

    /// Runs to the end and returns the output, both streams echoed for the test log.
    pub(crate) fn run(mut self) -> Output {
        let output = self.command.output().expect("cargo runs");
        eprintln!(
            "$ cargo xtask {}\n{}{}",
            self.line,
            stdout(&output),
            stderr(&output)
        );
        output
    }
}

/// Runs a helper program (docker, aws, promtool) to the end; if it fails, so does the test,
/// showing the command and both streams.
pub(crate) fn succeeds(command: &mut Command) -> Output {
    let line = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ");
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("`{line}` cannot start: {e}"));
    assert!(
        output.status.success(),
        "`{line}` failed:\n{}{}",
        stdout(&output),
        stderr(&output)
    );
    output
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// PATH with the tools `cargo xtask ci` installs under `target/tools` (the AWS CLI, moto,
/// Python) in front.
pub(crate) fn tools_path() -> OsString {
    let bin = target_dir().join("tools").join("python").join("bin");
    std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("a valid PATH")
}

/// A server the test started, stopped when the test ends however it ends: SIGTERM first, so
/// that nginx's master takes its workers down with it, SIGKILL if it lingers.
#[derive(Debug)]
pub(crate) struct Running(pub(crate) Child);

impl Running {
    /// Stops the process now; dropping it afterwards does nothing more.
    pub(crate) fn stop(&mut self) {
        if matches!(self.0.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}
