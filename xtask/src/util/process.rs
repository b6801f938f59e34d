//! Running other programs: echo the command, run it, turn failure into a clear error.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// `cargo`, the same one that runs xtask.
pub(crate) fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(crate::project::root());
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
