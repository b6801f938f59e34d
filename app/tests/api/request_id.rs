use std::time::Duration;

use crate::helpers::{Binary, spawn_app};

#[tokio::test]
async fn a_request_id_is_generated_when_absent() {
    let app = spawn_app().await;
    let first = app.get("/").await;
    let second = app.get("/").await;
    let id = |r: &reqwest::Response| {
        r.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned()
    };
    let (a, b) = (id(&first), id(&second));
    assert_eq!(a.len(), 36, "UUID-shaped: {a}");
    assert_eq!(a.matches('-').count(), 4);
    assert_ne!(a, b, "each request gets its own id");
}

#[tokio::test]
async fn an_incoming_request_id_is_propagated_even_on_errors() {
    let app = spawn_app().await;
    for path in ["/", "/missing"] {
        let response = app
            .client
            .get(app.url(path))
            .header("x-request-id", "edge-7f3a")
            .send()
            .await
            .expect("GET");
        assert_eq!(response.headers()["x-request-id"], "edge-7f3a", "on {path}");
    }
}

#[tokio::test]
async fn the_request_log_line_carries_id_route_status_and_latency() {
    let mut binary = Binary::start(&[]);
    let response = reqwest::Client::new()
        .get(binary.url("/health"))
        .header("x-request-id", "log-check-42")
        .send()
        .await
        .expect("GET /health");
    assert_eq!(response.status(), 200);
    let line = binary.wait_for_log(Duration::from_secs(5), |l| {
        l["request_id"] == "log-check-42"
    });
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/health");
    assert_eq!(line["path"], "/health");
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
    assert!(line["timestamp"].is_string());
}
