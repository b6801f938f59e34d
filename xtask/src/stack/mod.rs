//! The compose stack as `up`, `down`, `status` and `logs` share it: either compose CLI, the
//! services and their state, and a wait until every started service is healthy.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::docker;
use crate::tools;
use crate::util::output::{StatusLine, Table};
use crate::util::process;
use crate::util::wait;

const HEALTH_TIMEOUT: Duration = Duration::from_mins(3);

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
    command.current_dir(crate::project::root());
    Ok(command)
}

/// Compose with every profile enabled, so that commands see the services any profile started.
pub(crate) fn every_profile() -> Result<Command> {
    let mut command = compose()?;
    command.args(["--profile", "monitoring", "--profile", "compare"]);
    Ok(command)
}

/// Container id of each service compose has created, running or not.
fn containers() -> Result<BTreeMap<String, String>> {
    let ids = process::capture(every_profile()?.args(["ps", "-a", "-q"]))?;
    let mut by_service = BTreeMap::new();
    for id in ids.lines().filter(|l| !l.trim().is_empty()) {
        let service = process::capture(docker::docker().args([
            "inspect",
            "--format",
            "{{index .Config.Labels \"com.docker.compose.service\"}}",
            id,
        ]))?;
        by_service.insert(service, id.to_owned());
    }
    Ok(by_service)
}

/// `running/healthy`, `exited (1)`, ...
fn state(id: &str) -> Result<String> {
    process::capture(docker::docker().args([
        "inspect",
        "--format",
        "{{.State.Status}}{{if .State.Health}}/{{.State.Health.Status}}{{end}}{{if eq .State.Status \"exited\"}} ({{.State.ExitCode}}){{end}}",
        id,
    ]))
}

pub(crate) fn wait_healthy(services: &[&str]) -> Result<()> {
    let started = Instant::now();
    let status_line = StatusLine::new("waiting for health: ");
    let mut states: Vec<(&str, String)> = Vec::new();
    let mut failed = None;
    let healthy = wait::until(HEALTH_TIMEOUT, Duration::from_millis(500), || {
        let containers = containers()?;
        states.clear();
        for service in services {
            let state = match containers.get(*service) {
                Some(id) => state(id)?,
                None => "not created".to_owned(),
            };
            let broken = ["exited", "dead", "restarting"]
                .iter()
                .any(|prefix| state.starts_with(prefix))
                || state.ends_with("/unhealthy");
            if broken {
                failed = Some((*service, state.clone()));
            }
            states.push((service, state));
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
                .map_or("?", |(service, _)| service);
            (slow, format!("not healthy after {HEALTH_TIMEOUT:?}"))
        })
    });
    if let Some((service, state)) = failure {
        eprintln!("--- last log lines of {service} ---");
        let _ = process::run(every_profile()?.args(["logs", "--tail", "30", service]));
        bail!("{service} failed to become healthy: {state}");
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
    let mut table = Table::new(["service", "state", "url"]);
    for (service, id) in &containers {
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
        table.row([service.clone(), state(id)?, url]);
    }
    print!("{}", table.render());
    Ok(())
}

fn published_port(id: &str, port: &str) -> Option<String> {
    docker::published_address(id, port)
        .ok()
        .map(|address| address.port().to_string())
}
