//! `cargo xtask profiles`: builds the app under several release profiles and measures binary
//! size and throughput of each, the evidence behind the `[profile.release]` in Cargo.toml.

use anyhow::{Context, Result, bail};

use crate::bench::{Server, run_wrk};
use crate::flags::{Bench, Profiles};
use crate::process;

/// `profile.<name>.*` settings applied on top of `inherits = "release"`.
type Settings = &'static [(&'static str, &'static str)];

/// (name, what it is, settings).
const CANDIDATES: &[(&str, &str, Settings)] = &[
    (
        "stock",
        "cargo's stock release profile",
        &[
            ("opt-level", "3"),
            ("lto", "false"),
            ("codegen-units", "16"),
            ("strip", "\"none\""),
        ],
    ),
    (
        "strip-only",
        "stock + strip symbols",
        &[
            ("opt-level", "3"),
            ("lto", "false"),
            ("codegen-units", "16"),
            ("strip", "\"symbols\""),
        ],
    ),
    (
        "thin-lto",
        "opt 3, thin LTO, 16 units, stripped",
        &[
            ("opt-level", "3"),
            ("lto", "\"thin\""),
            ("codegen-units", "16"),
            ("strip", "\"symbols\""),
        ],
    ),
    (
        "fat-lto-o3",
        "opt 3, fat LTO, 1 unit, stripped (chosen)",
        &[
            ("opt-level", "3"),
            ("lto", "\"fat\""),
            ("codegen-units", "1"),
            ("strip", "\"symbols\""),
        ],
    ),
    (
        "fat-lto-os",
        "opt s, fat LTO, 1 unit, stripped",
        &[
            ("opt-level", "\"s\""),
            ("lto", "\"fat\""),
            ("codegen-units", "1"),
            ("strip", "\"symbols\""),
        ],
    ),
    (
        "fat-lto-oz",
        "opt z, fat LTO, 1 unit, stripped",
        &[
            ("opt-level", "\"z\""),
            ("lto", "\"fat\""),
            ("codegen-units", "1"),
            ("strip", "\"symbols\""),
        ],
    ),
    (
        "panic-abort",
        "chosen + panic=abort (breaks panic recovery)",
        &[
            ("opt-level", "3"),
            ("lto", "\"fat\""),
            ("codegen-units", "1"),
            ("strip", "\"symbols\""),
            ("panic", "\"abort\""),
        ],
    ),
];

impl Profiles {
    pub(crate) fn run(self) -> Result<()> {
        if !process::available("wrk") {
            bail!(
                "`wrk` is not installed: `sudo apt-get install wrk` (Debian/Ubuntu), then run again"
            );
        }
        let load = Bench {
            duration_secs: self.duration_secs,
            ..Bench::default()
        };
        let mut rows = Vec::new();
        for (name, description, settings) in CANDIDATES {
            let mut build = process::cargo();
            build.args(["build", "--locked", "--package", "app", "--profile", name]);
            build.args(["--config", &format!("profile.{name}.inherits=\"release\"")]);
            for (key, value) in *settings {
                build.args(["--config", &format!("profile.{name}.{key}={value}")]);
            }
            process::run(&mut build)?;
            let binary = crate::target_dir().join(name).join("app");
            let size = std::fs::metadata(&binary)
                .with_context(|| format!("no binary at {}", binary.display()))?
                .len();
            let server = Server::start(&binary)?;
            let root = run_wrk(&load, server.address, "/")?.requests_per_sec;
            let metrics = run_wrk(&load, server.address, "/metrics")?.requests_per_sec;
            drop(server);
            rows.push((name, description, size, root, metrics));
        }
        println!(
            "\n{:<14} {:<46} {:>11} {:>10} {:>14}",
            "profile", "settings", "size", "/ req/s", "/metrics req/s"
        );
        for (name, description, size, root, metrics) in rows {
            println!(
                "{name:<14} {description:<46} {:>7.2} MiB {root:>10.0} {metrics:>14.0}",
                size as f64 / (1024.0 * 1024.0)
            );
        }
        Ok(())
    }
}
