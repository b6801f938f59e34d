//! `cargo xtask compare`: the single-stage baseline and the multi-stage images side by side,
//! measured on this machine: size, what is inside, build and start times, memory and what the
//! registry would cost.

mod chart;
mod daemonless;
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
use crate::flags::{Compare, OutputFormat};
use crate::image::facts;
use crate::project::profile::CargoProfile;
use crate::project::variant::Variant;
use crate::records::{self, History as _};
use crate::util::fs as fs_util;
use crate::util::git;
use crate::util::machine::Machine;
use crate::util::time;
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
    /// What the image's rebuild takes over the host's: the median of alternating pairs.
    pub(crate) builder_adds_seconds: Option<f64>,
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
        engine::require()?;
        let html_path = self.html.clone();
        // One copy of the build context serves every variant's rebuild timing.
        let context_copy = if self.skip_rebuild {
            None
        } else {
            Some(ContextCopy::create()?)
        };
        // Checked before anything is built: a cold pull needs an engine of its own.
        let registry = if self.skip_pull {
            None
        } else if !crate::tools::debian::is_root() {
            eprintln!(
                "note: the cold pulls are not timed: {}",
                crate::docker::second_engine::NEEDS_ROOT
            );
            None
        } else {
            crate::docker::second_engine::SecondEngine::prepare()?;
            Some(pull::LocalRegistry::start()?)
        };
        // Read once: which profile built each image, and the cold builds of earlier runs.
        let builds = records::Build::read_all().unwrap_or_default();
        let mut rows = Vec::new();
        for variant in Variant::ALL {
            eprintln!("\n==> {variant}");
            let profile = build::profile_for(variant, &profile)?;
            rows.push(self.measure(variant, &profile, &builds, context_copy.as_ref())?);
        }
        eprintln!("\n==> {DAEMONLESS_SCRATCH}");
        rows.push(self.measure_daemonless(&builds, context_copy.as_ref())?);
        if let Some(registry) = &registry {
            for row in &mut rows {
                eprintln!(
                    "\n==> {}: timing a cold pull from a local registry to the first 200",
                    row.name()
                );
                row.cold_pull_seconds = Some(pull::cold_pull_to_serving(registry, &row.tag())?);
            }
        }
        drop((context_copy, registry));
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
        if let Some(path) = html_path {
            // Each image's trend in the profile it was measured with: a `release-fast` size is
            // not a step in the `release` image's history.
            let history: Vec<records::ImageSize> = records::ImageSize::read_all()?
                .into_iter()
                .filter(|record| profile_of(&report, &record.variant) == record.profile)
                .collect();
            let page = html::page(&report, &history);
            fs_util::write_atomically(&path, page.as_bytes())?;
            eprintln!("wrote {}", path.display());
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

    fn measure(
        &self,
        variant: Variant,
        profile: &CargoProfile,
        builds: &[records::Build],
        context_copy: Option<&ContextCopy>,
    ) -> Result<Row> {
        let tag = variant.tag();
        let mut fresh_build: Option<BuildRecord> = None;
        // An image missing, or built with another profile, is built (without the cache too, so
        // that its cold build time is real).
        let existing = facts::config(&tag)
            .ok()
            .filter(|config| built_with(&config.id, profile, builds));
        let config = match existing {
            Some(config) if !self.rebuild => config,
            _ => {
                let record =
                    build::build(variant, &crate::project::root(), &tag, profile, true, true)?;
                build::record_build(&record)?;
                fresh_build = Some(record);
                facts::config(&tag)?
            }
        };
        let cold_build_seconds = fresh_build
            .as_ref()
            .filter(|record| record.is_cold())
            .map(|record| record.seconds)
            .or_else(|| last_cold_build(variant, profile, builds));
        let rebuild = match context_copy {
            None => None,
            Some(copy) => {
                eprintln!(
                    "  timing a rebuild after a source-only change (in a copy of the build context)"
                );
                Some(copy.rebuild_after_source_change(variant, profile)?)
            }
        };
        // Read again: the build just made is one of the two compared.
        let history = records::Build::read_all().unwrap_or_default();
        // The revision the measured image was built from, which an image kept from an earlier
        // run may not share with the checkout.
        let revision = history
            .iter()
            .rev()
            .find(|b| b.image_id == config.id)
            .map_or_else(git::revision, |b| b.revision.clone());
        let reproducible = daemonless::dockerfile_reproducible(
            variant,
            &revision,
            &profile.name,
            build::builder_name(docker::builder::builder().buildkit),
            &history,
        );
        let mut row = self.measure_image(variant, &tag, config)?;
        row.cold_build_seconds = cold_build_seconds;
        row.rebuild_seconds = rebuild.map(|r| r.image);
        row.host_rebuild_seconds = rebuild.and_then(|r| r.host);
        row.builder_adds_seconds = rebuild.and_then(|r| r.builder_adds);
        row.reproducible = reproducible;
        Ok(row)
    }

    /// The image `build --daemonless` makes, built and measured as the others.
    fn measure_daemonless(
        &self,
        builds: &[records::Build],
        context_copy: Option<&ContextCopy>,
    ) -> Result<Row> {
        let made = daemonless::make(self.rebuild, builds, context_copy)?;
        let tag = crate::project::daemonless::image_name(Variant::Scratch);
        let config = facts::config(&tag)?;
        let mut row = self.measure_image(Variant::Scratch, &tag, config)?;
        row.daemonless = true;
        row.cold_build_seconds = made.cold_build_seconds;
        row.rebuild_seconds = made.rebuild_seconds;
        row.reproducible = made.reproducible;
        Ok(row)
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
            startup_ms: startup.as_secs_f64() * 1000.0,
            idle_memory_bytes,
            monthly_cost_usd: self.pricing().monthly_cost_usd(compressed_bytes),
        })
    }
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
