//! One output vocabulary for every command: byte sizes, verdicts, check tables, column tables,
//! the numbered steps of a long command and the one status line that follows long work.
//!
//! Sizes are decimal (kB, MB, GB: 1 MB = 1 000 000 bytes), as registries and `docker images`
//! count them; only process memory is in MiB, as the kernel and `docker stats` report it.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// `1.06 GB`, `3.03 MB`, `12.0 kB`: decimal units.
pub(crate) fn bytes(bytes: u64) -> String {
    let value = bytes as f64;
    if value >= 1e9 {
        format!("{:.2} GB", value / 1e9)
    } else if value >= 1e6 {
        format!("{:.2} MB", value / 1e6)
    } else {
        format!("{:.1} kB", value / 1e3)
    }
}

/// Decimal megabytes, for figures printed with their own unit.
pub(crate) fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// Mebibytes, for process memory.
pub(crate) fn mebibytes(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// How a target fared, the same words everywhere.
pub(crate) fn target(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
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

/// One named check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Check {
    pub(crate) name: String,
    pub(crate) passed: bool,
    pub(crate) detail: String,
}

/// The check table: `PASS  name  detail`, one spelling for every command that checks.
pub(crate) fn check_table<'a>(checks: impl IntoIterator<Item = &'a Check>, indent: &str) -> String {
    let checks: Vec<&Check> = checks.into_iter().collect();
    let mut table = Table::new(["", "check", "detail"]);
    for check in &checks {
        table.row([
            if check.passed { "PASS" } else { "FAIL" }.to_owned(),
            check.name.clone(),
            check.detail.clone(),
        ]);
    }
    table.indent(indent).render()
}

/// A column table: a header row, columns as wide as their widest cell, left-aligned unless a
/// column is marked numeric (right-aligned). The last column is never padded.
#[derive(Debug)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    numeric: Vec<bool>,
    indent: String,
}

impl Table {
    pub(crate) fn new<const N: usize>(header: [&str; N]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            numeric: vec![false; N],
            indent: String::new(),
        }
    }

    /// A table whose columns are known only at run time.
    pub(crate) fn with_header(header: Vec<String>) -> Self {
        Self {
            numeric: vec![false; header.len()],
            header,
            rows: Vec::new(),
            indent: String::new(),
        }
    }

    /// Right-aligns every column from `first` on.
    pub(crate) fn numeric_from(mut self, first: usize) -> Self {
        for flag in self.numeric.iter_mut().skip(first) {
            *flag = true;
        }
        self
    }

    /// Right-aligns the columns at these positions.
    pub(crate) fn numeric(mut self, columns: &[usize]) -> Self {
        for &column in columns {
            if let Some(flag) = self.numeric.get_mut(column) {
                *flag = true;
            }
        }
        self
    }

    pub(crate) fn indent(mut self, indent: &str) -> Self {
        indent.clone_into(&mut self.indent);
        self
    }

    pub(crate) fn row<const N: usize>(&mut self, cells: [String; N]) {
        self.rows.push(cells.into());
    }

    /// A row of a [`Self::with_header`] table, one cell a column.
    pub(crate) fn push(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(crate) fn render(&self) -> String {
        let columns = self.header.len();
        let width = |column: usize| {
            std::iter::once(&self.header)
                .chain(&self.rows)
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..columns).map(width).collect();
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = self.indent.clone();
            for (column, cell) in row.iter().enumerate() {
                if column > 0 {
                    line.push_str("  ");
                }
                let width = widths[column];
                if self.numeric[column] {
                    let _ = write!(line, "{cell:>width$}");
                } else if column + 1 == columns {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<width$}");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// The steps of a long command, counted before the first one starts: each begins with one line
/// on stderr, `[4/9] building app:distroless`, so that a person sees where the run is and how
/// much is left.
#[derive(Debug)]
pub(crate) struct Steps {
    total: usize,
    started: usize,
}

impl Steps {
    pub(crate) fn new(total: usize) -> Self {
        Self { total, started: 0 }
    }

    /// Prints the next step's line.
    pub(crate) fn start(&mut self, what: impl std::fmt::Display) {
        self.started += 1;
        eprintln!("{}", step_line(self.started, self.total, &what.to_string()));
    }
}

/// `[ 4/12] what`: the number as wide as the total, so that the lines align.
fn step_line(number: usize, total: usize, what: &str) -> String {
    let width = total.to_string().len();
    format!("[{number:>width$}/{total}] {what}")
}

/// The line that says what long work is doing now. On a terminal: one spinner line with the
/// elapsed time, redrawn in place and cut to the terminal's width (indicatif), so it never wraps
/// or stacks; elsewhere (CI logs, pipes): a plain line each time the message changes.
#[derive(Debug)]
pub(crate) struct StatusLine {
    bar: Option<ProgressBar>,
    last: Mutex<String>,
    prefix: String,
}

impl StatusLine {
    pub(crate) fn new(prefix: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{prefix}{elapsed:>4} {wide_msg}") {
                bar.set_style(style);
            }
            bar.set_prefix(prefix.to_owned());
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Self {
            bar,
            last: Mutex::new(String::new()),
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn set(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_owned());
            return;
        }
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *last != message {
            eprintln!("{}{message}", self.prefix);
            message.clone_into(&mut last);
        }
    }

    /// Clears the line on a terminal, so what is printed next starts on a line of its own.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for StatusLine {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns_and_checks_say_pass_or_fail() {
        let mut table = Table::new(["name", "size"]).numeric(&[1]);
        table.row(["scratch".to_owned(), "2.56 MB".to_owned()]);
        table.row(["single-stage".to_owned(), "1.33 GB".to_owned()]);
        assert_eq!(
            table.render(),
            "name             size\nscratch       2.56 MB\nsingle-stage  1.33 GB\n"
        );
        let checks = [
            Check {
                name: "runs as a non-root user".into(),
                passed: false,
                detail: "root".into(),
            },
            Check {
                name: "size".into(),
                passed: true,
                detail: "2 MB".into(),
            },
        ];
        let rendered = check_table(&checks, "");
        assert!(
            rendered.contains("FAIL  runs as a non-root user  root"),
            "{rendered}"
        );
        assert!(
            rendered.contains("PASS  size                     2 MB"),
            "{rendered}"
        );
    }

    #[test]
    fn sizes_are_decimal() {
        assert_eq!(bytes(2_560_000), "2.56 MB");
        assert_eq!(bytes(1_330_000_000), "1.33 GB");
        assert_eq!(bytes(12_000), "12.0 kB");
        assert_eq!(sparkline(&[1, 2, 3]), "▁▄█");
    }

    #[test]
    fn step_lines_say_how_far_the_run_is_and_align() {
        assert_eq!(
            step_line(4, 9, "building app:distroless"),
            "[4/9] building app:distroless"
        );
        assert_eq!(step_line(4, 14, "x"), "[ 4/14] x");
        assert_eq!(step_line(14, 14, "x"), "[14/14] x");
    }
}
