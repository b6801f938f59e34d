//! `compare --html FILE`: one self-contained page (no scripts, no external assets) with SVG
//! charts of the image sizes and of their trend in the size history.

use std::fmt::Write as _;

use crate::compare::Row;
use crate::records;
use crate::util::output;

const COLOURS: [&str; 3] = ["#c0392b", "#2471a3", "#1e8449"];

pub(crate) fn page(rows: &[Row], history: &[records::ImageSize], pricing_note: &str) -> String {
    let mut html = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Image comparison</title>\n<style>\
         body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}\
         table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}\
         th:first-child,td:first-child{text-align:left}</style></head><body>\n<h1>Single-stage against multi-stage</h1>\n",
    );
    html.push_str("<h2>Image size (log scale)</h2>\n");
    html.push_str(&size_bars(rows));
    html.push_str("<h2>Figures</h2>\n<table><tr><th>image</th><th>size</th><th>compressed</th><th>layers</th><th>files</th><th>OS packages</th><th>reduction</th><th>cold build</th><th>rebuild</th><th>start</th><th>idle memory</th></tr>\n");
    for row in rows {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0} ms</td><td>{}</td></tr>",
            escape(&row.variant.tag()),
            output::bytes(row.size_bytes),
            output::bytes(row.compressed_bytes),
            row.layers,
            row.files,
            row.os_packages,
            row.reduction_percent
                .map_or_else(|| "baseline".to_owned(), |p| format!("{p:.2} %")),
            row.cold_build_seconds
                .map_or_else(|| "–".to_owned(), |s| format!("{s:.1} s")),
            row.rebuild_seconds
                .map_or_else(|| "–".to_owned(), |s| format!("{s:.1} s")),
            row.startup_ms,
            output::bytes(row.idle_memory_bytes),
        );
    }
    html.push_str("</table>\n");
    let _ = writeln!(html, "<p>{}</p>", escape(pricing_note));
    html.push_str("<h2>Size history (log scale)</h2>\n");
    html.push_str(&trend(history));
    html.push_str("</body></html>\n");
    html
}

fn log_scale(bytes: u64, min: f64, max: f64, span: f64) -> f64 {
    let value = (bytes.max(1) as f64).log10();
    if max <= min {
        span
    } else {
        (value - min) / (max - min) * span
    }
}

fn size_bars(rows: &[Row]) -> String {
    let (width, bar_height, left) = (900.0, 28.0, 170.0);
    let logs: Vec<f64> = rows
        .iter()
        .map(|r| (r.size_bytes.max(1) as f64).log10())
        .collect();
    let min = logs.iter().copied().fold(f64::INFINITY, f64::min).floor() - 0.5;
    let max = logs
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max)
        .ceil();
    let height = bar_height * 1.5 * rows.len() as f64 + 10.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"image sizes\">\n"
    );
    for (index, row) in rows.iter().enumerate() {
        let y = index as f64 * bar_height * 1.5 + 5.0;
        let length = log_scale(row.size_bytes, min, max, width - left - 120.0).max(2.0);
        let _ = writeln!(
            svg,
            "<text x=\"0\" y=\"{:.0}\" font-size=\"14\">{}</text><rect x=\"{left}\" y=\"{y:.0}\" width=\"{length:.1}\" height=\"{bar_height}\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.0}\" font-size=\"14\">{}</text>",
            y + bar_height * 0.7,
            escape(&row.variant.tag()),
            COLOURS[index % COLOURS.len()],
            left + length + 6.0,
            y + bar_height * 0.7,
            output::bytes(row.size_bytes),
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn trend(history: &[records::ImageSize]) -> String {
    let mut variants: Vec<&str> = history.iter().map(|r| r.variant.as_str()).collect();
    variants.sort_unstable();
    variants.dedup();
    let sizes: Vec<u64> = history.iter().map(|r| r.size_bytes).collect();
    if sizes.len() < 2 {
        return "<p>Run compare again to see a trend.</p>\n".to_owned();
    }
    let (width, height, margin) = (900.0, 300.0, 40.0);
    let min = (sizes.iter().copied().min().unwrap_or(1).max(1) as f64)
        .log10()
        .floor();
    let max = (sizes.iter().copied().max().unwrap_or(1).max(1) as f64)
        .log10()
        .ceil();
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"size history\">\n"
    );
    for (index, variant) in variants.iter().enumerate() {
        let series: Vec<u64> = history
            .iter()
            .filter(|r| r.variant == *variant)
            .map(|r| r.size_bytes)
            .collect();
        let step = (width - 2.0 * margin) / (series.len().max(2) - 1) as f64;
        let points: Vec<String> = series
            .iter()
            .enumerate()
            .map(|(i, size)| {
                let x = margin + i as f64 * step;
                let y = height - margin - log_scale(*size, min, max, height - 2.0 * margin);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let colour = COLOURS[index % COLOURS.len()];
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/><text x=\"{margin}\" y=\"{:.0}\" font-size=\"13\" fill=\"{colour}\">{} ({} runs, latest {})</text>",
            points.join(" "),
            16.0 + index as f64 * 16.0,
            escape(variant),
            series.len(),
            output::bytes(series.last().copied().unwrap_or(0)),
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
