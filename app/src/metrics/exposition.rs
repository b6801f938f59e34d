//! A writer for the Prometheus text exposition format (version 0.0.4).
//!
//! Hand-written, not the `prometheus` or `metrics-exporter-prometheus` crate: those own the
//! series (a registry, or a global recorder), where this service keeps per-series atomics under
//! a read-mostly lock (`http.rs`); what is left is a short writer of a fixed set of families,
//! which `promtool check metrics` verifies in CI.

use std::fmt::Write;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            text: String::with_capacity(bytes),
        }
    }

    /// Starts a metric family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Self {
        let help = help.replace('\\', r"\\").replace('\n', r"\n");
        let _ = writeln!(
            self.text,
            "# HELP {name} {help}\n# TYPE {name} {}",
            kind.as_str()
        );
        self
    }

    /// One sample line. `value` is written the way Prometheus parses floats.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (index, (label, label_value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                self.text.push_str(label);
                self.text.push_str("=\"");
                escape_label_value(&mut self.text, label_value);
                self.text.push('"');
            }
            self.text.push('}');
        }
        self.text.push(' ');
        write_float(&mut self.text, value);
        self.text.push('\n');
        self
    }

    /// A family with a single unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: f64) -> &mut Self {
        self.family(name, kind, help).sample(name, &[], value)
    }

    pub fn finish(self) -> String {
        self.text
    }
}

fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str(r"\n"),
            other => out.push(other),
        }
    }
}

pub fn write_float(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_help_type_labels_and_escapes() {
        let mut exposition = Exposition::default();
        exposition
            .family("demo_total", Kind::Counter, "A demo\\counter.")
            .sample("demo_total", &[("path", "a\"b\\c\nd")], 3.0);
        exposition.sample("demo_ratio", &[], f64::INFINITY);
        exposition.sample("demo_ratio", &[], 0.25);
        assert_eq!(
            exposition.finish(),
            "# HELP demo_total A demo\\\\counter.\n# TYPE demo_total counter\n\
             demo_total{path=\"a\\\"b\\\\c\\nd\"} 3\ndemo_ratio +Inf\ndemo_ratio 0.25\n"
        );
    }
}
