//! The app's replicas replaced one at a time, so the stack never stops serving: start a new
//! replica, wait until it is healthy and nginx sends it traffic, then stop an old one
//! (SIGTERM: readiness 503, the shutdown delay, the drain, exit 0) and remove it; and so on.
//! A new replica that never becomes healthy stops the roll: it is removed, the old replicas
//! keep serving, and its last log lines say why.
//!
//! Compose has no rolling update (`up` recreates every replica of a changed service at once),
//! so compose only creates the containers (`up --no-recreate --scale app=N+1`, which adds one
//! with the current configuration and leaves the others alone) and the stop is Docker's own.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::shutdown::Shutdown;
use super::{Container, broken, compose, containers, state};
use crate::docker;
use crate::http;
use crate::process;
use crate::process::wait;

/// How long a new replica may take to become healthy before the roll gives up on it.
const HEALTHY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long nginx may take to send a healthy replica its first request.
const TRAFFIC_TIMEOUT: Duration = Duration::from_secs(15);
/// How many of its last log lines a failed replica shows.
const LOG_LINES: &str = "20";

/// What to roll to.
pub(crate) struct Plan {
    /// Variables for compose: the images (`APP_IMAGE`, the local base images).
    pub(crate) env: Vec<(String, String)>,
    /// The image the new replicas run (what `APP_IMAGE` names).
    pub(crate) image: String,
    /// How many replicas to end with; `None` keeps the count.
    pub(crate) replicas: Option<usize>,
    /// Replace only replicas whose image differs from `image` (`up` after a rebuild); otherwise
    /// every replica (`roll`).
    pub(crate) only_changed: bool,
}

/// Every container of the app, whatever its state.
fn app_containers() -> Result<Vec<Container>> {
    Ok(containers()?
        .into_iter()
        .filter(|c| c.service == "app")
        .collect())
}

/// The app's running replicas, oldest first.
pub(crate) fn replicas() -> Result<Vec<Container>> {
    let mut running = Vec::new();
    for container in containers()?.into_iter().filter(|c| c.service == "app") {
        if state(&container.id)?.starts_with("running") {
            running.push(container);
        }
    }
    running.sort_by_key(|c| created(&c.id).unwrap_or_default());
    Ok(running)
}

pub(crate) fn roll(plan: &Plan) -> Result<()> {
    let started = Instant::now();
    let old = replicas()?;
    if old.is_empty() {
        bail!("no replica of the app is running: `cargo xtask up` starts the stack");
    }
    // Compose's `--scale` counts every container of the service: one that exited or restarts
    // in a loop would be started again (old image, old settings) in place of a new one.
    for dead in app_containers()?
        .iter()
        .filter(|c| old.iter().all(|o| o.id != c.id))
    {
        process::capture(docker::docker().args(["rm", "--force", &dead.id]))?;
        println!(
            "  {} removed: it was {}, not serving",
            dead.name,
            state(&dead.id).unwrap_or_else(|_| "gone".to_owned())
        );
    }
    let target = plan.replicas.unwrap_or(old.len());
    let image_id = image_id(&plan.image)?;
    let mut outdated = Vec::new();
    for replica in &old {
        if !plan.only_changed || container_image(&replica.id)? != image_id {
            outdated.push(replica.clone());
        }
    }
    let nginx = nginx_address();
    if nginx.is_none() {
        eprintln!("nginx is not running: new replicas are checked for health, not for traffic");
    }
    println!(
        "rolling {} of {} replicas to {} ({}), one at a time; ending with {target}",
        outdated.len(),
        old.len(),
        plan.image,
        short(&image_id)
    );
    let mut running = old.len();
    for previous in &outdated {
        let fresh = start_replica(plan, running + 1, nginx)?;
        let stopped = Instant::now();
        stop_replica(previous)?;
        println!(
            "  {} replaced {} (stopped, drained and removed in {:.1} s)",
            fresh.name,
            previous.name,
            stopped.elapsed().as_secs_f64()
        );
    }
    while running < target {
        let fresh = start_replica(plan, running + 1, nginx)?;
        println!("  {} added", fresh.name);
        running += 1;
    }
    if running > target {
        for extra in replicas()?.iter().take(running - target) {
            stop_replica(extra)?;
            println!("  {} stopped, drained and removed", extra.name);
        }
    }
    println!(
        "rolled in {:.1} s: {target} replicas of {}",
        started.elapsed().as_secs_f64(),
        plan.image
    );
    Ok(())
}

/// Starts the `count`-th replica and waits until it is healthy and receiving traffic; on
/// failure, removes what the attempt created and says why, leaving the others serving.
fn start_replica(plan: &Plan, count: usize, nginx: Option<SocketAddr>) -> Result<Container> {
    let before = app_containers()?;
    let attempt = try_start(plan, count, nginx, &before);
    if let Err(error) = attempt {
        let mut left = Vec::new();
        for created in app_containers()?
            .iter()
            .filter(|c| before.iter().all(|b| b.id != c.id))
        {
            eprintln!("--- last log lines of {} ---", created.name);
            let _ = process::run(docker::docker().args(["logs", "--tail", LOG_LINES, &created.id]));
            if process::capture(docker::docker().args(["rm", "--force", &created.id])).is_err() {
                left.push(created.name.clone());
            }
        }
        let left = if left.is_empty() {
            String::new()
        } else {
            format!(" (could not remove {}: `docker rm -f` it)", left.join(", "))
        };
        bail!(
            "{error:#}; the roll stopped, and the {} replicas running before it keep serving{left}",
            before.len()
        );
    }
    attempt
}

fn try_start(
    plan: &Plan,
    count: usize,
    nginx: Option<SocketAddr>,
    before: &[Container],
) -> Result<Container> {
    let mut command = compose()?;
    command.envs(plan.env.iter().map(|(k, v)| (k, v)));
    let scale = format!("app={count}");
    process::run(command.args([
        "up",
        "-d",
        "--no-deps",
        "--no-build",
        "--no-recreate",
        "--scale",
        &scale,
        "app",
    ]))?;
    let fresh = app_containers()?
        .into_iter()
        .find(|c| before.iter().all(|b| b.id != c.id))
        .context("compose started no new replica of the app")?;
    let started = Instant::now();
    wait_healthy(&fresh).map_err(|error| {
        anyhow::anyhow!(
            "{}: the new replica of {} {error:#}; it was removed",
            fresh.name,
            plan.image
        )
    })?;
    let healthy = started.elapsed();
    let traffic = match nginx {
        Some(nginx) => Some(wait_traffic(&fresh, nginx)?),
        None => None,
    };
    println!(
        "  {} healthy after {:.1} s{}",
        fresh.name,
        healthy.as_secs_f64(),
        traffic.map_or(String::new(), |t| format!(
            ", served a request through nginx {:.1} s later",
            t.as_secs_f64()
        ))
    );
    Ok(fresh)
}

fn wait_healthy(replica: &Container) -> Result<()> {
    let mut last = String::new();
    let healthy = wait::until(HEALTHY_TIMEOUT, Duration::from_millis(250), || {
        last = state(&replica.id)?;
        if broken(&last) {
            bail!("is {last}");
        }
        Ok(last.ends_with("running/healthy").then_some(()))
    })?;
    healthy.with_context(|| format!("was not healthy after {HEALTHY_TIMEOUT:?} ({last})"))
}

/// Until a request through nginx reaches the replica: `/info` names the host that answered,
/// and a container's host name is its own.
fn wait_traffic(replica: &Container, nginx: SocketAddr) -> Result<Duration> {
    let started = Instant::now();
    let hostname = process::capture(docker::docker().args([
        "inspect",
        "--format",
        "{{.Config.Hostname}}",
        &replica.id,
    ]))?;
    let needle = format!("\"hostname\":\"{hostname}\"");
    let reached = wait::until(TRAFFIC_TIMEOUT, Duration::from_millis(20), || {
        Ok(http::get(nginx, "/info", Duration::from_secs(2))
            .filter(|(status, body)| *status == 200 && body.contains(&needle))
            .map(|_| ()))
    })?;
    reached.with_context(|| {
        format!(
            "{}: the new replica is healthy, but nginx sent it no request in \
             {TRAFFIC_TIMEOUT:?}; it was removed",
            replica.name
        )
    })?;
    Ok(started.elapsed())
}

/// SIGTERM, then Docker's SIGKILL only after the stop timeout (above the app's delay + grace);
/// a replica that did not exit 0 did not drain cleanly, which is said, and removed all the same.
fn stop_replica(replica: &Container) -> Result<()> {
    let timeout = Shutdown::get().stop_timeout.as_secs().to_string();
    process::capture(docker::docker().args(["stop", "--time", &timeout, &replica.id]))?;
    let code = process::capture(docker::docker().args([
        "inspect",
        "--format",
        "{{.State.ExitCode}}",
        &replica.id,
    ]))?;
    if code != "0" {
        eprintln!(
            "warning: {} exited with {code} after SIGTERM, not 0: it did not drain cleanly \
             (its logs: docker logs {})",
            replica.name, replica.id
        );
    }
    process::capture(docker::docker().args(["rm", &replica.id]))?;
    Ok(())
}

/// nginx's address on the host, when it runs.
pub(crate) fn nginx_address() -> Option<SocketAddr> {
    let nginx = containers()
        .ok()?
        .into_iter()
        .find(|c| c.service == "nginx")?;
    state(&nginx.id)
        .ok()?
        .starts_with("running")
        .then_some(())?;
    let address = docker::published_address(&nginx.id, "8080/tcp").ok()?;
    // Published on every interface: reach it on loopback.
    Some(SocketAddr::from(([127, 0, 0, 1], address.port())))
}

fn image_id(image: &str) -> Result<String> {
    process::capture(docker::docker().args(["image", "inspect", "--format", "{{.Id}}", image]))
        .with_context(|| format!("no image {image} in the engine: build it first"))
}

fn container_image(id: &str) -> Result<String> {
    process::capture(docker::docker().args(["inspect", "--format", "{{.Image}}", id]))
}

fn created(id: &str) -> Result<String> {
    process::capture(docker::docker().args(["inspect", "--format", "{{.Created}}", id]))
}

fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}
