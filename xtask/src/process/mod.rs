//! Running other programs: echo the command, run it, turn failure into a clear error; or, for
//! the installs and base-image builds whose output a person does not need to watch, run it into
//! the setup log ([`run_logged`]) and show the log's last lines only when it fails.

pub(crate) mod wait;

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, anyhow, bail};

/// `cargo`, the same one that runs xtask.
pub(crate) fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(crate::files::root());
    command
}

/// `PATH` with `folder` in front of it: for a child that must find programs there first.
pub(crate) fn path_with_first(folder: PathBuf) -> Result<std::ffi::OsString> {
    Ok(std::env::join_paths(std::iter::once(folder).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?)
}

/// Runs `command` with inherited output; fails naming the command if it fails.
pub(crate) fn run(command: &mut Command) -> Result<()> {
    let line = describe(command);
    eprintln!("$ {line}");
    let status = command
        .status()
        .with_context(|| format!("cannot start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed with {status}");
    }
    Ok(())
}

/// Runs `command` with its stdout and stderr appended to the setup log ([`Log::setup`]); a
/// failure shows the log's last lines and its path.
pub(crate) fn run_logged(command: &mut Command) -> Result<()> {
    Log::setup().run(command)
}

/// Lines of a log an error shows when the command that wrote them failed.
const FAILURE_TAIL_LINES: usize = 20;

/// A log file that commands append their output to, each headed by its command line.
#[derive(Debug, Clone)]
pub(crate) struct Log {
    path: PathBuf,
}

impl Log {
    /// `target/xtask/setup.log`: the installs' and the base-image builds' output, pages a
    /// newcomer's terminal does not need; appended, so an earlier run's stays for comparison.
    pub(crate) fn setup() -> Self {
        Self::at(crate::files::target_dir().join("xtask").join("setup.log"))
    }

    pub(crate) fn at(path: PathBuf) -> Self {
        Self { path }
    }

    /// Opens the log for one more command, headed by `line`, for the command's stdout and
    /// stderr. The first time in this process, says on stderr where the log is.
    pub(crate) fn entry(&self, line: &str) -> Result<File> {
        static ANNOUNCED: AtomicBool = AtomicBool::new(false);
        if let Some(folder) = self.path.parent() {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("cannot create {}", folder.display()))?;
        }
        let mut file = File::options()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        if !ANNOUNCED.swap(true, Ordering::Relaxed) {
            eprintln!(
                "  (the installs' and base images' output goes to {})",
                self.path.display()
            );
        }
        writeln!(
            file,
            "\n[{}] $ {line}",
            crate::measure::time::rfc3339(crate::measure::time::now_unix())
        )
        .with_context(|| format!("cannot write {}", self.path.display()))?;
        Ok(file)
    }

    /// Runs `command` with stdout and stderr in the log; a failure carries the log's tail.
    pub(crate) fn run(&self, command: &mut Command) -> Result<()> {
        let line = describe(command);
        let file = self.entry(&line)?;
        let status = command
            .stdin(std::process::Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .status()
            .with_context(|| format!("cannot start `{line}`"))?;
        if !status.success() {
            return Err(self.failure(&format!("`{line}` failed with {status}")));
        }
        Ok(())
    }

    /// As [`Self::run`], with `input` on the command's stdin.
    pub(crate) fn feed(&self, command: &mut Command, input: &[u8]) -> Result<()> {
        let line = describe(command);
        let file = self.entry(&line)?;
        let output = feed(command.stdout(file.try_clone()?).stderr(file), input)?;
        if !output.status.success() {
            return Err(self.failure(&format!("`{line}` failed with {}", output.status)));
        }
        Ok(())
    }

    /// The error for `what` failed: the log's last lines, and where the rest is.
    pub(crate) fn failure(&self, what: &str) -> anyhow::Error {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        anyhow!(
            "{what}; the last lines of {}:\n{}",
            self.path.display(),
            last_lines(&text, FAILURE_TAIL_LINES)
        )
    }
}

/// The last `count` lines of `text`, without the trailing line break.
fn last_lines(text: &str, count: usize) -> &str {
    let text = text.trim_end();
    let start = text
        .char_indices()
        .rev()
        .filter(|(_, c)| *c == '\n')
        .nth(count.saturating_sub(1))
        .map_or(0, |(index, _)| index + 1);
    &text[start..]
}

/// Whether `program` is on PATH.
pub(crate) fn available(program: &str) -> bool {
    find_on_path(program).is_some()
}

/// The first executable named `program` on PATH.
pub(crate) fn find_on_path(program: &str) -> Option<PathBuf> {
    find_all_on_path(program).into_iter().next()
}

/// Every executable named `program` on PATH, in PATH order; several names for one file (a
/// symlink, a directory listed twice) count once. The one PATH search of xtask.
pub(crate) fn find_all_on_path(program: &str) -> Vec<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let mut found = Vec::new();
    let mut seen = Vec::new();
    for directory in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let candidate = directory.join(program);
        let Ok(real) = std::fs::canonicalize(&candidate) else {
            continue;
        };
        let executable = std::fs::metadata(&real)
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0);
        if executable && !seen.contains(&real) {
            seen.push(real);
            found.push(candidate);
        }
    }
    found
}

/// The command line as a user would type it: the program by name, not by full path.
fn describe(command: &Command) -> String {
    let program = std::path::Path::new(command.get_program());
    std::iter::once(program.file_name().unwrap_or(program.as_os_str()))
        .chain(command.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `command` and returns its trimmed stdout; a failure carries its stderr.
pub(crate) fn capture(command: &mut Command) -> Result<String> {
    let line = describe(command);
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot start `{line}`"))?;
    if !output.status.success() {
        bail!(
            "`{line}` failed with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Starts `command` with `input` on its stdin and waits for it; stdout and stderr go where the
/// command says (captured when piped).
pub(crate) fn feed(command: &mut Command, input: &[u8]) -> Result<std::process::Output> {
    use std::io::Write;
    let line = describe(command);
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{line}`"))?;
    child
        .stdin
        .take()
        .with_context(|| format!("`{line}` has no stdin"))?
        .write_all(input)?;
    Ok(child.wait_with_output()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_the_last_lines() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a\nb\nc", 5), "a\nb\nc");
        assert_eq!(last_lines("", 3), "");
        assert_eq!(last_lines("only\n\n", 1), "only");
    }

    #[test]
    fn a_logged_failure_shows_the_command_the_log_s_tail_and_its_path() {
        let folder = std::env::temp_dir().join(format!("xtask-log-test-{}", std::process::id()));
        let path = folder.join("setup.log");
        let log = Log::at(path.clone());
        // python3, which xtask runs anyway: output on both streams, in a known order.
        let python = |script: &str| {
            let mut command = Command::new("python3");
            command.args(["-c", script]);
            command
        };
        log.run(&mut python(
            "import sys; print('first', flush=True); print('to stderr', file=sys.stderr)",
        ))
        .expect("a command that succeeds");
        let error = log
            .run(&mut python(
                "import sys; [print('line', n, flush=True) for n in range(1, 31)]; \
                 print('broken', file=sys.stderr); sys.exit(3)",
            ))
            .expect_err("a command that fails");
        let message = format!("{error:#}");
        let text = std::fs::read_to_string(&path).expect("the log is written");
        let _ = std::fs::remove_dir_all(&folder);

        // Both commands are in the log, each headed by its command line, stderr included.
        assert!(
            text.contains("print('to stderr', file=sys.stderr)\nfirst\nto stderr\n"),
            "{text}"
        );
        assert!(text.contains("line 30\nbroken\n"), "{text}");
        // The error names the command and the log, and shows the last 20 lines only.
        assert!(message.starts_with("`python3 -c import sys"), "{message}");
        assert!(message.contains("exit status: 3"), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.ends_with("line 30\nbroken"), "{message}");
        assert!(message.contains("\nline 12\n"), "{message}");
        assert!(!message.contains("line 11\n"), "{message}");
    }
}
