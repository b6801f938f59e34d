//! Build and size history: JSON lines under `.xtask/history/` in the repository, each record
//! appended by rewriting the file to a temporary name and renaming it over the old one, so an
//! interrupted run never leaves a half-written history.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

pub(crate) const BUILDS: &str = "builds.jsonl";
pub(crate) const SIZES: &str = "sizes.jsonl";

pub(crate) fn path(name: &str) -> PathBuf {
    crate::project::root()
        .join(".xtask")
        .join("history")
        .join(name)
}

/// Every record in a history file; a missing file is an empty history. A corrupt line is an
/// error naming the file and line, never silently dropped.
pub(crate) fn read(path: &Path) -> Result<Vec<Value>> {
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
pub(crate) fn append(path: &Path, records: &[Value]) -> Result<()> {
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
        content.extend_from_slice(record.to_string().as_bytes());
        content.push(b'\n');
    }
    write_atomically(path, &content)
}

/// Writes through a synced temporary file and a rename: readers never see half a file.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let temporary = path.with_extension(format!("{}.tmp", std::process::id()));
    let mut file = fs::File::create(&temporary)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, path).with_context(|| format!("cannot replace {}", path.display()))
}

/// `cargo xtask history`: the recorded builds and size measurements, oldest first.
pub(crate) fn show(limit: usize) -> Result<()> {
    let builds = read(&path(BUILDS))?;
    let sizes = read(&path(SIZES))?;
    if builds.is_empty() && sizes.is_empty() {
        println!("No history yet: `cargo xtask build` and `cargo xtask compare` record it.");
        return Ok(());
    }
    let text = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    if !builds.is_empty() {
        println!("Builds (last {limit}):");
        println!(
            "  {:<20} {:<12} {:<5} {:<8} {:>8} {:>7} {:>11}  revision",
            "date", "variant", "kind", "builder", "seconds", "cached", "size"
        );
        for build in builds.iter().rev().take(limit).rev() {
            println!(
                "  {:<20} {:<12} {:<5} {:<8} {:>8.1} {:>7} {:>11}  {}",
                text(&build["date"]),
                text(&build["variant"]),
                text(&build["kind"]),
                text(&build["builder"]),
                build["seconds"].as_f64().unwrap_or(0.0),
                format!(
                    "{}/{}",
                    build["cached_steps"].as_u64().unwrap_or(0),
                    build["steps"].as_u64().unwrap_or(0)
                ),
                human_bytes(build["size_bytes"].as_u64().unwrap_or(0)),
                text(&build["revision"]),
            );
        }
    }
    if !sizes.is_empty() {
        println!("\nImage sizes measured by compare, per variant (oldest → newest, last {limit}):");
        let mut variants: Vec<String> = sizes.iter().map(|s| text(&s["variant"])).collect();
        variants.dedup();
        variants.sort();
        variants.dedup();
        for variant in variants {
            let series: Vec<&Value> = sizes
                .iter()
                .filter(|s| s["variant"] == variant.as_str())
                .collect();
            let values: Vec<u64> = series
                .iter()
                .map(|s| s["size_bytes"].as_u64().unwrap_or(0))
                .collect();
            let shown = &values[values.len().saturating_sub(limit)..];
            let first = shown.first().copied().unwrap_or(0);
            let last = shown.last().copied().unwrap_or(0);
            let change = if first == 0 {
                0.0
            } else {
                (last as f64 - first as f64) / first as f64 * 100.0
            };
            println!(
                "  {variant:<12} {}  {} → {} ({change:+.1} %, {} measurements, latest {})",
                sparkline(shown),
                human_bytes(first),
                human_bytes(last),
                series.len(),
                series.last().map_or_else(String::new, |s| text(&s["date"])),
            );
        }
    }
    Ok(())
}

/// `1.06 GB`, `3.03 MB`: decimal units, as registries and `docker images` report them.
pub(crate) fn human_bytes(bytes: u64) -> String {
    let value = bytes as f64;
    if value >= 1e9 {
        format!("{:.2} GB", value / 1e9)
    } else if value >= 1e6 {
        format!("{:.2} MB", value / 1e6)
    } else {
        format!("{:.1} kB", value / 1e3)
    }
}

/// `▁▃▅█`: one bar per value, scaled between the series' minimum and maximum.
pub(crate) fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (Some(min), Some(max)) = (values.iter().min(), values.iter().max()) else {
        return String::new();
    };
    values
        .iter()
        .map(|v| {
            if max == min {
                BARS[3]
            } else {
                let index = (v - min) * 7 / (max - min);
                BARS[usize::try_from(index).unwrap_or(7)]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn appends_records_and_reads_them_back() {
        let dir = std::env::temp_dir().join(format!("xtask-history-{}", std::process::id()));
        let file = dir.join("records.jsonl");
        let _ = fs::remove_dir_all(&dir);
        assert!(read(&file).expect("missing file is empty").is_empty());
        append(&file, &[json!({"n": 1})]).expect("append");
        append(&file, &[json!({"n": 2}), json!({"n": 3})]).expect("append");
        let records = read(&file).expect("read");
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
        let error = read(&file).expect_err("corrupt line").to_string();
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
        assert_eq!(read(&file).expect("read").len(), 200);
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
