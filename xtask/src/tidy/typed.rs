//! JSON that xtask reads is read through serde structs, so a field that changes is an error,
//! not a silently empty figure. A lookup by key (`value["Key"]`) is the exception, kept where a
//! struct does not fit and said so in a comment just above it.

use super::{read, rust_files};
use crate::files;

/// The most lookups by key xtask may hold.
const MOST_LOOKUPS: usize = 20;

/// How far below its comment a lookup may stand.
const COMMENT_REACH: usize = 12;

/// The lines of `text` that index a value by a string key (`x["Key"]`, `)["Key"]`,
/// `]["Key"]`), not slices of string literals (`&["a", "b"]`).
fn lookups(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            line.match_indices("[\"").any(|(at, _)| {
                let before = line[..at].chars().next_back();
                let key: String = line[at + 2..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                before.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ']' | ')'))
                    && !key.is_empty()
                    && line[at + 2 + key.len()..].starts_with("\"]")
            })
        })
        .map(|(number, _)| number)
        .collect()
}

/// Whether a comment line that says why stands within reach above `line`.
fn explained(lines: &[&str], line: usize) -> bool {
    lines[line.saturating_sub(COMMENT_REACH)..line]
        .iter()
        .any(|l| l.trim_start().starts_with("//") && l.contains("keys"))
}

#[test]
fn json_is_read_through_structs_with_few_lookups_by_key() {
    let mut found = Vec::new();
    let mut unexplained = Vec::new();
    for path in rust_files(&files::root().join("xtask").join("src")) {
        if path.ends_with("tidy/typed.rs") {
            continue;
        }
        let text = read(&path);
        let lines: Vec<&str> = text.lines().collect();
        for line in lookups(&text) {
            let place = format!(
                "{}:{}",
                path.strip_prefix(files::root()).unwrap_or(&path).display(),
                line + 1
            );
            if !explained(&lines, line) {
                unexplained.push(place.clone());
            }
            found.push(place);
        }
    }
    assert!(
        found.len() <= MOST_LOOKUPS,
        "{} lookups by key, at most {MOST_LOOKUPS}: read the document through a serde struct: \
         {found:#?}",
        found.len()
    );
    assert!(
        unexplained.is_empty(),
        "lookups by key without a comment above saying why a struct does not fit (one that \
         mentions the keys): {unexplained:#?}"
    );
}

#[test]
fn lookups_are_told_from_string_slices() {
    let text = "let a = value[\"Key\"];\nlet b = &[\"wrk\"];\nlet c = f()[\"x\"][\"y\"];\nlet d = \
                list[0];\nlet e = vec![\"a\"];";
    assert_eq!(lookups(text), [0, 2]);
    let lines = ["// read by its keys, as a script does", "let x = v[\"k\"];"];
    assert!(explained(&lines, 1));
    assert!(!explained(&["let x = v[\"k\"];"], 0));
}
