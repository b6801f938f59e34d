//! The documents: the README stays a front door that reaches every page of `docs/`, no link is
//! broken, every table of measured figures says where it came from, and the pages that state
//! what the code defines state what the code says.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use super::read;
use crate::files;
use crate::flags::Xtask;

/// The README's length limit: past it, the reference belongs in `docs/`.
const README_MAX_LINES: usize = 300;

fn docs_dir() -> PathBuf {
    files::root().join("docs")
}

/// `README.md` and every page of `docs/`, with their text.
fn documents() -> Vec<(PathBuf, String)> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(docs_dir())
        .expect("docs/ is readable")
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages.insert(0, files::root().join("README.md"));
    pages
        .into_iter()
        .map(|path| {
            let text = read(&path);
            (path, text)
        })
        .collect()
}

fn relative(path: &Path) -> String {
    path.strip_prefix(files::root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The targets of the Markdown links `[text](target)` in `text`, code spans and blocks left out.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            continue;
        }
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let Some(end) = rest.find(')') else { break };
            targets.push(rest[..end].trim().to_owned());
            rest = &rest[end..];
        }
    }
    targets
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown document's headings.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_block = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                in_block = !in_block;
            }
            !in_block
        })
        .filter_map(|line| line.strip_prefix('#'))
        .map(|heading| anchor(heading.trim_start_matches('#')))
        .collect()
}

/// What is wrong with a link from `from`, if anything: a missing file, or a missing heading.
fn broken(from: &Path, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (file, fragment) = target.split_once('#').unwrap_or((target, ""));
    let path = if file.is_empty() {
        from.to_path_buf()
    } else {
        from.parent()?.join(file)
    };
    if !path.exists() {
        return Some(format!("{target}: no such file"));
    }
    let is_markdown = path.extension().is_some_and(|e| e == "md");
    if !fragment.is_empty() && is_markdown && !anchors(&read(&path)).contains(fragment) {
        return Some(format!("{target}: no heading has the anchor #{fragment}"));
    }
    None
}

#[test]
fn the_readme_is_a_front_door() {
    let readme = read(&files::root().join("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines, at most {README_MAX_LINES}: move the reference to docs/"
    );
}

#[test]
fn the_readme_links_every_page_of_the_docs() {
    let readme = read(&files::root().join("README.md"));
    let linked: BTreeSet<String> = link_targets(&readme)
        .into_iter()
        .map(|target| target.split('#').next().unwrap_or_default().to_owned())
        .collect();
    let unlinked: Vec<String> = documents()
        .iter()
        .skip(1)
        .map(|(path, _)| relative(path))
        .filter(|page| !linked.contains(page))
        .collect();
    assert!(unlinked.is_empty(), "README.md does not link {unlinked:?}");
}

#[test]
fn no_relative_link_is_broken() {
    let mut broken_links = Vec::new();
    for (path, text) in documents() {
        for target in link_targets(&text) {
            if let Some(problem) = broken(&path, &target) {
                broken_links.push(format!("{}: {problem}", relative(&path)));
            }
        }
    }
    assert!(broken_links.is_empty(), "broken links: {broken_links:#?}");
}

/// Whether a table cell holds a measured figure: a decimal (`1.31 GB`, `0.57 ms`) or a number
/// with thousands grouped by a space (`16 397`). Settings and points are whole numbers without
/// groups, so a table of them is not taken for figures.
fn is_measured(cell: &str) -> bool {
    // What is in code spans is a name or a setting, not a figure.
    let prose: String = cell.split('`').step_by(2).collect();
    let bytes = prose.as_bytes();
    bytes
        .windows(3)
        .any(|w| w[0].is_ascii_digit() && (w[1] == b'.' || w[1] == b' ') && w[2].is_ascii_digit())
}

/// Whether `line` says where figures came from: the command (in backticks), the revision, the
/// date and the machine.
fn is_stamp(line: &str) -> bool {
    let revision = line.split("revision ").skip(1).any(|rest| {
        let hex = rest.chars().take_while(char::is_ascii_hexdigit).count();
        (7..=40).contains(&hex)
    });
    let date = line.as_bytes().windows(10).any(|w| {
        w.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
    });
    line.contains("Measured")
        && line.contains('`')
        && revision
        && date
        && line.contains("logical CPUs")
}

/// The tables of a document whose body holds a measured figure, by their first line's number,
/// with whether a stamp line stands next to them (blank lines between allowed).
fn figure_tables(text: &str) -> Vec<(usize, bool)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut at = 0;
    while at < lines.len() {
        if !lines[at].starts_with('|') {
            at += 1;
            continue;
        }
        let start = at;
        while at < lines.len() && lines[at].starts_with('|') {
            at += 1;
        }
        // The header and the separator are not figures.
        let measured = lines[start..at]
            .iter()
            .skip(2)
            .any(|row| row.split('|').any(is_measured));
        if measured {
            let before = lines[..start].iter().rev().find(|l| !l.trim().is_empty());
            let after = lines[at..].iter().find(|l| !l.trim().is_empty());
            let stamped = before.is_some_and(|l| is_stamp(l)) || after.is_some_and(|l| is_stamp(l));
            found.push((start + 1, stamped));
        }
    }
    found
}

#[test]
fn every_table_of_figures_says_where_it_came_from() {
    let mut unstamped = Vec::new();
    for (path, text) in documents() {
        for (line, stamped) in figure_tables(&text) {
            if !stamped {
                unstamped.push(format!("{}:{line}", relative(&path)));
            }
        }
    }
    assert!(
        unstamped.is_empty(),
        "tables of figures without the line above or below them that says `Measured with \
         `COMMAND` at revision REV on YYYY-MM-DD, N logical CPUs (CPU)`: {unstamped:#?}"
    );
}

#[test]
fn the_stamp_check_tells_figures_from_settings() {
    let stamped = "| a | b |\n| --- | ---: |\n| x | 1.31 GB |\n\nMeasured with `cargo xtask \
                   compare` at revision 0123abc on 2026-12-06, 2 logical CPUs (Xeon).\n";
    assert_eq!(figure_tables(stamped), [(1, true)]);
    let unstamped = "text\n\n| a | b |\n| --- | ---: |\n| x | 16 397 |\n";
    assert_eq!(figure_tables(unstamped), [(3, false)]);
    let settings = "| a | b |\n| --- | --- |\n| grace | 8 s |\n| points | 10 |\n";
    assert!(figure_tables(settings).is_empty());
    let undated =
        "| a |\n| --- |\n| 0.5 ms |\nMeasured with `x` at revision 0123abc, 2 logical CPUs.";
    assert_eq!(figure_tables(undated), [(1, false)]);
}

#[test]
fn no_document_tells_the_projects_history() {
    let phrases = [
        "an earlier target",
        "an earlier measurement",
        "an earlier machine",
        "was retired",
        "before these changes",
        "measured earlier",
        "before the request path",
    ];
    let mut told = Vec::new();
    for (path, text) in documents() {
        let lower = text.to_lowercase();
        told.extend(
            phrases
                .iter()
                .filter(|phrase| lower.contains(*phrase))
                .map(|phrase| format!("{}: \"{phrase}\"", relative(&path))),
        );
    }
    assert!(
        told.is_empty(),
        "the documents say what is; git log keeps the history: {told:?}"
    );
}

#[test]
fn the_readme_indexes_every_command() {
    let readme = read(&files::root().join("README.md"));
    let missing: Vec<String> = Xtask::command()
        .get_subcommands()
        .map(|command| command.get_name().to_owned())
        .filter(|name| name != "help")
        .filter(|name| !readme.contains(&format!("| `cargo xtask {name}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md's index of commands lacks {missing:?}: one line each, `| `cargo xtask NAME` | what it is for |`"
    );
}

/// Every file that names the container port (8080) is in adapting.md's list of places to
/// change it; tests and documents, which follow, are not.
#[test]
fn adapting_lists_every_file_that_names_the_port() {
    let adapting = read(&docs_dir().join("adapting.md"));
    let listing = crate::git::listed_files(&files::root()).expect("a git checkout");
    let unlisted: Vec<&String> = listing
        .iter()
        .filter(|file| {
            Path::new(file).extension().is_none_or(|e| e != "md")
                && !file.ends_with("Cargo.lock")
                && !file.starts_with("tests/")
                && !file.starts_with("app/tests/")
                && !file.contains("/tidy/")
        })
        .filter(|file| {
            let text = std::fs::read_to_string(files::root().join(file)).unwrap_or_default();
            names_port(&text)
        })
        .filter(|file| !adapting.contains(&format!("`{file}`")))
        .collect();
    assert!(
        unlisted.is_empty(),
        "docs/adapting.md's \"Change the port\" does not list {unlisted:?}"
    );
}

/// Whether `text` names 8080 as a number of its own (not inside `0x8080_8080` or `18080`).
fn names_port(text: &str) -> bool {
    text.match_indices("8080").any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + 4..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}
