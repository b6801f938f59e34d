//! Graceful shutdown of the real binary under real signals.

use std::time::{Duration, Instant};

use crate::helpers::Binary;

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
    tokio::time::sleep(Duration::from_millis(300)).await;
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
