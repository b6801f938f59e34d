//! The counts as a reader wants them: instructions per request for every server and endpoint,
//! the price of each feature, and the targets; as tables or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::Subject;
use super::run::{SETTINGS, Scrape};
use crate::flags::Cost;
use crate::measure::machine::Machine;
use crate::measure::median;
use crate::output::{self, Table};

/// The service at most this many times the bare handler's instructions, logs at `info`...
const TARGET_RATIO: f64 = 1.50;
/// ... and with logs off.
const TARGET_RATIO_LOGS_OFF: f64 = 1.25;
/// One request log line, in instructions.
const TARGET_LOG_LINE: f64 = 3_000.0;
/// The endpoints the ratio targets are judged on: those the bare handler also serves.
const RATIO_ENDPOINTS: [&str; 2] = ["/", "/health"];

/// Instructions per request: the median of the repetitions and how far apart they were.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Figure {
    pub(crate) instructions: f64,
    /// (max − min) / median, in percent.
    pub(crate) spread_percent: f64,
    pub(crate) samples: Vec<f64>,
}

impl Figure {
    /// Largest minus smallest repetition.
    pub(crate) fn range(&self) -> f64 {
        self.samples.last().copied().unwrap_or(0.0) - self.samples.first().copied().unwrap_or(0.0)
    }

    pub(crate) fn from_samples(mut samples: Vec<f64>) -> Self {
        let instructions = median(&mut samples);
        let spread =
            samples.last().copied().unwrap_or(0.0) - samples.first().copied().unwrap_or(0.0);
        Self {
            instructions,
            spread_percent: if instructions > 0.0 {
                spread / instructions * 100.0
            } else {
                0.0
            },
            samples,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct Report {
    machine: Machine,
    profile: &'static str,
    requests: u32,
    repeat: u32,
    /// What every count ran with, beside the server's defaults.
    settings: Vec<String>,
    /// User-mode instructions per nanosecond of CPU time, natively, on `rate_endpoint`.
    instructions_per_ns: f64,
    rate_endpoint: &'static str,
    endpoints: Vec<&'static str>,
    servers: Vec<Server>,
    prices: Vec<Price>,
    targets: Vec<Target>,
    /// One `/metrics` scrape's body in bytes, gzip (as Prometheus asks) and as text; `None`
    /// when `/metrics` was not counted.
    metrics_scrape: Option<Scrape>,
}

#[derive(Debug, Serialize)]
struct Server {
    key: String,
    label: String,
    figures: BTreeMap<&'static str, Figure>,
}

/// What one feature costs per request: the service minus the service without it.
#[derive(Debug, Serialize)]
struct Price {
    feature: String,
    /// How it was left out.
    measured_as: String,
    instructions: BTreeMap<&'static str, f64>,
    /// Half the sum of the two figures' ranges over the repetitions: a price smaller than this
    /// is not resolved.
    uncertainty: BTreeMap<&'static str, f64>,
    estimated_ns: BTreeMap<&'static str, f64>,
}

#[derive(Debug, Serialize)]
struct Target {
    what: String,
    value: f64,
    limit: f64,
    /// `None` where the counts' spread is too wide to tell (see [`Price::uncertainty`]).
    met: Option<bool>,
}

impl Report {
    pub(crate) fn new(
        subjects: &[Subject],
        endpoints: &[&'static str],
        figures: &BTreeMap<(String, &'static str), Figure>,
        flags: &Cost,
        instructions_per_ns: f64,
        rate_endpoint: &'static str,
        metrics_scrape: Option<Scrape>,
    ) -> Self {
        let servers: Vec<Server> = subjects
            .iter()
            .map(|subject| Server {
                key: subject.key.clone(),
                label: subject.label.clone(),
                figures: subject
                    .endpoints
                    .iter()
                    .filter_map(|&path| {
                        Some((path, figures.get(&(subject.key.clone(), path))?.clone()))
                    })
                    .collect(),
            })
            .collect();
        let figure_of = |key: &str, path: &str| -> Option<&Figure> {
            servers
                .iter()
                .find(|server| server.key == key)?
                .figures
                .get(path)
        };
        let at = |key: &str, path: &str| figure_of(key, path).map(|figure| figure.instructions);
        let mut prices = Vec::new();
        let mut price = |feature: String, measured_as: String, with: &str, without: &str| {
            let instructions: BTreeMap<&'static str, f64> = endpoints
                .iter()
                .filter_map(|&path| Some((path, at(with, path)? - at(without, path)?)))
                .collect();
            let estimated_ns = instructions
                .iter()
                .map(|(&path, &count)| (path, count / instructions_per_ns))
                .collect();
            let uncertainty = instructions
                .keys()
                .filter_map(|&path| {
                    let (a, b) = (figure_of(with, path)?, figure_of(without, path)?);
                    Some((path, f64::midpoint(a.range(), b.range())))
                })
                .collect();
            prices.push(Price {
                feature,
                measured_as,
                instructions,
                uncertainty,
                estimated_ns,
            });
        };
        price(
            "request log line".to_owned(),
            "APP_LOG_LEVEL=off".to_owned(),
            "service",
            "logs-off",
        );
        for subject in subjects {
            if let Some(name) = subject.key.strip_prefix("without-") {
                price(
                    name.replace('-', " "),
                    format!("priced {name}"),
                    "priced",
                    &subject.key,
                );
            }
        }

        let targets = targets(&at, prices.first());

        Self {
            machine: Machine::this(),
            profile: crate::project::profile::SHIPPED,
            requests: flags.requests,
            repeat: flags.repeat,
            settings: SETTINGS
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect(),
            instructions_per_ns,
            rate_endpoint,
            endpoints: endpoints.to_vec(),
            servers,
            prices,
            targets,
            metrics_scrape,
        }
    }

    pub(crate) fn render(&self) -> String {
        let mut text = String::new();
        let spread = self
            .servers
            .iter()
            .flat_map(|server| server.figures.values())
            .map(|figure| figure.spread_percent)
            .fold(0.0, f64::max);
        let _ = writeln!(
            text,
            "\nInstructions per request, counted by callgrind: {} keep-alive requests on one connection, minus a run without them; median of {} (largest spread {spread:.2} %)",
            self.requests, self.repeat
        );
        let _ = writeln!(text, "Machine: {}", self.machine);
        let _ = writeln!(
            text,
            "Binaries: static, `{}` profile, as the images ship them; every thread counted. Set for the count: {} (the sampler's timer runs on wall time, which callgrind slows)\n",
            self.profile,
            self.settings.join(", ")
        );
        let mut header = vec!["server".to_owned()];
        header.extend(self.endpoints.iter().map(|&path| path.to_owned()));
        let bare = self.servers.iter().find(|server| server.key == "bare");
        let mut table = Table::with_header(header).numeric_from(1);
        for server in &self.servers {
            let mut row = vec![server.label.clone()];
            for path in &self.endpoints {
                row.push(match server.figures.get(path) {
                    None => "—".to_owned(),
                    Some(figure) => match bare.and_then(|bare| bare.figures.get(path)) {
                        Some(yardstick) if server.key != "bare" => format!(
                            "{} ({:.2}×)",
                            count(figure.instructions),
                            figure.instructions / yardstick.instructions
                        ),
                        _ => count(figure.instructions),
                    },
                });
            }
            table.push(row);
        }
        text.push_str(&table.render());

        let _ = writeln!(
            text,
            "\nWhat production costs, feature by feature: instructions per request (≈ ns at {:.2} instructions per ns, this machine's native rate on {} now)\n",
            self.instructions_per_ns, self.rate_endpoint
        );
        let mut header = vec!["feature".to_owned(), "left out with".to_owned()];
        header.extend(self.endpoints.iter().map(|&path| path.to_owned()));
        let mut table = Table::with_header(header).numeric_from(2);
        for price in &self.prices {
            let mut row = vec![price.feature.clone(), price.measured_as.clone()];
            for path in &self.endpoints {
                row.push(
                    match (
                        price.instructions.get(path),
                        price.uncertainty.get(path),
                        price.estimated_ns.get(path),
                    ) {
                        (Some(&count), Some(&within), Some(&ns)) => format!(
                            "{} ±{} ≈ {ns:.0} ns",
                            self::count(count),
                            self::count(within)
                        ),
                        _ => "—".to_owned(),
                    },
                );
            }
            table.push(row);
        }
        text.push_str(&table.render());
        if let Some(scrape) = self.metrics_scrape {
            let _ = writeln!(
                text,
                "\nA /metrics scrape after one request to each endpoint: {} bytes of text, {} gzipped as Prometheus asks for it ({} bytes, {:.0} %, saved)",
                count(scrape.text as f64),
                count(scrape.gzip as f64),
                count(scrape.text as f64 - scrape.gzip as f64),
                (1.0 - scrape.gzip as f64 / scrape.text.max(1) as f64) * 100.0
            );
        }

        text.push_str("\nTargets\n");
        for target in &self.targets {
            let _ = writeln!(
                text,
                "  {}: {} (≤ {}: {})",
                target.what,
                figure(target.value, target.limit),
                figure(target.limit, target.limit),
                target.met.map_or(
                    "not resolved: the counts spread wider than a tenth of the target",
                    output::target
                )
            );
        }
        text
    }
}

/// The three targets, judged where the figures exist: the ratios on the endpoints the
/// bare handler serves, the log line on every endpoint.
fn targets(at: &dyn Fn(&str, &str) -> Option<f64>, log_line: Option<&Price>) -> Vec<Target> {
    let mut targets = Vec::new();
    for path in RATIO_ENDPOINTS {
        let Some(bare) = at("bare", path) else {
            continue;
        };
        for (key, limit, words) in [
            ("service", TARGET_RATIO, "logs at info"),
            ("logs-off", TARGET_RATIO_LOGS_OFF, "logs off"),
        ] {
            if let Some(count) = at(key, path) {
                let ratio = count / bare;
                targets.push(Target {
                    what: format!("{path}: the service, {words}, against the bare handler"),
                    value: ratio,
                    limit,
                    met: Some(ratio <= limit),
                });
            }
        }
    }
    if let Some(log_line) = log_line {
        for (path, &count) in &log_line.instructions {
            let uncertainty = log_line.uncertainty.get(path).copied().unwrap_or(0.0);
            targets.push(Target {
                what: format!("{path}: one request log line, in instructions"),
                value: count,
                limit: TARGET_LOG_LINE,
                // Judged where the counts resolve a tenth of the limit; on /metrics, ~180 000
                // instructions a request, a 1 % spread is more than the line itself.
                met: (uncertainty <= TARGET_LOG_LINE / 10.0).then_some(count <= TARGET_LOG_LINE),
            });
        }
    }

    targets
}

/// A ratio with two decimals and a ×, a count as a whole number.
fn figure(value: f64, limit: f64) -> String {
    if limit < 10.0 {
        format!("{value:.2}×")
    } else {
        count(value)
    }
}

/// `34 612`: whole instructions, thousands apart.
fn count(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(' ');
        }
        grouped.push(digit);
    }
    if value < -0.5 {
        format!("−{grouped}")
    } else {
        grouped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count(34_612.4), "34 612");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(-1_250.0), "−1 250");
        assert_eq!(count(1_000_000.0), "1 000 000");
    }

    #[test]
    fn the_figure_is_the_median_and_the_spread_its_range() {
        let figure = Figure::from_samples(vec![101.0, 100.0, 99.0]);
        assert!((figure.instructions - 100.0).abs() < f64::EPSILON);
        assert!((figure.spread_percent - 2.0).abs() < 1e-9);
    }
}
