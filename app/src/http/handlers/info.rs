use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::build_info;
use crate::state::AppState;
use crate::system::cgroup::ContainerLimits;

#[derive(Debug, Serialize)]
struct Info<'a> {
    app: AppInfo,
    host: HostInfo<'a>,
    process: ProcessInfo,
    /// `null` outside a cgroup.
    container: Option<&'a ContainerLimits>,
    sampled_at: String,
}

#[derive(Debug, Serialize)]
struct AppInfo {
    name: &'static str,
    version: &'static str,
    git_revision: &'static str,
    build_time: String,
    rustc: &'static str,
    profile: &'static str,
}

#[derive(Debug, Serialize)]
struct HostInfo<'a> {
    hostname: &'a str,
    os: &'a str,
    kernel: &'a str,
    architecture: &'a str,
    logical_cpus: usize,
    memory_total_bytes: u64,
}

#[derive(Debug, Serialize)]
struct ProcessInfo {
    pid: u32,
    uptime_seconds: f64,
    resident_memory_bytes: u64,
    threads: Option<u64>,
}

/// `GET /info`: what is running where. Reads the sampler's snapshot; never touches `/proc`.
pub async fn info(State(state): State<AppState>) -> impl IntoResponse {
    let snapshot = state.snapshot.latest();
    let sampled_at = DateTime::<Utc>::from_timestamp_micros(
        Duration::from_secs_f64(snapshot.sampled_at_seconds)
            .as_micros()
            .try_into()
            .unwrap_or_default(),
    )
    .unwrap_or_default()
    .to_rfc3339_opts(SecondsFormat::Millis, true);
    let body = Info {
        app: AppInfo {
            name: build_info::NAME,
            version: build_info::VERSION,
            git_revision: build_info::GIT_REVISION,
            build_time: build_info::build_time(),
            rustc: build_info::RUSTC_VERSION,
            profile: build_info::PROFILE,
        },
        host: HostInfo {
            hostname: &snapshot.host.hostname,
            os: &snapshot.host.os,
            kernel: &snapshot.host.kernel,
            architecture: &snapshot.host.architecture,
            logical_cpus: snapshot.host.logical_cpus,
            memory_total_bytes: snapshot.system.memory_total_bytes,
        },
        process: ProcessInfo {
            pid: snapshot.process.pid,
            uptime_seconds: (state.uptime().as_secs_f64() * 1000.0).round() / 1000.0,
            resident_memory_bytes: snapshot.process.resident_memory_bytes,
            threads: snapshot.process.threads,
        },
        container: snapshot.container.as_ref(),
        sampled_at,
    };
    Json(body).into_response()
}
