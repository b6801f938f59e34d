//! `app healthcheck`: the HEALTHCHECK of images without a shell.

use std::net::TcpListener;

use crate::helpers::{app_command, spawn_app};

fn healthcheck(port: u16) -> std::process::Output {
    app_command()
        .arg("healthcheck")
        .env("APP_HOST", "127.0.0.1")
        .env("APP_PORT", port.to_string())
        .output()
        .expect("the app runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_0_against_a_live_server() {
    let app = spawn_app().await;
    let output = tokio::task::spawn_blocking(move || healthcheck(app.address.port()))
        .await
        .expect("task");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn exits_1_against_a_dead_port() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let output = healthcheck(port);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("unhealthy: cannot connect to 127.0.0.1:"),
        "{stderr}"
    );
}

#[test]
fn exits_1_when_something_else_answers() {
    // A listener that accepts and closes without speaking HTTP.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            drop(stream);
        }
    });
    let output = healthcheck(port);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("unhealthy:"));
}
