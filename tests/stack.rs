//! The stack: its configuration checked by the real tools; then the real app, the stack's nginx
//! (in the image compose runs, on the host's network) and Debian's Prometheus on loopback with
//! the project's own files (only addresses and ports substituted); then the compose stack on a
//! real engine.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::Response;
use serde_json::Value;

use crate::support::files::{project_root, scratch_path, target_dir};
use crate::support::http::{self, free_port, wait_until};
use crate::support::needs::{docker_exclusive, skip, tools_available};
use crate::support::process::{Running, Xtask, cargo, stderr, stdout, succeeds, xtask};

fn scratch_dir(name: &str) -> PathBuf {
    let dir = scratch_path(&format!("stack-{name}"));
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

/// The nginx image compose runs: `NGINX_IMAGE`, else compose.yaml's default when the engine has
/// it, else the local stand-in `cargo xtask bases` builds (built if missing). The configuration
/// is checked and served by the nginx the stack runs, never by whatever nginx the host has.
fn nginx_image() -> String {
    if let Ok(image) = std::env::var("NGINX_IMAGE")
        && !image.trim().is_empty()
    {
        return image;
    }
    let compose = read("compose.yaml");
    let default = compose
        .split_once("${NGINX_IMAGE:-")
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(image, _)| image.to_owned())
        .expect("compose.yaml names a default NGINX_IMAGE");
    let present = |image: &str| {
        Command::new("docker")
            .args(["image", "inspect", image])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if present(&default) {
        return default;
    }
    let bases = xtask(&["bases"]).run();
    assert!(bases.status.success(), "cargo xtask bases failed");
    stdout(&bases)
        .lines()
        .find_map(|line| line.trim().strip_prefix("export NGINX_IMAGE="))
        .map(str::to_owned)
        .expect("cargo xtask bases names NGINX_IMAGE")
}

/// A container, removed when the test ends however it ends.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "--force", &self.0])
            .output();
    }
}

/// `nginx ARGS` in `image`, on the host's network, with `dir` mounted at its own path so that
/// the paths of a configuration written there hold inside too.
fn nginx_in_image(image: &str, dir: &Path, args: &[&str]) -> (Container, Command) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!(
        "stacktest-nginx-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut command = Command::new("docker");
    command
        .args(["run", "--rm", "--name", &name, "--network", "host", "-v"])
        .arg(format!("{0}:{0}", dir.display()))
        .args([image, "nginx"])
        .args(args);
    (Container(name), command)
}

/// `GET url` until it answers 200, for a server just started.
fn wait_healthy(what: &str, timeout: Duration, url: &str) {
    wait_until(what, timeout, || {
        http::get(url).ok().filter(|r| r.status() == StatusCode::OK)
    });
}

fn promql(prometheus: &str, query: &str) -> Value {
    let body = http::client()
        .get(format!("http://{prometheus}/api/v1/query"))
        .query(&[("query", query)])
        .send()
        .and_then(Response::text)
        .expect("Prometheus answers");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("query {query}: not JSON ({e}): {body}"))
}

fn wait_target_up(prometheus: &str) {
    wait_until(
        "the app target up in Prometheus",
        Duration::from_mins(1),
        || {
            let result = promql(prometheus, r#"up{job="app"}"#);
            (result["data"]["result"][0]["value"][1] == "1").then_some(())
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

/// Both as compose runs it (the name `app`, resolved by Docker's DNS at run time) and as the
/// loopback test rewrites it (an address).
pub(crate) fn nginx_config_passes_nginx_t_in_the_stacks_image() {
    let Some(_engine) = docker_exclusive("nginx_config_passes_nginx_t_in_the_stacks_image", &[])
    else {
        return;
    };
    let image = nginx_image();
    let dir = scratch_dir("nginx-t");
    let rewritten = nginx_config(
        &dir,
        &format!("127.0.0.1:{}", free_port()),
        &format!("127.0.0.1:{}", free_port()),
    );
    let as_shipped = dir.join("as-shipped.conf");
    fs::copy(project_root().join("nginx/nginx.conf"), &as_shipped).expect("copy nginx.conf");
    for config in [rewritten, as_shipped] {
        let config = config.to_string_lossy().into_owned();
        let prefix = dir.to_string_lossy().into_owned();
        let (_container, mut command) = nginx_in_image(
            &image,
            &dir,
            &["-t", "-c", &config, "-p", &prefix, "-e", "stderr"],
        );
        let output = command.output().expect("docker runs");
        let text = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && text.contains("test is successful"),
            "{image}: {config}: {text}"
        );
    }
    fs::remove_dir_all(dir).expect("cleanup");
}

pub(crate) fn prometheus_config_rules_and_rule_tests_pass_promtool() {
    if !tools_available(
        "prometheus_config_rules_and_rule_tests_pass_promtool",
        &["promtool"],
    ) {
        return;
    }
    let dir = project_root().join("prometheus");
    for args in [
        &["check", "config", "prometheus.yml"][..],
        &["check", "rules", "alerts.yml"],
        &["test", "rules", "alerts_test.yml"],
    ] {
        succeeds(Command::new("promtool").args(args).current_dir(&dir));
    }
}

/// Both compose tools users run accept the file: v2 (the `docker compose` plugin) and v1.
pub(crate) fn compose_file_is_valid_for_the_compose_tool() {
    let test = "compose_file_is_valid_for_the_compose_tool";
    let mut tools: Vec<Vec<&str>> = Vec::new();
    if Command::new("docker")
        .args(["compose", "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        tools.push(vec!["docker", "compose"]);
    } else {
        skip(
            &format!("the docker CLI has no compose plugin, so `{test}` cannot check v2"),
            "CI must provide it",
            " (`cargo xtask ci --yes` installs it)",
        );
    }
    if tools_available(test, &["docker-compose"]) {
        tools.push(vec!["docker-compose"]);
    }
    for compose in tools {
        for profiles in [
            &[][..],
            &["--profile", "monitoring", "--profile", "compare"],
        ] {
            succeeds(
                Command::new(compose[0])
                    .args(&compose[1..])
                    .args(profiles)
                    .args(["config", "-q"])
                    .current_dir(project_root()),
            );
        }
    }
}

pub(crate) fn every_dashboard_panel_uses_the_provisioned_datasource() {
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
pub(crate) fn nginx_and_prometheus_on_loopback_in_front_of_the_real_app() {
    const TEST: &str = "nginx_and_prometheus_on_loopback_in_front_of_the_real_app";
    let Some(_engine) = docker_exclusive(TEST, &["prometheus", "wrk"]) else {
        return;
    };
    let image = nginx_image();
    let dir = scratch_dir("live");

    // The real app.
    let built = cargo()
        .args(["build", "--quiet", "--release", "--package", "app"])
        .status()
        .expect("cargo runs");
    assert!(built.success());
    let app_port = free_port();
    let app_address = format!("127.0.0.1:{app_port}");
    let app_log = dir.join("app.log");
    let _app = Running(
        Command::new(target_dir().join("release").join("app"))
            .env("APP_HOST", "127.0.0.1")
            .env("APP_PORT", app_port.to_string())
            .stdout(fs::File::create(&app_log).expect("log file"))
            .spawn()
            .expect("the app starts"),
    );
    wait_healthy(
        "the app",
        Duration::from_secs(10),
        &format!("http://{app_address}/health"),
    );

    // The stack's nginx with the project's nginx.conf.
    let nginx_address = format!("127.0.0.1:{}", free_port());
    let config = nginx_config(&dir, &nginx_address, &app_address);
    let config = config.to_string_lossy().into_owned();
    let prefix = dir.to_string_lossy().into_owned();
    let (_nginx_container, mut command) = nginx_in_image(
        &image,
        &dir,
        &[
            "-c",
            &config,
            "-p",
            &prefix,
            "-e",
            "stderr",
            "-g",
            "daemon off;",
        ],
    );
    let _nginx = Running(command.stdout(Stdio::null()).spawn().expect("nginx starts"));
    let nginx = format!("http://{nginx_address}");
    wait_healthy(
        "nginx",
        Duration::from_secs(10),
        &format!("{nginx}/nginx-health"),
    );

    // Requests reach the app through nginx, and the request id travels both ways.
    let response = http::client()
        .get(format!("{nginx}/"))
        .header("X-Request-Id", "stack-test-1")
        .send()
        .expect("through nginx");
    assert_eq!(response.status(), 200);
    let ids: Vec<_> = response.headers().get_all("x-request-id").iter().collect();
    assert_eq!(ids, ["stack-test-1"], "the id comes back once");
    let generated = http::get(&format!("{nginx}/info")).expect("through nginx");
    assert_eq!(generated.status(), 200);
    let generated_id = generated
        .headers()
        .get("x-request-id")
        .and_then(|id| id.to_str().ok())
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
    let metrics = http::get(&format!("{nginx}/metrics")).expect("through nginx");
    assert_eq!(metrics.status(), 404);
    assert!(metrics.text().expect("a body").contains("not_found"));

    // Past the per-client limit: 429 with a JSON body.
    let mut limited = 0;
    for _ in 0..3000 {
        let response = http::get(&format!("{nginx}/health")).expect("through nginx");
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let body = response.text().expect("a body");
            assert!(body.contains("rate_limited"), "{body}");
            limited += 1;
        }
    }
    assert!(
        limited > 0,
        "3000 requests as fast as one client can send them never met the limit"
    );

    // Debian's Prometheus with the project's configuration and rules.
    let prometheus_address = format!("127.0.0.1:{}", free_port());
    // On loopback there is no Docker DNS to discover replicas: the app's one address instead.
    let prometheus_config = read("prometheus/prometheus.yml");
    let discovery = "dns_sd_configs:\n      - names: [app]\n        type: A\n        port: 8080\n        refresh_interval: 5s\n";
    assert_eq!(
        prometheus_config.matches(discovery).count(),
        1,
        "prometheus.yml must discover the app's replicas with one dns_sd_configs block"
    );
    let prometheus_config = prometheus_config
        .replace(
            discovery,
            &format!("static_configs:\n      - targets: ['{app_address}']\n"),
        )
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
    wait_healthy(
        "Prometheus",
        Duration::from_secs(30),
        &format!("http://{prometheus_address}/-/ready"),
    );
    wait_target_up(&prometheus_address);

    // Some traffic of every kind, then enough scrapes for rates over it.
    sleep(Duration::from_secs(1)); // let the rate limiter refill
    for path in ["/", "/health", "/info", "/nope", "/health/ready"]
        .iter()
        .cycle()
        .take(200)
    {
        let _ = http::get(&format!("http://{app_address}{path}"));
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

    // What upstream keepalive saves per request: one client connection sending one request
    // every 2 ms (under the rate limit), through this nginx and through a second one whose
    // upstream connections close after every request; the medians' difference is the saving.
    let closing_address = format!("127.0.0.1:{}", free_port());
    let closing = dir.join("closing");
    fs::create_dir_all(&closing).expect("a scratch folder");
    let closing_config = nginx_config(&closing, &closing_address, &app_address);
    let text = fs::read_to_string(&closing_config).expect("read nginx.conf");
    assert_eq!(text.matches("proxy_set_header Connection \"\";").count(), 1);
    fs::write(
        &closing_config,
        text.replace(
            "proxy_set_header Connection \"\";",
            "proxy_set_header Connection close;",
        ),
    )
    .expect("write nginx.conf");
    let closing_config = closing_config.to_string_lossy().into_owned();
    let closing_prefix = closing.to_string_lossy().into_owned();
    let (_closing_container, mut command) = nginx_in_image(
        &image,
        &closing,
        &[
            "-c",
            &closing_config,
            "-p",
            &closing_prefix,
            "-e",
            "stderr",
            "-g",
            "daemon off;",
        ],
    );
    let _closing = Running(command.stdout(Stdio::null()).spawn().expect("nginx starts"));
    wait_healthy(
        "nginx without upstream keepalive",
        Duration::from_secs(10),
        &format!("http://{closing_address}/nginx-health"),
    );
    fs::write(&script, "function delay()\n  return 2\nend\n").expect("write wrk script");
    let median = |address: &str| {
        let output = Command::new("wrk")
            .args(["-t1", "-c1", "-d10s", "--latency", "-s"])
            .arg(&script)
            .arg(format!("http://{address}/"))
            .output()
            .expect("wrk runs");
        let report = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            !report.contains("Non-2xx") && !report.contains("Socket errors"),
            "{report}"
        );
        let p50 = report
            .lines()
            .find_map(|line| line.trim().strip_prefix("50%"))
            .and_then(|latency| wrk_ms(latency.trim()))
            .unwrap_or_else(|| panic!("no median in wrk's report:\n{report}"));
        (p50, report)
    };
    let (closed_p50, closed_report) = median(&closing_address);
    let (kept_p50, kept_report) = median(&nginx_address);
    println!(
        "one request every 2 ms on one client connection, through nginx:\n\
         upstream connection per request:\n{closed_report}\n\
         upstream keepalive:\n{kept_report}\n\
         upstream keepalive saves {:.0} us per request at the median ({closed_p50:.3} ms -> \
         {kept_p50:.3} ms)",
        (closed_p50 - kept_p50) * 1000.0
    );

    let _ = fs::remove_dir_all(dir);
}

/// wrk's `731.00us`, `2.98ms` or `1.20s` in milliseconds.
fn wrk_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let factor = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * factor)
}

/// `cargo xtask up` and `down` with `docker compose` (v2, the plugin users run) and with
/// Debian's `docker-compose` (v1): the stack starts healthy and leaves nothing behind with both.
pub(crate) fn compose_stack_starts_healthy_and_leaves_nothing_behind() {
    let test = "compose_stack_starts_healthy_and_leaves_nothing_behind";
    let Some(_engine) = docker_exclusive(test, &["docker-compose"]) else {
        return;
    };
    let v2 = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|output| output.status.success());
    if v2 {
        stack_up_and_down(None);
    } else {
        skip(
            &format!("the docker CLI has no compose plugin, so `{test}` cannot run it with v2"),
            "CI must provide it",
            " (`cargo xtask ci --yes` installs it)",
        );
    }
    // A docker configuration without plugins: xtask falls back to compose v1.
    let no_plugins = scratch_path("docker-config-without-plugins");
    fs::create_dir_all(&no_plugins).expect("a scratch folder");
    stack_up_and_down(Some(&no_plugins));
    let _ = fs::remove_dir_all(no_plugins);
}

fn stack_up_and_down(docker_config: Option<&Path>) {
    let project = format!(
        "stacktest{}{}",
        std::process::id(),
        if docker_config.is_some() { "v1" } else { "v2" }
    );
    let nginx_port = free_port();
    let prometheus_port = free_port();
    let volumes_before = docker_lines(&["volume", "ls", "-q"]);
    let with_config = |command: Xtask| match docker_config {
        Some(dir) => command.env("DOCKER_CONFIG", dir),
        None => command,
    };
    let up = with_config(xtask(&["up", "--monitoring", "--no-grafana"]))
        .env("COMPOSE_PROJECT_NAME", &project)
        .env("NGINX_PORT", nginx_port.to_string())
        .env("PROMETHEUS_PORT", prometheus_port.to_string())
        .run();
    let result = std::panic::catch_unwind(|| {
        assert!(up.status.success(), "cargo xtask up failed");
        let response =
            http::get(&format!("http://127.0.0.1:{nginx_port}/")).expect("nginx answers");
        let status = response.status();
        let body = response.text().expect("a body");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"status\":\"ok\""));
        wait_target_up(&format!("127.0.0.1:{prometheus_port}"));
    });
    let down = with_config(xtask(&["down"]))
        .env("COMPOSE_PROJECT_NAME", &project)
        .run();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    assert!(down.status.success(), "cargo xtask down failed");
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

/// Three replicas behind nginx under open-loop load (no client retries) through a rolling
/// update, a replica's process killed with SIGKILL, a restart with slow requests in flight and
/// nginx reloads: `cargo xtask bench --roll` measures, this asserts its zeros and prints each
/// p99 beside the steady one measured just before (a latency never fails the build).
pub(crate) fn replicas_survive_a_roll_a_kill_a_restart_and_reloads_under_load() {
    let test = "replicas_survive_a_roll_a_kill_a_restart_and_reloads_under_load";
    let Some(_engine) = docker_exclusive(test, &["docker-compose"]) else {
        return;
    };
    let run = xtask(&["bench", "--roll", "--json"]).run();
    assert!(run.status.success(), "cargo xtask bench --roll failed");
    let report: Value = serde_json::from_str(&stdout(&run)).expect("a JSON report");
    for load in [
        "steady",
        "roll_steady",
        "roll",
        "kill_steady",
        "kill",
        "reload_steady",
        "reload",
    ] {
        let figures = &report[load];
        assert!(
            figures["requests"].as_u64().expect("a count")
                >= figures["rate"].as_u64().expect("a rate"),
            "{load}: fewer requests than one second of load: {figures}"
        );
        for count in ["non_2xx", "socket_errors"] {
            assert_eq!(figures[count], 0, "{load}: {count}: {figures}");
        }
        assert_eq!(figures["ok"], figures["requests"], "{load}: {figures}");
    }
    for event in ["roll", "kill", "reload"] {
        let steady = &report[format!("{event}_steady")];
        let during = &report[event];
        println!(
            "{event}: p99 {} ms (steady just before: {} ms); nginx retried {} requests \
             elsewhere, {} connects timed out",
            during["p99_ms"],
            steady["p99_ms"],
            during["upstream"]["retried"],
            during["upstream"]["connect_timeouts"]
        );
    }
    assert!(
        report["kill_restart_count"].as_u64() >= Some(1),
        "the killed replica was restarted: {report}"
    );
    assert_eq!(
        report["slow_completed"], report["slow_requests"],
        "{report}"
    );
    assert!(
        report["slow_on_restarted"].as_u64() >= Some(1),
        "a slow request was in flight on the restarted replica: {report}"
    );
    // Prometheus found every replica through Docker's DNS, and nginx sent each a share.
    let spread = report["spread"].as_array().expect("a spread");
    assert_eq!(spread.len(), 3, "one target per replica: {spread:?}");
    let counted: u64 = spread
        .iter()
        .map(|pair| {
            let count = pair[1].as_u64().expect("a count");
            assert!(count > 0, "a replica got no request: {spread:?}");
            count
        })
        .sum();
    assert!(counted >= report["steady"]["ok"].as_u64().expect("a count"));
}

/// `roll` with compose v1: a new replica that never becomes healthy stops the roll with its
/// name and last log lines, and the old replicas keep serving; a good roll then replaces each.
pub(crate) fn a_roll_stops_at_a_replica_that_never_becomes_healthy() {
    let test = "a_roll_stops_at_a_replica_that_never_becomes_healthy";
    let Some(_engine) = docker_exclusive(test, &["docker-compose"]) else {
        return;
    };
    let no_plugins = scratch_path("docker-config-roll-v1");
    fs::create_dir_all(&no_plugins).expect("a scratch folder");
    let project = format!("rolltest{}", std::process::id());
    let nginx_port = free_port();
    let run = |args: &[&str], extra: Option<(&str, &str)>| {
        let mut command = xtask(args)
            .env("DOCKER_CONFIG", &no_plugins)
            .env("COMPOSE_PROJECT_NAME", &project)
            .env("NGINX_PORT", nginx_port.to_string());
        if let Some((key, value)) = extra {
            command = command.env(key, value);
        }
        command.run()
    };
    let replicas = || {
        docker_lines(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--filter",
            "label=com.docker.compose.service=app",
        ])
    };
    let result = std::panic::catch_unwind(|| {
        assert!(run(&["up", "--replicas", "2"], None).status.success());
        let before = replicas();
        assert_eq!(before.len(), 2);

        let failed = run(
            &["roll", "--image", "app:scratch"],
            Some(("APP_LOG_LEVEL", "loud")),
        );
        assert!(
            !failed.status.success(),
            "a roll to a broken replica failed"
        );
        let said = stderr(&failed);
        let broken = format!("{project}_app_3");
        assert!(
            said.contains(&format!("{broken}: the new replica of app:scratch is")),
            "names the replica: {said}"
        );
        assert!(
            said.contains("invalid APP_LOG_LEVEL=\"loud\""),
            "shows its last log lines: {said}"
        );
        assert!(said.contains("the 2 replicas running before it keep serving"));
        let mut after = replicas();
        after.sort();
        let mut expected = before.clone();
        expected.sort();
        assert_eq!(
            after, expected,
            "the old replicas, and only they, still run"
        );
        let answer = http::get(&format!("http://127.0.0.1:{nginx_port}/")).expect("nginx answers");
        assert_eq!(answer.status(), 200);

        let rolled = run(&["roll", "--image", "app:scratch"], None);
        assert!(rolled.status.success(), "a good roll succeeds");
        let now = replicas();
        assert_eq!(now.len(), 2, "as many replicas as before");
        assert!(
            now.iter().all(|id| !before.contains(id)),
            "every replica was replaced: {before:?} → {now:?}"
        );
        let answer = http::get(&format!("http://127.0.0.1:{nginx_port}/")).expect("nginx answers");
        assert_eq!(answer.status(), 200);
    });
    let down = run(&["down"], None);
    let _ = fs::remove_dir_all(&no_plugins);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    assert!(down.status.success(), "cargo xtask down failed");
}
