//! `cargo xtask compare`: the single-stage baseline and the multi-stage images side by side,
//! measured on this machine: size, what is inside, build and start times, memory and what the
//! registry would cost.

mod chart;
mod figures;
mod html;
mod rebuild;
mod report;

use std::time::Duration;

use anyhow::{Context, Result};

use crate::docker;
use crate::docker::build::{self, BuildRecord};
use crate::docker::container::RunningContainer;
use crate::docker::engine;
use crate::flags::{Compare, OutputFormat};
use crate::image::facts;
use crate::project::variant::Variant;
use crate::records::{self, History as _};
use crate::util::fs as fs_util;
use crate::util::git;
use crate::util::machine::Machine;
use crate::util::time;
use figures::{Pricing, Profile, Report};
use rebuild::ContextCopy;

/// One measured image; [`figures::FIGURES`] says how each view reads it.
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
    /// Against the single-stage image; set by [`Report::new`].
    pub(crate) reduction_percent: Option<f64>,
    /// How many times smaller than the single-stage image; set by [`Report::new`].
    pub(crate) times_smaller: Option<f64>,
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
        let manifest = std::fs::read_to_string(crate::project::root().join("Cargo.toml"))
            .context("cannot read the workspace's Cargo.toml for its release profile")?;
        let report = Report::new(
            rows,
            time::rfc3339(time::now_unix()),
            git::revision(),
            Machine::this(),
            build::builder_name(docker::builder::builder().buildkit),
            Profile::release(&manifest),
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
            let page = html::page(&report, &records::ImageSize::read_all()?);
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
        let monthly_cost_usd = self.pricing().monthly_cost_usd(compressed_bytes);
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
            times_smaller: None,
            cold_build_seconds,
            rebuild_seconds,
            startup_ms: startup.as_secs_f64() * 1000.0,
            idle_memory_bytes,
            monthly_cost_usd,
        })
    }
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

fn record_sizes(report: &Report) -> Result<()> {
    let records: Vec<records::ImageSize> = report
        .rows
        .iter()
        .map(|row| records::ImageSize {
            date: report.date.clone(),
            revision: report.revision.clone(),
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
