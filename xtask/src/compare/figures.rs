//! What `compare` reports, declared once: the report (what was measured, on which machine, with
//! which builder and profile, when) and every figure of an image with its key, its label, its
//! unit and how it is read off a [`Row`]. The terminal table, Markdown, JSON, CSV and the page
//! are views of these, so they cannot disagree. A new measurement is one more [`Figure`] in
//! [`FIGURES`], and one more series in a chart of the page's `CHARTS`.

use serde_json::Value;

use super::{Reproducible, Row};
use crate::measure::machine::Machine;
use crate::output;
use crate::project::profile::CargoProfile;
use crate::project::variant::Variant;

/// Everything one `compare` run found, and the circumstances.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// When the run measured, RFC 3339.
    pub(crate) date: String,
    pub(crate) revision: String,
    pub(crate) machine: Machine,
    /// `buildkit` or `legacy`.
    pub(crate) builder: &'static str,
    pub(crate) profile: CargoProfile,
    pub(crate) pricing: Pricing,
    /// One per image, in the order of [`Variant::ALL`], then the daemonless scratch image.
    pub(crate) rows: Vec<Row>,
}

impl Report {
    /// Fills in what each row owes to the others (its size against the single-stage image's).
    pub(crate) fn new(
        mut rows: Vec<Row>,
        date: String,
        revision: String,
        machine: Machine,
        builder: &'static str,
        profile: CargoProfile,
        pricing: Pricing,
    ) -> Self {
        let single = rows
            .iter()
            .find(|r| r.variant == Variant::Single)
            .map(|r| r.size_bytes)
            .filter(|single| *single > 0);
        for row in &mut rows {
            let against = single.filter(|_| row.variant != Variant::Single);
            row.reduction_percent =
                against.map(|single| (1.0 - row.size_bytes as f64 / single as f64) * 100.0);
            row.times_smaller = against
                .filter(|_| row.size_bytes > 0)
                .map(|single| single as f64 / row.size_bytes as f64);
        }
        Self {
            date,
            revision,
            machine,
            builder,
            profile,
            pricing,
            rows,
        }
    }

    /// `BuildKit` or `the legacy builder`, as a sentence names it.
    pub(crate) fn builder_text(&self) -> &'static str {
        if self.builder == "buildkit" {
            "BuildKit"
        } else {
            "the legacy builder"
        }
    }

    /// `2026-12-02 06:05 UTC`
    pub(crate) fn date_text(&self) -> String {
        self.date.get(..16).map_or_else(
            || self.date.clone(),
            |d| format!("{} UTC", d.replace('T', " ")),
        )
    }

    /// One line: when, where, how.
    pub(crate) fn circumstances(&self) -> String {
        format!(
            "Measured with `cargo xtask compare` on {} at revision {} on {}, built with {}, {}.",
            self.date_text(),
            self.revision,
            self.machine,
            self.builder_text(),
            self.profile
        )
    }

    /// How many samples stand behind the rebuild figures, or `None` when none were timed:
    /// `one pair (image, then host) per multi-stage image; ...`.
    pub(crate) fn rebuild_sampling(&self) -> Option<String> {
        let pairs = self.rows.iter().find_map(|row| row.rebuild_pairs)?;
        Some(if pairs == 1 {
            "one pair (image, then host) per multi-stage image; `--rebuild-pairs N` times N \
             and reports their medians"
                .to_owned()
        } else {
            format!(
                "{} (image, then host) per multi-stage image",
                pairs_text(pairs)
            )
        })
    }

    /// How many cold pulls stand behind each image's figure, or `None` when none were timed:
    /// `the median of 3 for app:scratch, app:distroless; once for app:single-stage`.
    pub(crate) fn pull_sampling(&self) -> Option<String> {
        let mut counts: Vec<usize> = self
            .rows
            .iter()
            .filter_map(|row| row.cold_pull_samples)
            .collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        counts.dedup();
        let parts: Vec<String> = counts
            .into_iter()
            .map(|count| {
                let images: Vec<String> = self
                    .rows
                    .iter()
                    .filter(|row| row.cold_pull_samples == Some(count))
                    .map(Row::tag)
                    .collect();
                let how = if count == 1 {
                    "once".to_owned()
                } else {
                    format!("the median of {count}")
                };
                format!("{how} for {}", images.join(", "))
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// One line on how many times the timed figures were measured, for the table and Markdown.
    pub(crate) fn sampling_note(&self) -> Option<String> {
        let parts: Vec<String> = [
            self.rebuild_sampling()
                .map(|text| format!("Rebuild after source edit: {text}.")),
            self.pull_sampling()
                .map(|text| format!("Cold pull → serving: {text}.")),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// `one pair`, `the median of 3 pairs`.
pub(crate) fn pairs_text(pairs: usize) -> String {
    if pairs == 1 {
        "one pair".to_owned()
    } else {
        format!("the median of {pairs} pairs")
    }
}

/// The cost estimate's assumptions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pricing {
    pub(crate) storage_usd_per_gb_month: f64,
    pub(crate) transfer_usd_per_gb: f64,
    pub(crate) pulls_per_month: u32,
}

impl Pricing {
    pub(crate) fn monthly_cost_usd(&self, compressed_bytes: u64) -> f64 {
        let gigabytes = compressed_bytes as f64 / 1e9;
        gigabytes * self.storage_usd_per_gb_month
            + gigabytes * f64::from(self.pulls_per_month) * self.transfer_usd_per_gb
    }

    pub(crate) fn note(&self) -> String {
        format!(
            "Registry cost: compressed size × (${:.2}/GB-month storage + {} pulls × ${:.2}/GB transfer), \
             ECR list prices; pulls inside one AWS region transfer free. Change with --deployments, \
             --storage-price, --transfer-price.",
            self.storage_usd_per_gb_month, self.pulls_per_month, self.transfer_usd_per_gb
        )
    }
}

/// How a number is written, rounded, and charted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Decimal sizes: `2.56 MB`.
    Bytes,
    /// Process memory in MiB, as `docker stats` measures it.
    Memory,
    Seconds,
    Milliseconds,
    /// `99.81 %` with this many decimals.
    Percent(usize),
    /// `+1.0 %`: how much more than something else.
    Growth,
    /// `520×`
    Times,
    /// `$0.0033`
    Usd,
    Count,
}

impl Unit {
    /// The value every view shows: JSON and CSV carry it, the text is written from it.
    pub(crate) fn round(self, value: f64) -> f64 {
        let step = match self {
            Self::Bytes | Self::Memory | Self::Count => 1.0,
            Self::Seconds => 0.001,
            Self::Milliseconds | Self::Times => 0.1,
            Self::Percent(_) | Self::Growth => 0.01,
            Self::Usd => 0.0001,
        };
        (value / step).round() * step
    }

    pub(crate) fn text(self, value: f64) -> String {
        match self {
            Self::Bytes => output::bytes(value as u64),
            Self::Memory => format!("{:.2} MiB", output::mebibytes(value as u64)),
            Self::Seconds if value < 1.0 => format!("{value:.2} s"),
            Self::Seconds => format!("{value:.1} s"),
            Self::Milliseconds => format!("{value:.0} ms"),
            Self::Percent(decimals) => format!("{value:.decimals$} %"),
            Self::Growth => format!("{value:+.1} %"),
            Self::Times if value >= 10.0 => format!("{value:.0}×"),
            Self::Times => format!("{value:.1}×"),
            Self::Usd => format!("${value:.4}"),
            Self::Count => format!("{value:.0}"),
        }
    }

    /// A number for JSON: whole units as integers.
    fn json(self, value: f64) -> Value {
        match self {
            Self::Bytes | Self::Memory | Self::Count => Value::from(value as u64),
            _ => serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number),
        }
    }

    /// A chart axis's scale: the divisor and name of the unit its ticks are written in, for
    /// the largest value on the axis.
    pub(crate) fn axis(self, max: f64) -> (f64, &'static str) {
        match self {
            Self::Bytes if max >= 1e9 => (1e9, "GB"),
            Self::Bytes if max >= 1e6 => (1e6, "MB"),
            Self::Bytes => (1e3, "kB"),
            Self::Memory => (1024.0 * 1024.0, "MiB"),
            Self::Seconds => (1.0, "s"),
            Self::Milliseconds => (1.0, "ms"),
            Self::Percent(_) | Self::Growth => (1.0, "%"),
            Self::Times => (1.0, "×"),
            Self::Usd => (1.0, "USD"),
            Self::Count => (1.0, ""),
        }
    }
}

/// One figure of an image.
#[derive(Debug)]
pub(crate) struct Figure {
    /// Its JSON key and CSV column.
    pub(crate) key: &'static str,
    /// Its name in the tables (terminal, Markdown, the page).
    pub(crate) label: &'static str,
    pub(crate) reading: Reading,
    /// In the tables; JSON and CSV carry every figure.
    pub(crate) shown: bool,
}

/// What a figure is and how it is read off a row.
#[derive(Debug)]
pub(crate) enum Reading {
    Number {
        unit: Unit,
        read: fn(&Row) -> Option<f64>,
        /// Written where there is no number.
        absent: &'static str,
        /// Another figure written after this one, in brackets.
        note: Option<&'static Figure>,
    },
    Text(fn(&Row) -> String),
    List {
        read: fn(&Row) -> Vec<String>,
        empty: &'static str,
    },
}

impl Figure {
    pub(crate) fn unit(&self) -> Option<Unit> {
        match self.reading {
            Reading::Number { unit, .. } => Some(unit),
            _ => None,
        }
    }

    /// The number, rounded as every view shows it; `None` where not measured (or not a number).
    pub(crate) fn number(&self, row: &Row) -> Option<f64> {
        match self.reading {
            Reading::Number { unit, read, .. } => read(row).map(|v| unit.round(v)),
            _ => None,
        }
    }

    /// The figure as people read it: `20.8 s (40 %)`, `skipped`, `bash sh`.
    pub(crate) fn text(&self, row: &Row) -> String {
        match &self.reading {
            Reading::Number {
                unit, absent, note, ..
            } => match self.number(row) {
                None => (*absent).to_owned(),
                Some(value) => {
                    let text = unit.text(value);
                    match note.filter(|note| note.number(row).is_some()) {
                        Some(note) => format!("{text} ({})", note.text(row)),
                        None => text,
                    }
                }
            },
            Reading::Text(read) => read(row),
            Reading::List { read, empty } => {
                let items = read(row);
                if items.is_empty() {
                    (*empty).to_owned()
                } else {
                    items.join(" ")
                }
            }
        }
    }

    pub(crate) fn json(&self, row: &Row) -> Value {
        match &self.reading {
            Reading::Number { unit, .. } => self
                .number(row)
                .map_or(Value::Null, |value| unit.json(value)),
            Reading::Text(read) => Value::from(read(row)),
            Reading::List { read, .. } => Value::from(read(row)),
        }
    }

    /// The CSV cell: the JSON number as written there, empty where JSON has null.
    pub(crate) fn csv(&self, row: &Row) -> String {
        match self.json(row) {
            Value::Null => String::new(),
            Value::String(text) => text,
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
            other => other.to_string(),
        }
    }
}

pub(crate) const VARIANT: Figure = Figure {
    key: "variant",
    label: "variant",
    reading: Reading::Text(|row| row.name().to_owned()),
    shown: false,
};
/// The column headers of the tables.
pub(crate) const IMAGE: Figure = Figure {
    key: "image",
    label: "image",
    reading: Reading::Text(Row::tag),
    shown: true,
};
pub(crate) const IMAGE_ID: Figure = Figure {
    key: "image_id",
    label: "image id",
    reading: Reading::Text(|row| row.image_id.clone()),
    shown: false,
};
pub(crate) const SIZE: Figure = Figure {
    key: "size_bytes",
    label: "size",
    reading: Reading::Number {
        unit: Unit::Bytes,
        read: |row| Some(row.size_bytes as f64),
        absent: "",
        note: None,
    },
    shown: true,
};
pub(crate) const TIMES_SMALLER: Figure = Figure {
    key: "times_smaller_than_single_stage",
    label: "smaller than single-stage",
    reading: Reading::Number {
        unit: Unit::Times,
        read: |row| row.times_smaller,
        absent: "baseline",
        note: None,
    },
    shown: true,
};
pub(crate) const REDUCTION: Figure = Figure {
    key: "reduction_percent",
    label: "reduction vs single-stage",
    reading: Reading::Number {
        unit: Unit::Percent(2),
        read: |row| row.reduction_percent,
        absent: "baseline",
        note: None,
    },
    shown: true,
};
pub(crate) const APP_BINARY: Figure = Figure {
    key: "app_binary_bytes",
    label: "the service's binary",
    reading: Reading::Number {
        unit: Unit::Bytes,
        read: |row| row.app_binary_bytes.map(|b| b as f64),
        absent: "program not found in the image",
        note: None,
    },
    shown: false,
};
pub(crate) const OVERHEAD: Figure = Figure {
    key: "overhead_vs_binary_percent",
    label: "size over the binary it carries",
    reading: Reading::Number {
        unit: Unit::Growth,
        read: Row::overhead_percent,
        absent: "program not found in the image",
        note: Some(&APP_BINARY),
    },
    shown: true,
};
pub(crate) const COMPRESSED: Figure = Figure {
    key: "compressed_bytes",
    label: "compressed (push) size",
    reading: Reading::Number {
        unit: Unit::Bytes,
        read: |row| Some(row.compressed_bytes as f64),
        absent: "",
        note: None,
    },
    shown: true,
};
pub(crate) const COLD_PULL: Figure = Figure {
    key: "cold_pull_to_serving_seconds",
    label: "cold pull → serving",
    reading: Reading::Number {
        unit: Unit::Seconds,
        read: |row| row.cold_pull_seconds,
        absent: "skipped",
        note: None,
    },
    shown: true,
};
pub(crate) const LAYERS: Figure = Figure {
    key: "layers",
    label: "layers",
    reading: Reading::Number {
        unit: Unit::Count,
        read: |row| Some(row.layers as f64),
        absent: "",
        note: None,
    },
    shown: true,
};
pub(crate) const FILES: Figure = Figure {
    key: "files",
    label: "files",
    reading: Reading::Number {
        unit: Unit::Count,
        read: |row| Some(row.files as f64),
        absent: "",
        note: None,
    },
    shown: true,
};
pub(crate) const OS_PACKAGES: Figure = Figure {
    key: "os_packages",
    label: "OS packages",
    reading: Reading::Number {
        unit: Unit::Count,
        read: |row| Some(row.os_packages as f64),
        absent: "",
        note: None,
    },
    shown: true,
};
pub(crate) const SHELLS: Figure = Figure {
    key: "shells",
    label: "shell",
    reading: Reading::List {
        read: |row| row.shells.clone(),
        empty: "none",
    },
    shown: true,
};
pub(crate) const USER: Figure = Figure {
    key: "user",
    label: "user",
    reading: Reading::Text(|row| row.user.clone()),
    shown: true,
};
pub(crate) const COLD_BUILD: Figure = Figure {
    key: "cold_build_seconds",
    label: "cold build",
    reading: Reading::Number {
        unit: Unit::Seconds,
        read: |row| row.cold_build_seconds,
        absent: "not measured",
        note: None,
    },
    shown: true,
};
pub(crate) const REBUILD_SHARE: Figure = Figure {
    key: "rebuild_share_of_cold_build_percent",
    label: "rebuild as a share of a cold build",
    reading: Reading::Number {
        unit: Unit::Percent(0),
        read: |row| match (row.rebuild_seconds, row.cold_build_seconds) {
            (Some(rebuild), Some(cold)) if cold > 0.0 => Some(rebuild / cold * 100.0),
            _ => None,
        },
        absent: "",
        note: None,
    },
    shown: false,
};
pub(crate) const REBUILD: Figure = Figure {
    key: "rebuild_seconds",
    label: "rebuild after source edit",
    reading: Reading::Number {
        unit: Unit::Seconds,
        read: |row| row.rebuild_seconds,
        absent: "skipped",
        note: Some(&REBUILD_SHARE),
    },
    shown: true,
};
pub(crate) const HOST_REBUILD: Figure = Figure {
    key: "host_rebuild_seconds",
    label: "the same rebuild on the host",
    reading: Reading::Number {
        unit: Unit::Seconds,
        read: |row| row.host_rebuild_seconds,
        // Not for the single-stage image, whose rebuild is a full compile; not when skipped.
        absent: "not measured",
        note: None,
    },
    shown: false,
};
pub(crate) const BUILDER_ADDS: Figure = Figure {
    key: "builder_adds_to_host_rebuild_percent",
    label: "builder adds to the host rebuild",
    reading: Reading::Number {
        unit: Unit::Growth,
        read: Row::builder_adds_percent,
        absent: "—",
        note: Some(&HOST_REBUILD),
    },
    shown: true,
};
pub(crate) const REPRODUCIBLE: Figure = Figure {
    key: "reproducible",
    label: "two builds, one image",
    reading: Reading::Text(|row| match &row.reproducible {
        Reproducible::Yes(what) => format!("yes ({what})"),
        Reproducible::No(what) => format!("no ({what})"),
        Reproducible::Unknown(why) => why.clone(),
    }),
    shown: true,
};
pub(crate) const STARTUP: Figure = Figure {
    key: "startup_ms",
    label: "docker run → first 200",
    reading: Reading::Number {
        unit: Unit::Milliseconds,
        read: |row| Some(row.startup_ms),
        absent: "",
        note: None,
    },
    shown: true,
};
pub(crate) const IDLE_MEMORY: Figure = Figure {
    key: "idle_memory_bytes",
    label: "idle memory",
    reading: Reading::Number {
        unit: Unit::Memory,
        read: |row| Some(row.idle_memory_bytes as f64),
        absent: "",
        note: None,
    },
    shown: true,
};
pub(crate) const COST: Figure = Figure {
    key: "monthly_cost_usd",
    label: "registry cost / month",
    reading: Reading::Number {
        unit: Unit::Usd,
        read: |row| Some(row.monthly_cost_usd),
        absent: "",
        note: None,
    },
    shown: true,
};

/// Every figure, in the order of the tables and the CSV columns.
pub(crate) const FIGURES: [&Figure; 24] = [
    &VARIANT,
    &IMAGE,
    &IMAGE_ID,
    &SIZE,
    &TIMES_SMALLER,
    &REDUCTION,
    &APP_BINARY,
    &OVERHEAD,
    &COMPRESSED,
    &COLD_PULL,
    &LAYERS,
    &FILES,
    &OS_PACKAGES,
    &SHELLS,
    &USER,
    &COLD_BUILD,
    &REBUILD,
    &REBUILD_SHARE,
    &BUILDER_ADDS,
    &HOST_REBUILD,
    &REPRODUCIBLE,
    &STARTUP,
    &IDLE_MEMORY,
    &COST,
];

/// The figures the tables show, one per line, the image names (their column headers) left out.
pub(crate) fn table_rows() -> impl Iterator<Item = &'static Figure> {
    FIGURES
        .into_iter()
        .filter(|figure| figure.shown && figure.key != IMAGE.key)
}

/// The project's targets for the images: (target, measured figure, met).
pub(crate) fn targets(rows: &[Row]) -> Vec<(&'static str, String, bool)> {
    let mut targets = Vec::new();
    let find = |variant| {
        rows.iter()
            .find(|row| row.variant == variant && !row.daemonless)
    };
    if let Some(scratch) = find(Variant::Scratch) {
        targets.push((
            "scratch ≤ 4 MB",
            SIZE.text(scratch),
            scratch.size_bytes <= 4_000_000,
        ));
        if let Some(overhead) = OVERHEAD.number(scratch) {
            targets.push((
                "scratch ≤ 3 % over its binary",
                Unit::Growth.text(overhead),
                overhead <= 3.0,
            ));
        }
        if let Some(reduction) = REDUCTION.number(scratch) {
            targets.push((
                "reduction ≥ 99.5 %",
                REDUCTION.text(scratch),
                reduction >= 99.5,
            ));
        }
    }
    if let Some(scratch_pull) = find(Variant::Scratch).and_then(|row| COLD_PULL.number(row)) {
        targets.push((
            "cold pull → serving: scratch ≤ 1.0 s",
            Unit::Seconds.text(scratch_pull),
            scratch_pull <= 1.0,
        ));
        if let Some(single_pull) = find(Variant::Single).and_then(|row| COLD_PULL.number(row))
            && scratch_pull > 0.0
        {
            let times = single_pull / scratch_pull;
            targets.push((
                "cold pull → serving: scratch ≥ 20× faster than single-stage",
                Unit::Times.text(times),
                times >= 20.0,
            ));
        }
    }
    if let Some(distroless) = find(Variant::Distroless) {
        targets.push((
            "distroless ≤ 6 MB",
            SIZE.text(distroless),
            distroless.size_bytes <= 6_000_000,
        ));
    }
    for row in rows.iter().filter(|row| row.daemonless) {
        let verdict = match &row.reproducible {
            Reproducible::Yes(_) => Some(true),
            Reproducible::No(_) => Some(false),
            Reproducible::Unknown(_) => None,
        };
        if let Some(met) = verdict {
            targets.push((
                "daemonless: two clean builds give one digest",
                format!("{}: {}", row.name(), REPRODUCIBLE.text(row)),
                met,
            ));
        }
    }
    for row in rows.iter().filter(|row| row.variant != Variant::Single) {
        if let Some(added) = BUILDER_ADDS.number(row) {
            targets.push((
                "the builder adds ≤ 10 % to the host's rebuild after a source edit",
                format!("{}: {}", row.name(), BUILDER_ADDS.text(row)),
                added <= 10.0,
            ));
        }
        targets.push((
            "docker run → first 200 ≤ 500 ms",
            format!("{}: {}", row.name(), STARTUP.text(row)),
            row.startup_ms <= 500.0,
        ));
    }
    targets
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn row(variant: Variant, size_bytes: u64, binary: Option<u64>) -> Row {
        Row {
            variant,
            daemonless: false,
            reproducible: Reproducible::Unknown("one build".to_owned()),
            image_id: "sha256:0".to_owned(),
            size_bytes,
            compressed_bytes: size_bytes / 2,
            cold_pull_seconds: Some(0.5),
            cold_pull_samples: Some(3),
            layers: 1,
            files: 1,
            app_binary_bytes: binary,
            os_packages: 0,
            shells: Vec::new(),
            user: "65532:65532".to_owned(),
            reduction_percent: None,
            times_smaller: None,
            cold_build_seconds: Some(100.0),
            rebuild_seconds: Some(5.0),
            host_rebuild_seconds: Some(4.8),
            builder_adds_seconds: Some(0.3),
            rebuild_pairs: Some(1),
            startup_ms: 120.04,
            idle_memory_bytes: 2_097_152,
            monthly_cost_usd: 0.0123,
        }
    }

    /// The three images as measured, roughly; the single-stage one with its shells and root.
    pub(crate) fn report() -> Report {
        let mut single = row(Variant::Single, 1_330_000_000, Some(1_660_000));
        single.shells = vec!["bash".to_owned(), "sh".to_owned()];
        single.user = "root (default)".to_owned();
        single.rebuild_seconds = Some(98.0);
        single.host_rebuild_seconds = None;
        single.builder_adds_seconds = None;
        single.rebuild_pairs = None;
        single.cold_pull_samples = Some(1);
        Report::new(
            vec![
                single,
                row(Variant::Scratch, 2_560_000, Some(2_560_000)),
                row(Variant::Distroless, 4_100_000, Some(2_560_000)),
            ],
            "2026-12-02T06:05:42Z".to_owned(),
            "0123456789ab".to_owned(),
            Machine {
                cpu: "AMD EPYC <test>".to_owned(),
                logical_cpus: 2,
                memory_bytes: 8 << 30,
                kernel: "6.1.0".to_owned(),
            },
            "buildkit",
            CargoProfile::from_manifest(
                "[profile.release]\nlto = \"fat\"\n# why\ncodegen-units = 1\n\n[profile.dev]\nopt-level = 0\n",
                "release",
            )
            .expect("defined"),
            Pricing {
                storage_usd_per_gb_month: 0.10,
                transfer_usd_per_gb: 0.09,
                pulls_per_month: 30,
            },
        )
    }

    #[test]
    fn the_report_states_its_circumstances_and_compares_against_the_baseline() {
        let report = report();
        assert_eq!(
            report.circumstances(),
            "Measured with `cargo xtask compare` on 2026-12-02 06:05 UTC at revision 0123456789ab \
             on 2 logical CPUs \
             (AMD EPYC <test>), 8 GiB RAM, Linux 6.1.0, built with BuildKit, profile release \
             (lto = \"fat\", codegen-units = 1)."
        );
        let [single, scratch, _] = &report.rows[..] else {
            panic!("three rows");
        };
        assert_eq!(TIMES_SMALLER.text(single), "baseline");
        assert_eq!(TIMES_SMALLER.text(scratch), "520×");
        assert_eq!(REDUCTION.text(scratch), "99.81 %");
        assert_eq!(OVERHEAD.text(scratch), "+0.0 % (2.56 MB)");
        assert_eq!(REBUILD.text(scratch), "5.0 s (5 %)");
        assert_eq!(STARTUP.text(scratch), "120 ms");
        assert_eq!(IDLE_MEMORY.text(scratch), "2.00 MiB");
        assert_eq!(SHELLS.text(single), "bash sh");
        assert_eq!(SHELLS.text(scratch), "none");
    }

    #[test]
    fn the_report_says_how_many_times_it_timed_what() {
        let mut report = report();
        assert_eq!(
            report.sampling_note().as_deref(),
            Some(
                "Rebuild after source edit: one pair (image, then host) per multi-stage image; \
                 `--rebuild-pairs N` times N and reports their medians. Cold pull → serving: \
                 the median of 3 for app:scratch, app:distroless; once for app:single-stage."
            )
        );
        for row in &mut report.rows {
            row.rebuild_pairs = row.rebuild_pairs.map(|_| 3);
            row.cold_pull_samples = None;
        }
        assert_eq!(
            report.sampling_note().as_deref(),
            Some(
                "Rebuild after source edit: the median of 3 pairs (image, then host) per \
                 multi-stage image."
            )
        );
        for row in &mut report.rows {
            row.rebuild_pairs = None;
        }
        assert_eq!(report.sampling_note(), None);
    }

    #[test]
    fn text_json_and_csv_are_written_from_the_same_rounded_number() {
        let report = report();
        for row in &report.rows {
            for figure in FIGURES {
                let Some(unit) = figure.unit() else {
                    continue;
                };
                let json = figure.json(row);
                assert_eq!(figure.csv(row), json.to_string().replace("null", ""));
                if let Some(number) = figure.number(row) {
                    assert_eq!(json.as_f64(), Some(number), "{}", figure.key);
                    assert!(
                        figure.text(row).starts_with(&unit.text(number)),
                        "{}: {}",
                        figure.key,
                        figure.text(row)
                    );
                }
            }
        }
        let mut keys: Vec<&str> = FIGURES.iter().map(|f| f.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), FIGURES.len(), "every key once");
    }
}
