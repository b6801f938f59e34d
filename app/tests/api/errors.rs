use std::time::Duration;

use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with, test_config};

#[tokio::test]
async fn unknown_path_is_a_json_404() {
    let app = spawn_app().await;
    let response = app.get("/no/such/page").await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["error"], "not_found");
    assert_eq!(body["message"], "no route for GET /no/such/page");
}

#[tokio::test]
async fn wrong_method_is_a_json_405_with_allow() {
    let app = spawn_app().await;
    let response = app
        .client
        .delete(app.url("/health"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET,HEAD");
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["error"], "method_not_allowed");
    assert_eq!(body["message"], "DELETE is not allowed on /health");
}

#[tokio::test]
async fn a_panicking_handler_is_a_json_500_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let response = app.get("/debug/panic").await;
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["error"], "internal_error");
    assert!(
        !body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("deliberate"),
        "panic text must not leak"
    );
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn a_slow_request_times_out_with_a_json_408() {
    let app = spawn_app_with(app::config::Config {
        request_timeout: Duration::from_millis(200),
        ..test_config()
    })
    .await;
    let response = app.get("/debug/sleep?ms=5000").await;
    assert_eq!(response.status(), 408);
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["error"], "timeout");
    assert_eq!(app.get("/debug/sleep?ms=10").await.status(), 200);
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_json_413() {
    let app = spawn_app_with(app::config::Config {
        body_limit: 1024,
        ..test_config()
    })
    .await;
    let response = app
        .client
        .post(app.url("/"))
        .body(vec![b'x'; 4096])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["error"], "payload_too_large");
    assert_eq!(body["message"], "request bodies are limited to 1024 bytes");
}

#[tokio::test]
async fn debug_endpoints_are_absent_unless_enabled() {
    let app = spawn_app_with(app::config::Config {
        debug_endpoints: false,
        ..test_config()
    })
    .await;
    assert_eq!(app.get("/debug/panic").await.status(), 404);
    assert_eq!(app.get("/debug/sleep?ms=1").await.status(), 404);
}
