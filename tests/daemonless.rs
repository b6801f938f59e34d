//! `build --daemonless` and `push --daemonless`: an image made without Docker, read by tools
//! that share no code with xtask (skopeo, umoci, both `docker load` paths), equivalent to the
//! Dockerfile's (`test-image` passes on it), the same bytes from two clean builds, pushed to a
//! real registry with every kind of authentication, and built and pushed with no engine at all.

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

#[test]
fn a_daemonless_image_is_a_valid_oci_layout_that_docker_loads_and_test_image_passes() {
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

    // skopeo: one manifest, the digest printed, the labels and user of the Dockerfile.
    let inspected = json(
        Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci:{}", layout.display())),
    );
    assert_eq!(inspected["Digest"], digest.as_str());
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
    let listed = succeeds(Command::new("umoci").args(["ls", "--layout"]).arg(&layout));
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

    // The archive holds both layouts: Docker 20.10 reads manifest.json, 25+ index.json.
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
    let config_digest = read_json(
        &layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )["config"]["digest"]
        .as_str()
        .expect("a config digest")
        .to_owned();
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
    let _ = std::fs::remove_dir_all(&bundle);
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

#[test]
fn push_daemonless_speaks_the_registry_api_anonymously_with_a_password_and_with_tokens() {
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

    // Tokens: the registry challenges, the token server issues, the push goes through.
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

#[test]
fn two_clean_builds_give_one_digest_and_a_source_change_another() {
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
