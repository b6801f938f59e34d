//! `cargo xtask bench --roll`: the compose stack with three replicas behind nginx, under
//! open-loop load at a fixed rate, through what production does to it: a rolling update, a
//! replica's process killed with SIGKILL, a replica restarted with slow requests in flight, and
//! nginx reloads. Prints every figure; never fails because of one (the system test asserts the
//! zeros).
//!
//! Each event's load is compared with a steady load at the same rate measured just before it,
//! so a latency the event adds shows beside what the same machine gives without it.
//!
//! The stack is a compose project of its own on free ports, started and stopped through
//! `cargo xtask up`, `roll` and `down` as a user runs them, so a stack the user has up is left
//! alone.

use std::net::SocketAddr;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;
use serde::Serialize;

use crate::docker;
use crate::docker::engine;
use crate::flags::Bench;
use crate::http;
use crate::loadtest::open_loop::{Load, Summary};
use crate::measure::machine::Machine;
use crate::output::{self, Table};
use crate::process;
use crate::process::wait;
use crate::stack::shutdown::Shutdown;
use crate::tools;

const REPLICAS: usize = 3;
/// One connection per worker: enough for the rate to hold while a replica stalls.
const WORKERS: usize = 128;
/// Load before and after each event, so the figures cover the whole of it.
const MARGIN: Duration = Duration::from_secs(1);
/// The first steady load, whose requests Prometheus counts per replica.
const STEADY: Duration = Duration::from_secs(5);
/// The steady load just before each event, the baseline its figures stand beside.
const BASELINE: Duration = Duration::from_secs(4);
const SLOW_REQUESTS: usize = 6;
const SLOW_MS: u64 = 4000;
const RELOADS: usize = 3;
/// What a client may see at p99 while a replica is replaced or dies.
const P99_TARGET_MS: f64 = 50.0;

#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) machine: String,
    pub(crate) rate: u32,
    pub(crate) replicas: usize,
    pub(crate) steady: Phase,
    /// Each replica's `http_requests_total` for `/` after the steady load, read from
    /// Prometheus (one target per replica).
    pub(crate) spread: Vec<(String, u64)>,
    /// The same rate with no event, just before the roll.
    pub(crate) roll_steady: Phase,
    pub(crate) roll: Phase,
    pub(crate) roll_seconds: f64,
    /// The replicas' container ids before and after the roll: none in common.
    pub(crate) replicas_before_roll: Vec<String>,
    pub(crate) replicas_after_roll: Vec<String>,
    pub(crate) kill_steady: Phase,
    pub(crate) kill: Phase,
    pub(crate) kill_restart_count: u64,
    pub(crate) kill_healthy_after_seconds: f64,
    pub(crate) slow_requests: usize,
    /// Slow requests in flight on the replica restarted under them.
    pub(crate) slow_on_restarted: u64,
    pub(crate) slow_completed: usize,
    pub(crate) reload_steady: Phase,
    pub(crate) reload: Phase,
    pub(crate) reloads: usize,
}

/// One load, and what nginx logged meanwhile.
#[derive(Debug, Serialize)]
pub(crate) struct Phase {
    #[serde(flatten)]
    pub(crate) load: Summary,
    pub(crate) upstream: Upstream,
}

/// How nginx reached the replicas during a load, from its access and error logs: where the
/// latency of a request that found its first replica gone went.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Upstream {
    /// Requests nginx sent to a second replica (`upstream_status` lists two tries).
    pub(crate) retried: u64,
    /// Connects that waited the whole `proxy_connect_timeout`: an address nothing answers at.
    pub(crate) connect_timeouts: u64,
    /// Connects refused at once: a replica's listener closed, the address still there.
    pub(crate) refused: u64,
    /// Any other upstream error nginx logged (a reset, a closed keepalive connection).
    pub(crate) other_errors: u64,
}

impl Upstream {
    /// Counts from nginx's container log lines: JSON access lines and `[error]` lines.
    fn read(log: &str) -> Self {
        let mut upstream = Self::default();
        for line in log.lines() {
            if let Some(status) = line
                .split_once("\"upstream_status\":\"")
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(status, _)| status)
            {
                upstream.retried += u64::from(status.contains(','));
            } else if line.contains("[error]") {
                if line.contains("timed out") && line.contains("while connecting to upstream") {
                    upstream.connect_timeouts += 1;
                } else if line.contains("Connection refused") {
                    upstream.refused += 1;
                } else {
                    upstream.other_errors += 1;
                }
            }
        }
        upstream
    }
}

pub(super) fn run(flags: &Bench) -> Result<()> {
    engine::require()?;
    tools::require(&["kill"])?;
    require_local_root()?;
    let stack = Stack::new()?;
    let result = measure(&stack, flags);
    let down = stack.xtask(&["down", "--volumes"]);
    let report = result?;
    down?;
    if flags.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print(&report);
    }
    Ok(())
}

fn measure(stack: &Stack, flags: &Bench) -> Result<Report> {
    let replicas = REPLICAS.to_string();
    stack.xtask(&[
        "up",
        "--replicas",
        &replicas,
        "--monitoring",
        "--no-grafana",
    ])?;
    let rate = flags.rate;
    eprintln!("steady load: {rate} requests/s for {STEADY:?}");
    let (steady, ()) = stack.under_load(rate, || {
        thread::sleep(STEADY);
        Ok(())
    })?;
    let spread = stack.spread(steady.load.ok)?;

    eprintln!("rolling update under load");
    let replicas_before_roll = stack.containers("app")?;
    let roll_steady = stack.baseline(rate)?;
    let (roll, roll_seconds) = stack.under_load(rate, || {
        let started = Instant::now();
        stack.xtask(&["roll", "--image", &image()])?;
        Ok(started.elapsed().as_secs_f64())
    })?;
    let replicas_after_roll = stack.containers("app")?;

    eprintln!("a replica killed with SIGKILL under load");
    let kill_steady = stack.baseline(rate)?;
    let (kill, (kill_restart_count, kill_healthy_after_seconds)) =
        stack.under_load(rate, || stack.kill_one())?;

    eprintln!("a replica restarted with {SLOW_REQUESTS} slow requests in flight");
    let (slow_on_restarted, slow_completed) = stack.restart_under_slow_requests()?;

    eprintln!("nginx reloaded {RELOADS} times under load");
    let reload_steady = stack.baseline(rate)?;
    let (reload, ()) = stack.under_load(rate, || {
        for _ in 0..RELOADS {
            let nginx = stack.container("nginx")?;
            process::capture(docker::docker().args(["exec", &nginx, "nginx", "-s", "reload"]))?;
            thread::sleep(MARGIN);
        }
        Ok(())
    })?;

    Ok(Report {
        machine: Machine::this().to_string(),
        rate,
        replicas: REPLICAS,
        steady,
        spread,
        roll_steady,
        roll,
        roll_seconds,
        replicas_before_roll,
        replicas_after_roll,
        kill_steady,
        kill,
        kill_restart_count,
        kill_healthy_after_seconds,
        slow_requests: SLOW_REQUESTS,
        slow_on_restarted,
        slow_completed,
        reload_steady,
        reload,
        reloads: RELOADS,
    })
}

/// The SIGKILL goes to a replica's process from the host, and the in-flight count is read from
/// a replica's own address: both need the engine on this machine, and root (the app runs as
/// 65532, whom only root may signal).
fn require_local_root() -> Result<()> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0");
    ensure!(
        root,
        "bench --roll sends SIGKILL to a replica's process from the host: run it as root"
    );
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    ensure!(
        host.is_empty() || host.starts_with("unix://"),
        "bench --roll needs the Docker engine on this machine (it reaches replicas' processes \
         and addresses), not DOCKER_HOST={host}"
    );
    let system =
        process::capture(docker::docker().args(["info", "--format", "{{.OperatingSystem}}"]))?;
    ensure!(
        !system.contains("Docker Desktop"),
        "bench --roll needs a Linux engine on this machine, not Docker Desktop's virtual machine"
    );
    Ok(())
}

/// The image the stack runs: what `up` built.
fn image() -> String {
    crate::stack::app_image()
}

/// The bench's own compose project.
struct Stack {
    project: String,
    nginx: SocketAddr,
    prometheus: SocketAddr,
}

impl Stack {
    fn new() -> Result<Self> {
        Ok(Self {
            project: format!("rollbench{}", std::process::id()),
            nginx: SocketAddr::from(([127, 0, 0, 1], http::free_port()?)),
            prometheus: SocketAddr::from(([127, 0, 0, 1], http::free_port()?)),
        })
    }

    /// `cargo xtask ARGS` on this stack, as a user would run it.
    fn xtask(&self, args: &[&str]) -> Result<()> {
        let xtask = std::env::current_exe().context("cannot find xtask's own binary")?;
        process::run(
            Command::new(xtask)
                .args(args)
                .env("COMPOSE_PROJECT_NAME", &self.project)
                .env("NGINX_PORT", self.nginx.port().to_string())
                .env("PROMETHEUS_PORT", self.prometheus.port().to_string())
                // For /debug/sleep, the slow requests.
                .env("APP_DEBUG_ENDPOINTS", "true")
                // Progress, not figures: stdout carries only the report (JSON with --json).
                .stdout(std::io::stderr()),
        )
    }

    /// The running containers of a service, by id.
    fn containers(&self, service: &str) -> Result<Vec<String>> {
        let output = process::capture(docker::docker().args([
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ]))?;
        Ok(output.lines().map(str::to_owned).collect())
    }

    fn container(&self, service: &str) -> Result<String> {
        self.containers(service)?
            .into_iter()
            .next()
            .with_context(|| format!("no {service} container is running"))
    }

    /// The load through nginx during `event`, with a margin before and after it.
    fn under_load<T>(&self, rate: u32, event: impl FnOnce() -> Result<T>) -> Result<(Phase, T)> {
        let since = unix_now();
        let load = Load::start(self.nginx, "/", rate, WORKERS);
        thread::sleep(MARGIN);
        let outcome = event();
        thread::sleep(MARGIN);
        let load = load.stop();
        let upstream = self.upstream(since)?;
        Ok((Phase { load, upstream }, outcome?))
    }

    /// The same load with nothing happening, for [`BASELINE`].
    fn baseline(&self, rate: u32) -> Result<Phase> {
        let (phase, ()) = self.under_load(rate, || {
            thread::sleep(BASELINE.saturating_sub(MARGIN * 2));
            Ok(())
        })?;
        Ok(phase)
    }

    /// What nginx logged since `since` (seconds since the epoch), both streams.
    fn upstream(&self, since: f64) -> Result<Upstream> {
        let nginx = self.container("nginx")?;
        let output = docker::docker()
            .args(["logs", "--since", &format!("{since:.3}"), &nginx])
            .output()
            .context("cannot read nginx's log")?;
        ensure!(
            output.status.success(),
            "docker logs {nginx} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut log = String::from_utf8_lossy(&output.stdout).into_owned();
        log.push_str(&String::from_utf8_lossy(&output.stderr));
        Ok(Upstream::read(&log))
    }

    /// Each replica's count of `/` requests in Prometheus, once its scrapes have seen `at_least`
    /// requests in all.
    fn spread(&self, at_least: u64) -> Result<Vec<(String, u64)>> {
        let query = r#"sum by (instance) (http_requests_total{job="app",route="/"})"#;
        let mut spread = Vec::new();
        let seen = wait::until(Duration::from_secs(30), Duration::from_secs(1), || {
            spread = self.promql(query)?;
            let total: u64 = spread.iter().map(|(_, n)| n).sum();
            Ok((total >= at_least && spread.len() >= REPLICAS).then_some(()))
        })?;
        seen.with_context(|| {
            format!(
                "Prometheus did not see {at_least} requests over {REPLICAS} replicas: {spread:?}"
            )
        })?;
        Ok(spread)
    }

    fn promql(&self, query: &str) -> Result<Vec<(String, u64)>> {
        let path = format!("/api/v1/query?query={}", percent_encode(query));
        let Some((200, body)) = http::get(self.prometheus, &path, Duration::from_secs(5)) else {
            return Ok(Vec::new());
        };
        let answer: QueryAnswer = serde_json::from_str(&body)
            .with_context(|| format!("Prometheus answered {query} with no vector: {body}"))?;
        Ok(answer
            .data
            .result
            .into_iter()
            .filter_map(|series| {
                let value = series.value.1.parse::<f64>().ok()?;
                Some((series.metric.instance, value as u64))
            })
            .collect())
    }

    /// SIGKILL to one replica's process, from the host (`docker kill` is a deliberate stop,
    /// which the restart policy honours); returns its restart count and the time until it is
    /// healthy again.
    fn kill_one(&self) -> Result<(u64, f64)> {
        let replica = self.container("app")?;
        let inspect = |format: &str| {
            process::capture(docker::docker().args(["inspect", "--format", format, &replica]))
        };
        let before: u64 = inspect("{{.RestartCount}}")?.parse()?;
        let pid = inspect("{{.State.Pid}}")?;
        ensure!(pid != "0", "replica {replica} has no process");
        let killed = Instant::now();
        process::capture(Command::new("kill").args(["-KILL", &pid]))?;
        let healthy = wait::until(Duration::from_mins(1), Duration::from_millis(100), || {
            let count: u64 = inspect("{{.RestartCount}}")?.parse()?;
            let health = inspect("{{if .State.Health}}{{.State.Health.Status}}{{end}}")?;
            Ok((count > before && health == "healthy").then_some(count))
        })?;
        let count = healthy.context("the killed replica was not restarted healthy within 60 s")?;
        Ok((count, killed.elapsed().as_secs_f64()))
    }

    /// Slow requests through nginx, then the replica with the most of them in flight restarted
    /// (SIGTERM, drain, start): returns how many were on it and how many completed with 200.
    fn restart_under_slow_requests(&self) -> Result<(u64, usize)> {
        let nginx = self.nginx;
        let path = format!("/debug/sleep?ms={SLOW_MS}");
        let requests: Vec<_> = (0..SLOW_REQUESTS)
            .map(|_| {
                let path = path.clone();
                thread::spawn(move || http::get(nginx, &path, Duration::from_secs(30)))
            })
            .collect();
        thread::sleep(Duration::from_millis(500));
        let mut busiest = (String::new(), 0);
        for replica in self.containers("app")? {
            let in_flight = in_flight(&replica)?;
            if in_flight > busiest.1 || busiest.0.is_empty() {
                busiest = (replica, in_flight);
            }
        }
        let stop_timeout = Shutdown::get().stop_timeout.as_secs().to_string();
        process::capture(docker::docker().args(["restart", "--time", &stop_timeout, &busiest.0]))?;
        let completed = requests
            .into_iter()
            .filter_map(|request| request.join().ok().flatten())
            .filter(|(status, _)| *status == 200)
            .count();
        Ok((busiest.1, completed))
    }
}

/// The requests a replica is serving, from its own /metrics on the compose network (the host
/// reaches container addresses on Linux), without the scrape itself.
fn in_flight(replica: &str) -> Result<u64> {
    let address = process::capture(docker::docker().args([
        "inspect",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
        replica,
    ]))?;
    let ip = address
        .split_whitespace()
        .next()
        .with_context(|| format!("replica {replica} has no address"))?;
    let address: SocketAddr = format!("{ip}:8080").parse()?;
    let Some((200, metrics)) = http::get(address, "/metrics", Duration::from_secs(2)) else {
        bail!("replica {replica} did not answer /metrics on {address}");
    };
    let gauge = metrics
        .lines()
        .find_map(|line| line.strip_prefix("http_requests_in_flight "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .context("no http_requests_in_flight in the replica's metrics")?;
    Ok((gauge as u64).saturating_sub(1))
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

/// A query string's value, percent-encoded (RFC 3986 unreserved characters kept).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn print(report: &Report) {
    println!(
        "\nZero-downtime bench: {} replicas of {} behind nginx, open-loop load of {} GET / per \
         second (no client retries)",
        report.replicas,
        image(),
        report.rate
    );
    println!("Machine: {}\n", report.machine);
    // Each event beside the steady load measured just before it: p50 and p99 in pairs.
    let mut table = Table::new([
        "while",
        "requests",
        "failed",
        "non-2xx",
        "socket errors",
        "p50 steady",
        "p50",
        "p99 steady",
        "p99",
        "max",
        "late",
        "target",
    ])
    .numeric(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (what, steady, load) in [
        ("steady", None, &report.steady),
        ("rolling update", Some(&report.roll_steady), &report.roll),
        (
            "SIGKILL of a replica",
            Some(&report.kill_steady),
            &report.kill,
        ),
        ("nginx reloads", Some(&report.reload_steady), &report.reload),
    ] {
        let baseline = |figure: fn(&Summary) -> f64| {
            steady.map_or_else(
                || "-".to_owned(),
                |s: &Phase| format!("{:.1} ms", figure(&s.load)),
            )
        };
        let zero = steady.is_none_or(|s| s.load.failed() == 0) && load.load.failed() == 0;
        let load = &load.load;
        table.row([
            what.to_owned(),
            load.requests.to_string(),
            load.failed().to_string(),
            load.non_2xx.to_string(),
            load.socket_errors.to_string(),
            baseline(|s| s.p50_ms),
            format!("{:.1} ms", load.p50_ms),
            baseline(|s| s.p99_ms),
            format!("{:.1} ms", load.p99_ms),
            format!("{:.0} ms", load.max_ms),
            load.late.to_string(),
            target(what, load, zero),
        ]);
    }
    print!("{}", table.render());
    print_upstream(report);
    print_events(report);
}

impl Report {
    /// Every load in the order the bench runs them, each event after its steady baseline.
    fn phases(&self) -> [(&'static str, &Phase); 7] {
        [
            ("steady", &self.steady),
            ("steady before the roll", &self.roll_steady),
            ("rolling update", &self.roll),
            ("steady before the SIGKILL", &self.kill_steady),
            ("SIGKILL of a replica", &self.kill),
            ("steady before the reloads", &self.reload_steady),
            ("nginx reloads", &self.reload),
        ]
    }
}

/// Where the tail comes from: requests nginx had to send elsewhere, and why.
fn print_upstream(report: &Report) {
    let mut upstream = Table::new([
        "nginx during",
        "retried elsewhere",
        "connect timeouts",
        "refused",
        "other upstream errors",
    ])
    .numeric(&[1, 2, 3, 4]);
    for (what, phase) in report.phases() {
        let counts = &phase.upstream;
        upstream.row([
            what.to_owned(),
            counts.retried.to_string(),
            counts.connect_timeouts.to_string(),
            counts.refused.to_string(),
            counts.other_errors.to_string(),
        ]);
    }
    print!("\n{}", upstream.render());
}

/// The errors of each phase, and what happened to the replicas.
fn print_events(report: &Report) {
    for (what, load) in report.phases() {
        for error in &load.load.errors {
            println!("  {what}: {error}");
        }
    }
    println!(
        "\nrolling update of {} replicas: {:.1} s",
        report.replicas, report.roll_seconds
    );
    println!(
        "SIGKILL: restarted by Docker (restart count {}), healthy again after {:.1} s",
        report.kill_restart_count, report.kill_healthy_after_seconds
    );
    println!(
        "restart with slow requests in flight: {} of {} completed with 200 ({} were on the \
         restarted replica; target all: {})",
        report.slow_completed,
        report.slow_requests,
        report.slow_on_restarted,
        output::target(report.slow_completed == report.slow_requests)
    );
    let spread: Vec<String> = report
        .spread
        .iter()
        .map(|(instance, count)| format!("{instance} {count}"))
        .collect();
    println!(
        "spread of the steady load's {} requests, per replica (Prometheus): {}",
        report.steady.load.ok,
        spread.join(", ")
    );
}

/// The issue's targets: 0 failed everywhere, and p99 at most 50 ms during a roll and after a
/// SIGKILL.
fn target(what: &str, load: &Summary, zero: bool) -> String {
    let zero = format!("0 failed: {}", output::target(zero));
    if what == "rolling update" || what.starts_with("SIGKILL") {
        format!(
            "{zero}, p99 <= {P99_TARGET_MS} ms: {}",
            output::target(load.p99_ms <= P99_TARGET_MS)
        )
    } else {
        zero
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_what_nginx_logged_about_its_upstreams() {
        let log = concat!(
            r#"{"status":200,"upstream_status":"200","request_time":0.001}"#,
            "\n",
            r#"{"status":200,"upstream_status":"502, 200","request_time":0.026}"#,
            "\n",
            "2025/01/01 00:00:00 [error] 30#30: *7 upstream timed out (110: Connection timed out) \
             while connecting to upstream, client: 172.18.0.1\n",
            "2025/01/01 00:00:00 [error] 30#30: *8 connect() failed (111: Connection refused) \
             while connecting to upstream, client: 172.18.0.1\n",
            "2025/01/01 00:00:00 [error] 30#30: *9 upstream prematurely closed connection\n",
            "2025/01/01 00:00:00 [notice] 1#1: signal process started\n",
        );
        let counts = super::Upstream::read(log);
        assert_eq!(
            (
                counts.retried,
                counts.connect_timeouts,
                counts.refused,
                counts.other_errors
            ),
            (1, 1, 1, 1)
        );
    }

    #[test]
    fn percent_encodes_a_query() {
        assert_eq!(
            super::percent_encode(r#"sum(x{a="/"})"#),
            "sum%28x%7Ba%3D%22%2F%22%7D%29"
        );
    }
}

/// Prometheus's answer to an instant query of a vector, the part read here.
#[derive(Deserialize)]
struct QueryAnswer {
    data: QueryData,
}

#[derive(Deserialize)]
struct QueryData {
    result: Vec<Series>,
}

/// One series: its labels, and its sample as (time, value as text).
#[derive(Deserialize)]
struct Series {
    metric: SeriesLabels,
    value: (f64, String),
}

#[derive(Deserialize)]
struct SeriesLabels {
    #[serde(default)]
    instance: String,
}
