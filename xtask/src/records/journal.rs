//! A journal of records: JSON lines, each append rewriting the file to a temporary name and
//! renaming it over the old one, so an interrupted run never leaves a half-written history.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::files;

/// Every record in a history file; a missing file is an empty history. A corrupt line is an
/// error naming the file and line, never silently dropped.
pub(crate) fn read<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line).with_context(|| {
                format!(
                    "{}:{} is not a JSON record; fix or delete that line",
                    path.display(),
                    index + 1
                )
            })
        })
        .collect()
}

/// Appends `records` atomically. Two runs appending at once take turns (an exclusive lock on a
/// file beside the history), so neither's record is lost.
pub(crate) fn append<T: Serialize>(path: &Path, records: &[T]) -> Result<()> {
    let dir = path.parent().context("history path has no parent")?;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let lock = fs::File::create(path.with_extension("lock"))
        .with_context(|| format!("cannot create the lock beside {}", path.display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    let mut content = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    if !content.is_empty() && !content.ends_with(b"\n") {
        content.push(b'\n');
    }
    for record in records {
        content.extend_from_slice(&serde_json::to_vec(record)?);
        content.push(b'\n');
    }
    files::write_atomically(path, &content)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn appends_records_and_reads_them_back() {
        let dir = std::env::temp_dir().join(format!("xtask-history-{}", std::process::id()));
        let file = dir.join("records.jsonl");
        let _ = fs::remove_dir_all(&dir);
        assert!(
            read::<Value>(&file)
                .expect("missing file is empty")
                .is_empty()
        );
        append(&file, &[json!({"n": 1})]).expect("append");
        append(&file, &[json!({"n": 2}), json!({"n": 3})]).expect("append");
        let records: Vec<Value> = read(&file).expect("read");
        assert_eq!(
            records,
            vec![json!({"n": 1}), json!({"n": 2}), json!({"n": 3})]
        );
        let leftovers = fs::read_dir(&dir)
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|entry| entry.path().extension().is_none_or(|e| e != "lock"))
            .count();
        assert_eq!(leftovers, 1, "no temporary files remain");
        fs::write(&file, "{\"n\": 1}\nnot json\n").expect("corrupt");
        let error = read::<Value>(&file).expect_err("corrupt line").to_string();
        assert!(
            error.ends_with("records.jsonl:2 is not a JSON record; fix or delete that line"),
            "{error}"
        );
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn concurrent_appends_lose_nothing() {
        let dir = std::env::temp_dir().join(format!("xtask-history-race-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let file = dir.join("records.jsonl");
        std::thread::scope(|scope| {
            for writer in 0..8 {
                let file = &file;
                scope.spawn(move || {
                    for n in 0..25 {
                        append(file, &[json!({"writer": writer, "n": n})]).expect("append");
                    }
                });
            }
        });
        assert_eq!(read::<Value>(&file).expect("read").len(), 200);
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
