//! Repository-wide invariants, checked by `cargo test`.

use std::path::{Path, PathBuf};

use crate::files;

mod docs;
mod layout;
mod programs;
mod typed;

fn tracked_text_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![files::root()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if matches!(name.as_str(), "target" | ".git") {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if std::fs::read_to_string(&path).is_ok() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every `.rs` file below `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

#[test]
fn readme_documents_every_configuration_variable() {
    let config = read(&files::root().join("app/src/config.rs"));
    let readme = read(&files::root().join("README.md"));
    let table = config
        .split_once("pub const VARIABLES")
        .and_then(|(_, rest)| rest.split_once("];"))
        .map(|(table, _)| table)
        .expect("app/src/config.rs declares `pub const VARIABLES: ... = &[...];`");
    let variables: Vec<&str> = table
        .split('"')
        .filter(|token| {
            token.starts_with("APP_") && token.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        })
        .collect();
    assert!(variables.len() >= 10, "found only {variables:?}");
    for variable in variables {
        assert!(
            readme.contains(&format!("`{variable}`")),
            "README.md does not document {variable}"
        );
    }
}

#[test]
fn no_file_names_a_path_of_the_machine_it_was_written_on() {
    let home = ["/ro", "ot/"].concat();
    let work = ["/wo", "rk/"].concat();
    for file in tracked_text_files() {
        let text = read(&file);
        for needle in [&home, &work] {
            assert!(
                !text.contains(needle.as_str()),
                "{} mentions {needle}",
                file.display()
            );
        }
    }
}

#[test]
fn ci_runs_exactly_the_readme_test_command() {
    let script = read(&files::root().join(".ci/run"));
    let readme = read(&files::root().join("README.md"));
    assert!(
        script.contains("cargo xtask ci"),
        ".ci/run must run `cargo xtask ci`"
    );
    assert!(
        readme.contains("cargo xtask ci"),
        "README.md must give `cargo xtask ci` as the test command"
    );
}

/// `scan` run on the repository itself: no file holds a key or token (test fixtures assemble
/// theirs at run time), so images built from it, the single-stage one included, carry none of
/// ours.
#[test]
fn no_file_holds_a_secret_shaped_string() {
    for file in tracked_text_files() {
        let text = read(&file);
        let hits = crate::findings::secrets::find(text.as_bytes());
        assert!(
            hits.is_empty(),
            "{}: {:?}",
            file.display(),
            hits.iter().map(|h| (h.rule, &h.masked)).collect::<Vec<_>>()
        );
    }
}

/// The shutdown settings are defined once (compose.yaml's `x-shutdown`, which compose and
/// `deploy` read); what cannot read them states them, and must state the same.
#[test]
fn every_file_states_the_same_shutdown_settings() {
    let settings = crate::stack::shutdown::Shutdown::get();
    let interval = settings.health_interval.as_secs();
    let dockerfile = read(&files::root().join("docker/Dockerfile.multi-stage"));
    let intervals: Vec<&str> = dockerfile
        .lines()
        .filter(|line| line.starts_with("HEALTHCHECK"))
        .collect();
    assert!(
        !intervals.is_empty(),
        "the multi-stage Dockerfile has no HEALTHCHECK"
    );
    for line in intervals {
        assert!(
            line.contains(&format!("--interval={interval}s ")),
            "docker/Dockerfile.multi-stage: `{line}` must say --interval={interval}s, as \
             compose.yaml's x-shutdown does"
        );
    }
    let page = read(&files::root().join("docs/zero-downtime.md"));
    for (what, value) in [
        ("shutdown delay", settings.delay),
        ("shutdown grace", settings.grace),
        ("stop timeout", settings.stop_timeout),
        ("health-check interval", settings.health_interval),
    ] {
        let row = format!("| {what} | {} s |", value.as_secs());
        assert!(
            page.contains(&row),
            "docs/zero-downtime.md must state `{row}` in its settings table, as \
             compose.yaml's x-shutdown does"
        );
    }
}
