//! The report `compare` prints, in every format from the same rows: the terminal table,
//! Markdown (a CI job summary), JSON and CSV, with the targets and the pricing assumptions.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::Row;
use crate::flags::Compare;
use crate::project::variant::Variant;
use crate::util::git;
use crate::util::output;
use crate::util::time;

impl Compare {
    pub(super) fn pricing_note(&self) -> String {
        format!(
            "Registry cost: compressed size × (${:.2}/GB-month storage + {} pulls × ${:.2}/GB transfer), \
             ECR list prices; pulls inside one AWS region transfer free. Change with --deployments, \
             --storage-price, --transfer-price.",
            self.storage_price, self.deployments, self.transfer_price
        )
    }

    pub(super) fn report_json(&self, rows: &[Row]) -> Value {
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

    pub(super) fn table(&self, rows: &[Row]) -> String {
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

    pub(super) fn markdown(&self, rows: &[Row]) -> String {
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

pub(super) fn csv(rows: &[Row]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::variant::Variant;

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
