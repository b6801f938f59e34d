//! Graceful shutdown of the real binary under real signals.

use std::time::{Duration, Instant};

use crate::helpers::Binary;

/// Polls `/metrics` until at least `n` requests besides the scrape itself are in flight.
async fn wait_in_flight(metrics_url: &str, n: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = reqwest::get(metrics_url)
            .await
            .expect("scrape")
            .text()
            .await
            .expect("body");
        let in_flight = text
            .lines()
            .find_map(|l| l.strip_prefix("http_requests_in_flight "))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if in_flight >= f64::from(n + 1) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {n} requests ever got in flight"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_right_after_start_is_handled_not_fatal() {
    // No wait for the `listening` line: the signal lands while the app is still starting.
    let mut child = crate::helpers::app_command()
        .env("APP_HOST", "127.0.0.1")
        .env("APP_PORT", "0")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the app starts");
    tokio::time::sleep(Duration::from_millis(30)).await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("task")
        .expect("wait");
    assert_eq!(
        exit.code(),
        Some(0),
        "SIGTERM during start-up must be a clean exit, got {exit:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_then_finishes_in_flight_requests_and_exits_zero() {
    let mut binary = Binary::start(&[
        ("APP_DEBUG_ENDPOINTS", "true"),
        ("APP_SHUTDOWN_DELAY", "700ms"),
        ("APP_SHUTDOWN_GRACE", "10s"),
    ]);
    let client = reqwest::Client::new();
    let slow = tokio::spawn(client.get(binary.url("/debug/sleep?ms=2000")).send());
    binary.wait_for_log(Duration::from_secs(5), |_| true); // the server is up and logging
    tokio::time::sleep(Duration::from_millis(200)).await;

    binary.signal("TERM");
    let signalled = Instant::now();

    // During the shutdown delay: new connections are still served, readiness says 503.
    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client")
    };
    let ready = fresh()
        .get(binary.url("/health/ready"))
        .send()
        .await
        .expect("still accepting");
    assert_eq!(ready.status(), 503);
    assert_eq!(
        fresh()
            .get(binary.url("/health"))
            .send()
            .await
            .expect("live")
            .status(),
        200
    );

    // After the delay the listener is closed, while the slow request is still running.
    tokio::time::sleep(Duration::from_millis(900).saturating_sub(signalled.elapsed())).await;
    let refused = fresh().get(binary.url("/health")).send().await;
    assert!(
        refused.is_err(),
        "the listener should be closed, got {refused:?}"
    );

    let response = slow
        .await
        .expect("task")
        .expect("the in-flight request completes");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.expect("JSON")["slept_ms"],
        2000
    );

    let status = binary.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
    binary.wait_for_log(Duration::from_secs(1), |l| {
        l["message"] == "all requests finished; exiting"
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_an_idle_server_at_once() {
    let mut binary = Binary::start(&[]);
    binary.signal("INT");
    let started = Instant::now();
    assert_eq!(binary.wait_exit(Duration::from_secs(5)).code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "idle shutdown took {:?}",
        started.elapsed()
    );
    binary.wait_for_log(Duration::from_secs(1), |l| l["signal"] == "SIGINT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_outliving_the_grace_period_is_abandoned_and_the_exit_is_clean() {
    let mut binary = Binary::start(&[
        ("APP_DEBUG_ENDPOINTS", "true"),
        ("APP_SHUTDOWN_GRACE", "300ms"),
    ]);
    let client = reqwest::Client::new();
    let stuck = tokio::spawn(client.get(binary.url("/debug/sleep?ms=30000")).send());
    wait_in_flight(&binary.url("/metrics"), 1).await;
    binary.signal("TERM");
    let status = binary.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
    let line = binary.wait_for_log(Duration::from_secs(1), |l| {
        l["message"] == "shutdown grace period over; abandoning in-flight requests"
    });
    assert_eq!(line["in_flight"], 1);
    assert!(
        stuck.await.expect("task").is_err(),
        "the abandoned request gets no response"
    );
}
