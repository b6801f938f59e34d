//! `cargo xtask cost`: the real binaries counted by the real callgrind, as a user runs it.

use serde_json::Value;

use crate::support::process::{stdout, xtask};

/// Needs valgrind (see the list in `main.rs`).
pub(crate) fn cost_counts_the_service_the_bare_handler_and_every_feature() {
    let output = xtask(&[
        "cost",
        "--json",
        "--requests",
        "300",
        "--repeat",
        "2",
        "--endpoint",
        "/health",
        "--endpoint",
        "/metrics",
    ])
    .run();
    assert!(output.status.success(), "cost failed");
    let report: Value = serde_json::from_str(&stdout(&output)).expect("cost --json prints JSON");

    let per_request = |key: &str, path: &str| -> Option<f64> {
        report["servers"]
            .as_array()?
            .iter()
            .find(|server| server["key"] == key)?["figures"][path]["instructions"]
            .as_f64()
    };
    let bare = per_request("bare", "/health").expect("the bare handler on /health");
    let service = per_request("service", "/health").expect("the service on /health");
    let logs_off = per_request("logs-off", "/health").expect("logs off on /health");
    // The bare handler answers no /metrics: nothing to compare there.
    assert_eq!(per_request("bare", "/metrics"), None);
    assert!(
        bare > 1_000.0 && bare < logs_off && logs_off < service,
        "bare {bare}, logs off {logs_off}, service {service}: each adds work"
    );
    for server in report["servers"].as_array().expect("servers") {
        let figure = &server["figures"]["/health"];
        assert_eq!(
            figure["samples"].as_array().map(Vec::len),
            Some(2),
            "{server}"
        );
        assert!(
            figure["spread_percent"].as_f64().expect("a spread") < 10.0,
            "counts repeat: {server}"
        );
    }

    // One price a feature, the log line first; the metrics cost most where they are rendered.
    let prices = report["prices"].as_array().expect("prices");
    let features: Vec<&str> = prices
        .iter()
        .filter_map(|p| p["feature"].as_str())
        .collect();
    assert_eq!(
        features,
        [
            "request log line",
            "request id",
            "propagate request id",
            "body limit",
            "timeout",
            "panic recovery",
            "compression",
            "metrics"
        ]
    );
    let price = |feature: &str, path: &str| -> f64 {
        prices
            .iter()
            .find(|p| p["feature"] == feature)
            .and_then(|p| p["instructions"][path].as_f64())
            .expect("a price")
    };
    assert!((price("request log line", "/health") - (service - logs_off)).abs() < 1.0);
    // Each price says how far its counts spread.
    let uncertainty = |path: &str| {
        prices[0]["uncertainty"][path]
            .as_f64()
            .expect("an uncertainty")
    };
    assert!(uncertainty("/health") >= 0.0 && uncertainty("/metrics") >= 0.0);
    assert!(price("request id", "/health") > 0.0);
    assert!(price("metrics", "/metrics") > 10.0 * price("metrics", "/health").abs());
    // gzip, as Prometheus asks for it, shrinks a scrape.
    let scrape = &report["metrics_scrape"];
    let (text, gzip) = (scrape["text"].as_u64(), scrape["gzip"].as_u64());
    assert!(
        matches!((text, gzip), (Some(text), Some(gzip)) if gzip > 0 && gzip < text),
        "{scrape}"
    );
    let rate = report["instructions_per_ns"].as_f64().expect("a rate");
    assert!(rate > 0.05 && rate < 100.0, "instructions per ns: {rate}");

    // The three targets on /health (the ratio ones need the bare handler, so not /metrics'),
    // and the log line's on both.
    let targets: Vec<&str> = report["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .filter_map(|t| t["what"].as_str())
        .collect();
    assert_eq!(targets.len(), 4, "{targets:?}");
    assert!(
        targets
            .iter()
            .all(|t| !t.starts_with("/metrics: the service"))
    );
}

pub(crate) fn cost_refuses_an_endpoint_it_does_not_count() {
    let output = xtask(&["cost", "--endpoint", "/nowhere"]).run();
    assert!(!output.status.success());
    let stderr = crate::support::process::stderr(&output);
    assert!(
        stderr.contains("counts one of /, /health, /info, /metrics"),
        "{stderr}"
    );
}
