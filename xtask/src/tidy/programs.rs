//! Every external program xtask runs is in the table of programs (`tools/programs.rs`), so the
//! table says everything a machine needs and `tools::require` can get each of them.

use std::collections::BTreeSet;

use super::rust_files;
use crate::files;
use crate::tools::programs::PROGRAMS;

/// The string literal after each `needle` in `text`: `Command::new("git")` gives `git`.
fn literals_after<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.match_indices(needle)
        .filter_map(|(at, _)| {
            let rest = &text[at + needle.len()..];
            let rest = rest.strip_prefix('"')?;
            rest.split_once('"').map(|(name, _)| name)
        })
        .collect()
}

/// Every `.rs` file below `dir`, with its text.
fn rust_sources(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    rust_files(dir)
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            (path, text)
        })
        .collect()
}

#[test]
fn every_program_xtask_runs_is_in_the_table() {
    let known: BTreeSet<&str> = PROGRAMS.iter().map(|p| p.name).collect();
    let mut unknown = Vec::new();
    let sources = rust_sources(&files::root().join("xtask").join("src"));
    for (path, text) in sources
        .iter()
        .filter(|(path, _)| !path.ends_with("tidy/programs.rs"))
    {
        let mut named = Vec::new();
        for needle in [
            "Command::new(",
            "available(",
            "find_on_path(",
            "find_all_on_path(",
        ] {
            named.extend(literals_after(text, needle));
        }
        for (at, _) in text.match_indices("tools::require(&[") {
            let list = text[at..].split_once(']').map_or("", |(list, _)| list);
            named.extend(list.split('"').skip(1).step_by(2));
        }
        unknown.extend(
            named
                .into_iter()
                .filter(|name| !known.contains(name))
                .map(|name| {
                    format!(
                        "{}: `{name}`",
                        path.strip_prefix(files::root()).unwrap_or(path).display()
                    )
                }),
        );
    }
    assert!(
        unknown.is_empty(),
        "programs run but missing from xtask/src/tools/programs.rs (add each with its origin): \
         {unknown:#?}"
    );
}

#[test]
fn every_program_in_the_table_is_run_somewhere() {
    let root = files::root();
    let mut sources = rust_sources(&root.join("xtask").join("src"));
    sources.extend(rust_sources(&root.join("tests")));
    let unused: Vec<&str> = PROGRAMS
        .iter()
        .map(|program| program.name)
        .filter(|name| {
            !sources.iter().any(|(path, text)| {
                !path.ends_with("tools/programs.rs") && text.contains(&format!("\"{name}\""))
            })
        })
        .collect();
    assert!(unused.is_empty(), "listed but never run: {unused:?}");
}

#[test]
fn the_docs_list_every_program() {
    let readme =
        std::fs::read_to_string(files::root().join("docs/programs.md")).expect("docs/programs.md");
    let missing: Vec<&str> = PROGRAMS
        .iter()
        .map(|program| program.name)
        .filter(|name| !readme.contains(&format!("| `{name}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/programs.md's table of programs lacks {missing:?}"
    );
}
