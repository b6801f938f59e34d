use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::{require_tool, spawn_app};

async fn scrape(app: &crate::helpers::TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.expect("text body")
}

fn value_of(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_the_requests_this_test_made() {
    let app = spawn_app().await;
    for _ in 0..3 {
        assert_eq!(app.get("/health").await.status(), 200);
    }
    app.get("/users/12345/orders").await;
    app.client
        .post(app.url("/info"))
        .send()
        .await
        .expect("POST");
    let text = scrape(&app).await;

    let health = r#"http_requests_total{route="/health",method="GET",status="200"}"#;
    assert_eq!(value_of(&text, health), Some(3.0), "{text}");
    let histogram =
        r#"http_request_duration_seconds_count{route="/health",method="GET",status="200"}"#;
    assert_eq!(value_of(&text, histogram), Some(3.0));
    let inf = r#"http_request_duration_seconds_bucket{route="/health",method="GET",status="200",le="+Inf"}"#;
    assert_eq!(value_of(&text, inf), Some(3.0));
    // Unknown paths are labelled by template, never by raw path: cardinality stays bounded.
    let unmatched = r#"http_requests_total{route="unmatched",method="GET",status="404"}"#;
    assert_eq!(value_of(&text, unmatched), Some(1.0));
    assert!(!text.contains("12345"), "raw paths must not become labels");
    let not_allowed = r#"http_requests_total{route="/info",method="POST",status="405"}"#;
    assert_eq!(value_of(&text, not_allowed), Some(1.0));
    // The scrape itself is in flight while it renders.
    assert_eq!(value_of(&text, "http_requests_in_flight"), Some(1.0));
}

#[tokio::test]
async fn metrics_export_process_system_and_build_families() {
    let app = spawn_app().await;
    let text = scrape(&app).await;
    for family in [
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_cpu_seconds_total",
        "process_start_time_seconds",
        "process_open_fds",
        "process_max_fds",
        "process_threads",
        "system_memory_total_bytes",
        "system_memory_available_bytes",
        "system_cpu_usage_ratio",
        "system_load1",
        "system_load5",
        "system_load15",
        "app_ready",
    ] {
        assert!(
            value_of(&text, family).is_some(),
            "{family} missing from:\n{text}"
        );
    }
    assert!(value_of(&text, "process_resident_memory_bytes").is_some_and(|v| v > 0.0));
    let build_info = text
        .lines()
        .find(|l| l.starts_with("app_build_info{"))
        .expect("build info series");
    assert!(build_info.contains(&format!(r#"version="{}""#, env!("CARGO_PKG_VERSION"))));
    assert!(build_info.contains("revision=\""));
    assert!(build_info.ends_with(" 1"));
}

#[tokio::test]
async fn metrics_pass_promtool_check_metrics() {
    if !require_tool("promtool", "the exposition lint") {
        return;
    }
    let app = spawn_app().await;
    app.get("/").await;
    app.get("/missing").await;
    let text = scrape(&app).await;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write exposition");
    let output = child.wait_with_output().expect("promtool finishes");
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && findings.trim().is_empty(),
        "promtool findings:\n{findings}"
    );
}

#[tokio::test]
async fn a_scrape_is_gzipped_when_asked_for_and_nothing_else_is() {
    let app = spawn_app().await;
    let get = |path: &str| {
        app.client
            .get(app.url(path))
            .header("accept-encoding", "gzip")
            .send()
    };
    let metrics = get("/metrics").await.expect("GET /metrics");
    assert_eq!(metrics.status(), 200);
    assert_eq!(metrics.headers()["content-encoding"], "gzip");
    let gzip = metrics.bytes().await.expect("a body");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut text)
        .expect("gzip of UTF-8 text");
    assert!(text.contains("# TYPE"), "{text}");
    assert!(gzip.len() < text.len());
    let root = get("/").await.expect("GET /");
    assert!(root.headers().get("content-encoding").is_none());
}
