//! `cargo xtask bench`: the release binary under load on loopback. Prints figures and compares
//! them with the project's targets; never fails because of a timing.

use std::fmt::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::flags::Bench;
use crate::util::http;
use crate::util::process;
use crate::project::static_binary;

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
        if !process::available("wrk") {
            bail!(
                "`wrk` is not installed: `sudo apt-get install wrk` (Debian/Ubuntu), then run again"
            );
        }
        let binary = static_binary::build()?;
        let size = std::fs::metadata(&binary)?.len();

        println!(
            "\nBenchmark of {} (static, as images ship it: {:.2} MiB, {size} bytes)",
            display_relative(&binary),
            mb(size)
        );
        println!("Machine: {}", machine_description());
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
            let result = run_wrk(&self, server.address, path)?;
            drop(sampling);
            rows.push((path, target, result));
        }
        let peak_rss = peak_rss.load(Ordering::Relaxed);
        drop(server);

        println!(
            "{:<10} {:>10} {:>9} {:>9} {:>8} {:>8}  target",
            "endpoint", "req/s", "p50", "p99", "non-2xx", "errors"
        );
        for (path, target, r) in &rows {
            let mut verdict = format!(
                "≥ {target:.0} req/s: {}",
                met(r.requests_per_sec >= *target)
            );
            if *path == "/metrics" {
                let _ = write!(
                    verdict,
                    ", p99 ≤ {TARGET_METRICS_P99_MS} ms: {}",
                    met(r.p99_ms <= TARGET_METRICS_P99_MS)
                );
            }
            println!(
                "{path:<10} {:>10.0} {:>6.2} ms {:>6.2} ms {:>8} {:>8}  {verdict}",
                r.requests_per_sec, r.p50_ms, r.p99_ms, r.non_2xx, r.socket_errors
            );
        }
        println!(
            "\nstartup (exec → first 200 from /health, {STARTUP_RUNS} runs): median {:.1} ms, min {:.1} ms, max {:.1} ms  (≤ {TARGET_STARTUP_MS} ms: {})",
            startup.median,
            startup.min,
            startup.max,
            met(startup.median <= TARGET_STARTUP_MS)
        );
        println!(
            "resident memory: idle {:.1} MiB (≤ {TARGET_IDLE_RSS_MB} MiB: {}), peak under load {:.1} MiB (≤ {TARGET_LOADED_RSS_MB} MiB: {})",
            mb(idle_rss),
            met(mb(idle_rss) <= TARGET_IDLE_RSS_MB),
            mb(peak_rss),
            met(mb(peak_rss) <= TARGET_LOADED_RSS_MB)
        );
        Ok(())
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn display_relative(path: &Path) -> String {
    path.strip_prefix(crate::project::root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn machine_description() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cpus = thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let memory_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
        })
        .unwrap_or(0);
    format!(
        "{cpus} logical CPUs ({model}), {:.0} GiB RAM, Linux {}",
        memory_kb as f64 / (1024.0 * 1024.0),
        kernel.trim()
    )
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")
        .context("cannot bind a loopback port")?
        .local_addr()?
        .port())
}

/// The app, started on a free loopback port, killed on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) address: SocketAddr,
}

impl Server {
    pub(crate) fn start(binary: &Path) -> Result<Self> {
        Self::start_timed(binary).map(|(server, _)| server)
    }

    /// Starts the app and waits for it to answer; also returns the time from spawn to answer.
    fn start_timed(binary: &Path) -> Result<(Self, Duration)> {
        let port = free_port()?;
        let spawned = Instant::now();
        let child = Command::new(binary)
            .env("APP_HOST", "127.0.0.1")
            .env("APP_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = Self { child, address };
        server.wait_healthy(Duration::from_secs(10))?;
        Ok((server, spawned.elapsed()))
    }

    fn wait_healthy(&mut self, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            if http::status(self.address, "/health", Duration::from_secs(1)) == Some(200) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("the app exited with {status} before answering /health");
            }
            if started.elapsed() > timeout {
                bail!(
                    "the app did not answer /health on {} within {timeout:?}",
                    self.address
                );
            }
            thread::sleep(Duration::from_micros(200));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// The middle value (the upper one of an even count), sorting `values` on the way; 0 for none.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
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

#[derive(Debug, Default, PartialEq)]
pub(crate) struct WrkResult {
    pub(crate) requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
    socket_errors: u64,
}

pub(crate) fn run_wrk(flags: &Bench, address: SocketAddr, path: &str) -> Result<WrkResult> {
    let url = format!("http://{address}{path}");
    let output = Command::new("wrk")
        .arg(format!("-t{}", flags.threads))
        .arg(format!("-c{}", flags.connections))
        .arg(format!("-d{}s", flags.duration_secs))
        .arg("--latency")
        .arg(&url)
        .output()
        .context("cannot run wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed on {url}: {}{text}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_wrk(&text).with_context(|| format!("cannot read wrk's report for {url}:\n{text}"))
}

fn parse_wrk(report: &str) -> Option<WrkResult> {
    let mut result = WrkResult::default();
    let mut saw_rate = false;
    for line in report.lines().map(str::trim) {
        if let Some(rate) = line.strip_prefix("Requests/sec:") {
            result.requests_per_sec = rate.trim().parse().ok()?;
            saw_rate = true;
        } else if let Some(latency) = line.strip_prefix("50%") {
            result.p50_ms = parse_latency_ms(latency.trim())?;
        } else if let Some(latency) = line.strip_prefix("99%") {
            result.p99_ms = parse_latency_ms(latency.trim())?;
        } else if let Some(count) = line.strip_prefix("Non-2xx or 3xx responses:") {
            result.non_2xx = count.trim().parse().ok()?;
        } else if let Some(errors) = line.strip_prefix("Socket errors:") {
            result.socket_errors = errors
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
        }
    }
    saw_rate.then_some(result)
}

/// wrk prints `731.00us`, `2.98ms`, `1.20s` or `1.00m`.
fn parse_latency_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let factor = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        _ => return None,
    };
    Some(value * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_wrk_report() {
        let report = "Running 5s test @ http://127.0.0.1:1/\n  2 threads and 64 connections\n  Latency Distribution\n     50%  731.00us\n     75%    1.02ms\n     90%    1.50ms\n     99%    2.98ms\n  430380 requests in 5.00s, 85.72MB read\n  Socket errors: connect 0, read 3, write 1, timeout 2\n  Non-2xx or 3xx responses: 5\nRequests/sec:  86075.72\nTransfer/sec:     17.14MB\n";
        let result = parse_wrk(report).expect("parses");
        assert_eq!(
            result,
            WrkResult {
                requests_per_sec: 86_075.72,
                p50_ms: 0.731,
                p99_ms: 2.98,
                non_2xx: 5,
                socket_errors: 6,
            }
        );
    }

    #[test]
    fn a_report_without_a_rate_is_refused() {
        assert_eq!(
            parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n"),
            None
        );
        assert_eq!(parse_latency_ms("1.5s"), Some(1500.0));
        assert_eq!(parse_latency_ms("12"), None);
    }
}
