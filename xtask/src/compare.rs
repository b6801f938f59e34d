//! `cargo xtask compare`: the single-stage baseline and the multi-stage images side by side,
//! measured on this machine: size, what is inside, build and start times, memory and what the
//! registry would cost.

mod html;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::docker;
use crate::docker::build::{self, BuildRecord};
use crate::docker::container::RunningContainer;
use crate::docker::engine;
use crate::flags::{Compare, OutputFormat};
use crate::image::facts;
use crate::project::variant::Variant;
use crate::records;
use crate::util::fs as fs_util;
use crate::util::git;
use crate::util::output;
use crate::util::process;
use crate::util::time;

/// One measured image.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) variant: Variant,
    pub(crate) image_id: String,
    pub(crate) size_bytes: u64,
    pub(crate) compressed_bytes: u64,
    pub(crate) layers: usize,
    pub(crate) files: u64,
    pub(crate) app_binary_bytes: Option<u64>,
    pub(crate) os_packages: u64,
    pub(crate) shells: Vec<String>,
    pub(crate) user: String,
    pub(crate) reduction_percent: Option<f64>,
    pub(crate) cold_build_seconds: Option<f64>,
    pub(crate) rebuild_seconds: Option<f64>,
    pub(crate) startup_ms: f64,
    pub(crate) idle_memory_bytes: u64,
    pub(crate) monthly_cost_usd: f64,
}

impl Row {
    /// How much larger the image is than the service binary it carries.
    pub(crate) fn overhead_percent(&self) -> Option<f64> {
        self.app_binary_bytes
            .filter(|binary| *binary > 0)
            .map(|binary| (self.size_bytes as f64 / binary as f64 - 1.0) * 100.0)
    }
}

impl Compare {
    pub(crate) fn run(self) -> Result<()> {
        engine::require()?;
        let html_path = self.html.clone();
        // One copy of the build context serves every variant's rebuild timing.
        let context_copy = if self.skip_rebuild {
            None
        } else {
            Some(ContextCopy::create()?)
        };
        let mut rows = Vec::new();
        for variant in Variant::ALL {
            eprintln!("\n==> {variant}");
            rows.push(self.measure(variant, context_copy.as_ref())?);
        }
        drop(context_copy);
        let single_size = rows
            .iter()
            .find(|r| r.variant == Variant::Single)
            .map(|r| r.size_bytes);
        for row in &mut rows {
            row.reduction_percent = single_size
                .filter(|single| *single > 0 && row.variant != Variant::Single)
                .map(|single| (1.0 - row.size_bytes as f64 / single as f64) * 100.0);
        }
        let report = self.report_json(&rows);
        record_sizes(&rows)?;

        match self.format() {
            OutputFormat::Table => print!("{}", self.table(&rows)),
            OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            OutputFormat::Markdown => print!("{}", self.markdown(&rows)),
            OutputFormat::Csv => print!("{}", csv(&rows)),
        }
        if let Some(path) = html_path {
            let page = crate::compare::html::page(
                &rows,
                &records::ImageSize::read_all()?,
                &self.pricing_note(),
            );
            fs_util::write_atomically(&path, page.as_bytes())?;
            eprintln!("wrote {}", path.display());
        }
        Ok(())
    }

    fn measure(&self, variant: Variant, context_copy: Option<&ContextCopy>) -> Result<Row> {
        let tag = variant.tag();
        let mut fresh_build: Option<BuildRecord> = None;
        let missing = !docker::image_exists(&tag);
        if self.rebuild || missing {
            // A missing image is built without the cache too, so its cold build time is real.
            let record = build::build(variant, &crate::project::root(), &tag, true, true)?;
            build::record_build(&record)?;
            fresh_build = Some(record);
        }
        let config = facts::config(&tag)?;
        eprintln!("  reading the filesystem and the compressed size");
        let filesystem = facts::filesystem(&tag, &config.program_paths())?;
        let compressed_bytes = filesystem.compressed_bytes;

        eprintln!("  starting a container");
        let container = RunningContainer::start(&tag, &[])?;
        let startup = container.wait_http_ok("/", Duration::from_mins(1))?;
        std::thread::sleep(Duration::from_secs(1));
        let idle_memory_bytes = container.memory_bytes()?;
        drop(container);

        let cold_build_seconds = fresh_build
            .as_ref()
            .filter(|record| record.is_cold())
            .map(|record| record.seconds)
            .or_else(|| last_cold_build(variant));
        let rebuild_seconds = match context_copy {
            None => None,
            Some(copy) => {
                eprintln!(
                    "  timing a rebuild after a source-only change (in a copy of the build context)"
                );
                Some(copy.rebuild_after_source_change(variant)?)
            }
        };
        let gigabytes = compressed_bytes as f64 / 1e9;
        let monthly_cost_usd = gigabytes * self.storage_price
            + gigabytes * f64::from(self.deployments) * self.transfer_price;
        Ok(Row {
            variant,
            image_id: config.id,
            size_bytes: config.size_bytes,
            compressed_bytes,
            layers: config.layers,
            files: filesystem.files,
            app_binary_bytes: filesystem.app_binary_bytes,
            os_packages: filesystem.os_packages,
            shells: filesystem.shells,
            user: if config.user.is_empty() {
                "root (default)".to_owned()
            } else {
                config.user
            },
            reduction_percent: None,
            cold_build_seconds,
            rebuild_seconds,
            startup_ms: startup.as_secs_f64() * 1000.0,
            idle_memory_bytes,
            monthly_cost_usd,
        })
    }

    fn pricing_note(&self) -> String {
        format!(
            "Registry cost: compressed size × (${:.2}/GB-month storage + {} pulls × ${:.2}/GB transfer), \
             ECR list prices; pulls inside one AWS region transfer free. Change with --deployments, \
             --storage-price, --transfer-price.",
            self.storage_price, self.deployments, self.transfer_price
        )
    }

    fn report_json(&self, rows: &[Row]) -> Value {
        json!({
            "date": time::rfc3339(time::now_unix()),
            "revision": git::revision(),
            "pricing": {
                "storage_usd_per_gb_month": self.storage_price,
                "transfer_usd_per_gb": self.transfer_price,
                "pulls_per_month": self.deployments,
            },
            "targets": targets(rows).into_iter().map(|(target, figure, met)| json!({
                "target": target,
                "figure": figure,
                "met": met,
            })).collect::<Vec<_>>(),
            "variants": rows.iter().map(|row| json!({
                "variant": row.variant.name(),
                "image": row.variant.tag(),
                "image_id": row.image_id,
                "size_bytes": row.size_bytes,
                "compressed_bytes": row.compressed_bytes,
                "layers": row.layers,
                "files": row.files,
                "app_binary_bytes": row.app_binary_bytes,
                "overhead_vs_binary_percent": row.overhead_percent().map(|p| (p * 100.0).round() / 100.0),
                "os_packages": row.os_packages,
                "shells": row.shells,
                "user": row.user,
                "reduction_percent": row.reduction_percent.map(|p| (p * 100.0).round() / 100.0),
                "cold_build_seconds": row.cold_build_seconds,
                "rebuild_seconds": row.rebuild_seconds,
                "startup_ms": (row.startup_ms * 10.0).round() / 10.0,
                "idle_memory_bytes": row.idle_memory_bytes,
                "monthly_cost_usd": (row.monthly_cost_usd * 10_000.0).round() / 10_000.0,
            })).collect::<Vec<_>>(),
        })
    }

    fn table(&self, rows: &[Row]) -> String {
        let mut out = String::new();
        let cells = cells(rows);
        // One image per column, one figure per line: the figures line up for reading across.
        let label_width = HEADERS.iter().map(|h| h.chars().count()).max().unwrap_or(0);
        let widths: Vec<usize> = cells
            .iter()
            .map(|column| {
                column
                    .iter()
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let _ = writeln!(out);
        for (index, header) in HEADERS.iter().enumerate() {
            let _ = write!(out, "{header:<label_width$}");
            for (column, width) in cells.iter().zip(&widths) {
                let _ = write!(out, "  {:>width$}", column[index]);
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "\nTargets:");
        for (target, figure, met) in targets(rows) {
            let _ = writeln!(out, "  {:<8} {target}: {figure}", output::target(met));
        }
        let _ = writeln!(out, "\n{}", self.pricing_note());
        out
    }

    fn markdown(&self, rows: &[Row]) -> String {
        let cells = cells(rows);
        let mut out = String::from("| |");
        for row in &cells {
            let _ = write!(out, " {} |", row[0]);
        }
        out.push_str("\n|---|");
        out.push_str(&"---:|".repeat(cells.len()));
        out.push('\n');
        for (index, header) in HEADERS.iter().enumerate().skip(1) {
            let _ = write!(out, "| {header} |");
            for row in &cells {
                let _ = write!(out, " {} |", row[index]);
            }
            out.push('\n');
        }
        out.push('\n');
        for (target, figure, met) in targets(rows) {
            let _ = writeln!(
                out,
                "- {} {target}: {figure}",
                if met { "✅" } else { "❌" }
            );
        }
        let _ = writeln!(out, "\n{}", self.pricing_note());
        out
    }
}

/// The project's targets for the images: (target, measured figure, met).
fn targets(rows: &[Row]) -> Vec<(&'static str, String, bool)> {
    let mut targets = Vec::new();
    let find = |variant| rows.iter().find(|row| row.variant == variant);
    if let Some(scratch) = find(Variant::Scratch) {
        targets.push((
            "scratch ≤ 4 MB",
            output::bytes(scratch.size_bytes),
            scratch.size_bytes <= 4_000_000,
        ));
        if let Some(overhead) = scratch.overhead_percent() {
            targets.push((
                "scratch ≤ 3 % over its binary",
                format!("+{overhead:.1} %"),
                overhead <= 3.0,
            ));
        }
        if let Some(reduction) = scratch.reduction_percent {
            targets.push((
                "reduction ≥ 99.5 %",
                format!("{reduction:.2} %"),
                reduction >= 99.5,
            ));
        }
    }
    if let Some(distroless) = find(Variant::Distroless) {
        targets.push((
            "distroless ≤ 6 MB",
            output::bytes(distroless.size_bytes),
            distroless.size_bytes <= 6_000_000,
        ));
    }
    for row in rows.iter().filter(|row| row.variant != Variant::Single) {
        if let (Some(rebuild), Some(cold)) = (row.rebuild_seconds, row.cold_build_seconds) {
            let share = rebuild / cold * 100.0;
            targets.push((
                "rebuild after a source edit ≤ 20 % of a cold build",
                format!("{}: {share:.0} %", row.variant),
                share <= 20.0,
            ));
        }
        targets.push((
            "docker run → first 200 ≤ 500 ms",
            format!("{}: {:.0} ms", row.variant, row.startup_ms),
            row.startup_ms <= 500.0,
        ));
    }
    targets
}

const HEADERS: [&str; 15] = [
    "image",
    "size",
    "size over the binary it carries",
    "compressed (push) size",
    "layers",
    "files",
    "OS packages",
    "shell",
    "user",
    "reduction vs single-stage",
    "cold build",
    "rebuild after source edit",
    "docker run → first 200",
    "idle memory",
    "registry cost / month",
];

fn cells(rows: &[Row]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|row| {
            vec![
                row.variant.tag(),
                output::bytes(row.size_bytes),
                row.overhead_percent().map_or_else(
                    || "program not found in the image".to_owned(),
                    |p| {
                        format!(
                            "+{p:.1} % ({})",
                            output::bytes(row.app_binary_bytes.unwrap_or(0))
                        )
                    },
                ),
                output::bytes(row.compressed_bytes),
                row.layers.to_string(),
                row.files.to_string(),
                row.os_packages.to_string(),
                if row.shells.is_empty() {
                    "none".to_owned()
                } else {
                    row.shells.join(" ")
                },
                row.user.clone(),
                row.reduction_percent
                    .map_or_else(|| "baseline".to_owned(), |p| format!("{p:.2} %")),
                row.cold_build_seconds
                    .map_or_else(|| "not measured".to_owned(), |s| format!("{s:.1} s")),
                row.rebuild_seconds.map_or_else(
                    || "skipped".to_owned(),
                    |s| match row.cold_build_seconds {
                        Some(cold) if cold > 0.0 => format!("{s:.1} s ({:.0} %)", s / cold * 100.0),
                        _ => format!("{s:.1} s"),
                    },
                ),
                format!("{:.0} ms", row.startup_ms),
                output::bytes(row.idle_memory_bytes),
                format!("${:.4}", row.monthly_cost_usd),
            ]
        })
        .collect()
}

fn csv(rows: &[Row]) -> String {
    let mut out = String::from(
        "variant,image,size_bytes,app_binary_bytes,compressed_bytes,layers,files,os_packages,shells,user,reduction_percent,cold_build_seconds,rebuild_seconds,startup_ms,idle_memory_bytes,monthly_cost_usd\n",
    );
    let optional = |value: Option<f64>| value.map_or_else(String::new, |v| format!("{v:.2}"));
    for row in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{:.1},{},{:.4}",
            row.variant.name(),
            row.variant.tag(),
            row.size_bytes,
            row.app_binary_bytes
                .map_or_else(String::new, |b| b.to_string()),
            row.compressed_bytes,
            row.layers,
            row.files,
            row.os_packages,
            row.shells.join(" "),
            row.user,
            optional(row.reduction_percent),
            optional(row.cold_build_seconds),
            optional(row.rebuild_seconds),
            row.startup_ms,
            row.idle_memory_bytes,
            row.monthly_cost_usd,
        );
    }
    out
}

/// The latest cold build of `variant` by the builder in use: the other builder's times are not
/// comparable with the rebuild measured now.
fn last_cold_build(variant: Variant) -> Option<f64> {
    let builder = build::builder_name(docker::builder::builder().buildkit);
    records::Build::read_all()
        .ok()?
        .into_iter()
        .rev()
        .find(|b| b.variant == variant.name() && b.kind == "cold" && b.builder == builder)
        .map(|b| b.seconds)
}

fn record_sizes(rows: &[Row]) -> Result<()> {
    let date = time::rfc3339(time::now_unix());
    let revision = git::revision();
    let records: Vec<records::ImageSize> = rows
        .iter()
        .map(|row| records::ImageSize {
            date: date.clone(),
            revision: revision.clone(),
            variant: row.variant.name().to_owned(),
            image_id: row.image_id.clone(),
            size_bytes: row.size_bytes,
            compressed_bytes: row.compressed_bytes,
            layers: row.layers as u64,
            files: row.files,
        })
        .collect();
    records::ImageSize::append(&records)
}

/// Rebuilds timed per multi-stage image; the median is reported.
const REBUILD_SAMPLES: usize = 3;

/// A copy of the build context (every file git would consider, ignored ones excluded) in a
/// scratch directory, where a source file can be edited without touching the checkout. Removed,
/// with the images built from it, when dropped.
struct ContextCopy {
    path: std::path::PathBuf,
    /// `app/src/main.rs` as checked out: each edit starts from it, so that the next image's
    /// first build from the copy finds the cache of the checkout's own build.
    main_rs: String,
}

impl ContextCopy {
    fn create() -> Result<Self> {
        // A fixed name: a copy left by an interrupted run is cleared, not accumulated.
        let path = crate::project::target_dir()
            .join("xtask")
            .join("rebuild-context");
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("cannot clear {}", path.display()))?;
        }
        copy_build_context(&crate::project::root(), &path)?;
        let main_rs = std::fs::read_to_string(path.join(MAIN_RS))
            .with_context(|| format!("cannot read {MAIN_RS} in {}", path.display()))?;
        Ok(Self { path, main_rs })
    }

    /// Builds `variant` from the copy once (all cached), then edits one source file and times
    /// the build that follows: the median of a few such edits for the multi-stage images, whose
    /// rebuild takes seconds; one for the single-stage image, which compiles everything again.
    fn rebuild_after_source_change(&self, variant: Variant) -> Result<f64> {
        let probe_tag = probe_tag(variant);
        self.write_main_rs("")?;
        build::build(variant, &self.path, &probe_tag, false, false)?;
        let samples = if variant == Variant::Single {
            1
        } else {
            REBUILD_SAMPLES
        };
        let mut seconds = Vec::with_capacity(samples);
        for sample in 0..samples {
            self.write_main_rs(&format!(
                "// source-only change {sample} made by `cargo xtask compare` at {}\n",
                time::now_unix()
            ))?;
            seconds.push(build::build(variant, &self.path, &probe_tag, false, false)?.seconds);
        }
        Ok(crate::util::stats::median(&mut seconds))
    }

    /// `main.rs` as checked out plus `comment`: new source, same program.
    fn write_main_rs(&self, comment: &str) -> Result<()> {
        let source = self.path.join(MAIN_RS);
        std::fs::write(&source, format!("{}{comment}", self.main_rs))
            .with_context(|| format!("cannot write {}", source.display()))
    }
}

const MAIN_RS: &str = "app/src/main.rs";

fn probe_tag(variant: Variant) -> String {
    format!("{}-rebuild-probe", variant.tag())
}

impl Drop for ContextCopy {
    fn drop(&mut self) {
        // Whichever probes were built, a failed one included; removing an absent tag is harmless.
        for variant in Variant::ALL {
            let _ = process::capture(docker::docker().args(["rmi", &probe_tag(variant)]));
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn copy_build_context(from: &Path, to: &Path) -> Result<()> {
    for relative in
        git::listed_files(from).context("the rebuild timing copies the files git lists")?
    {
        let relative = relative.as_str();
        let source = from.join(relative);
        if !source.is_file() {
            continue; // deleted in the working tree
        }
        let target = to.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&source, &target).with_context(|| format!("cannot copy {relative}"))?;
    }
    if !to.join("docker").is_dir() {
        bail!("the copied build context has no docker/ directory");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(variant: Variant, size_bytes: u64, binary: Option<u64>) -> Row {
        Row {
            variant,
            image_id: "sha256:0".to_owned(),
            size_bytes,
            compressed_bytes: size_bytes / 2,
            layers: 1,
            files: 1,
            app_binary_bytes: binary,
            os_packages: 0,
            shells: Vec::new(),
            user: "65532:65532".to_owned(),
            reduction_percent: Some(99.75),
            cold_build_seconds: Some(100.0),
            rebuild_seconds: Some(5.0),
            startup_ms: 120.0,
            idle_memory_bytes: 2_000_000,
            monthly_cost_usd: 0.0123,
        }
    }

    #[test]
    fn every_format_carries_the_same_figures() {
        let rows = vec![
            row(Variant::Scratch, 3_030_000, Some(3_000_000)),
            row(Variant::Distroless, 5_000_000, Some(3_000_000)),
        ];
        let Ok(crate::flags::Command::Compare(compare)) =
            crate::flags::Xtask::from_words(&["compare"])
        else {
            panic!("compare parses");
        };

        let csv = csv(&rows);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        let header: Vec<&str> = lines[0].split(',').collect();
        let scratch: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(header.len(), scratch.len(), "every row has every column");
        assert_eq!(
            scratch[..4],
            ["scratch", "app:scratch", "3030000", "3000000"]
        );

        let markdown = compare.markdown(&rows);
        assert!(
            markdown.starts_with("| | app:scratch | app:distroless |\n|---|---:|---:|\n"),
            "{markdown}"
        );
        assert!(
            markdown.contains(
                "| size over the binary it carries | +1.0 % (3.00 MB) | +66.7 % (3.00 MB) |"
            ),
            "{markdown}"
        );
        assert!(
            markdown.contains("| rebuild after source edit | 5.0 s (5 %) | 5.0 s (5 %) |"),
            "{markdown}"
        );

        let json = compare.report_json(&rows);
        assert_eq!(json["variants"][0]["overhead_vs_binary_percent"], 1.0);
        assert_eq!(json["variants"][1]["size_bytes"], 5_000_000);
        assert_eq!(json["pricing"]["pulls_per_month"], 30);

        let table = compare.table(&rows);
        assert!(table.contains("reduction vs single-stage"));
        assert!(table.contains("99.75 %"));
        assert!(
            table.contains("met      scratch ≤ 4 MB: 3.03 MB"),
            "{table}"
        );
        assert!(
            table.contains("met      scratch ≤ 3 % over its binary: +1.0 %"),
            "{table}"
        );
        assert!(
            table.contains(
                "met      rebuild after a source edit ≤ 20 % of a cold build: scratch: 5 %"
            ),
            "{table}"
        );
    }
}
