//! `build --daemonless` and `push --daemonless`: an image made without Docker, read by tools
//! that share no code with xtask (skopeo, umoci, both `docker load` paths), equivalent to the
//! Dockerfile's (`test-image` passes on it), the same bytes from two clean builds, pushed to a
//! real registry with every kind of authentication, and built and pushed with no engine at all,
//! the distroless base then read from its registry.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::ship::pull_and_run;
use crate::support::files::{project_root, scratch_path, target_dir};
use crate::support::needs::{docker_exclusive, tools_available};
use crate::support::process::{stderr, stdout, succeeds, tools_path, xtask};
use crate::support::registry::{Auth, Registry, TokenServer, USER};

/// `app:scratch-daemonless: sha256:... in ...`: the digest.
fn digest_of(output: &str) -> String {
    output
        .lines()
        .find_map(|line| {
            line.split_whitespace()
                .find(|word| word.starts_with("sha256:"))
        })
        .unwrap_or_else(|| panic!("no digest in {output:?}"))
        .trim_end_matches(',')
        .to_owned()
}

fn json(command: &mut Command) -> Value {
    serde_json::from_slice(&succeeds(command).stdout).expect("JSON")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("readable")).expect("JSON")
}

/// The manifest of the one image in the OCI layout at `layout`.
fn manifest_of(layout: &Path) -> Value {
    let index = read_json(&layout.join("index.json"));
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .expect("index.json names a manifest");
    read_json(
        &layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
}

fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// skopeo sees one manifest, the digest printed, the labels and user of the Dockerfile; umoci
/// lists the name, unpacks the binary at /app and runs it as 65532.
fn skopeo_and_umoci_read(layout: &Path, digest: &str) {
    let inspected = json(
        Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci:{}", layout.display())),
    );
    assert_eq!(inspected["Digest"], digest);
    assert_eq!(inspected["Layers"].as_array().map(Vec::len), Some(1));
    assert_eq!(inspected["Labels"]["org.opencontainers.image.title"], "app");
    let config = json(
        Command::new("skopeo")
            .args(["inspect", "--config"])
            .arg(format!("oci:{}", layout.display())),
    );
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(config["config"]["Entrypoint"], serde_json::json!(["/app"]));
    assert_eq!(
        config["created"], inspected["Labels"]["org.opencontainers.image.created"],
        "created is the commit's time, as the label says"
    );
    let index = read_json(&layout.join("index.json"));
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "scratch-daemonless"
    );

    // umoci: lists the name, unpacks the binary at /app, runs it as 65532.
    let listed = succeeds(Command::new("umoci").args(["ls", "--layout"]).arg(layout));
    assert_eq!(stdout(&listed).trim(), "scratch-daemonless");
    let bundle = scratch_path("bundle");
    succeeds(
        Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:scratch-daemonless", layout.display()))
            .arg(&bundle),
    );
    let app = std::fs::metadata(bundle.join("rootfs/app")).expect("/app unpacked");
    assert!(
        app.len() > 1_000_000,
        "the binary is whole: {} bytes",
        app.len()
    );
    let runtime = read_json(&bundle.join("config.json"));
    assert_eq!(runtime["process"]["user"]["uid"], 65532);
    assert_eq!(runtime["process"]["args"], serde_json::json!(["/app"]));
    let _ = std::fs::remove_dir_all(&bundle);
}

pub(crate) fn a_daemonless_image_is_a_valid_oci_layout_that_docker_loads_and_test_image_passes() {
    let test = "a_daemonless_image_is_a_valid_oci_layout_that_docker_loads_and_test_image_passes";
    let Some(_engine) = docker_exclusive(test, &["skopeo", "umoci"]) else {
        return;
    };
    let layout = scratch_path("layout");
    let archive = scratch_path("daemonless.tar");
    let output = xtask(&[
        "build",
        "--daemonless",
        "--out",
        layout.to_str().expect("UTF-8"),
        "--tar",
        archive.to_str().expect("UTF-8"),
        "--load",
    ])
    .run();
    assert!(output.status.success(), "build --daemonless failed");
    let digest = digest_of(&stdout(&output));
    skopeo_and_umoci_read(&layout, &digest);

    // The archive holds both layouts: Docker 20.10 (and 26 on its classic image store) reads
    // manifest.json, Docker's containerd image store index.json.
    let names: Vec<String> = tar::Archive::new(std::fs::File::open(&archive).expect("archive"))
        .entries()
        .expect("a tar")
        .map(|entry| {
            entry
                .expect("an entry")
                .path()
                .expect("a path")
                .display()
                .to_string()
        })
        .collect();
    for expected in ["manifest.json", "index.json", "oci-layout"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }

    // Loaded into the engine under its name, as the config it was written with.
    let config_digest = manifest_of(&layout)["config"]["digest"].clone();
    let id = succeeds(Command::new("docker").args([
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        "app:scratch-daemonless",
    ]));
    assert_eq!(stdout(&id).trim(), config_digest);
    let checked = xtask(&["test-image", "app:scratch-daemonless", "--max-size", "4MB"]).run();
    assert!(
        checked.status.success(),
        "test-image fails on the daemonless image"
    );

    // analyze reads the layout folder itself.
    let analyzed = xtask(&[
        "analyze",
        "--archive",
        layout.to_str().expect("UTF-8"),
        "--json",
    ])
    .run();
    assert!(analyzed.status.success(), "analyze --archive DIR failed");
    let report: Value = serde_json::from_str(&stdout(&analyzed)).expect("JSON");
    assert_eq!(report["files"], 1, "{report:#}");

    let _ = std::fs::remove_dir_all(&layout);
    let _ = std::fs::remove_file(&archive);
}

pub(crate) fn with_no_engine_the_distroless_base_is_read_from_its_registry_by_digest() {
    let test = "with_no_engine_the_distroless_base_is_read_from_its_registry_by_digest";
    let Some(_engine) = docker_exclusive(test, &["docker-registry"]) else {
        return;
    };
    // With the engine: the base it resolves to, read from the engine.
    let from_engine = scratch_path("distroless-from-engine");
    let build = ["build", "--daemonless", "--variant", "distroless", "--out"];
    let output = xtask(&[&build[..], &[path(&from_engine)]].concat()).run();
    assert!(output.status.success(), "build --variant distroless failed");
    let base = stderr(&output)
        .lines()
        .find_map(|line| {
            line.strip_prefix("base ")?
                .strip_suffix(": from the local engine")
        })
        .unwrap_or_else(|| panic!("the base is named: {}", stderr(&output)))
        .to_owned();

    // That base in a registry, and no engine at all for the build.
    let registry = Registry::start(None);
    let in_registry = format!("{}/distroless-static:nonroot", registry.host());
    succeeds(Command::new("docker").args(["tag", &base, &in_registry]));
    let pushed = Command::new("docker").args(["push", &in_registry]).output();
    let _ = Command::new("docker").args(["rmi", &in_registry]).output();
    let pushed = pushed.expect("docker push starts");
    assert!(pushed.status.success(), "docker push: {}", stderr(&pushed));
    let digest = digest_of(&stdout(&pushed));
    let from_registry = scratch_path("distroless-from-registry");
    let archive = scratch_path("distroless-from-registry.tar");
    let output = xtask(&[&build[..], &[path(&from_registry), "--tar", path(&archive)]].concat())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("DISTROLESS_IMAGE", &in_registry)
        .run();
    assert!(output.status.success(), "the build with no engine failed");
    assert!(
        stderr(&output).contains(&format!(
            "base {in_registry}: from its registry (no engine answers)"
        )),
        "says where the base came from: {}",
        stderr(&output)
    );
    assert!(
        stdout(&output).contains(&format!("base {in_registry}@{digest}")),
        "names the base with the digest the registry holds it by: {}",
        stdout(&output)
    );
    let manifest = manifest_of(&from_registry);
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.digest"],
        digest.as_str()
    );
    assert_eq!(
        manifest["config"],
        manifest_of(&from_engine)["config"],
        "the same config (layers by diff ID, history, settings) whichever source the base came from"
    );

    // Tagged as an index of platforms (as the public distroless is): linux/amd64's manifest.
    let index = format!("{}/distroless-static:index", registry.host());
    succeeds(Command::new("docker").args([
        "manifest",
        "create",
        "--insecure",
        &index,
        &in_registry,
    ]));
    succeeds(Command::new("docker").args(["manifest", "push", "--insecure", "--purge", &index]));
    let from_index = xtask(&[&build[..], &[path(&from_registry)]].concat())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("DISTROLESS_IMAGE", &index)
        .run();
    assert!(from_index.status.success(), "the build on an index failed");
    assert!(
        stdout(&from_index).contains(&format!("base {index}@{digest}")),
        "names the platform's manifest: {}",
        stdout(&from_index)
    );

    // The real engine loads it, and it behaves as the Dockerfile's image does.
    succeeds(
        Command::new("docker")
            .args(["load", "--input"])
            .arg(&archive),
    );
    let checked = xtask(&["test-image", "app:distroless-daemonless"]).run();
    assert!(
        checked.status.success(),
        "test-image fails on the image over the registry's base"
    );
    for layout in [from_engine, from_registry] {
        let _ = std::fs::remove_dir_all(layout);
    }
    let _ = std::fs::remove_file(&archive);
}

/// The digest `push` printed last: `HOST/NAME@sha256:...`.
fn pushed(output: &std::process::Output) -> String {
    stdout(output)
        .lines()
        .last()
        .unwrap_or_else(|| panic!("push printed nothing: {}", stderr(output)))
        .to_owned()
}

pub(crate) fn push_daemonless_speaks_the_registry_api_anonymously_with_a_password_and_with_tokens()
{
    let test =
        "push_daemonless_speaks_the_registry_api_anonymously_with_a_password_and_with_tokens";
    let Some(_engine) = docker_exclusive(test, &["docker-registry", "htpasswd", "openssl"]) else {
        return;
    };
    // No engine at all for the pushes: the docker CLI points nowhere.
    let no_engine = |command: &mut Command| {
        command.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    };

    // Anonymous: pushed, then pulled back by digest and run.
    let open = Registry::start(None);
    let destination = format!("{}/team/app", open.host());
    let first = xtask(&["push", "--daemonless", "--registry", &destination])
        .setup(no_engine)
        .run();
    assert!(first.status.success(), "push --daemonless failed");
    let image = pushed(&first);
    assert!(
        image.starts_with(&format!("{destination}@sha256:")),
        "{image}"
    );
    assert!(stderr(&first).contains("uploaded 2 blob(s), 0 already there"));
    // Again: both tags already hold the image; nothing is uploaded.
    let second = xtask(&["push", "--daemonless", "--registry", &destination])
        .setup(no_engine)
        .run();
    assert!(second.status.success());
    assert_eq!(pushed(&second), image);
    assert!(!stderr(&second).contains("uploaded"), "{}", stderr(&second));
    // distroless into the same repository: the app layer is the same blob and is not sent again.
    let distroless = xtask(&[
        "push",
        "--daemonless",
        "--variant",
        "distroless",
        "--registry",
        &format!("{}/team/app-distroless", open.host()),
    ])
    .run();
    assert!(distroless.status.success(), "distroless push failed");
    assert!(
        stderr(&distroless).contains("uploaded 3 blob(s)"),
        "the base layer, the app layer and the config"
    );
    pull_and_run(&image);

    // A password: refused without it, pushed with it.
    let locked = Registry::with(&Auth::Password("s3cret"));
    let destination = format!("{}/app", locked.host());
    let refused = xtask(&["push", "--daemonless", "--registry", &destination])
        .setup(no_engine)
        .run();
    assert!(
        !refused.status.success(),
        "a push without credentials succeeded"
    );
    assert!(
        stderr(&refused).contains("XTASK_REGISTRY_USERNAME"),
        "says what to set: {}",
        stderr(&refused)
    );
    let wrong = xtask(&["push", "--daemonless", "--registry", &destination])
        .setup(no_engine)
        .env("XTASK_REGISTRY_USERNAME", USER)
        .env("XTASK_REGISTRY_PASSWORD", "wrong")
        .run();
    assert!(!wrong.status.success(), "a wrong password was accepted");
    assert!(
        stderr(&wrong).contains("refused the credentials of user"),
        "{}",
        stderr(&wrong)
    );
    assert!(
        locked.stored_repositories().is_empty(),
        "nothing stored on refusal"
    );
    let with_password = xtask(&["push", "--daemonless", "--registry", &destination])
        .setup(no_engine)
        .env("XTASK_REGISTRY_USERNAME", USER)
        .env("XTASK_REGISTRY_PASSWORD", "s3cret")
        .run();
    assert!(
        with_password.status.success(),
        "push with a password failed"
    );
    assert_eq!(locked.stored_repositories(), ["app"]);

    pushes_with_tokens(&image, no_engine);
}

/// The registry challenges, the token server issues, the push goes through; a wrong password
/// is refused by the token server.
fn pushes_with_tokens(image: &str, no_engine: fn(&mut Command)) {
    let tokens = TokenServer::start("t0ken-pass");
    let guarded = Registry::with(&Auth::Token(&tokens));
    let destination = format!("{}/org/app", guarded.host());
    let with_token = xtask(&["push", "--daemonless", "--registry", &destination])
        .setup(no_engine)
        .env("XTASK_REGISTRY_USERNAME", USER)
        .env("XTASK_REGISTRY_PASSWORD", "t0ken-pass")
        .run();
    assert!(with_token.status.success(), "push with a token failed");
    assert_eq!(
        pushed(&with_token).split('@').nth(1),
        image.split('@').nth(1)
    );
    assert!(tokens.issued.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    assert_eq!(guarded.stored_repositories(), ["org/app"]);
    let bad_token = xtask(&[
        "push",
        "--daemonless",
        "--registry",
        &format!("{}/org/other", guarded.host()),
    ])
    .setup(no_engine)
    .env("XTASK_REGISTRY_USERNAME", USER)
    .env("XTASK_REGISTRY_PASSWORD", "nope")
    .run();
    assert!(!bad_token.status.success());
    assert!(
        stderr(&bad_token).contains("token server"),
        "{}",
        stderr(&bad_token)
    );
    assert!(tokens.refused.load(std::sync::atomic::Ordering::Relaxed) >= 1);
}

pub(crate) fn two_clean_builds_give_one_digest_and_a_source_change_another() {
    let test = "two_clean_builds_give_one_digest_and_a_source_change_another";
    if !tools_available(test, &["git"]) {
        return;
    }
    let verified = xtask(&["build", "--daemonless", "--verify"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    assert!(verified.status.success(), "two clean builds differ");
    let reproduced = digest_of(&stdout(&verified));
    assert!(stdout(&verified).starts_with("reproducible: two clean builds of "));

    // A copy of the commit, built by its own xtask at another path; then with one source edit.
    let copy = scratch_path("edited-checkout");
    succeeds(
        Command::new("git")
            .current_dir(project_root())
            .args(["worktree", "add", "--detach"])
            .arg(&copy)
            .arg("HEAD"),
    );
    let build = |dir: &Path| {
        let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(dir)
            .args([
                "run",
                "--quiet",
                "--package",
                "xtask",
                "--",
                "build",
                "--daemonless",
            ])
            .env("PATH", tools_path())
            .env("CARGO_TARGET_DIR", target_dir().join("edited-checkout"))
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "build in the copy: {}",
            stderr(&output)
        );
        digest_of(&stdout(&output))
    };
    let unedited = build(&copy);
    // A message the binary holds, changed.
    let file = copy.join("app/src/http/observe.rs");
    let source = std::fs::read_to_string(&file).expect("observe.rs");
    let message = "an observed request polled after it answered";
    assert!(source.contains(message), "the edit finds its message");
    std::fs::write(
        &file,
        source.replace(message, "an observed request, polled again"),
    )
    .expect("edited");
    let edited = build(&copy);
    let _ = Command::new("git")
        .current_dir(project_root())
        .args(["worktree", "remove", "--force"])
        .arg(&copy)
        .output();
    let _ = std::fs::remove_dir_all(target_dir().join("edited-checkout"));
    assert_eq!(unedited, reproduced, "a third path, the same digest");
    assert_ne!(edited, reproduced, "a source change changes the digest");
}
