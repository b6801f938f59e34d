//! The images end to end: built by `cargo xtask build`, checked by `test-image`, measured by
//! `compare`, on a real Docker engine.

use serde_json::Value;
use system_tests::{docker_available, exclusive, project_root, run_xtask, stderr, stdout};

#[test]
fn without_an_engine_every_docker_command_says_so_in_one_line() {
    for command in [
        &["build", "scratch"][..],
        &["compare"],
        &["test-image", "app:scratch"],
        &["bases"],
    ] {
        let output = system_tests::xtask(command)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .output()
            .expect("cargo runs");
        assert!(
            !output.status.success(),
            "{command:?} must fail without an engine"
        );
        let text = stderr(&output);
        assert_eq!(
            text.lines().count(),
            1,
            "{command:?}: one line, got:\n{text}"
        );
        assert!(
            text.starts_with("error: no Docker engine is reachable"),
            "{command:?}: {text}"
        );
    }
}

#[test]
fn multi_stage_images_pass_every_check() {
    if !docker_available("multi_stage_images_pass_every_check") {
        return;
    }
    let _guard = exclusive();
    let built = run_xtask(&["build", "scratch", "distroless"]);
    assert!(built.status.success(), "build failed");
    for (image, budget) in [("app:scratch", "4MB"), ("app:distroless", "6MB")] {
        let output = run_xtask(&["test-image", image, "--max-size", budget]);
        let report = stdout(&output);
        assert!(
            output.status.success(),
            "{image} failed its checks:\n{report}"
        );
        assert!(!report.contains("FAIL"), "{report}");
        assert!(
            report.contains(&format!("checks passed for {image}")),
            "{report}"
        );
    }
}

#[test]
fn the_single_stage_image_fails_the_checks_it_should() {
    if !docker_available("the_single_stage_image_fails_the_checks_it_should") {
        return;
    }
    let _guard = exclusive();
    assert!(
        run_xtask(&["build", "single"]).status.success(),
        "build failed"
    );
    let output = run_xtask(&["test-image", "app:single-stage"]);
    assert!(
        !output.status.success(),
        "a root image with a shell must not pass"
    );
    let report = stdout(&output);
    for expected in [
        "FAIL  runs as a non-root user",
        "FAIL  no shell can be exec'd",
        "FAIL  size within budget",
        "FAIL  has an exec-form HEALTHCHECK",
        "PASS  every endpoint answers 200",
        "PASS  starts and answers /health",
    ] {
        assert!(
            report.contains(expected),
            "missing {expected:?} in:\n{report}"
        );
    }
    assert!(stderr(&output).contains("checks failed for app:single-stage"));
}

#[test]
fn compare_measures_all_three_images_and_records_history() {
    if !docker_available("compare_measures_all_three_images_and_records_history") {
        return;
    }
    let _guard = exclusive();
    let sizes = project_root().join(".xtask/history/sizes.jsonl");
    let lines_before = std::fs::read_to_string(&sizes).map_or(0, |t| t.lines().count());
    let page = std::env::temp_dir().join(format!("compare-{}.html", std::process::id()));
    let output = run_xtask(&[
        "compare",
        "--json",
        "--skip-rebuild-timing",
        "--html",
        page.to_str().expect("utf-8 path"),
    ]);
    assert!(output.status.success(), "compare failed");
    let report: Value =
        serde_json::from_str(&stdout(&output)).expect("--json prints one JSON document");
    let variants = report["variants"].as_array().expect("variants");
    let find = |name: &str| {
        variants
            .iter()
            .find(|v| v["variant"] == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    let (single, scratch, distroless) = (find("single-stage"), find("scratch"), find("distroless"));

    // What is inside: the point of the comparison.
    assert!(
        single["os_packages"].as_u64().is_some_and(|n| n > 50),
        "{single}"
    );
    assert!(single["shells"].as_array().is_some_and(|s| !s.is_empty()));
    assert_eq!(single["user"], "root (default)");
    assert_eq!(scratch["os_packages"], 0, "{scratch}");
    // The public distroless image records its few packages (base-files, netbase, tzdata).
    assert!(
        distroless["os_packages"].as_u64().is_some_and(|n| n <= 5),
        "{distroless}"
    );
    for slim in [scratch, distroless] {
        assert_eq!(slim["shells"], serde_json::json!([]), "{slim}");
        assert_eq!(slim["user"], "65532:65532");
    }
    assert_eq!(
        scratch["files"], 1,
        "scratch holds the binary and nothing else: {scratch}"
    );
    assert_eq!(scratch["layers"], 1);
    for key in ["size_bytes", "compressed_bytes", "idle_memory_bytes"] {
        for variant in [single, scratch, distroless] {
            assert!(
                variant[key].as_u64().is_some_and(|n| n > 0),
                "{key} of {variant}"
            );
        }
    }
    assert!(single["size_bytes"].as_u64() > distroless["size_bytes"].as_u64());
    assert!(distroless["size_bytes"].as_u64() > scratch["size_bytes"].as_u64());
    assert!(single["reduction_percent"].is_null());
    assert!(
        scratch["reduction_percent"]
            .as_f64()
            .is_some_and(|p| p > 0.0 && p < 100.0)
    );
    assert!(
        scratch["rebuild_seconds"].is_null(),
        "rebuild timing was skipped"
    );

    let lines_after = std::fs::read_to_string(&sizes).map_or(0, |t| t.lines().count());
    assert_eq!(lines_after, lines_before + 3, "one size record per image");
    let html = std::fs::read_to_string(&page).expect("--html wrote the page");
    assert!(
        html.starts_with("<!doctype html>")
            && html.contains("<svg")
            && html.contains("app:scratch")
    );
    std::fs::remove_file(page).expect("cleanup");

    let history = run_xtask(&["history"]);
    assert!(history.status.success());
    assert!(stdout(&history).contains("scratch"));
}

#[test]
fn bases_is_idempotent() {
    if !docker_available("bases_is_idempotent") {
        return;
    }
    let _guard = exclusive();
    let first = run_xtask(&["bases"]);
    assert!(first.status.success(), "bases failed");
    let second = run_xtask(&["bases"]);
    assert!(second.status.success());
    let log = stderr(&second);
    assert!(
        !log.contains(": building"),
        "a second run builds nothing:\n{log}"
    );
    for image in [
        "local/rust:",
        "local/distroless-static:nonroot",
        "local/nginx:bookworm",
        "local/prometheus:bookworm",
    ] {
        assert!(
            log.contains(image) && log.contains("present, kept"),
            "{image} missing from:\n{log}"
        );
    }
    assert!(stdout(&second).contains("export BUILDER_IMAGE=local/rust:"));
}
