//! The app on loopback under load: started from its binary on a free port, loaded with wrk.
//! `bench` and `profiles` measure with it.

pub(crate) mod open_loop;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::http;
use crate::process::wait;

/// How hard wrk loads each endpoint.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    pub(crate) threads: u32,
    pub(crate) connections: u32,
    pub(crate) duration_secs: u32,
}

/// The app, started on a free loopback port, killed on drop.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) address: SocketAddr,
}

impl Server {
    pub(crate) fn start(binary: &Path) -> Result<Self> {
        Self::start_timed(binary).map(|(server, _)| server)
    }

    /// Starts the app and waits for it to answer; also returns the time from spawn to answer.
    pub(crate) fn start_timed(binary: &Path) -> Result<(Self, Duration)> {
        let port = crate::http::free_port()?;
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
        // A short pause: start-up is measured through this wait.
        let answered = wait::until(timeout, Duration::from_micros(200), || {
            if http::status(self.address, "/health", Duration::from_secs(1)) == Some(200) {
                return Ok(Some(()));
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("the app exited with {status} before answering /health");
            }
            Ok(None)
        })?;
        answered.with_context(|| {
            format!(
                "the app did not answer /health on {} within {timeout:?}",
                self.address
            )
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Default, PartialEq)]
pub(crate) struct WrkResult {
    pub(crate) requests_per_sec: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) non_2xx: u64,
    pub(crate) socket_errors: u64,
}

pub(crate) fn run_wrk(flags: &Load, address: SocketAddr, path: &str) -> Result<WrkResult> {
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
