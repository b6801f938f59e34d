//! `cargo xtask compare`: the single-stage baseline and the multi-stage images side by side,
//! measured on this machine: size, what is inside, build and start times, memory and what the
//! registry would cost.
//!
//! Its steps are counted before the first starts and each says so on stderr (`[ 4/14] building
//! app:distroless`): the engine and the tools, the base images, each image built and measured,
//! each rebuild after a source edit, each cold pull. The report alone goes to stdout.

mod chart;
mod daemonless_row;
mod figures;
mod html;
mod pull;
mod rebuild;
mod report;

use std::time::Duration;

use anyhow::Result;

use crate::docker;
use crate::docker::build::{self, BuildRecord};
use crate::docker::container::RunningContainer;
use crate::docker::engine;
use crate::docker::stand_ins;
use crate::files;
use crate::flags::{Compare, OutputFormat};
use crate::git;
use crate::image::facts;
use crate::measure::machine::Machine;
use crate::measure::time;
use crate::output::Steps;
use crate::project::profile::CargoProfile;
use crate::project::variant::Variant;
use crate::records::{self, History as _};
use figures::{Pricing, Report};
use rebuild::ContextCopy;

/// The name of the daemonless scratch image's row.
pub(crate) const DAEMONLESS_SCRATCH: &str = "scratch-daemonless";

/// One measured image; [`figures::FIGURES`] says how each view reads it.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) variant: Variant,
    /// Made by `build --daemonless` rather than by its Dockerfile.
    pub(crate) daemonless: bool,
    /// Whether two builds of the same sources gave the same image.
    pub(crate) reproducible: Reproducible,
    pub(crate) image_id: String,
    pub(crate) size_bytes: u64,
    pub(crate) compressed_bytes: u64,
    /// From `docker pull` into an engine without its layers to the first 200.
    pub(crate) cold_pull_seconds: Option<f64>,
    /// How many cold pulls were timed (their median is the figure).
    pub(crate) cold_pull_samples: Option<usize>,
    pub(crate) layers: usize,
    pub(crate) files: u64,
    pub(crate) app_binary_bytes: Option<u64>,
    pub(crate) os_packages: u64,
    pub(crate) shells: Vec<String>,
    pub(crate) user: String,
    /// Against the single-stage image; set by [`Report::new`].
    pub(crate) reduction_percent: Option<f64>,
    /// How many times smaller than the single-stage image; set by [`Report::new`].
    pub(crate) times_smaller: Option<f64>,
    pub(crate) cold_build_seconds: Option<f64>,
    pub(crate) rebuild_seconds: Option<f64>,
    /// The same source edit compiled on the host with the same profile (multi-stage images).
    pub(crate) host_rebuild_seconds: Option<f64>,
    /// What the image's rebuild takes over the host's: the median of alternating pairs (one
    /// pair by default: its difference).
    pub(crate) builder_adds_seconds: Option<f64>,
    /// How many (image, host) rebuild pairs were timed; multi-stage images only.
    pub(crate) rebuild_pairs: Option<usize>,
    pub(crate) startup_ms: f64,
    pub(crate) idle_memory_bytes: u64,
    pub(crate) monthly_cost_usd: f64,
}

/// Whether two builds of one commit gave the same image: the manifest digest for the daemonless
/// image, the image ID (its config's digest) for the Dockerfile images, whose two cold builds
/// are the one `compare --rebuild` makes and the one before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reproducible {
    Yes(String),
    No(String),
    /// Why it is not known.
    Unknown(String),
}

impl Row {
    /// `scratch`, or `scratch-daemonless`: the name the tables, the page and the history use.
    pub(crate) fn name(&self) -> &'static str {
        if self.daemonless {
            DAEMONLESS_SCRATCH
        } else {
            self.variant.name()
        }
    }

    /// The image's tag in the local engine.
    pub(crate) fn tag(&self) -> String {
        format!(
            "{}:{}",
            crate::project::variant::IMAGE_REPOSITORY,
            self.name()
        )
    }

    /// What the builder adds to the host's rebuild, as a share of the host's.
    pub(crate) fn builder_adds_percent(&self) -> Option<f64> {
        match (self.builder_adds_seconds, self.host_rebuild_seconds) {
            (Some(added), Some(host)) if host > 0.0 => Some(added / host * 100.0),
            _ => None,
        }
    }

    /// How much larger the image is than the service binary it carries.
    pub(crate) fn overhead_percent(&self) -> Option<f64> {
        self.app_binary_bytes
            .filter(|binary| *binary > 0)
            .map(|binary| (self.size_bytes as f64 / binary as f64 - 1.0) * 100.0)
    }
}

impl Compare {
    pub(crate) fn run(self) -> Result<()> {
        let profile = CargoProfile::for_images(&self.profile)?;
        // Decided before counting the steps: a cold pull needs an engine of its own, as root.
        let pulls_timed = !self.skip_pull && {
            let root = crate::tools::debian::is_root();
            if !root {
                eprintln!(
                    "note: the cold pulls are not timed: {}",
                    crate::docker::second_engine::NEEDS_ROOT
                );
            }
            root
        };
        let rebuilds_timed = !self.skip_rebuild;
        let mut steps = Steps::new(step_count(rebuilds_timed, pulls_timed));

        steps.start("the Docker engine and the tools");
        engine::require()?;
        // Prepared before anything is built: what the end of the run needs is installed now.
        let registry = if pulls_timed {
            crate::docker::second_engine::SecondEngine::prepare()?;
            Some(pull::LocalRegistry::start()?)
        } else {
            None
        };

        steps.start("the base images the Dockerfiles build from");
        stand_ins::ensure_for_images()?;
        for variant in Variant::ALL {
            // Says which base each Dockerfile builds from, once, before the builds start.
            stand_ins::build_args(variant.dockerfile())?;
        }

        // Read once: which profile built each image, and the cold builds of earlier runs.
        let builds = records::Build::read_all().unwrap_or_default();
        let mut rows = Vec::new();
        for variant in Variant::ALL {
            let profile = build::profile_for(variant, &profile)?;
            rows.push(self.measure(variant, &profile, &builds, &mut steps)?);
        }
        steps.start(format!(
            "building {} without Docker",
            crate::oci::builder::image_name(Variant::Scratch)
        ));
        let (row, made) = self.measure_daemonless(&builds)?;
        rows.push(row);

        if rebuilds_timed {
            self.time_rebuilds(&mut rows, &made, &profile, &mut steps)?;
        }
        if let Some(registry) = &registry {
            time_pulls(registry, &mut rows, &mut steps)?;
        }
        drop(registry);
        let report = Report::new(
            rows,
            time::rfc3339(time::now_unix()),
            git::revision(),
            Machine::this(),
            build::builder_name(docker::builder::builder().buildkit),
            profile,
            self.pricing(),
        );
        record_sizes(&report)?;

        match self.format() {
            OutputFormat::Table => print!("{}", report.table()),
            OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report.json())?),
            OutputFormat::Markdown => print!("{}", report.markdown()),
            OutputFormat::Csv => print!("{}", report.csv()),
        }
        if let Some(path) = &self.html {
            // Each image's trend in the profile it was measured with: a `release-fast` size is
            // not a step in the `release` image's history.
            let history: Vec<records::ImageSize> = records::ImageSize::read_all()?
                .into_iter()
                .filter(|record| profile_of(&report, &record.variant) == record.profile)
                .collect();
            let page = html::page(&report, &history);
            files::write_atomically(path, page.as_bytes())?;
            eprintln!("wrote {}", path.display());
        }
        Ok(())
    }

    /// One step per image: its rebuild after a source edit, timed in a copy of the checkout.
    fn time_rebuilds(
        &self,
        rows: &mut [Row],
        made: &daemonless_row::Made,
        profile: &CargoProfile,
        steps: &mut Steps,
    ) -> Result<()> {
        let copy = ContextCopy::create()?;
        // First: its clean build compiles the dependencies on the host, which the multi-stage
        // images' host rebuilds then reuse.
        steps.start(format!(
            "timing {}'s rebuild: built clean at another path, then after a source edit",
            crate::oci::builder::image_name(Variant::Scratch)
        ));
        let timed = daemonless_row::time_rebuild(&copy, made)?;
        if let Some(row) = rows.iter_mut().find(|row| row.daemonless) {
            row.rebuild_seconds = Some(timed.rebuild_seconds);
            row.reproducible = timed.reproducible;
        }
        let pairs = usize::try_from(self.rebuild_pairs).unwrap_or(1);
        for row in rows.iter_mut().filter(|row| !row.daemonless) {
            steps.start(format!(
                "timing {}'s rebuild after a source edit{}",
                row.tag(),
                if row.variant == Variant::Single {
                    " (a full compile)".to_owned()
                } else {
                    format!(
                        ", in the image and on the host ({})",
                        figures::pairs_text(pairs)
                    )
                }
            ));
            let profile = build::profile_for(row.variant, profile)?;
            let rebuild = copy.rebuild_after_source_change(row.variant, &profile, pairs)?;
            row.rebuild_seconds = Some(rebuild.image);
            row.host_rebuild_seconds = rebuild.host;
            row.builder_adds_seconds = rebuild.builder_adds;
            row.rebuild_pairs = rebuild.pairs;
        }
        Ok(())
    }

    fn pricing(&self) -> Pricing {
        Pricing {
            storage_usd_per_gb_month: self.storage_price,
            transfer_usd_per_gb: self.transfer_price,
            pulls_per_month: self.deployments,
        }
    }

    /// One step: builds `variant` when it is missing, built with another profile or
    /// `--rebuild` asks, then measures it.
    fn measure(
        &self,
        variant: Variant,
        profile: &CargoProfile,
        builds: &[records::Build],
        steps: &mut Steps,
    ) -> Result<Row> {
        let tag = variant.tag();
        let mut fresh_build: Option<BuildRecord> = None;
        // An image missing, or built with another profile, is built (without the cache too, so
        // that its cold build time is real).
        let existing = facts::config(&tag)
            .ok()
            .filter(|config| !self.rebuild && built_with(&config.id, profile, builds));
        let config = if let Some(config) = existing {
            steps.start(format!("measuring {tag} (built earlier)"));
            config
        } else {
            steps.start(format!("building {tag}"));
            let record = build::build(variant, &crate::files::root(), &tag, profile, true, true)?;
            build::record_build(&record)?;
            fresh_build = Some(record);
            facts::config(&tag)?
        };
        let cold_build_seconds = fresh_build
            .as_ref()
            .filter(|record| record.is_cold())
            .map(|record| record.seconds)
            .or_else(|| last_cold_build(variant, profile, builds));
        // Read again: the build just made is one of the two compared.
        let history = records::Build::read_all().unwrap_or_default();
        // The revision the measured image was built from, which an image kept from an earlier
        // run may not share with the checkout.
        let revision = history
            .iter()
            .rev()
            .find(|b| b.image_id == config.id)
            .map_or_else(git::revision, |b| b.revision.clone());
        let reproducible = daemonless_row::dockerfile_reproducible(
            variant,
            &revision,
            &profile.name,
            build::builder_name(docker::builder::builder().buildkit),
            &history,
        );
        let mut row = self.measure_image(variant, &tag, config)?;
        row.cold_build_seconds = cold_build_seconds;
        row.reproducible = reproducible;
        Ok(row)
    }

    /// The image `build --daemonless` makes, built and measured as the others; its rebuild is
    /// timed later, from the rebuild probe's copy.
    fn measure_daemonless(&self, builds: &[records::Build]) -> Result<(Row, daemonless_row::Made)> {
        let made = daemonless_row::make(self.rebuild, builds)?;
        let tag = crate::oci::builder::image_name(Variant::Scratch);
        let config = facts::config(&tag)?;
        let mut row = self.measure_image(Variant::Scratch, &tag, config)?;
        row.daemonless = true;
        row.cold_build_seconds = made.cold_build_seconds;
        row.reproducible = Reproducible::Unknown("skipped".to_owned());
        Ok((row, made))
    }

    /// What an image in the engine is: its files, its start-up, its memory, its cost; the
    /// build figures are the caller's.
    fn measure_image(
        &self,
        variant: Variant,
        tag: &str,
        config: facts::ImageConfig,
    ) -> Result<Row> {
        eprintln!("  reading the filesystem and the compressed size");
        let filesystem = facts::filesystem(tag, &config.program_paths())?;
        let compressed_bytes = filesystem.compressed_bytes;

        eprintln!("  starting a container");
        let container = RunningContainer::start(tag, &[])?;
        let startup = container.wait_http_ok("/", Duration::from_mins(1))?;
        std::thread::sleep(Duration::from_secs(1));
        let idle_memory_bytes = container.memory_bytes()?;
        drop(container);

        Ok(Row {
            variant,
            daemonless: false,
            reproducible: Reproducible::Unknown("not checked".to_owned()),
            image_id: config.id,
            size_bytes: config.size_bytes,
            compressed_bytes,
            cold_pull_seconds: None,
            cold_pull_samples: None,
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
            times_smaller: None,
            cold_build_seconds: None,
            rebuild_seconds: None,
            host_rebuild_seconds: None,
            builder_adds_seconds: None,
            rebuild_pairs: None,
            startup_ms: startup.as_secs_f64() * 1000.0,
            idle_memory_bytes,
            monthly_cost_usd: self.pricing().monthly_cost_usd(compressed_bytes),
        })
    }
}

/// One step per image: from a cold pull to its first 200.
fn time_pulls(registry: &pull::LocalRegistry, rows: &mut [Row], steps: &mut Steps) -> Result<()> {
    for row in rows {
        let samples = pull::samples(row.compressed_bytes);
        steps.start(format!(
            "timing {} from a cold pull to the first 200 ({})",
            row.tag(),
            if samples == 1 {
                "once".to_owned()
            } else {
                format!("the median of {samples}")
            }
        ));
        row.cold_pull_seconds = Some(pull::cold_pull_to_serving(registry, &row.tag(), samples)?);
        row.cold_pull_samples = Some(samples);
    }
    Ok(())
}

/// The steps of a run: the engine and the tools, the base images, each image built (the
/// daemonless one too), each image's rebuild timed, each image's cold pull timed.
fn step_count(rebuilds_timed: bool, pulls_timed: bool) -> usize {
    let images = Variant::ALL.len() + 1;
    2 + images + usize::from(rebuilds_timed) * images + usize::from(pulls_timed) * images
}

/// The latest cold build of `variant` by the builder in use with `profile`: other builders' and
/// profiles' times are not comparable with the rebuild measured now.
fn last_cold_build(
    variant: Variant,
    profile: &CargoProfile,
    builds: &[records::Build],
) -> Option<f64> {
    let builder = build::builder_name(docker::builder::builder().buildkit);
    builds
        .iter()
        .rev()
        .find(|b| {
            b.variant == variant.name()
                && b.kind == "cold"
                && b.builder == builder
                && b.profile == profile.name
        })
        .map(|b| b.seconds)
}

/// Whether the image `id` was built with `profile`, as far as the build history knows: an
/// image it never recorded was built by hand, with the Dockerfile's default, the shipped one.
fn built_with(id: &str, profile: &CargoProfile, builds: &[records::Build]) -> bool {
    builds
        .iter()
        .rev()
        .find(|b| b.image_id == id)
        .map_or(crate::project::profile::SHIPPED, |b| b.profile.as_str())
        == profile.name
}

/// The profile `variant` (by name) was measured with in `report`: the single-stage baseline's is
/// always the shipped one.
fn profile_of<'a>(report: &'a Report, variant: &str) -> &'a str {
    if variant == Variant::Single.name() || variant == DAEMONLESS_SCRATCH {
        crate::project::profile::SHIPPED
    } else {
        &report.profile.name
    }
}

fn record_sizes(report: &Report) -> Result<()> {
    let records: Vec<records::ImageSize> = report
        .rows
        .iter()
        .map(|row| records::ImageSize {
            date: report.date.clone(),
            revision: report.revision.clone(),
            variant: row.name().to_owned(),
            image_id: row.image_id.clone(),
            size_bytes: row.size_bytes,
            compressed_bytes: row.compressed_bytes,
            layers: row.layers as u64,
            files: row.files,
            profile: profile_of(report, row.name()).to_owned(),
        })
        .collect();
    records::ImageSize::append(&records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steps_are_counted_from_what_the_run_will_time() {
        // Engine and tools, base images, four images; then a rebuild and a cold pull of each.
        assert_eq!(step_count(false, false), 6);
        assert_eq!(step_count(true, false), 10);
        assert_eq!(step_count(true, true), 14);
    }
}
