//! `cargo xtask analyze` and `scan` on synthetic image archives whose every byte is known, so
//! findings, wasted bytes and scores are asserted exactly; the archives are written with the
//! `tar` crate, independently of xtask's own reader. The real images are checked in
//! `images`.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::support::files::scratch_path;
use crate::support::process::{stderr, stdout, xtask};

const DPKG_STATUS: &str = "\
Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4

Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9

Package: dash
Status: install ok installed
Architecture: amd64
Version: 0.5.12-2

Package: removed-one
Status: deinstall ok config-files
Version: 1.0
";

/// Planted secrets, assembled at run time so that this file holds no secret-shaped string.
fn private_key() -> String {
    format!(
        "{}\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n",
        ["-----BEGIN OPENSSH ", "PRIVATE KEY-----"].concat()
    )
}

fn aws_config() -> String {
    format!(
        "[default]\naws_access_key_id = {}\nregion = eu-west-1\n",
        ["AKIA", "Q3EGRIXLTZ2ZJ5NB"].concat()
    )
}

enum Entry {
    File(&'static str, u32, Vec<u8>),
    Symlink(&'static str, &'static str),
    Dir(&'static str),
}

fn layer(entries: Vec<Entry>) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        match entry {
            Entry::File(path, mode, data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(mode);
                header.set_size(data.len() as u64);
                builder
                    .append_data(&mut header, path, data.as_slice())
                    .expect("append file");
            }
            Entry::Symlink(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder
                    .append_link(&mut header, path, target)
                    .expect("append link");
            }
            Entry::Dir(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, std::io::empty())
                    .expect("append dir");
            }
        }
    }
    builder.into_inner().expect("finish layer")
}

/// A docker-archive (`docker save`'s layout): layers, configuration, manifest.json.
fn docker_archive(name: &str, layers: &[Vec<u8>], config: &Value) -> PathBuf {
    let mut outer = tar::Builder::new(Vec::new());
    let mut paths = Vec::new();
    let mut add = |path: &str, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_mtime(0);
        outer.append_data(&mut header, path, data).expect("append");
    };
    for (index, layer) in layers.iter().enumerate() {
        let path = format!("{index:064x}/layer.tar");
        add(&path, layer);
        paths.push(path);
    }
    add("config.json", config.to_string().as_bytes());
    let manifest = json!([{"Config": "config.json", "RepoTags": [name], "Layers": paths}]);
    add("manifest.json", manifest.to_string().as_bytes());
    let bytes = outer.into_inner().expect("finish archive");
    let path = scratch_path(&format!("{}.tar", name.replace([':', '/'], "-")));
    std::fs::write(&path, bytes).expect("write archive");
    path
}

/// Three layers: a base with packages, a shell and a setuid file; then a rewritten file and
/// two planted secrets; then a deletion.
fn planted_image() -> PathBuf {
    let base = layer(vec![
        Entry::Dir("var/lib/dpkg/"),
        Entry::File(
            "var/lib/dpkg/status",
            0o644,
            DPKG_STATUS.as_bytes().to_vec(),
        ),
        Entry::File("usr/bin/passwd", 0o4755, vec![0x7f; 100]),
        Entry::File("bin/dash", 0o755, vec![0x7f; 50]),
        Entry::Symlink("bin/sh", "dash"),
        Entry::File("opt/big.bin", 0o644, vec![0; 10_000]),
        Entry::File("srv/data.txt", 0o644, vec![b'x'; 1000]),
    ]);
    let secrets = layer(vec![
        Entry::File("srv/data.txt", 0o644, vec![b'y'; 1000]),
        Entry::File(
            "home/deploy/.ssh/id_ed25519",
            0o600,
            private_key().into_bytes(),
        ),
        Entry::File("srv/aws.ini", 0o644, aws_config().into_bytes()),
    ]);
    let deletion = layer(vec![
        Entry::File("opt/.wh.big.bin", 0o644, Vec::new()),
        Entry::File("srv/run", 0o755, vec![b'#'; 200]),
    ]);
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {
            "User": "1000:1000",
            "Env": ["PATH=/usr/bin:/bin"],
            "Healthcheck": {"Test": ["CMD", "/srv/run", "check"]},
            "Labels": {"org.opencontainers.image.title": "synthetic"}
        },
        "history": [
            {"created_by": "/bin/sh -c #(nop) ADD file:base in / "},
            {"created_by": "/bin/sh -c #(nop)  ENV PATH=/usr/bin:/bin", "empty_layer": true},
            {"created_by": "COPY srv /srv # buildkit"},
            {"created_by": "RUN /bin/sh -c rm /opt/big.bin # buildkit"}
        ]
    });
    docker_archive("synthetic:planted", &[base, secrets, deletion], &config)
}

fn failed_checks(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["id"].as_str().expect("present").to_owned())
        .collect()
}

fn json_of(args: &[&str]) -> (bool, Value, String) {
    let output = xtask(args).run();
    let value = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|error| panic!("`{}` printed no JSON: {error}", args.join(" ")));
    (output.status.success(), value, stderr(&output))
}

pub(crate) fn analyze_reports_layers_waste_and_score_exactly() {
    let archive = planted_image();
    let (ok, report, _) = json_of(&[
        "analyze",
        "--archive",
        archive.to_str().expect("present"),
        "--json",
    ]);
    assert!(ok);
    assert_eq!(report["image"], "synthetic:planted");
    let layers: Vec<(u64, u64, u64, u64, &str)> = report["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| {
            (
                l["bytes"].as_u64().expect("present"),
                l["added"].as_u64().expect("present"),
                l["changed"].as_u64().expect("present"),
                l["removed"].as_u64().expect("present"),
                l["instruction"].as_str().expect("present"),
            )
        })
        .collect();
    let status = DPKG_STATUS.len() as u64;
    let key = private_key().len() as u64;
    let aws = aws_config().len() as u64;
    assert_eq!(
        layers,
        [
            (
                status + 100 + 50 + 10_000 + 1000,
                6,
                0,
                0,
                "ADD file:base in /"
            ),
            (1000 + key + aws, 2, 1, 0, "COPY srv /srv"),
            (200, 1, 0, 1, "RUN /bin/sh -c rm /opt/big.bin"),
        ]
    );
    // The first copy of data.txt and the deleted big.bin are waste: 1000 + 10 000 bytes.
    assert_eq!(report["wasted_bytes"], 11_000);
    let all = status + 100 + 50 + 10_000 + 1000 + 1000 + key + aws + 200;
    let efficiency = (all - 11_000) as f64 / all as f64;
    assert!((report["efficiency"].as_f64().expect("present") - efficiency).abs() < 1e-9);
    assert_eq!(
        report["wasted_paths"],
        json!([
            {"path": "/opt/big.bin", "copies": 2, "total_bytes": 10_000, "wasted_bytes": 10_000},
            {"path": "/srv/data.txt", "copies": 2, "total_bytes": 2000, "wasted_bytes": 1000}
        ])
    );
    // Non-root, a health check, three layers, no caches, tools or docs: nothing to recommend.
    assert_eq!(report["recommendations"], json!([]));
    assert_eq!(report["score"].as_f64(), Some((efficiency * 100.0).round()));
    assert_eq!(report["largest_files"][0]["path"], "/srv/data.txt");
    std::fs::remove_file(archive).ok();
}

pub(crate) fn scan_finds_the_planted_secrets_setuid_file_and_packages() {
    let archive = planted_image();
    let path = archive.to_str().expect("present");
    let (ok, report, _) = json_of(&["scan", "--archive", path, "--json"]);
    assert!(ok, "without --fail-on, findings are reported, not fatal");
    let surface = &report["attack_surface"];
    assert_eq!(surface["os_packages"], 3);
    let names: Vec<&str> = surface["packages"]
        .as_array()
        .expect("present")
        .iter()
        .map(|p| p["name"].as_str().expect("present"))
        .collect();
    assert_eq!(names, ["base-files", "dash", "libc6"]);
    assert_eq!(surface["shells"], json!(["/bin/dash", "/bin/sh"]));
    assert_eq!(surface["setuid_setgid"], json!(["/usr/bin/passwd"]));
    assert_eq!(surface["world_writable"], json!([]));
    assert_eq!(
        report["secrets"],
        json!([
            {"rule": "private-key", "severity": "CRITICAL", "path": "/home/deploy/.ssh/id_ed25519",
             "layer": "1", "line": 1, "match": format!("{}****", ["-----BEGIN OPENSSH ", "PRIVATE KEY-----"].concat())},
            {"rule": "aws-access-key-id", "severity": "CRITICAL", "path": "/srv/aws.ini",
             "layer": "1", "line": 2, "match": "AKIA****************"}
        ])
    );
    assert!(
        !report.to_string().contains("Q3EGRIXLTZ2ZJ5NB"),
        "the secret leaks"
    );
    assert_eq!(failed_checks(&report), Vec::<String>::new());
    // 100 - 2 × 25 (critical secrets) - 10 (a shell) - 2 (a setuid file) - 1 (3 packages).
    assert_eq!(report["score"], 37);

    let (ok, _, log) = json_of(&["scan", "--archive", path, "--json", "--fail-on", "CRITICAL"]);
    assert!(!ok, "the gate fails on secrets and failed checks");
    assert!(log.contains("2 secrets in the layers"), "{log}");
    std::fs::remove_file(archive).ok();
}

pub(crate) fn a_clean_image_scores_100_on_both() {
    let binary = layer(vec![Entry::File("app", 0o755, vec![0x7f; 4096])]);
    let config = json!({
        "config": {"User": "65532:65532", "Healthcheck": {"Test": ["CMD", "/app", "healthcheck"]}},
        "history": [{"created_by": "COPY /app /app # buildkit"}]
    });
    let archive = docker_archive("synthetic:clean", &[binary], &config);
    let path = archive.to_str().expect("present");
    let (ok, analysis, _) = json_of(&["analyze", "--archive", path, "--json"]);
    assert!(ok);
    assert_eq!(
        (
            analysis["score"].as_u64(),
            analysis["wasted_bytes"].as_u64()
        ),
        (Some(100), Some(0))
    );
    let (ok, scan, log) = json_of(&["scan", "--archive", path, "--json", "--fail-on", "HIGH"]);
    assert!(ok, "{log}");
    assert_eq!(scan["score"], 100);
    assert!(log.contains("passed"), "{log}");
    std::fs::remove_file(archive).ok();
}

pub(crate) fn secrets_in_the_configuration_and_remote_adds_fail_their_checks() {
    let binary = layer(vec![Entry::File("app", 0o755, vec![0x7f; 64])]);
    let config = json!({
        "config": {
            "User": "65532", "Healthcheck": {"Test": ["CMD", "/app", "healthcheck"]},
            "Env": ["DB_PASSWORD=hunter2", "PATH=/bin"],
        },
        "history": [
            {"created_by": "|1 API_TOKEN=s3cr3t-value /bin/sh -c make", "empty_layer": true},
            {"created_by": "ADD https://example.com/app /app # buildkit"}
        ]
    });
    let archive = docker_archive("synthetic:leaky", &[binary], &config);
    let (ok, report, _) = json_of(&[
        "scan",
        "--archive",
        archive.to_str().expect("present"),
        "--json",
    ]);
    assert!(ok);
    assert_eq!(
        failed_checks(&report),
        [
            "no-secrets-in-env",
            "no-secrets-in-history",
            "no-add-from-url"
        ]
    );
    let text = report.to_string();
    assert!(
        !text.contains("hunter2") && !text.contains("s3cr3t"),
        "a secret leaks: {text}"
    );
    assert!(text.contains("DB_PASSWORD=*******") && text.contains("API_TOKEN=************"));
    // 100 - 25 (env) - 25 (history) - 5 (remote ADD).
    assert_eq!(report["score"], 45);
    std::fs::remove_file(archive).ok();
}

pub(crate) fn bad_input_is_one_clear_error() {
    let missing = scratch_path("no-such-archive.tar");
    for (args, expected) in [
        (
            vec!["analyze", "--archive", missing.to_str().expect("present")],
            "cannot open",
        ),
        (
            vec!["scan", "--archive", "Cargo.toml"],
            "not an image archive",
        ),
        (vec!["scan"], "<IMAGE|--archive <FILE>>"),
    ] {
        let output = xtask(&args).run();
        assert!(!output.status.success(), "{args:?}");
        let log = stderr(&output);
        assert!(log.contains(expected), "{args:?}: {log}");
        assert!(!log.contains("panicked"), "{log}");
    }
}

/// trivy cannot be installed here (no package registry this machine reaches carries it), so a
/// stand-in on PATH answers exactly as `trivy image --format json --input FILE` does: the merge,
/// the score and the gate are exercised through the same invocation.
fn fake_trivy(dir: &std::path::Path, exit_code: u8) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).expect("dir");
    let report = json!({
        "SchemaVersion": 2, "ArtifactType": "container_image",
        "Results": [{"Target": "synthetic (debian 12.4)", "Class": "os-pkgs", "Type": "debian",
            "Vulnerabilities": [{"VulnerabilityID": "CVE-2024-0001", "PkgName": "libc6",
                "InstalledVersion": "2.36-9", "FixedVersion": "2.36-9+deb12u4",
                "Severity": "HIGH", "Title": "an example"}]}]
    });
    let script = format!(
        "#!/bin/sh\n\
         [ \"$1\" = --version ] && {{ echo 'Version: 0.0.0'; exit 0; }}\n\
         case \"$*\" in *'image '*'--format json'*'--input '*) ;; *) echo \"unexpected: $*\" >&2; exit 2;; esac\n\
         [ {exit_code} -ne 0 ] && {{ echo 'FATAL failed to download vulnerability DB' >&2; exit {exit_code}; }}\n\
         echo '{report}'\n"
    );
    let path = dir.join("trivy");
    std::fs::write(&path, script).expect("write trivy");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

pub(crate) fn trivys_findings_are_merged_scored_and_gated() {
    let binary = layer(vec![Entry::File("app", 0o755, vec![0x7f; 64])]);
    let config = json!({
        "config": {"User": "65532", "Healthcheck": {"Test": ["CMD", "/app", "healthcheck"]}},
        "history": [{"created_by": "COPY /app /app # buildkit"}]
    });
    let archive = docker_archive("synthetic:vulnerable", &[binary], &config);
    let path = archive.to_str().expect("utf-8 path");
    let run = |exit_code: u8, fail_on: &str| {
        let dir = scratch_path("trivy");
        fake_trivy(&dir, exit_code);
        let search = std::env::join_paths(std::iter::once(dir.clone()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .expect("PATH");
        let output = xtask(&["scan", "--archive", path, "--json", "--fail-on", fail_on])
            .env("PATH", search)
            .run();
        std::fs::remove_dir_all(dir).ok();
        let report: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
        (output.status.success(), report, stderr(&output))
    };

    let (ok, report, log) = run(0, "HIGH");
    assert!(!ok, "a HIGH vulnerability fails --fail-on HIGH");
    assert!(log.contains("1 vulnerabilities at HIGH or above"), "{log}");
    assert_eq!(report["vulnerabilities"]["checked"], true);
    assert_eq!(
        report["vulnerabilities"]["findings"],
        json!([{"id": "CVE-2024-0001", "package": "libc6", "installed": "2.36-9",
                "fixed": "2.36-9+deb12u4", "severity": "HIGH", "title": "an example"}])
    );
    // 100 - 5 (one high).
    assert_eq!(report["score"], 95);
    let (ok, _, log) = run(0, "CRITICAL");
    assert!(ok, "nothing critical: {log}");

    // An installed trivy that fails must not let the gate pass.
    let (ok, report, log) = run(1, "CRITICAL");
    assert!(!ok);
    assert!(log.contains("trivy is installed but failed"), "{log}");
    assert_eq!(report["vulnerabilities"]["checked"], false);
    std::fs::remove_file(archive).ok();
}
