//! `cargo xtask history`: the recorded builds and size measurements, oldest first.

use anyhow::Result;

use crate::flags;
use crate::output::{self, Table};
use crate::records::{self, History as _};

impl flags::History {
    pub(crate) fn run(self) -> Result<()> {
        let limit = self.last;
        let builds = records::Build::read_all()?;
        let sizes = records::ImageSize::read_all()?;
        if builds.is_empty() && sizes.is_empty() {
            println!("No history yet: `cargo xtask build` and `cargo xtask compare` record it.");
            return Ok(());
        }
        if !builds.is_empty() {
            println!("Builds (last {limit}):");
            let mut table = Table::new([
                "date", "variant", "kind", "builder", "profile", "seconds", "cached", "size",
                "revision",
            ])
            .numeric(&[5, 6, 7])
            .indent("  ");
            for build in builds.iter().rev().take(limit).rev() {
                table.row([
                    build.date.clone(),
                    build.variant.clone(),
                    build.kind.clone(),
                    build.builder.clone(),
                    build.profile.clone(),
                    format!("{:.1}", build.seconds),
                    format!("{}/{}", build.cached_steps, build.steps),
                    output::bytes(build.size_bytes),
                    build.revision.clone(),
                ]);
            }
            print!("{}", table.render());
        }
        if !sizes.is_empty() {
            println!(
                "\nImage sizes measured by compare, per variant (oldest → newest, last {limit}):"
            );
            // One series per image and profile: a `release-fast` size is no step in the
            // `release` image's trend.
            let series_name = |size: &records::ImageSize| {
                if size.profile == crate::project::profile::SHIPPED {
                    size.variant.clone()
                } else {
                    format!("{} ({})", size.variant, size.profile)
                }
            };
            let mut variants: Vec<String> = sizes.iter().map(series_name).collect();
            variants.sort_unstable();
            variants.dedup();
            for variant in variants {
                let series: Vec<&records::ImageSize> =
                    sizes.iter().filter(|s| series_name(s) == variant).collect();
                let values: Vec<u64> = series.iter().map(|s| s.size_bytes).collect();
                let shown = &values[values.len().saturating_sub(limit)..];
                let first = shown.first().copied().unwrap_or(0);
                let last = shown.last().copied().unwrap_or(0);
                let change = if first == 0 {
                    0.0
                } else {
                    (last as f64 - first as f64) / first as f64 * 100.0
                };
                println!(
                    "  {variant:<12} {}  {} → {} ({change:+.1} %, {} measurements, latest {})",
                    output::sparkline(shown),
                    output::bytes(first),
                    output::bytes(last),
                    series.len(),
                    series.last().map_or("", |s| s.date.as_str()),
                );
            }
        }
        Ok(())
    }
}
