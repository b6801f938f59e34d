//! The stack: its configuration checked by the real tools; then the real app, Debian's nginx and
//! Debian's Prometheus run on loopback with the project's own files (only addresses and ports
//! substituted); then the compose stack on a real engine.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;
use system_tests::{
    docker_available, exclusive, free_port, http_get, project_root, tool_available, url_encode,
};

/// Stops the process when the test ends, however it ends: SIGTERM first, so that nginx's
/// master takes its workers down with it, SIGKILL if it lingers.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stack-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn read(relative: &str) -> String {
    fs::read_to_string(project_root().join(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

/// The project's nginx.conf with its two addresses replaced.
fn nginx_config(dir: &Path, listen: &str, upstream: &str) -> PathBuf {
    let text = read("nginx/nginx.conf");
    assert_eq!(
        text.matches("listen 8080;").count(),
        1,
        "nginx.conf must say `listen 8080;` once"
    );
    assert_eq!(
        text.matches("app:8080").count(),
        1,
        "nginx.conf must name `app:8080` once"
    );
    let path = dir.join("nginx.conf");
    let text = text
        .replace("listen 8080;", &format!("listen {listen};"))
        .replace("app:8080", upstream);
    fs::write(&path, text).expect("write nginx.conf");
    path
}

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < timeout,
            "{what} not ready within {timeout:?}"
        );
        sleep(Duration::from_millis(100));
    }
}

fn promql(prometheus: &str, query: &str) -> Value {
    let response = http_get(
        prometheus,
        &format!("/api/v1/query?query={}", url_encode(query)),
        &[],
    )
    .expect("Prometheus answers");
    serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("query {query}: not JSON ({e}): {}", response.body))
}

fn wait_target_up(prometheus: &str) {
    wait_for(
        "the app target up in Prometheus",
        Duration::from_mins(1),
        || {
            let result = promql(prometheus, r#"up{job="app"}"#);
            result["data"]["result"][0]["value"][1] == "1"
        },
    );
}

/// Every `expr` in the dashboard, with Grafana's interval variables made concrete.
fn dashboard_expressions() -> Vec<String> {
    let dashboard: Value =
        serde_json::from_str(&read("grafana/dashboards/app.json")).expect("dashboard is JSON");
    let mut expressions = Vec::new();
    for panel in panels(&dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                expressions.push(
                    expr.replace("$__rate_interval", "1m")
                        .replace("$__interval", "15s"),
                );
            }
        }
    }
    expressions
}

/// Every `expr` in alerts.yml: on the `expr:` line itself, or a block (`expr: |`) that runs
/// until the rule's next key.
fn alert_expressions() -> Vec<String> {
    read("prometheus/alerts.yml")
        .split("expr:")
        .skip(1)
        .map(|rest| {
            let mut lines = rest.lines();
            let first = lines
                .next()
                .unwrap_or_default()
                .trim()
                .trim_start_matches(['|', '>'])
                .trim();
            if !first.is_empty() {
                return first.to_owned();
            }
            lines
                .map(str::trim)
                .take_while(|l| {
                    !l.is_empty()
                        && !["for:", "labels:", "annotations:", "- alert:"]
                            .iter()
                            .any(|key| l.starts_with(key))
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        all.push(panel);
        all.extend(panel["panels"].as_array().into_iter().flatten());
    }
    all
}

#[test]
fn nginx_config_passes_nginx_t() {
    if !tool_available("nginx", "nginx_config_passes_nginx_t") {
        return;
    }
    let dir = scratch_dir("nginx-t");
    let config = nginx_config(
        &dir,
        &format!("127.0.0.1:{}", free_port()),
        &format!("127.0.0.1:{}", free_port()),
    );
    let output = Command::new("nginx")
        .arg("-t")
        .arg("-c")
        .arg(&config)
        .arg("-p")
        .arg(&dir)
        .args(["-e", "stderr"])
        .output()
        .expect("nginx runs");
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && text.contains("test is successful"),
        "{text}"
    );
    fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn prometheus_config_rules_and_rule_tests_pass_promtool() {
    if !tool_available(
        "promtool",
        "prometheus_config_rules_and_rule_tests_pass_promtool",
    ) {
        return;
    }
    let dir = project_root().join("prometheus");
    for args in [
        &["check", "config", "prometheus.yml"][..],
        &["check", "rules", "alerts.yml"],
        &["test", "rules", "alerts_test.yml"],
    ] {
        let output = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool runs");
        assert!(
            output.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn compose_file_is_valid_for_the_compose_tool() {
    let compose: Vec<&str> = if Command::new("docker")
        .args(["compose", "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        vec!["docker", "compose"]
    } else if tool_available(
        "docker-compose",
        "compose_file_is_valid_for_the_compose_tool",
    ) {
        vec!["docker-compose"]
    } else {
        return;
    };
    for profiles in [
        &[][..],
        &["--profile", "monitoring", "--profile", "compare"],
    ] {
        let output = Command::new(compose[0])
            .args(&compose[1..])
            .args(profiles)
            .args(["config", "-q"])
            .current_dir(project_root())
            .output()
            .expect("compose runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn every_dashboard_panel_uses_the_provisioned_datasource() {
    let provisioning = read("grafana/provisioning/datasources/prometheus.yml");
    let uid = provisioning
        .lines()
        .find_map(|l| l.trim().strip_prefix("uid:"))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .expect("the datasource has a fixed uid");
    let dashboard: Value =
        serde_json::from_str(&read("grafana/dashboards/app.json")).expect("dashboard is JSON");
    let panels = panels(&dashboard);
    let queried: Vec<&&Value> = panels.iter().filter(|p| p["type"] != "row").collect();
    assert!(
        queried.len() >= 8,
        "expected the panels the stack promises, found {}",
        queried.len()
    );
    for panel in queried {
        let title = panel["title"].as_str().unwrap_or("?");
        assert_eq!(
            panel["datasource"]["uid"].as_str(),
            Some(uid.as_str()),
            "panel {title}"
        );
        let targets = panel["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("panel {title} has no targets"));
        assert!(!targets.is_empty(), "panel {title} has no targets");
        for target in targets {
            assert_eq!(
                target["datasource"]["uid"].as_str(),
                Some(uid.as_str()),
                "a target of {title}"
            );
            assert!(
                target["expr"]
                    .as_str()
                    .is_some_and(|e| !e.trim().is_empty()),
                "a target of {title}"
            );
        }
    }
}

// One scenario: the processes are started once and every check runs against them.
#[allow(clippy::too_many_lines)]
#[test]
fn nginx_and_prometheus_on_loopback_in_front_of_the_real_app() {
    const TEST: &str = "nginx_and_prometheus_on_loopback_in_front_of_the_real_app";
    if !["nginx", "prometheus", "wrk"]
        .iter()
        .all(|tool| tool_available(tool, TEST))
    {
        return;
    }
    let dir = scratch_dir("live");

    // The real app.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--quiet", "--release", "--package", "app"])
        .current_dir(project_root())
        .status()
        .expect("cargo runs");
    assert!(built.success());
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| project_root().join("target"), PathBuf::from);
    let app_port = free_port();
    let app_address = format!("127.0.0.1:{app_port}");
    let app_log = dir.join("app.log");
    let _app = Running(
        Command::new(target.join("release").join("app"))
            .env("APP_HOST", "127.0.0.1")
            .env("APP_PORT", app_port.to_string())
            .stdout(fs::File::create(&app_log).expect("log file"))
            .spawn()
            .expect("the app starts"),
    );
    wait_for("the app", Duration::from_secs(10), || {
        http_get(&app_address, "/health", &[]).is_ok_and(|r| r.status == 200)
    });

    // Debian's nginx with the project's nginx.conf.
    let nginx_address = format!("127.0.0.1:{}", free_port());
    let config = nginx_config(&dir, &nginx_address, &app_address);
    let _nginx = Running(
        Command::new("nginx")
            .arg("-c")
            .arg(&config)
            .arg("-p")
            .arg(&dir)
            .args(["-e", "stderr", "-g", "daemon off;"])
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx starts"),
    );
    wait_for("nginx", Duration::from_secs(10), || {
        http_get(&nginx_address, "/nginx-health", &[]).is_ok_and(|r| r.status == 200)
    });

    // Requests reach the app through nginx, and the request id travels both ways.
    let response =
        http_get(&nginx_address, "/", &[("X-Request-Id", "stack-test-1")]).expect("through nginx");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-request-id"), Some("stack-test-1"));
    assert_eq!(
        response
            .headers
            .iter()
            .filter(|(n, _)| n == "x-request-id")
            .count(),
        1
    );
    let generated = http_get(&nginx_address, "/info", &[]).expect("through nginx");
    assert_eq!(generated.status, 200);
    let generated_id = generated
        .header("x-request-id")
        .expect("an id is generated")
        .to_owned();
    sleep(Duration::from_millis(200)); // the app writes its log in 20 ms batches
    let log = fs::read_to_string(&app_log).expect("app log");
    for id in ["stack-test-1", generated_id.as_str()] {
        assert!(
            log.contains(&format!(r#""request_id":"{id}""#)),
            "the app logged no request with id {id}"
        );
    }

    // /metrics is for Prometheus on the internal network only.
    let metrics = http_get(&nginx_address, "/metrics", &[]).expect("through nginx");
    assert_eq!(metrics.status, 404);
    assert!(metrics.body.contains("not_found"));

    // Past the per-client limit: 429 with a JSON body.
    let mut limited = 0;
    for _ in 0..3000 {
        let response = http_get(&nginx_address, "/health", &[]).expect("through nginx");
        if response.status == 429 {
            assert!(response.body.contains("rate_limited"), "{}", response.body);
            limited += 1;
        }
    }
    assert!(
        limited > 0,
        "3000 requests as fast as one client can send them never met the limit"
    );

    // Debian's Prometheus with the project's configuration and rules.
    let prometheus_address = format!("127.0.0.1:{}", free_port());
    let prometheus_config = read("prometheus/prometheus.yml")
        .replace("app:8080", &app_address)
        .replace("localhost:9090", &prometheus_address);
    fs::write(dir.join("prometheus.yml"), prometheus_config).expect("write prometheus.yml");
    fs::copy(
        project_root().join("prometheus/alerts.yml"),
        dir.join("alerts.yml"),
    )
    .expect("copy rules");
    let _prometheus = Running(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={prometheus_address}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );
    wait_for("Prometheus", Duration::from_secs(30), || {
        http_get(&prometheus_address, "/-/ready", &[]).is_ok_and(|r| r.status == 200)
    });
    wait_target_up(&prometheus_address);

    // Some traffic of every kind, then enough scrapes for rates over it.
    sleep(Duration::from_secs(1)); // let the rate limiter refill
    for path in ["/", "/health", "/info", "/nope", "/health/ready"]
        .iter()
        .cycle()
        .take(200)
    {
        let _ = http_get(&app_address, path, &[]);
    }
    sleep(Duration::from_secs(16));

    let alerts = alert_expressions();
    assert!(alerts.len() >= 4, "alert expressions found: {alerts:?}");
    for expr in &alerts {
        let result = promql(&prometheus_address, expr);
        assert_eq!(
            result["status"], "success",
            "alert expression {expr}: {result}"
        );
    }
    let dashboard = dashboard_expressions();
    assert!(
        dashboard.len() >= 8,
        "dashboard expressions found: {dashboard:?}"
    );
    for expr in &dashboard {
        let result = promql(&prometheus_address, expr);
        assert_eq!(
            result["status"], "success",
            "dashboard expression {expr}: {result}"
        );
        let series = result["data"]["result"].as_array().map_or(0, Vec::len);
        assert!(
            series > 0,
            "dashboard expression {expr} returned no data: {result}"
        );
    }

    // Load through nginx, paced under the per-client limit: 128 connections, one request per
    // connection every 200 ms at most, for 30 s.
    sleep(Duration::from_secs(1));
    let script = dir.join("pace.lua");
    fs::write(&script, "function delay()\n  return 200\nend\n").expect("write wrk script");
    let output = Command::new("wrk")
        .args(["-t2", "-c128", "-d30s", "--latency", "-s"])
        .arg(&script)
        .arg(format!("http://{nginx_address}/"))
        .output()
        .expect("wrk runs");
    let report = String::from_utf8_lossy(&output.stdout);
    // Figures for the README, beside `cargo xtask bench`'s direct ones (`--nocapture` shows them).
    println!("load through nginx:\n{report}");
    assert!(output.status.success());
    assert!(report.contains("Requests/sec:"), "{report}");
    assert!(
        !report.contains("Socket errors"),
        "socket errors through nginx:\n{report}"
    );
    assert!(
        !report.contains("Non-2xx"),
        "non-2xx responses through nginx:\n{report}"
    );

    let _ = fs::remove_dir_all(dir);
}

#[test]
fn compose_stack_starts_healthy_and_leaves_nothing_behind() {
    if !docker_available("compose_stack_starts_healthy_and_leaves_nothing_behind") {
        return;
    }
    let _guard = exclusive();
    let project = format!("stacktest{}", std::process::id());
    let nginx_port = free_port();
    let prometheus_port = free_port();
    let volumes_before = docker_lines(&["volume", "ls", "-q"]);
    let up = system_tests::xtask(&["up", "--monitoring", "--no-grafana"])
        .env("COMPOSE_PROJECT_NAME", &project)
        .env("NGINX_PORT", nginx_port.to_string())
        .env("PROMETHEUS_PORT", prometheus_port.to_string())
        .status()
        .expect("cargo runs");
    let result = std::panic::catch_unwind(|| {
        assert!(up.success(), "cargo xtask up failed");
        let response =
            http_get(&format!("127.0.0.1:{nginx_port}"), "/", &[]).expect("nginx answers");
        assert_eq!(response.status, 200, "{}", response.body);
        assert!(response.body.contains("\"status\":\"ok\""));
        wait_target_up(&format!("127.0.0.1:{prometheus_port}"));
    });
    let down = system_tests::xtask(&["down"])
        .env("COMPOSE_PROJECT_NAME", &project)
        .status()
        .expect("cargo runs");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    assert!(down.success(), "cargo xtask down failed");
    let label = format!("label=com.docker.compose.project={project}");
    assert!(
        docker_lines(&["ps", "-aq", "--filter", &label]).is_empty(),
        "containers left behind"
    );
    assert!(
        docker_lines(&["network", "ls", "-q", "--filter", &label]).is_empty(),
        "networks left behind"
    );
    let named = [
        format!("{project}_prometheus-data"),
        format!("{project}_grafana-data"),
    ];
    let new_volumes: Vec<String> = docker_lines(&["volume", "ls", "-q"])
        .into_iter()
        .filter(|v| !volumes_before.contains(v) && !named.contains(v))
        .collect();
    assert!(
        new_volumes.is_empty(),
        "anonymous volumes left behind: {new_volumes:?}"
    );
    for volume in named {
        let _ = Command::new("docker")
            .args(["volume", "rm", &volume])
            .output();
    }
}

fn docker_lines(args: &[&str]) -> Vec<String> {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
