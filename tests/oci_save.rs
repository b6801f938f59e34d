//! `analyze` and `scan` on a real OCI image layout: `cargo xtask save` copies an image built by
//! the machine's engine into a second, throwaway Docker 26 engine and saves it from there, as
//! Docker 25 and later do. What they report must not depend on the layout the engine wrote:
//! the figures from the OCI archive equal those from the first engine's own `docker save`, and
//! the same again with `manifest.json` taken out (a pure OCI layout, as skopeo or a registry
//! export writes it, read through `index.json` alone). And the archive `build --daemonless`
//! writes is one that Docker 26 loads and saves again, the same image.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::files::{scratch_path, second_engine_leftovers, target_dir};
use crate::support::needs::{docker_exclusive, skip};
use crate::support::process::{stdout, succeeds, xtask};

/// Every entry name of a tar archive.
fn entry_names(archive: &Path) -> BTreeSet<String> {
    let file = std::fs::File::open(archive).expect("archive readable");
    tar::Archive::new(file)
        .entries()
        .expect("a tar archive")
        .map(|entry| {
            let entry = entry.expect("a tar entry");
            let path = entry.path().expect("a path").to_string_lossy().into_owned();
            path.trim_start_matches("./").to_owned()
        })
        .collect()
}

/// A copy of `archive` without `manifest.json`: the OCI image layout alone.
fn without_manifest_json(archive: &Path) -> PathBuf {
    let copy = scratch_path("pure-oci.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&copy).expect("writable"));
    let file = std::fs::File::open(archive).expect("archive readable");
    let mut original = tar::Archive::new(file);
    for entry in original.entries().expect("a tar archive") {
        let mut entry = entry.expect("a tar entry");
        let path = entry.path().expect("a path").into_owned();
        if path.to_string_lossy().trim_start_matches("./") == "manifest.json" {
            continue;
        }
        let mut header = entry.header().clone();
        builder
            .append_data(&mut header, &path, &mut entry)
            .expect("copy the entry");
    }
    builder.finish().expect("finish the archive");
    copy
}

/// `cargo xtask COMMAND --archive FILE --json`, without what depends on the file itself: the
/// image's name (a pure OCI layout may carry none) and how long reading took.
fn report(command: &str, archive: &Path) -> Value {
    let path = archive.to_str().expect("a UTF-8 path");
    let output = xtask(&[command, "--archive", path, "--json"]).run();
    assert!(output.status.success(), "{command} --archive {path} failed");
    let mut json: Value = serde_json::from_str(&stdout(&output)).expect("--json prints JSON");
    let object = json.as_object_mut().expect("a JSON object");
    object.remove("image");
    object.remove("read");
    json
}

pub(crate) fn analyze_and_scan_read_docker_26s_oci_archives_as_the_older_layout() {
    let test = "analyze_and_scan_read_docker_26s_oci_archives_as_the_older_layout";
    let Some(_engine) = docker_exclusive(test, &[]) else {
        return;
    };
    if !second_engine_can_start(test) {
        return;
    }
    assert!(
        xtask(&["build", "scratch", "distroless"])
            .run()
            .status
            .success(),
        "build failed"
    );
    for (variant, layers) in [("scratch", 1), ("distroless", 2)] {
        let tag = format!("app:{variant}");
        let first = scratch_path(&format!("{variant}-first.tar"));
        succeeds(
            Command::new("docker")
                .args(["save", "--output"])
                .arg(&first)
                .arg(&tag),
        );

        let oci = scratch_path(&format!("{variant}-oci.tar"));
        let saved = xtask(&["save", variant, "--output", oci.to_str().expect("UTF-8")]).run();
        assert!(saved.status.success(), "save {variant} failed");
        assert!(
            stdout(&saved).contains("OCI image layout"),
            "{}",
            stdout(&saved)
        );
        // The second engine is gone with the command: no folder, no daemon left behind.
        let leftovers = second_engine_leftovers();
        assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
        let names = entry_names(&oci);
        for name in ["oci-layout", "index.json", "manifest.json"] {
            assert!(names.contains(name), "{variant}: no {name} in {names:?}");
        }
        assert!(
            names.iter().any(|name| name.starts_with("blobs/sha256/")),
            "{variant}: an OCI layout keeps its layers under blobs/: {names:?}"
        );
        let pure = without_manifest_json(&oci);
        assert!(!entry_names(&pure).contains("manifest.json"));

        let analysis = report("analyze", &first);
        assert_eq!(analysis["layers"].as_array().map(Vec::len), Some(layers));
        assert!(analysis["files"].as_u64().is_some_and(|files| files >= 1));
        assert!(
            analysis["content_bytes"]
                .as_u64()
                .is_some_and(|b| b > 1_000_000)
        );
        let scan = report("scan", &first);
        assert!(
            scan["rust_binaries"]
                .as_array()
                .is_some_and(|found| !found.is_empty()),
            "{variant}: scan finds the service binary: {scan}"
        );
        for (layout, archive) in [
            ("Docker 26's OCI archive", &oci),
            ("the pure OCI layout", &pure),
        ] {
            assert_eq!(
                report("analyze", archive),
                analysis,
                "{variant}: analyze of {layout} differs from the first engine's archive"
            );
            assert_eq!(
                report("scan", archive),
                scan,
                "{variant}: scan of {layout} differs from the first engine's archive"
            );
        }
        for file in [first, oci, pure] {
            let _ = std::fs::remove_file(file);
        }
    }
}

pub(crate) fn docker_26_loads_the_daemonless_archive_and_saves_the_same_files() {
    let test = "docker_26_loads_the_daemonless_archive_and_saves_the_same_files";
    let Some(_engine) = docker_exclusive(test, &[]) else {
        return;
    };
    if !second_engine_can_start(test) {
        return;
    }
    for variant in ["scratch", "distroless"] {
        let archive = scratch_path(&format!("{variant}-daemonless.tar"));
        let layout = scratch_path(&format!("{variant}-daemonless"));
        let built = xtask(&[
            "build",
            "--daemonless",
            "--variant",
            variant,
            "--tar",
            path(&archive),
            "--out",
            path(&layout),
        ])
        .run();
        assert!(
            built.status.success(),
            "build --daemonless {variant} failed"
        );
        let resaved = scratch_path(&format!("{variant}-daemonless-26.tar"));
        let saved = xtask(&["save", "--archive", path(&archive), "-o", path(&resaved)]).run();
        assert!(
            saved.status.success(),
            "Docker 26 cannot load the {variant} archive"
        );
        assert!(
            stdout(&saved).contains(&format!("app:{variant}-daemonless in the OCI image layout")),
            "loaded under its name: {}",
            stdout(&saved)
        );
        assert!(second_engine_leftovers().is_empty());
        // The same files and figures, only stored otherwise (Docker 26 keeps layers unzipped).
        let [written, resaved_report] = [&archive, &resaved].map(|file| {
            let mut report = report("analyze", file);
            for layer in report["layers"].as_array_mut().expect("layers") {
                layer
                    .as_object_mut()
                    .expect("a layer")
                    .remove("stored_bytes");
            }
            report
        });
        assert_eq!(written["files"], resaved_report["files"]);
        assert_eq!(
            written, resaved_report,
            "{variant}: analyze differs after Docker 26"
        );
        let _ = std::fs::remove_dir_all(&layout);
        for file in [archive, resaved] {
            let _ = std::fs::remove_file(file);
        }
    }
}

fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// Whether a second engine can start here: root, and Docker 25 or later; if not, says so.
fn second_engine_can_start(test: &str) -> bool {
    // The second engine is a dockerd of its own: root only.
    if !is_root() {
        skip(
            &format!("`{test}` starts a second Docker engine, which needs root"),
            "CI must run as root",
            " (run the tests as root)",
        );
        return false;
    }
    // `cargo xtask ci --yes` unpacks Docker 26 here where the system's dockerd is older than
    // 25; under CI=true `save` would fetch it itself.
    if !docker_25_available() && !ci() {
        skip(
            &format!("no Docker 25 or later is installed, so `{test}` cannot run"),
            "CI must install it",
            " (run `cargo xtask ci --yes` as root)",
        );
        return false;
    }
    true
}

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// The system's dockerd is Docker 25 or later, or xtask unpacked Docker 26.
fn docker_25_available() -> bool {
    let system_major = Command::new("dockerd")
        .arg("--version")
        .output()
        .ok()
        .and_then(|output| {
            String::from_utf8_lossy(&output.stdout)
                .strip_prefix("Docker version ")?
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()
        });
    system_major.is_some_and(|major| major >= 25)
        || target_dir()
            .join("tools/docker-26/usr/sbin/dockerd")
            .exists()
}
