//! `cargo xtask profiles`: builds the app under several release profiles and measures, for each,
//! binary size, how long the app crate takes to compile again after a source edit (what an image
//! rebuild pays), and throughput: the evidence behind the `[profile.release]` in Cargo.toml.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::flags::{self, Command, Xtask};
use crate::loadtest::{Load, Server, run_wrk};
use crate::measure::median;
use crate::output::{self, Table};
use crate::process;
use crate::tools;

/// Load rounds; the candidates take turns in each, so a drift of the machine's speed spreads
/// over all of them instead of favouring whichever ran first.
const ROUNDS: usize = 3;

type Settings = &'static [(&'static str, &'static str)];

/// One profile to try: `profile.<name>.*` settings on top of `inherits = "release"`.
struct Candidate {
    name: &'static str,
    description: &'static str,
    settings: Settings,
}

const CANDIDATES: &[Candidate] = &[
    Candidate {
        name: "stock",
        description: "cargo's stock release profile",
        settings: &[
            ("opt-level", "3"),
            ("lto", "false"),
            ("codegen-units", "16"),
            ("strip", "\"none\""),
        ],
    },
    Candidate {
        name: "thin-lto",
        description: "opt 3, thin LTO, 16 units, stripped",
        settings: &[
            ("opt-level", "3"),
            ("lto", "\"thin\""),
            ("codegen-units", "16"),
            ("strip", "\"symbols\""),
        ],
    },
    Candidate {
        name: "fat-lto-o3",
        description: "opt 3, fat LTO, 1 unit, stripped (chosen)",
        settings: &[
            ("opt-level", "3"),
            ("lto", "\"fat\""),
            ("codegen-units", "1"),
            ("strip", "\"symbols\""),
        ],
    },
    Candidate {
        name: "fat-lto-os",
        description: "opt s, fat LTO, 1 unit, stripped",
        settings: &[
            ("opt-level", "\"s\""),
            ("lto", "\"fat\""),
            ("codegen-units", "1"),
            ("strip", "\"symbols\""),
        ],
    },
    Candidate {
        name: "fat-lto-oz",
        description: "opt z, fat LTO, 1 unit, stripped",
        settings: &[
            ("opt-level", "\"z\""),
            ("lto", "\"fat\""),
            ("codegen-units", "1"),
            ("strip", "\"symbols\""),
        ],
    },
    Candidate {
        name: "panic-abort",
        description: "fat-lto-o3 + panic=abort (breaks panic recovery)",
        settings: &[
            ("opt-level", "3"),
            ("lto", "\"fat\""),
            ("codegen-units", "1"),
            ("strip", "\"symbols\""),
            ("panic", "\"abort\""),
        ],
    },
    Candidate {
        name: "no-lto",
        description: "opt 3, no LTO, 1 unit, stripped",
        settings: &[
            ("opt-level", "3"),
            ("lto", "false"),
            ("codegen-units", "1"),
            ("strip", "\"symbols\""),
        ],
    },
];

struct Measured {
    candidate: &'static Candidate,
    binary: PathBuf,
    size: u64,
    rebuild_secs: f64,
    root: Vec<f64>,
    metrics: Vec<f64>,
}

impl flags::Profiles {
    pub(crate) fn run(self) -> Result<()> {
        tools::require(&["wrk"])?;
        // Bench's load, for this command's duration.
        let bench = Xtask::from_words(&["bench"]).ok();
        let load = match bench {
            Some(Command::Bench(bench)) => Load {
                duration_secs: self.duration_secs,
                ..Load::from(&bench)
            },
            _ => bail!("bench's flags do not parse"),
        };
        let mut measured = Vec::new();
        for candidate in CANDIDATES {
            eprintln!("==> {}: {}", candidate.name, candidate.description);
            let (binary, rebuild_secs) = build_and_time_rebuild(candidate)?;
            let size = std::fs::metadata(&binary)
                .with_context(|| format!("no binary at {}", binary.display()))?
                .len();
            measured.push(Measured {
                candidate,
                binary,
                size,
                rebuild_secs,
                root: Vec::new(),
                metrics: Vec::new(),
            });
        }
        let count = measured.len();
        for round in 0..ROUNDS {
            eprintln!("load round {}/{ROUNDS}", round + 1);
            // Each round starts with another candidate, so none is always measured first.
            for turn in 0..count {
                let entry = &mut measured[(turn + round) % count];
                let server = Server::start(&entry.binary)?;
                entry
                    .root
                    .push(run_wrk(&load, server.address, "/")?.requests_per_sec);
                entry
                    .metrics
                    .push(run_wrk(&load, server.address, "/metrics")?.requests_per_sec);
            }
        }
        print!("{}", table(&measured));
        Ok(())
    }
}

/// Builds the candidate, then compiles the app crate again as an image rebuild does after a
/// source edit (its library and binary, not the dependencies or the build script), timed.
fn build_and_time_rebuild(candidate: &Candidate) -> Result<(PathBuf, f64)> {
    let name = candidate.name;
    let build = || {
        let mut build = process::cargo();
        build.args(["build", "--locked", "--package", "app", "--profile", name]);
        build.args(["--config", &format!("profile.{name}.inherits=\"release\"")]);
        for (key, value) in candidate.settings {
            build.args(["--config", &format!("profile.{name}.{key}={value}")]);
        }
        process::run(&mut build)
    };
    build()?;
    let output = crate::files::target_dir().join(name);
    forget_app_crate(&output.join(".fingerprint"))?;
    let started = Instant::now();
    build()?;
    Ok((output.join("app"), started.elapsed().as_secs_f64()))
}

/// Removes the fingerprints of the app's library and binary, so that cargo compiles both again.
fn forget_app_crate(fingerprints: &Path) -> Result<()> {
    let entries = std::fs::read_dir(fingerprints)
        .with_context(|| format!("cannot read {}", fingerprints.display()))?;
    for entry in entries {
        let path = entry?.path();
        let is_app = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("app-"));
        // The fingerprint of the library holds `lib-app`, of the binary `bin-app`.
        let compiles_app = std::fs::read_dir(&path).is_ok_and(|files| {
            files
                .flatten()
                .any(|file| matches!(file.file_name().to_str(), Some("lib-app" | "bin-app")))
        });
        if is_app && compiles_app {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

fn table(measured: &[Measured]) -> String {
    let mut table = Table::new([
        "profile",
        "settings",
        "size",
        "rebuild",
        "/ req/s",
        "/metrics req/s",
    ])
    .numeric(&[2, 3, 4, 5]);
    for entry in measured {
        table.row([
            entry.candidate.name.to_owned(),
            entry.candidate.description.to_owned(),
            output::bytes(entry.size),
            format!("{:.1} s", entry.rebuild_secs),
            format!("{:.0}", median(&mut entry.root.clone())),
            format!("{:.0}", median(&mut entry.metrics.clone())),
        ]);
    }
    format!(
        "\n{}(rebuild: the app crate compiled again after a source edit; req/s: median of \
         {ROUNDS} rounds taken in turns)\n",
        table.render()
    )
}
