//! `cargo xtask bench`: the release binary under load on loopback. Prints figures and compares
//! them with the project's targets; never fails because of a timing. `--roll`: the stack's
//! replicas under load through rolling updates and failures (`bench/disruptions.rs`).

mod disruptions;

use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::flags::Bench;
use crate::loadtest::{self, Load, Server};
use crate::measure::machine::Machine;
use crate::measure::median;
use crate::output::{self, Table};
use crate::project::static_binary;
use crate::tools;

const STARTUP_RUNS: usize = 20;

/// An endpoint and the throughput the project aims for on a 2-core machine.
const ENDPOINTS: &[(&str, f64)] = &[
    ("/", 100_000.0),
    ("/health", 100_000.0),
    ("/info", 80_000.0),
    ("/metrics", 20_000.0),
];
const TARGET_METRICS_P99_MS: f64 = 5.0;
const TARGET_STARTUP_MS: f64 = 20.0;
const TARGET_IDLE_RSS_MB: f64 = 8.0;
const TARGET_LOADED_RSS_MB: f64 = 16.0;

impl Bench {
    pub(crate) fn run(self) -> Result<()> {
        if self.roll {
            return disruptions::run(&self);
        }
        tools::require(&["wrk"])?;
        let binary = static_binary::build()?;
        let size = std::fs::metadata(&binary)?.len();

        println!(
            "\nBenchmark of {} (static, as images ship it: {:.2} MiB, {size} bytes)",
            display_relative(&binary),
            output::mebibytes(size)
        );
        println!("Machine: {}", Machine::this());
        println!(
            "Load: wrk -t{} -c{} -d{}s on the same cores; the app logs every request as JSON to /dev/null\n",
            self.threads, self.connections, self.duration_secs
        );

        let startup = measure_startup(&binary)?;
        let server = Server::start(&binary)?;
        thread::sleep(Duration::from_secs(1));
        let idle_rss = rss_bytes(server.child.id()).context("cannot read the server's memory")?;

        let mut rows = Vec::new();
        let peak_rss = Arc::new(AtomicU64::new(idle_rss));
        for &(path, target) in ENDPOINTS {
            let sampling = RssSampler::start(server.child.id(), Arc::clone(&peak_rss));
            let result = loadtest::run_wrk(&Load::from(&self), server.address, path)?;
            drop(sampling);
            rows.push((path, target, result));
        }
        let peak_rss = peak_rss.load(Ordering::Relaxed);
        drop(server);

        let mut table = Table::new([
            "endpoint", "req/s", "p50", "p99", "non-2xx", "errors", "target",
        ])
        .numeric(&[1, 2, 3, 4, 5]);
        for (path, target, r) in &rows {
            let mut verdict = format!(
                "≥ {target:.0} req/s: {}",
                output::target(r.requests_per_sec >= *target)
            );
            if *path == "/metrics" {
                let _ = write!(
                    verdict,
                    ", p99 ≤ {TARGET_METRICS_P99_MS} ms: {}",
                    output::target(r.p99_ms <= TARGET_METRICS_P99_MS)
                );
            }
            table.row([
                (*path).to_owned(),
                format!("{:.0}", r.requests_per_sec),
                format!("{:.2} ms", r.p50_ms),
                format!("{:.2} ms", r.p99_ms),
                r.non_2xx.to_string(),
                r.socket_errors.to_string(),
                verdict,
            ]);
        }
        print!("{}", table.render());
        println!(
            "\nstartup (exec → first 200 from /health, {STARTUP_RUNS} runs): median {:.1} ms, min {:.1} ms, max {:.1} ms  (≤ {TARGET_STARTUP_MS} ms: {})",
            startup.median,
            startup.min,
            startup.max,
            output::target(startup.median <= TARGET_STARTUP_MS)
        );
        println!(
            "resident memory: idle {:.1} MiB (≤ {TARGET_IDLE_RSS_MB} MiB: {}), peak under load {:.1} MiB (≤ {TARGET_LOADED_RSS_MB} MiB: {})",
            output::mebibytes(idle_rss),
            output::target(output::mebibytes(idle_rss) <= TARGET_IDLE_RSS_MB),
            output::mebibytes(peak_rss),
            output::target(output::mebibytes(peak_rss) <= TARGET_LOADED_RSS_MB)
        );
        Ok(())
    }
}

fn display_relative(path: &Path) -> String {
    path.strip_prefix(crate::files::root())
        .unwrap_or(path)
        .display()
        .to_string()
}

struct Startup {
    median: f64,
    min: f64,
    max: f64,
}

/// Time from spawning the process to its first 200 on /health, over several runs.
fn measure_startup(binary: &Path) -> Result<Startup> {
    let mut samples = Vec::with_capacity(STARTUP_RUNS);
    for _ in 0..STARTUP_RUNS {
        let (_server, elapsed) = Server::start_timed(binary)?;
        samples.push(elapsed.as_secs_f64() * 1000.0);
    }
    let median = median(&mut samples);
    Ok(Startup {
        median,
        min: samples[0],
        max: samples[samples.len() - 1],
    })
}

fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Records the highest RSS seen every 50 ms until dropped.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(pid: u32, peak: Arc<AtomicU64>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            while !stop_flag.load(Ordering::Relaxed) {
                if let Some(rss) = rss_bytes(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                thread::sleep(Duration::from_millis(50));
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The flags' load, for wrk.
impl From<&Bench> for Load {
    fn from(bench: &Bench) -> Self {
        Self {
            threads: bench.threads,
            connections: bench.connections,
            duration_secs: bench.duration_secs,
        }
    }
}
