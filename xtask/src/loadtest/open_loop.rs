//! Open-loop load: requests sent at a fixed rate whatever the server does, as real clients send
//! them. wrk is closed-loop (a connection sends its next request only after the last answer),
//! so a server that stalls is simply sent less and its stall hides; here the i-th request is due
//! at `i / rate` seconds, and its latency counts from that moment, so a stall shows in full
//! (no coordinated omission). A pool of workers takes the due requests in order; a request that
//! finds every worker busy starts late and says so.
//!
//! A failed request is never retried: the client sees the error, and so does the report. Each
//! request has a connection of its own. A keep-alive client meets a race no server can avoid:
//! a server that closes an idle connection (nginx closes them all when it reloads) loses a
//! request that was on its way at that instant, and HTTP/1.1 has no way to announce the close,
//! so clients re-send such a request on a new connection (RFC 9112, 9.3.1). Reusing
//! connections without that re-send would count the race as the server's failure; with it, the
//! bench would retry. A connection per request measures the server alone.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::http;

/// Above nginx's upstream read timeout, so a request nginx gives up on comes back as its 504.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// A request that starts this much after it was due could not find a free worker.
const LATE: Duration = Duration::from_millis(50);
/// At most this many error messages are kept, the first ones.
const KEPT_ERRORS: usize = 5;

/// A load running in the background until [`Load::stop`].
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<Vec<Sample>>>,
    started: Instant,
    rate: u32,
}

#[derive(Debug, Clone)]
struct Sample {
    latency: Duration,
    late: bool,
    outcome: Outcome,
}

#[derive(Debug, Clone)]
enum Outcome {
    Status(u16),
    Error(String),
}

/// What a load saw, start to stop.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Summary {
    pub(crate) rate: u32,
    pub(crate) seconds: f64,
    pub(crate) requests: u64,
    pub(crate) ok: u64,
    pub(crate) non_2xx: u64,
    pub(crate) socket_errors: u64,
    /// Requests that started more than 50 ms after they were due (every worker was busy).
    pub(crate) late: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
    /// The first few errors and non-2xx statuses, as the client saw them.
    pub(crate) errors: Vec<String>,
}

impl Summary {
    /// Requests that did not end in a 2xx answer.
    pub(crate) fn failed(&self) -> u64 {
        self.non_2xx + self.socket_errors
    }
}

impl Load {
    /// `rate` GETs of `path` per second to `address`, over `workers` connections.
    pub(crate) fn start(address: SocketAddr, path: &str, rate: u32, workers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let interval = Duration::from_secs(1) / rate.max(1);
        let workers = (0..workers.max(1))
            .map(|_| {
                let (stop, next, path) = (Arc::clone(&stop), Arc::clone(&next), path.to_owned());
                thread::spawn(move || worker(address, &path, started, interval, &stop, &next))
            })
            .collect();
        Self {
            stop,
            workers,
            started,
            rate,
        }
    }

    /// Stops sending (requests under way finish) and sums up.
    pub(crate) fn stop(self) -> Summary {
        self.stop.store(true, Ordering::Relaxed);
        let seconds = self.started.elapsed().as_secs_f64();
        let samples: Vec<Sample> = self
            .workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap_or_default())
            .collect();
        summarize(self.rate, seconds, &samples)
    }
}

fn worker(
    address: SocketAddr,
    path: &str,
    started: Instant,
    interval: Duration,
    stop: &AtomicBool,
    next: &AtomicU64,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let due = started + interval * u32::try_from(index).unwrap_or(u32::MAX);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        if stop.load(Ordering::Relaxed) {
            return samples;
        }
        let late = Instant::now().duration_since(due) > LATE;
        let outcome = send(address, path);
        samples.push(Sample {
            latency: due.elapsed(),
            late,
            outcome,
        });
    }
}

/// One GET on a connection of its own.
fn send(address: SocketAddr, path: &str) -> Outcome {
    match http::fetch(address, path, REQUEST_TIMEOUT) {
        Ok((status, _)) => Outcome::Status(status),
        Err(error) => Outcome::Error(error.to_string()),
    }
}

fn summarize(rate: u32, seconds: f64, samples: &[Sample]) -> Summary {
    let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let rank = (p * latencies.len() as f64).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1].as_secs_f64() * 1000.0
    };
    let mut summary = Summary {
        rate,
        seconds,
        requests: samples.len() as u64,
        ok: 0,
        non_2xx: 0,
        socket_errors: 0,
        late: samples.iter().filter(|s| s.late).count() as u64,
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        max_ms: percentile(1.0),
        errors: Vec::new(),
    };
    for sample in samples {
        let error = match &sample.outcome {
            Outcome::Status(200..=299) => {
                summary.ok += 1;
                continue;
            }
            Outcome::Status(status) => {
                summary.non_2xx += 1;
                format!("HTTP {status}")
            }
            Outcome::Error(error) => {
                summary.socket_errors += 1;
                error.clone()
            }
        };
        if summary.errors.len() < KEPT_ERRORS {
            summary.errors.push(error);
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: u64, outcome: Outcome) -> Sample {
        Sample {
            latency: Duration::from_millis(ms),
            late: ms > 50,
            outcome,
        }
    }

    #[test]
    fn sums_up_outcomes_and_latencies() {
        let mut samples: Vec<Sample> = (1..=98)
            .map(|ms| sample(ms, Outcome::Status(200)))
            .collect();
        samples.push(sample(500, Outcome::Status(502)));
        samples.push(sample(
            900,
            Outcome::Error("connection reset by peer".into()),
        ));
        let summary = summarize(100, 1.0, &samples);
        assert_eq!(
            (
                summary.requests,
                summary.ok,
                summary.non_2xx,
                summary.socket_errors
            ),
            (100, 98, 1, 1)
        );
        assert_eq!(summary.failed(), 2);
        assert_eq!(summary.late, 48 + 2);
        assert!((summary.p50_ms - 50.0).abs() < 1e-9, "{}", summary.p50_ms);
        assert!((summary.p99_ms - 500.0).abs() < 1e-9, "{}", summary.p99_ms);
        assert!((summary.max_ms - 900.0).abs() < 1e-9);
        assert_eq!(summary.errors, ["HTTP 502", "connection reset by peer"]);
    }

    /// A real server on loopback: the load holds its rate and counts every answer.
    #[test]
    fn holds_its_rate_against_a_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let address = listener.local_addr().expect("an address");
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || serve(stream));
            }
        });
        let load = Load::start(address, "/", 200, 4);
        thread::sleep(Duration::from_millis(500));
        let summary = load.stop();
        // 200 per second for half a second, give or take the scheduler.
        assert!(
            (80..=110).contains(&summary.requests),
            "{} requests",
            summary.requests
        );
        assert_eq!(summary.failed(), 0, "{:?}", summary.errors);
    }

    /// Answers `200 {}` and closes, as asked by `Connection: close`.
    fn serve(mut stream: std::net::TcpStream) {
        use std::io::{Read, Write};
        let mut buffer = [0_u8; 1024];
        if matches!(stream.read(&mut buffer), Ok(n) if n > 0) {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
        }
    }
}
