//! Everything `/metrics` exports, in one place: request metrics, the conventional `process_*`
//! families, system gauges and build information.

use super::exposition::{Exposition, Kind};
use super::http::BUCKETS;
use crate::build_info;
use crate::state::AppState;
use crate::system::snapshot::SystemSnapshot;

pub fn render(state: &AppState) -> String {
    let mut out = Exposition::with_capacity(8 * 1024);
    render_http(state, &mut out);
    // One snapshot for the whole scrape: process and system figures from the same sample.
    let snapshot = state.snapshot.latest();
    render_process(&snapshot, &mut out);
    render_system(&snapshot, &mut out);
    render_app(state, &mut out);
    out.finish()
}

fn render_http(state: &AppState, out: &mut Exposition) {
    let series = state.metrics.snapshot();
    out.family(
        "http_requests_total",
        Kind::Counter,
        "HTTP requests answered, by route template, method and status.",
    );
    for s in &series {
        let status = s.status.to_string();
        let labels = [
            ("route", s.route.as_str()),
            ("method", s.method),
            ("status", status.as_str()),
        ];
        out.sample("http_requests_total", &labels, s.count as f64);
    }
    out.family(
        "http_request_duration_seconds",
        Kind::Histogram,
        "Time from receiving a request to producing its response, by route template, method and status.",
    );
    let bounds: Vec<String> = BUCKETS.iter().map(ToString::to_string).collect();
    for s in &series {
        let status = s.status.to_string();
        let mut labels = vec![
            ("route", s.route.as_str()),
            ("method", s.method),
            ("status", status.as_str()),
        ];
        for (bound, cumulative) in bounds.iter().zip(s.cumulative_buckets) {
            labels.push(("le", bound.as_str()));
            out.sample(
                "http_request_duration_seconds_bucket",
                &labels,
                cumulative as f64,
            );
            labels.pop();
        }
        labels.push(("le", "+Inf"));
        out.sample(
            "http_request_duration_seconds_bucket",
            &labels,
            s.count as f64,
        );
        labels.pop();
        out.sample("http_request_duration_seconds_sum", &labels, s.sum_seconds);
        out.sample(
            "http_request_duration_seconds_count",
            &labels,
            s.count as f64,
        );
    }
    out.single(
        "http_requests_in_flight",
        Kind::Gauge,
        "HTTP requests being served right now.",
        state.metrics.in_flight() as f64,
    );
}

fn render_process(snapshot: &SystemSnapshot, out: &mut Exposition) {
    let process = &snapshot.process;
    out.single(
        "process_resident_memory_bytes",
        Kind::Gauge,
        "Resident memory size in bytes.",
        process.resident_memory_bytes as f64,
    )
    .single(
        "process_virtual_memory_bytes",
        Kind::Gauge,
        "Virtual memory size in bytes.",
        process.virtual_memory_bytes as f64,
    )
    .single(
        "process_cpu_seconds_total",
        Kind::Counter,
        "Total user and system CPU time spent in seconds.",
        process.cpu_seconds_total,
    )
    .single(
        "process_start_time_seconds",
        Kind::Gauge,
        "Start time of the process since unix epoch in seconds.",
        process.start_time_seconds as f64,
    );
    if let Some(open) = process.open_fds {
        out.single(
            "process_open_fds",
            Kind::Gauge,
            "Number of open file descriptors.",
            open as f64,
        );
    }
    if let Some(max) = process.max_fds {
        out.single(
            "process_max_fds",
            Kind::Gauge,
            "Maximum number of open file descriptors.",
            max as f64,
        );
    }
    if let Some(threads) = process.threads {
        out.single(
            "process_threads",
            Kind::Gauge,
            "Number of OS threads in the process.",
            threads as f64,
        );
    }
}

fn render_system(snapshot: &SystemSnapshot, out: &mut Exposition) {
    let system = &snapshot.system;
    let gauges = [
        (
            "system_memory_total_bytes",
            "Total memory of the host in bytes.",
            system.memory_total_bytes as f64,
        ),
        (
            "system_memory_available_bytes",
            "Memory available for new allocations without swapping, in bytes.",
            system.memory_available_bytes as f64,
        ),
        (
            "system_memory_used_bytes",
            "Memory in use on the host, in bytes.",
            system.memory_used_bytes as f64,
        ),
        (
            "system_swap_total_bytes",
            "Total swap space in bytes.",
            system.swap_total_bytes as f64,
        ),
        (
            "system_swap_used_bytes",
            "Swap space in use, in bytes.",
            system.swap_used_bytes as f64,
        ),
        (
            "system_cpu_usage_ratio",
            "Busy share of all host CPUs over the last sampling interval, from 0 to 1.",
            system.cpu_usage_ratio,
        ),
        (
            "system_load1",
            "Host load average over 1 minute.",
            system.load_average_1m,
        ),
        (
            "system_load5",
            "Host load average over 5 minutes.",
            system.load_average_5m,
        ),
        (
            "system_load15",
            "Host load average over 15 minutes.",
            system.load_average_15m,
        ),
        (
            "system_cpus",
            "Logical CPUs available to the process.",
            snapshot.host.logical_cpus as f64,
        ),
    ];
    for (name, help, value) in gauges {
        out.single(name, Kind::Gauge, help, value);
    }
    if let Some(limits) = &snapshot.container {
        if let Some(limit) = limits.memory_limit_bytes {
            out.single(
                "app_container_memory_limit_bytes",
                Kind::Gauge,
                "Memory limit of the container (cgroup) in bytes.",
                limit as f64,
            );
        }
        if let Some(cores) = limits.cpu_quota_cores {
            out.single(
                "app_container_cpu_quota",
                Kind::Gauge,
                "CPU quota of the container (cgroup), in cores.",
                cores,
            );
        }
    }
}

fn render_app(state: &AppState, out: &mut Exposition) {
    out.family(
        "app_build_info",
        Kind::Gauge,
        "Always 1; the labels say which build is running.",
    )
    .sample(
        "app_build_info",
        &[
            ("version", build_info::VERSION),
            ("revision", build_info::GIT_REVISION),
            ("rustc", build_info::RUSTC_VERSION),
        ],
        1.0,
    )
    .single(
        "app_ready",
        Kind::Gauge,
        "1 while the instance accepts traffic, 0 once shutdown has begun.",
        if state.readiness.is_ready() { 1.0 } else { 0.0 },
    );
    if let Some(counter) = &state.dropped_log_lines {
        out.single(
            "app_log_lines_dropped_total",
            Kind::Counter,
            "Log lines dropped because the log writer could not keep up.",
            counter.count() as f64,
        );
    }
}
