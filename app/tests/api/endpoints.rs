use chrono::DateTime;
use serde_json::Value;

use crate::helpers::spawn_app;

fn assert_json(response: &reqwest::Response) {
    let content_type = response.headers()["content-type"].to_str().expect("ascii");
    assert_eq!(content_type, "application/json");
}

#[tokio::test]
async fn root_answers_message_version_status_and_utc_timestamp() {
    let app = spawn_app().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    assert_json(&response);
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["status"], "ok");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    let timestamp = body["timestamp"].as_str().expect("timestamp is a string");
    assert!(timestamp.ends_with('Z'), "UTC timestamp: {timestamp}");
    DateTime::parse_from_rfc3339(timestamp).expect("RFC 3339 timestamp");
}

#[tokio::test]
async fn health_reports_liveness_with_uptime_and_version() {
    let app = spawn_app().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    assert_json(&response);
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_seconds"].is_u64());
}

#[tokio::test]
async fn readiness_is_200_while_serving_and_503_once_draining() {
    let app = spawn_app().await;
    let response = app.get("/health/ready").await;
    assert_eq!(response.status(), 200);
    assert_json(&response);
    assert_eq!(
        response.json::<Value>().await.expect("JSON")["status"],
        "ready"
    );

    app.state.readiness.begin_draining();
    let response = app.get("/health/ready").await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.json::<Value>().await.expect("JSON")["status"],
        "shutting_down"
    );
    // Liveness is unaffected: the process is healthy, it just wants no new traffic.
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn info_describes_app_host_process_and_container() {
    let app = spawn_app().await;
    let response = app.get("/info").await;
    assert_eq!(response.status(), 200);
    assert_json(&response);
    let body: Value = response.json().await.expect("JSON body");

    let app_info = &body["app"];
    assert_eq!(app_info["name"], "app");
    assert_eq!(app_info["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        app_info["git_revision"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    DateTime::parse_from_rfc3339(app_info["build_time"].as_str().expect("build time"))
        .expect("RFC 3339");
    assert!(
        app_info["rustc"]
            .as_str()
            .is_some_and(|r| r.starts_with("rustc "))
    );
    assert!(matches!(
        app_info["profile"].as_str(),
        Some("debug" | "release")
    ));

    let host = &body["host"];
    assert_eq!(host["architecture"], std::env::consts::ARCH);
    assert!(host["logical_cpus"].as_u64().is_some_and(|n| n >= 1));
    assert!(host["memory_total_bytes"].as_u64().is_some_and(|n| n > 0));
    for field in ["hostname", "os", "kernel"] {
        assert!(host[field].is_string(), "host.{field}");
    }

    let process = &body["process"];
    assert_eq!(process["pid"], std::process::id());
    assert!(
        process["resident_memory_bytes"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
    assert!(process["uptime_seconds"].is_f64());
    assert!(process["threads"].as_u64().is_some_and(|n| n >= 1));

    // Present under cgroups (with null for unlimited figures), null elsewhere.
    let container = &body["container"];
    assert!(container.is_null() || container["cgroup_version"].is_u64());
    DateTime::parse_from_rfc3339(body["sampled_at"].as_str().expect("sampled_at"))
        .expect("RFC 3339");
}

#[tokio::test]
async fn head_is_answered_like_get_without_a_body() {
    let app = spawn_app().await;
    let response = app
        .client
        .head(app.url("/health"))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.expect("body").is_empty());
}
