//! The compose stack as `up`, `down`, `status` and `logs` share it: either compose CLI, the
//! services and their state, and a wait until every started service is healthy.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::docker;
use crate::output::{StatusLine, Table};
use crate::process;
use crate::process::wait;
use crate::project::profile::CargoProfile;
use crate::project::variant::Variant;
use crate::tools;

const HEALTH_TIMEOUT: Duration = Duration::from_mins(3);

pub(crate) mod rolling_update;
pub(crate) mod shutdown;

/// An image of the stack built from the sources, as it ships (the shipped profile, cached
/// layers reused); returns its tag.
pub(crate) fn build(variant: Variant) -> Result<String> {
    crate::docker::build::build(
        variant,
        &crate::files::root(),
        &variant.tag(),
        &CargoProfile::shipped()?,
        false,
        true,
    )?;
    Ok(variant.tag())
}

/// The app image the stack runs: `APP_IMAGE`, as compose reads it, else app:scratch.
pub(crate) fn app_image() -> String {
    std::env::var("APP_IMAGE").unwrap_or_else(|_| Variant::Scratch.tag())
}

/// The variables compose needs on this machine: the local stand-ins for public images that no
/// registry serves here.
pub(crate) fn image_env() -> Result<Vec<(String, String)>> {
    Ok(crate::docker::stand_ins::stack_env()?
        .into_iter()
        .map(|(variable, value)| (variable.to_owned(), value))
        .collect())
}

/// Whether the docker CLI has the compose v2 plugin; asked once per run (the health wait polls).
pub(crate) fn compose_plugin() -> bool {
    static PLUGIN: OnceLock<bool> = OnceLock::new();
    *PLUGIN.get_or_init(|| {
        docker::docker()
            .args(["compose", "version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// `docker compose` (v2) when the CLI has it, Debian's `docker-compose` (v1) otherwise.
pub(crate) fn compose() -> Result<Command> {
    let mut command = if compose_plugin() {
        let mut command = docker::docker();
        command.arg("compose");
        command
    } else {
        // Without the plugin, Debian's compose v1, installed through the door when allowed.
        tools::require(&["docker-compose"])?;
        Command::new("docker-compose")
    };
    command.current_dir(crate::files::root());
    Ok(command)
}

/// Compose with every profile enabled, so that commands see the services any profile started.
pub(crate) fn every_profile() -> Result<Command> {
    let mut command = compose()?;
    command.args(["--profile", "monitoring", "--profile", "compare"]);
    Ok(command)
}

/// A container compose has created, running or not.
#[derive(Debug, Clone)]
pub(crate) struct Container {
    pub(crate) service: String,
    pub(crate) id: String,
    /// `stack-app-2` (v2) or `stack_app_2` (v1).
    pub(crate) name: String,
}

/// Every container compose has created for the stack, by service then name: one per service,
/// or several of `app` under `--replicas`.
pub(crate) fn containers() -> Result<Vec<Container>> {
    let ids = process::capture(every_profile()?.args(["ps", "-a", "-q"]))?;
    let mut containers = Vec::new();
    for id in ids.lines().filter(|l| !l.trim().is_empty()) {
        let line = process::capture(docker::docker().args([
            "inspect",
            "--format",
            "{{index .Config.Labels \"com.docker.compose.service\"}} {{.Name}}",
            id,
        ]))?;
        let (service, name) = line.split_once(' ').unwrap_or((line.as_str(), id));
        containers.push(Container {
            service: service.to_owned(),
            id: id.to_owned(),
            name: name.trim_start_matches('/').to_owned(),
        });
    }
    containers.sort_by(|a, b| (&a.service, &a.name).cmp(&(&b.service, &b.name)));
    Ok(containers)
}

/// `running/healthy`, `exited (1)`, ...
pub(crate) fn state(id: &str) -> Result<String> {
    process::capture(docker::docker().args([
        "inspect",
        "--format",
        "{{.State.Status}}{{if .State.Health}}/{{.State.Health.Status}}{{end}}{{if eq .State.Status \"exited\"}} ({{.State.ExitCode}}){{end}}",
        id,
    ]))
}

/// A state no wait will see turn healthy: exited, dead, restarting or unhealthy.
pub(crate) fn broken(state: &str) -> bool {
    ["exited", "dead", "restarting"]
        .iter()
        .any(|prefix| state.starts_with(prefix))
        || state.ends_with("/unhealthy")
}

pub(crate) fn wait_healthy(services: &[&str]) -> Result<()> {
    let started = Instant::now();
    let status_line = StatusLine::new("waiting for health: ");
    let mut states: Vec<(String, String)> = Vec::new();
    let mut failed = None;
    let healthy = wait::until(HEALTH_TIMEOUT, Duration::from_millis(500), || {
        let containers = containers()?;
        states.clear();
        for service in services {
            let mut found = false;
            for container in containers.iter().filter(|c| c.service == *service) {
                found = true;
                let state = state(&container.id)?;
                if broken(&state) {
                    failed = Some((container.name.clone(), state.clone()));
                }
                states.push((container.name.clone(), state));
            }
            if !found {
                states.push(((*service).to_owned(), "not created".to_owned()));
            }
        }
        let line: Vec<String> = states
            .iter()
            .map(|(s, state)| format!("{s} {state}"))
            .collect();
        status_line.set(&line.join(", "));
        let all = states
            .iter()
            .all(|(_, state)| state.ends_with("running/healthy"));
        Ok((all || failed.is_some()).then_some(()))
    })?;
    status_line.finish();
    let failure = failed.or_else(|| {
        healthy.is_none().then(|| {
            let slow = states
                .iter()
                .find(|(_, state)| !state.ends_with("running/healthy"))
                .map_or("?".to_owned(), |(name, _)| name.clone());
            (slow, format!("not healthy after {HEALTH_TIMEOUT:?}"))
        })
    });
    if let Some((name, state)) = failure {
        eprintln!("--- last log lines of {name} ---");
        // A service with no container has only what compose logged of it.
        let _ = if services.contains(&name.as_str()) {
            process::run(every_profile()?.args(["logs", "--tail", "30", &name]))
        } else {
            process::run(docker::docker().args(["logs", "--tail", "30", &name]))
        };
        bail!("{name} failed to become healthy: {state}");
    }
    eprintln!("all healthy after {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

pub(crate) fn print_status() -> Result<()> {
    let containers = containers()?;
    if containers.is_empty() {
        println!("no service of the stack is running (`cargo xtask up` starts it)");
        return Ok(());
    }
    let mut table = Table::new(["container", "state", "url"]);
    for Container { service, id, name } in &containers {
        let url = match service.as_str() {
            "nginx" => format!(
                "http://localhost:{}/",
                published_port(id, "8080/tcp").unwrap_or_else(|| "?".to_owned())
            ),
            "prometheus" => format!(
                "http://127.0.0.1:{}/",
                published_port(id, "9090/tcp").unwrap_or_else(|| "?".to_owned())
            ),
            "grafana" => format!(
                "http://127.0.0.1:{}/",
                published_port(id, "3000/tcp").unwrap_or_else(|| "?".to_owned())
            ),
            "app-single" => format!(
                "http://127.0.0.1:{}/",
                published_port(id, "8080/tcp").unwrap_or_else(|| "?".to_owned())
            ),
            _ => "internal only (through nginx)".to_owned(),
        };
        table.row([name.clone(), state(id)?, url]);
    }
    print!("{}", table.render());
    Ok(())
}

fn published_port(id: &str, port: &str) -> Option<String> {
    docker::published_address(id, port)
        .ok()
        .map(|address| address.port().to_string())
}
