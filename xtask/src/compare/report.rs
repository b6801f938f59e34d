//! The report `compare` prints, in every format from the same [`Report`] and the same
//! [`FIGURES`]: the terminal table, Markdown (a CI job summary), JSON and CSV, with the
//! circumstances, the targets and the pricing assumptions. The page is `html.rs`.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::figures::{FIGURES, IMAGE, Report, table_rows, targets};
use crate::output;

impl Report {
    pub(crate) fn json(&self) -> Value {
        json!({
            "date": self.date,
            "revision": self.revision,
            "machine": self.machine,
            "builder": self.builder,
            "profile": {
                "name": self.profile.name,
                "settings": self.profile.settings.iter()
                    .map(|(key, value)| (key.clone(), Value::from(value.as_str())))
                    .collect::<Map<_, _>>(),
            },
            "pricing": {
                "storage_usd_per_gb_month": self.pricing.storage_usd_per_gb_month,
                "transfer_usd_per_gb": self.pricing.transfer_usd_per_gb,
                "pulls_per_month": self.pricing.pulls_per_month,
            },
            "targets": targets(&self.rows).into_iter().map(|(target, figure, met)| json!({
                "target": target,
                "figure": figure,
                "met": met,
            })).collect::<Vec<_>>(),
            "variants": self.rows.iter().map(|row| FIGURES
                .iter()
                .map(|figure| (figure.key.to_owned(), figure.json(row)))
                .collect::<Map<_, _>>()
            ).collect::<Vec<_>>(),
        })
    }

    /// One image per column, one figure per line: the figures line up for reading across.
    pub(crate) fn table(&self) -> String {
        let mut out = format!("\n{}\n\n", self.circumstances());
        let figures: Vec<_> = std::iter::once(&IMAGE).chain(table_rows()).collect();
        let label_width = figures
            .iter()
            .map(|f| f.label.chars().count())
            .max()
            .unwrap_or(0);
        let columns: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| figures.iter().map(|f| f.text(row)).collect())
            .collect();
        let widths: Vec<usize> = columns
            .iter()
            .map(|column| column.iter().map(|c| c.chars().count()).max().unwrap_or(0))
            .collect();
        for (index, figure) in figures.iter().enumerate() {
            let _ = write!(out, "{:<label_width$}", figure.label);
            for (column, width) in columns.iter().zip(&widths) {
                let _ = write!(out, "  {:>width$}", column[index]);
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "\nTargets:");
        for (target, figure, met) in targets(&self.rows) {
            let _ = writeln!(out, "  {:<8} {target}: {figure}", output::target(met));
        }
        let _ = writeln!(out, "\n{}", self.pricing.note());
        if let Some(note) = self.sampling_note() {
            let _ = writeln!(out, "{note}");
        }
        out
    }

    pub(crate) fn markdown(&self) -> String {
        let mut out = format!("{}\n\n| |", self.circumstances());
        for row in &self.rows {
            let _ = write!(out, " {} |", IMAGE.text(row));
        }
        out.push_str("\n|---|");
        out.push_str(&"---:|".repeat(self.rows.len()));
        out.push('\n');
        for figure in table_rows() {
            let _ = write!(out, "| {} |", figure.label);
            for row in &self.rows {
                let _ = write!(out, " {} |", figure.text(row));
            }
            out.push('\n');
        }
        out.push('\n');
        for (target, figure, met) in targets(&self.rows) {
            let _ = writeln!(
                out,
                "- {} {target}: {figure}",
                if met { "✅" } else { "❌" }
            );
        }
        let _ = writeln!(out, "\n{}", self.pricing.note());
        if let Some(note) = self.sampling_note() {
            let _ = writeln!(out, "\n{note}");
        }
        out
    }

    /// One line per image, a column per figure, named by its JSON key; the numbers as JSON
    /// writes them.
    pub(crate) fn csv(&self) -> String {
        let mut out = FIGURES.map(|f| f.key).join(",");
        out.push('\n');
        for row in &self.rows {
            let cells: Vec<String> = FIGURES.iter().map(|f| csv_cell(&f.csv(row))).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }
}

/// RFC 4180: quoted when it holds a comma, a quote or a line break.
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::super::figures::tests::report;
    use super::*;

    #[test]
    fn every_format_carries_the_same_figures() {
        let report = report();

        let csv = report.csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4);
        let header: Vec<&str> = lines[0].split(',').collect();
        let scratch: Vec<&str> = lines[2].split(',').collect();
        assert_eq!(header.len(), scratch.len(), "every row has every column");
        assert_eq!(header[..4], ["variant", "image", "image_id", "size_bytes"]);
        assert_eq!(
            scratch[..4],
            ["scratch", "app:scratch", "sha256:0", "2560000"]
        );
        assert!(lines[1].contains(",bash sh,root (default),"), "{csv}");

        let markdown = report.markdown();
        assert!(
            markdown.contains(
                "\n\n| | app:single-stage | app:scratch | app:distroless |\n|---|---:|---:|---:|\n"
            ),
            "{markdown}"
        );
        assert!(
            markdown.starts_with("Measured with `cargo xtask compare` on 2026-12-02 06:05 UTC")
        );
        assert!(
            markdown.contains(
                "| size over the binary it carries | +80020.5 % (1.66 MB) | +0.0 % (2.56 MB) | +60.2 % (2.56 MB) |"
            ),
            "{markdown}"
        );
        assert!(
            markdown.contains("| smaller than single-stage | baseline | 520× | 324× |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| rebuild after source edit | 98.0 s (98 %) | 5.0 s (5 %) |"),
            "{markdown}"
        );

        // The JSON document as a script reads it, by its keys: these keys are the interface.
        let json = report.json();
        let scratch = &json["variants"][1];
        assert_eq!(scratch["overhead_vs_binary_percent"], 0.0);
        assert_eq!(scratch["size_bytes"], 2_560_000);
        assert_eq!(scratch["times_smaller_than_single_stage"], 519.5);
        assert_eq!(scratch["startup_ms"], 120.0);
        assert_eq!(json["variants"][0]["reduction_percent"], Value::Null);
        assert_eq!(json["pricing"]["pulls_per_month"], 30);
        assert_eq!(json["machine"]["logical_cpus"], 2);
        assert_eq!(json["builder"], "buildkit");
        assert_eq!(json["profile"]["settings"]["lto"], "\"fat\"");

        let table = report.table();
        assert!(table.contains("reduction vs single-stage"));
        assert!(table.contains("99.81 %"));
        assert!(table.contains("built with BuildKit"), "{table}");
        assert!(
            table.contains("met      scratch ≤ 4 MB: 2.56 MB"),
            "{table}"
        );
        assert!(
            table.contains("met      scratch ≤ 3 % over its binary: +0.0 %"),
            "{table}"
        );
        assert!(
            table.contains(
                "met      the builder adds ≤ 10 % to the host's rebuild after a source edit: \
                 scratch: +6.2 % (4.8 s)"
            ),
            "{table}"
        );
    }

    #[test]
    fn csv_quotes_what_would_split_a_cell() {
        assert_eq!(csv_cell("root (default)"), "root (default)");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
