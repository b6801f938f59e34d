//! `cargo xtask test-image IMAGE`: checks an image the way production will use it, and prints a
//! pass/fail table. Exits non-zero on any failure.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::docker;
use crate::docker::container::RunningContainer;
use crate::docker::engine;
use crate::flags::TestImage;
use crate::http;
use crate::image::facts;
use crate::output::{self, Check};
use crate::process;
use crate::process::wait;

const LABELS: [&str; 6] = [
    "org.opencontainers.image.title",
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.created",
    "org.opencontainers.image.source",
    "org.opencontainers.image.licenses",
];
const ENDPOINTS: [&str; 5] = ["/", "/health", "/health/ready", "/info", "/metrics"];
const STOP_BUDGET: Duration = Duration::from_secs(2);
const HEALTHCHECK_CHECK: &str = "has an exec-form HEALTHCHECK";

#[derive(Default)]
struct Checks(Vec<Check>);

impl Checks {
    fn add(&mut self, name: &'static str, passed: bool, detail: String) {
        self.0.push(Check {
            name: name.to_owned(),
            passed,
            detail,
        });
    }
}

impl TestImage {
    pub(crate) fn run(self) -> Result<()> {
        engine::require()?;
        if !docker::image_exists(&self.image) {
            bail!(
                "no local image {:?}: build it first (`cargo xtask build`) or pull it",
                self.image
            );
        }
        let config = facts::config(&self.image)?;
        let mut checks = Checks::default();
        metadata(&mut checks, &config, self.max_size_bytes);
        let exec_form = checks
            .0
            .iter()
            .any(|c| c.name == HEALTHCHECK_CHECK && c.passed);
        running(&mut checks, &self.image, exec_form)?;
        hardened(&mut checks, &self.image);
        let checks = checks.0;
        print!("\n{}", output::check_table(&checks, ""));
        let failed = checks.iter().filter(|c| !c.passed).count();
        if failed > 0 {
            bail!(
                "{failed} of {} checks failed for {}",
                checks.len(),
                self.image
            );
        }
        println!("\nall {} checks passed for {}", checks.len(), self.image);
        Ok(())
    }
}

fn metadata(checks: &mut Checks, config: &facts::ImageConfig, max_size_bytes: u64) {
    let mut add = |name, passed, detail| checks.add(name, passed, detail);

    let user = config.user.clone();
    let root = crate::image::surface::runs_as_root(&user);
    add(
        "runs as a non-root user",
        !root,
        if user.is_empty() {
            "no USER: root".to_owned()
        } else {
            format!("USER {user}")
        },
    );
    add(
        "exposes port 8080",
        config.exposed_ports.iter().any(|p| p == "8080/tcp"),
        format!("EXPOSE {}", config.exposed_ports.join(" ")),
    );
    let exec_form = config
        .healthcheck
        .as_ref()
        .is_some_and(|test| test.first().map(String::as_str) == Some("CMD"));
    add(
        HEALTHCHECK_CHECK,
        exec_form,
        config
            .healthcheck
            .as_ref()
            .map_or_else(|| "none".to_owned(), |test| test.join(" ")),
    );
    let missing: Vec<&str> = LABELS
        .iter()
        .copied()
        .filter(|label| {
            !config
                .labels
                .iter()
                .any(|(k, v)| k == label && !v.is_empty() && v != "unknown")
        })
        .collect();
    add(
        "carries the OCI labels",
        missing.is_empty(),
        if missing.is_empty() {
            format!("{} labels", LABELS.len())
        } else {
            format!("missing: {}", missing.join(", "))
        },
    );
    add(
        "declares STOPSIGNAL SIGTERM",
        config.stop_signal == "SIGTERM",
        if config.stop_signal.is_empty() {
            "none declared".to_owned()
        } else {
            format!("STOPSIGNAL {}", config.stop_signal)
        },
    );
    add(
        "has an exec-form entrypoint",
        !config.entrypoint.is_empty() || !config.cmd.is_empty(),
        format!("ENTRYPOINT {:?} CMD {:?}", config.entrypoint, config.cmd),
    );
    add(
        "size within budget",
        config.size_bytes <= max_size_bytes,
        format!(
            "{} (budget {})",
            output::bytes(config.size_bytes),
            output::bytes(max_size_bytes)
        ),
    );
}

/// A normal run: health, endpoints, shell, logs, stop.
fn running(checks: &mut Checks, image: &str, exec_form: bool) -> Result<()> {
    let container = RunningContainer::start(image, &[])?;
    let reachable = container.wait_http_ok("/health", Duration::from_secs(30));
    checks.add(
        "starts and answers /health",
        reachable.is_ok(),
        match &reachable {
            Ok(elapsed) => format!("first 200 after {} ms", elapsed.as_millis()),
            Err(error) => error.to_string(),
        },
    );
    if exec_form {
        let health = wait_healthy(&container.id, Duration::from_secs(40));
        checks.add(
            "reports healthy",
            health.is_ok(),
            health.unwrap_or_else(|e| e.to_string()),
        );
    } else {
        checks.add(
            "reports healthy",
            false,
            "no HEALTHCHECK to report".to_owned(),
        );
    }
    let failing: Vec<String> = ENDPOINTS
        .iter()
        .filter_map(|path| {
            let status = http::status(container.address, path, Duration::from_secs(2));
            (status != Some(200)).then(|| format!("{path} → {status:?}"))
        })
        .collect();
    checks.add(
        "every endpoint answers 200",
        failing.is_empty(),
        if failing.is_empty() {
            format!("{} via {}", ENDPOINTS.join(" "), container.address)
        } else {
            failing.join(", ")
        },
    );
    no_shell(checks, &container.id);
    let (passed, detail) = logs_are_json_lines(&container.id);
    checks.add("logs are JSON lines", passed, detail);
    let stop_started = Instant::now();
    let stopped = process::capture(docker::docker().args(["stop", "--time", "10", &container.id]));
    let stop_time = stop_started.elapsed();
    drop(container);
    checks.add(
        "docker stop exits promptly",
        stopped.is_ok() && stop_time <= STOP_BUDGET,
        format!(
            "stopped in {} ms (budget {} ms)",
            stop_time.as_millis(),
            STOP_BUDGET.as_millis()
        ),
    );
    Ok(())
}

/// Every line the container wrote, to stdout and to stderr alike, is a JSON object.
fn logs_are_json_lines(container: &str) -> (bool, String) {
    // `docker logs` replays the container's stdout on its stdout and its stderr on its stderr.
    let output = match docker::docker()
        .args(["logs", container])
        .stdin(std::process::Stdio::null())
        .output()
    {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            return (
                false,
                format!(
                    "docker logs failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            );
        }
        Err(error) => return (false, format!("cannot run docker logs: {error}")),
    };
    judge_log_lines(
        &String::from_utf8_lossy(&output.stdout),
        &String::from_utf8_lossy(&output.stderr),
    )
}

fn judge_log_lines(stdout: &str, stderr: &str) -> (bool, String) {
    let lines = |text: &'static str, stream: &str| -> Vec<(&'static str, String)> {
        stream
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| (text, l.to_owned()))
            .collect()
    };
    let mut all = lines("stdout", stdout);
    let on_stderr = lines("stderr", stderr);
    let stderr_count = on_stderr.len();
    all.extend(on_stderr);
    let not_json = all
        .iter()
        .find(|(_, l)| !serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v.is_object()));
    match not_json {
        _ if all.is_empty() => (false, "the container logged nothing".to_owned()),
        Some((stream, line)) => (
            false,
            format!(
                "not JSON on {stream}: {}",
                line.chars().take(80).collect::<String>()
            ),
        ),
        None => (
            true,
            format!(
                "{} lines ({stderr_count} on stderr), all JSON objects",
                all.len()
            ),
        ),
    }
}

/// Read-only root filesystem, no capabilities, no privilege escalation.
fn hardened(checks: &mut Checks, image: &str) {
    let mut add = |name, passed, detail| checks.add(name, passed, detail);

    let hardened = RunningContainer::start(
        image,
        &[
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
        ],
    )
    .and_then(|c| {
        c.wait_http_ok("/health", Duration::from_secs(30))
            .map(|_| c)
    });
    let exit_code = hardened.as_ref().ok().and_then(|c| {
        process::capture(docker::docker().args(["stop", "--time", "10", &c.id])).ok()?;
        process::capture(docker::docker().args([
            "inspect",
            "--format",
            "{{.State.ExitCode}}",
            &c.id,
        ]))
        .ok()
    });
    add(
        "runs --read-only --cap-drop ALL",
        hardened.is_ok(),
        match &hardened {
            Ok(_) => "answers /health with no writable root and no capabilities".to_owned(),
            Err(error) => error.to_string(),
        },
    );
    add(
        "exits 0 on SIGTERM",
        exit_code.as_deref() == Some("0"),
        format!(
            "exit code {}",
            exit_code.unwrap_or_else(|| "unknown".to_owned())
        ),
    );
}

/// `docker exec` of the usual shells fails in the running container.
fn no_shell(checks: &mut Checks, id: &str) {
    // A failed exec only proves something while the container is running.
    let running =
        process::capture(docker::docker().args(["inspect", "--format", "{{.State.Running}}", id]))
            .is_ok_and(|state| state == "true");
    let shells: Vec<&str> = ["sh", "/bin/sh", "bash", "/bin/bash"]
        .into_iter()
        .filter(|shell| {
            docker::docker()
                .args(["exec", id, shell, "-c", "true"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    checks.add(
        "no shell can be exec'd",
        running && shells.is_empty(),
        if !running {
            "the container is not running, so nothing was proven".to_owned()
        } else if shells.is_empty() {
            "sh and bash both fail to start in the running container".to_owned()
        } else {
            format!("ran: {}", shells.join(", "))
        },
    );
}

fn wait_healthy(id: &str, timeout: Duration) -> Result<String> {
    let started = Instant::now();
    let mut status = String::new();
    let healthy = wait::until(timeout, Duration::from_millis(250), || {
        status = process::capture(docker::docker().args([
            "inspect",
            "--format",
            "{{.State.Health.Status}}",
            id,
        ]))?;
        match status.as_str() {
            "healthy" => Ok(Some(())),
            "unhealthy" => bail!("Docker reports the container unhealthy"),
            _ => Ok(None),
        }
    })?;
    if healthy.is_none() {
        bail!("still {status:?} after {timeout:?}");
    }
    Ok(format!(
        "healthy after {:.1} s",
        started.elapsed().as_secs_f64()
    ))
}

#[cfg(test)]
mod tests {
    use super::judge_log_lines;

    #[test]
    fn a_plain_line_on_stderr_fails_the_json_check() {
        let json = "{\"level\":\"INFO\",\"message\":\"listening\"}\n";
        let (passed, detail) = judge_log_lines(json, "thread 'main' panicked at src/main.rs\n");
        assert!(!passed);
        assert_eq!(
            detail,
            "not JSON on stderr: thread 'main' panicked at src/main.rs"
        );

        let (passed, detail) = judge_log_lines(json, json);
        assert!(passed, "{detail}");
        assert_eq!(detail, "2 lines (1 on stderr), all JSON objects");

        let (passed, detail) = judge_log_lines("", "");
        assert!(!passed);
        assert_eq!(detail, "the container logged nothing");

        let (passed, detail) = judge_log_lines("[1, 2]\n", "");
        assert!(!passed, "an array is not a log record: {detail}");
    }
}
