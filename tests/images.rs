//! The images end to end: built by `cargo xtask build`, checked by `test-image`, measured by
//! `compare`, on a real Docker engine.

use std::process::Command;

use serde_json::Value;

use crate::support::files::{project_root, scratch_path};
use crate::support::needs::{docker_exclusive, skip};
use crate::support::process::{stderr, stdout, tools_path, xtask};

pub(crate) fn without_an_engine_every_docker_command_says_so_in_one_line() {
    for command in [
        &["build", "scratch"][..],
        &["compare"],
        &["test-image", "app:scratch"],
        &["bases"],
    ] {
        let output = xtask(command)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .run();
        assert!(
            !output.status.success(),
            "{command:?} must fail without an engine"
        );
        // `compare` numbers its steps as it starts each; the failure itself is one line.
        let text = stderr(&output);
        let said: Vec<&str> = text
            .lines()
            .filter(|line| !(line.starts_with('[') && line.contains('/') && line.contains("] ")))
            .collect();
        assert_eq!(said.len(), 1, "{command:?}: one line, got:\n{text}");
        assert!(
            said[0].starts_with("error: no Docker engine is reachable"),
            "{command:?}: {text}"
        );
    }
}

pub(crate) fn multi_stage_images_pass_every_check() {
    let Some(_engine) = docker_exclusive("multi_stage_images_pass_every_check", &[]) else {
        return;
    };
    let built = xtask(&["build", "scratch", "distroless"]).run();
    assert!(built.status.success(), "build failed");
    for (image, budget) in [("app:scratch", "4MB"), ("app:distroless", "6MB")] {
        let output = xtask(&["test-image", image, "--max-size", budget]).run();
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

/// `cargo xtask build` uses BuildKit wherever a docker CLI has it, as most users do; the
/// Dockerfiles must also build under the legacy builder (`DOCKER_BUILDKIT=0`), which builds
/// every stage before the target and knows no BuildKit-only syntax.
pub(crate) fn both_dockerfiles_build_with_buildkit_and_with_the_legacy_builder() {
    let Some(_engine) = docker_exclusive(
        "both_dockerfiles_build_with_buildkit_and_with_the_legacy_builder",
        &[],
    ) else {
        return;
    };
    let by_default = xtask(&["build", "single", "scratch"]).run();
    assert!(by_default.status.success(), "build failed");
    let log = stderr(&by_default);
    if log.contains("building app:scratch (BuildKit):") {
        assert!(
            !log.contains("(legacy builder)"),
            "only BuildKit builds by default where a CLI has it:\n{log}"
        );
    } else {
        skip(
            "no docker CLI here can build with BuildKit, so only the legacy builder is tested",
            "CI installs docker.io, whose CLI has BuildKit built in",
            " (install the buildx plugin)",
        );
    }

    // distroless is the last stage: the legacy builder builds the builder and scratch stages too.
    let output = xtask(&["build", "distroless", "single"])
        .env("DOCKER_BUILDKIT", "0")
        .run();
    let log = stderr(&output);
    assert!(output.status.success(), "legacy build failed:\n{log}");
    for tag in ["app:distroless", "app:single-stage"] {
        assert!(
            log.contains(&format!("building {tag} (legacy builder):")),
            "{tag} not built by the legacy builder:\n{log}"
        );
    }
    let checked = xtask(&["test-image", "app:distroless"]).run();
    assert!(
        checked.status.success(),
        "the legacy builder's distroless image fails its checks:\n{}",
        stdout(&checked)
    );
}

/// `--profile` reaches the multi-stage Dockerfile as `CARGO_PROFILE`: `release-fast` (no LTO)
/// makes a larger binary than the shipped fat-LTO `release`, and the history says which built
/// what. An unknown profile is refused before anything is built.
pub(crate) fn the_multi_stage_image_builds_with_the_profile_asked_for() {
    let refused = xtask(&["build", "scratch", "--profile", "fastest"]).run();
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("no cargo profile `fastest`: the workspace's Cargo.toml knows"),
        "{}",
        stderr(&refused)
    );
    let Some(_engine) = docker_exclusive(
        "the_multi_stage_image_builds_with_the_profile_asked_for",
        &[],
    ) else {
        return;
    };
    let image_size = || {
        let output = Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Size}}", "app:scratch"])
            .output()
            .expect("docker runs");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse::<u64>()
            .expect("a size")
    };
    let fast = xtask(&["build", "scratch", "--profile", "release-fast"]).run();
    assert!(fast.status.success(), "release-fast build failed");
    assert!(
        stdout(&fast).contains("profile release-fast"),
        "{}",
        stdout(&fast)
    );
    let fast_size = image_size();
    let checked = xtask(&["test-image", "app:scratch"]).run();
    assert!(checked.status.success(), "{}", stdout(&checked));
    // Back to what ships (from the layer cache), for the tests that follow.
    let shipped = xtask(&["build", "scratch"]).run();
    assert!(shipped.status.success(), "release build failed");
    let shipped_size = image_size();
    assert!(
        fast_size > shipped_size,
        "without LTO the binary is larger: {fast_size} against {shipped_size} bytes"
    );
    let history = stdout(&xtask(&["history", "--last", "2"]).run());
    assert!(history.contains("release-fast"), "{history}");
}

pub(crate) fn the_single_stage_image_fails_the_checks_it_should() {
    let Some(_engine) = docker_exclusive("the_single_stage_image_fails_the_checks_it_should", &[])
    else {
        return;
    };
    assert!(
        xtask(&["build", "single"]).run().status.success(),
        "build failed"
    );
    let output = xtask(&["test-image", "app:single-stage"]).run();
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

/// The image `build --daemonless` makes, as compare measured it: the same one file as the
/// Dockerfile's scratch.
fn check_daemonless_row(daemonless: &Value) {
    assert_eq!(daemonless["image"], "app:scratch-daemonless");
    assert_eq!(
        (daemonless["files"].as_u64(), daemonless["layers"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(daemonless["user"], "65532:65532");
    assert_eq!(daemonless["shells"], serde_json::json!([]));
    assert!(
        daemonless["cold_build_seconds"]
            .as_f64()
            .is_some_and(|s| s > 0.0),
        "{daemonless}"
    );
    assert_eq!(
        daemonless["reproducible"], "skipped",
        "rebuild timing was skipped"
    );
}

pub(crate) fn compare_measures_every_image_and_records_history() {
    let Some(_engine) = docker_exclusive("compare_measures_every_image_and_records_history", &[])
    else {
        return;
    };
    let sizes = project_root().join(".xtask/history/sizes.jsonl");
    let lines_before = std::fs::read_to_string(&sizes).map_or(0, |t| t.lines().count());
    let page = scratch_path("compare.html");
    let output = xtask(&[
        "compare",
        "--json",
        "--skip-rebuild-timing",
        // Timed on the fresh machine (`tests/fresh.rs`) and by `ci`'s own compare.
        "--skip-pull-timing",
        "--html",
        page.to_str().expect("utf-8 path"),
    ])
    .run();
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
    check_daemonless_row(find("scratch-daemonless"));
    for variant in variants {
        assert!(variant["reproducible"].is_string(), "{variant}");
    }

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
        scratch["rebuild_seconds"].is_null() && scratch["host_rebuild_seconds"].is_null(),
        "rebuild timing was skipped"
    );
    for variant in [single, scratch, distroless] {
        assert!(
            variant["cold_pull_to_serving_seconds"].is_null(),
            "pull timing was skipped: {variant}"
        );
    }

    let lines_after = std::fs::read_to_string(&sizes).map_or(0, |t| t.lines().count());
    assert_eq!(lines_after, lines_before + 4, "one size record per image");
    let html = std::fs::read_to_string(&page).expect("--html wrote the page");
    assert!(
        html.starts_with("<!doctype html>")
            && html.contains("<svg")
            && html.contains("app:scratch")
    );
    crate::report::check_in_browser(
        "compare_measures_every_image_and_records_history",
        &page,
        &report,
    );
    std::fs::remove_file(page).expect("cleanup");

    let history = xtask(&["history"]).run();
    assert!(history.status.success());
    assert!(stdout(&history).contains("scratch"));
}

pub(crate) fn bases_is_idempotent() {
    let Some(_engine) = docker_exclusive("bases_is_idempotent", &[]) else {
        return;
    };
    let first = xtask(&["bases"]).run();
    assert!(first.status.success(), "bases failed");
    let second = xtask(&["bases"]).run();
    assert!(second.status.success());
    let log = stderr(&second);
    assert!(
        !log.contains(": building"),
        "a second run builds nothing:\n{log}"
    );
    for image in [
        "local/rust:",
        "local/distroless-static:nonroot",
        "local/nginx:forky",
        "local/prometheus:bookworm",
    ] {
        assert!(
            log.contains(image) && log.contains("present, kept"),
            "{image} missing from:\n{log}"
        );
    }
    assert!(stdout(&second).contains("export BUILDER_IMAGE=local/rust:"));
}

/// `analyze` and `scan` on the real images: what the comparison claims, checked from the
/// layers themselves.
pub(crate) fn analyze_and_scan_see_what_each_image_holds() {
    let Some(_engine) = docker_exclusive("analyze_and_scan_see_what_each_image_holds", &[]) else {
        return;
    };
    assert!(
        xtask(&["build", "all"]).run().status.success(),
        "build failed"
    );
    let json = |args: &[&str]| -> Value {
        let output = xtask(args).run();
        assert!(output.status.success(), "{args:?} failed");
        serde_json::from_str(&stdout(&output)).expect("--json prints JSON")
    };
    for image in ["scratch", "distroless"] {
        let scan = json(&["scan", image, "--json", "--fail-on", "HIGH"]);
        let surface = &scan["attack_surface"];
        // scratch has no package database; the public distroless image records its few
        // packages (base-files, netbase, tzdata), the local stand-in none.
        let most = if image == "scratch" { 0 } else { 5 };
        assert!(
            surface["os_packages"].as_u64().is_some_and(|n| n <= most),
            "{image}: {surface}"
        );
        for key in [
            "shells",
            "package_managers",
            "compilers",
            "setuid_setgid",
            "world_writable",
        ] {
            assert_eq!(surface[key], serde_json::json!([]), "{image}: {key}");
        }
        assert_eq!(scan["user"], "65532:65532");
        assert_eq!(scan["secrets"], serde_json::json!([]), "{image}");
        assert!(
            scan["checks"]
                .as_array()
                .expect("checks")
                .iter()
                .all(|check| check["passed"] == true),
            "{image}: {}",
            scan["checks"]
        );
        let analysis = json(&["analyze", image, "--json"]);
        assert_eq!(
            analysis["recommendations"],
            serde_json::json!([]),
            "{image}"
        );
        assert_eq!(analysis["wasted_bytes"], 0, "{image}");
    }

    let scan = json(&["scan", "single", "--json"]);
    let surface = &scan["attack_surface"];
    assert!(
        surface["os_packages"].as_u64().is_some_and(|n| n > 100),
        "hundreds of packages: {}",
        surface["os_packages"]
    );
    for key in ["shells", "package_managers", "compilers", "setuid_setgid"] {
        assert!(
            surface[key]
                .as_array()
                .is_some_and(|found| !found.is_empty()),
            "single-stage has {key}"
        );
    }
    assert_eq!(scan["user"], "");
    assert_eq!(scan["checks"][0]["id"], "non-root-user");
    assert_eq!(scan["checks"][0]["passed"], false);
    let gate = xtask(&["scan", "single", "--fail-on", "CRITICAL"]).run();
    assert!(
        !gate.status.success(),
        "root and no health check fail the gate"
    );
    assert!(stderr(&gate).contains("check non-root-user failed"));

    let analysis = json(&["analyze", "single", "--json"]);
    let ids: Vec<&str> = analysis["recommendations"]
        .as_array()
        .expect("recommendations")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    for expected in [
        "build-tools",
        "root-user",
        "no-healthcheck",
        "build-leftovers",
    ] {
        assert!(ids.contains(&expected), "{expected} missing from {ids:?}");
    }
    assert!(analysis["score"].as_u64().is_some_and(|score| score < 50));
}

/// Validates the SBOM against the CycloneDX 1.5 JSON schema, strictly, with the CycloneDX
/// project's own library (installed by `cargo xtask ci` under target/tools/python).
fn validate_cyclonedx(path: &std::path::Path) {
    let validator_installed = std::process::Command::new("python")
        .env("PATH", tools_path())
        .args(["-c", "import cyclonedx.validation.json"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !validator_installed {
        skip(
            "cyclonedx-python-lib is not installed, so the CycloneDX schema check cannot run",
            "CI must install it",
            " (`cargo xtask ci` installs it under target/tools/python)",
        );
        return;
    }
    let output = std::process::Command::new("python")
        .env("PATH", tools_path())
        .arg("-c")
        .arg(
            "import sys\n\
             from cyclonedx.validation.json import JsonStrictValidator\n\
             from cyclonedx.schema import SchemaVersion\n\
             error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\n\
             print(error if error else 'valid')\n\
             sys.exit(1 if error else 0)",
        )
        .arg(path)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "the SBOM is not valid CycloneDX 1.5: {}{}",
        stdout(&output),
        stderr(&output)
    );
}

/// The crates of `Cargo.lock`, by name: every version locked.
fn locked_crates() -> std::collections::HashMap<String, Vec<String>> {
    let lock = std::fs::read_to_string(project_root().join("Cargo.lock")).expect("Cargo.lock");
    let mut crates = std::collections::HashMap::<String, Vec<String>>::new();
    for package in lock.split("[[package]]").skip(1) {
        let field = |key: &str| {
            package.lines().find_map(|line| {
                line.strip_prefix(key)
                    .and_then(|rest| rest.trim().strip_prefix('='))
                    .map(|value| value.trim().trim_matches('"').to_owned())
            })
        };
        if let (Some(name), Some(version)) = (field("name"), field("version")) {
            crates.entry(name).or_default().push(version);
        }
    }
    crates
}

pub(crate) fn the_scratch_images_sbom_lists_the_apps_crates_at_their_locked_versions() {
    let Some(_engine) = docker_exclusive(
        "the_scratch_images_sbom_lists_the_apps_crates_at_their_locked_versions",
        &[],
    ) else {
        return;
    };
    assert!(
        xtask(&["build", "scratch"]).run().status.success(),
        "build failed"
    );
    let path = scratch_path("sbom.json");
    let output = xtask(&[
        "scan",
        "scratch",
        "--sbom",
        path.to_str().expect("utf-8 path"),
    ])
    .run();
    assert!(output.status.success());
    let report = stdout(&output);
    assert!(report.contains("/app (layer 0): app "), "{report}");
    let sbom: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("--sbom wrote the file"))
            .expect("the SBOM is JSON");
    validate_cyclonedx(&path);
    std::fs::remove_file(&path).expect("cleanup");
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    assert_eq!(sbom["specVersion"], "1.5");
    let components = sbom["components"].as_array().expect("components");
    let locked = locked_crates();
    let mut names = Vec::new();
    for component in components {
        let name = component["name"].as_str().expect("name");
        let version = component["version"].as_str().expect("version");
        assert!(
            locked
                .get(name)
                .is_some_and(|versions| versions.iter().any(|v| v == version)),
            "{name} {version} is not in Cargo.lock"
        );
        if let Some(purl) = component["purl"].as_str() {
            assert_eq!(purl, format!("pkg:cargo/{name}@{version}"));
        }
        names.push(name);
    }
    let app = components
        .iter()
        .find(|c| c["name"] == "app")
        .expect("the app itself");
    assert_eq!(app["type"], "application");
    for expected in [
        "axum",
        "tokio",
        "hyper",
        "tower",
        "serde_json",
        "sysinfo",
        "chrono",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    // Dev-dependencies are not in the binary.
    assert!(!names.contains(&"reqwest"), "reqwest is a dev-dependency");
    let axum = format!("pkg:cargo/axum@{}", locked["axum"][0]);
    let app_dependencies = sbom["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .find(|d| d["ref"] == app["bom-ref"])
        .expect("the app's place in the graph");
    assert!(
        app_dependencies["dependsOn"]
            .as_array()
            .is_some_and(|on| on.iter().any(|r| r == axum.as_str())),
        "the app depends on {axum}: {app_dependencies}"
    );
}
