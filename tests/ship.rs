//! `cargo xtask push` against real servers on loopback: Debian's `docker-registry`
//! (the distribution registry) receives the real scratch image, and moto's server speaks ECR's
//! API, as AWS cannot run here. The ECS deploy's tests are in `ecs.rs`.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::support::http::{self, free_port, wait_until};
use crate::support::moto::Moto;
use crate::support::needs::docker_exclusive;
use crate::support::process::{stderr, stdout, succeeds, xtask};
use crate::support::proxy::Proxy;
use crate::support::registry::Registry;

/// The last stdout line: `HOST/NAME@sha256:...`.
pub(crate) fn pinned(output: &Output) -> String {
    let text = stdout(output);
    let line = text
        .lines()
        .last()
        .expect("push prints the image")
        .to_owned();
    let (_, digest) = line.split_once("@sha256:").expect("by digest");
    assert_eq!(digest.len(), 64, "{line}");
    line
}

/// Pulls `image` back by digest, the local copy of that name removed first, as a host that
/// never built it would; then runs it and asks its /health through a published loopback port.
pub(crate) fn pull_and_run(image: &str) {
    let _ = Command::new("docker").args(["rmi", image]).output();
    succeeds(Command::new("docker").args(["pull", image]));
    let container = succeeds(Command::new("docker").args([
        "run",
        "-d",
        "--rm",
        "-p",
        "127.0.0.1::8080",
        image,
    ]));
    let id = stdout(&container).trim().to_owned();
    let port = Command::new("docker")
        .args(["port", &id, "8080/tcp"])
        .output()
        .expect("docker port");
    let address = stdout(&port)
        .lines()
        .find(|l| l.starts_with("127.0.0.1:"))
        .expect("published on 127.0.0.1")
        .trim()
        .to_owned();
    let response = wait_until(
        &format!("an answer from {image}"),
        Duration::from_secs(10),
        || http::get(&format!("http://{address}/health")).ok(),
    );
    let _ = Command::new("docker").args(["rm", "-f", &id]).output();
    assert_eq!(response.status(), 200);
}

pub(crate) fn push_to_a_registry_then_pull_by_digest_and_run() {
    let test = "push_to_a_registry_then_pull_by_digest_and_run";
    let Some(_engine) = docker_exclusive(test, &["docker-registry"]) else {
        return;
    };
    let registry = Registry::start(None);
    let destination = format!("{}/team/app", registry.host());
    let output = xtask(&["push", "--registry", &destination]).run();
    assert!(output.status.success());
    let image = pinned(&output);
    assert!(
        image.starts_with(&format!("{destination}@sha256:")),
        "{image}"
    );

    // Both tags, read from the registry's API.
    let tags = tags(&registry, "team/app");
    assert!(
        tags.iter().any(|t| t == env!("CARGO_PKG_VERSION")),
        "{tags:?}"
    );
    assert!(tags.iter().any(|t| t.starts_with("git-")), "{tags:?}");

    pull_and_run(&image);

    // Again: the tags already hold this image, nothing moves, the same digest.
    let again = xtask(&["push", "--registry", &destination]).run();
    assert!(again.status.success());
    assert_eq!(pinned(&again), image);
    assert!(stderr(&again).contains("already holds this image"));
}

/// Pushes `image` to `reference` with the docker CLI, returning the digest the registry got.
fn docker_push(image: &str, reference: &str) -> String {
    succeeds(Command::new("docker").args(["tag", image, reference]));
    let push = succeeds(Command::new("docker").args(["push", reference]));
    let text = stdout(&push);
    text.split_whitespace()
        .skip_while(|word| *word != "digest:")
        .nth(1)
        .expect("docker push prints the digest")
        .to_owned()
}

/// The tags of repository `name`, sorted, from the registry's API.
fn tags(registry: &Registry, name: &str) -> Vec<String> {
    let value: Value = http::get(&format!("http://{}/v2/{name}/tags/list", registry.host()))
        .and_then(reqwest::blocking::Response::json)
        .expect("the registry lists the tags as JSON");
    let mut tags: Vec<String> = value["tags"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    tags
}

pub(crate) fn tags_never_move() {
    let test = "tags_never_move";
    let Some(_engine) = docker_exclusive(test, &["docker-registry"]) else {
        return;
    };
    assert!(xtask(&["build", "distroless"]).run().status.success());
    let version = env!("CARGO_PKG_VERSION");

    // The version tag already names an earlier image: it stays, the revision tag is pushed.
    let registry = Registry::start(None);
    let destination = format!("{}/team/app", registry.host());
    let earlier = docker_push("app:distroless", &format!("{destination}:{version}"));
    let output = xtask(&["push", "--registry", &destination]).run();
    assert!(output.status.success());
    assert!(
        stderr(&output).contains("already names an earlier image"),
        "{}",
        stderr(&output)
    );
    assert!(
        !pinned(&output).ends_with(&earlier),
        "the new image, not the earlier one"
    );
    let revision = tags(&registry, "team/app")
        .into_iter()
        .find(|t| t.starts_with("git-"))
        .expect("the revision tag was pushed");
    let kept = Command::new("docker")
        .args([
            "manifest",
            "inspect",
            "--verbose",
            "--insecure",
            &format!("{destination}:{version}"),
        ])
        .output()
        .expect("manifest inspect");
    assert!(
        stdout(&kept).contains(&earlier),
        "{version} still names the earlier image"
    );

    // The revision tag names another image: nothing is pushed.
    let other = Registry::start(None);
    let destination = format!("{}/team/app", other.host());
    docker_push("app:distroless", &format!("{destination}:{revision}"));
    let output = xtask(&["push", "--registry", &destination]).run();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("already names another image"),
        "{}",
        stderr(&output)
    );
    assert_eq!(tags(&other, "team/app"), [revision]);
}

pub(crate) fn push_to_ecr_creates_the_repository_with_its_settings() {
    let test = "push_to_ecr_creates_the_repository_with_its_settings";
    let Some(_engine) = docker_exclusive(test, &["docker-registry", "moto_server"]) else {
        return;
    };
    let registry = Registry::start(None);
    let moto = Moto::start(false);
    // moto serves ECR's API, not its registry: the image goes to the real one.
    let push = |repository: &str, more: &[&str]| {
        xtask(
            &[
                &[
                    "push",
                    "--ecr",
                    "--region",
                    "eu-west-1",
                    "--repository",
                    repository,
                ],
                more,
            ]
            .concat(),
        )
        .setup(|command| moto.env(command))
        .env("XTASK_ECR_REGISTRY", registry.host())
    };
    let output = push("web/app", &[]).run();
    assert!(output.status.success());
    let image = pinned(&output);
    assert!(image.starts_with(&format!("{}/web/app@sha256:", registry.host())));
    assert!(stderr(&output).contains(
        "created the ECR repository 123456789012.dkr.ecr.eu-west-1.amazonaws.com/web/app"
    ));
    let described = moto.aws(&[
        "ecr",
        "describe-repositories",
        "--repository-names",
        "web/app",
    ]);
    let repository = &described["repositories"][0];
    assert_eq!(repository["imageTagMutability"], "IMMUTABLE");
    assert_eq!(repository["imageScanningConfiguration"]["scanOnPush"], true);
    assert_eq!(
        repository["encryptionConfiguration"]["encryptionType"],
        "AES256"
    );
    assert_eq!(registry.stored_repositories(), ["web/app"]);

    // What ECR would serve, pulled back and run.
    pull_and_run(&image);

    // Without Docker: the same repository rules, the password from the AWS CLI.
    let output = push("web/daemonless", &["--daemonless"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    assert!(output.status.success(), "push --ecr --daemonless failed");
    let image = pinned(&output);
    assert!(image.starts_with(&format!("{}/web/daemonless@sha256:", registry.host())));
    assert!(stderr(&output).contains("created the ECR repository"));
    assert_eq!(
        registry.stored_repositories(),
        ["web/app", "web/daemonless"]
    );
    pull_and_run(&image);
}

/// A proxy in front of the registry that answers `503 Service Unavailable` to the first
/// `failures` manifest uploads (`PUT .../manifests/...`) and forwards everything else: a
/// registry having a bad moment, for the retry.
fn flaky(upstream: u16, failures: usize) -> Proxy {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let left = AtomicUsize::new(failures);
    Proxy::start(upstream, move |request| {
        let manifest_put = request.method() == "PUT" && request.path().contains("/manifests/");
        (manifest_put
            && left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok())
        .then(|| {
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_vec()
        })
    })
}

pub(crate) fn a_transient_registry_failure_is_retried() {
    let test = "a_transient_registry_failure_is_retried";
    let Some(_engine) = docker_exclusive(test, &["docker-registry"]) else {
        return;
    };
    let registry = Registry::start(None);
    let proxy = flaky(registry.port, 1);
    let destination = format!("127.0.0.1:{}/flaky/app", proxy.port);
    let output = xtask(&["push", "--registry", &destination]).run();
    assert!(output.status.success(), "the second attempt succeeds");
    let log = stderr(&output);
    assert!(log.contains("503 Service Unavailable"), "{log}");
    assert!(log.contains("retrying in 1 s"), "{log}");
    assert!(pinned(&output).starts_with(&format!("{destination}@sha256:")));
    assert_eq!(registry.stored_repositories(), ["flaky/app"]);

    // The push without Docker retries the same failure itself.
    let proxy = flaky(registry.port, 1);
    let destination = format!("127.0.0.1:{}/flaky/daemonless", proxy.port);
    let output = xtask(&["push", "--daemonless", "--registry", &destination]).run();
    assert!(output.status.success(), "the second attempt succeeds");
    let log = stderr(&output);
    assert!(log.contains("status 503; retrying in 1 s"), "{log}");
    assert!(pinned(&output).starts_with(&format!("{destination}@sha256:")));
    assert_eq!(
        registry.stored_repositories(),
        ["flaky/app", "flaky/daemonless"]
    );
}

type Setup<'a> = Box<dyn Fn(&mut Command) + 'a>;

fn no_setup() -> Setup<'static> {
    Box::new(|_| {})
}

pub(crate) fn push_failures_are_one_clear_line_and_push_nothing() {
    let test = "push_failures_are_one_clear_line_and_push_nothing";
    let Some(_engine) = docker_exclusive(test, &["docker-registry", "moto_server"]) else {
        return;
    };
    let registry = Registry::start(None);
    let locked = Registry::start(Some("s3cret"));
    let strict_moto = Moto::start(true);
    let closed = free_port();
    let cases: Vec<(String, Setup, &str)> = vec![
        (
            "push --ecr --region eu-west-1".to_owned(),
            Box::new(|c: &mut Command| {
                strict_moto.env(c);
                c.env("XTASK_ECR_REGISTRY", registry.host());
            }),
            "error: AWS refused the credentials (InvalidClientTokenId",
        ),
        (
            "push --ecr --region eu-west-1".to_owned(),
            Box::new(move |c: &mut Command| {
                c.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}"))
                    .env("AWS_ACCESS_KEY_ID", "testing")
                    .env("AWS_SECRET_ACCESS_KEY", "testing");
            }),
            "error: the AWS endpoint is unreachable",
        ),
        (
            format!("push --registry 127.0.0.1:{closed}/app"),
            no_setup(),
            "error: the registry is unreachable",
        ),
        (
            format!("push --registry {}/app", locked.host()),
            no_setup(),
            "error: the registry refused the credentials",
        ),
        (
            "push --ecr --repository Bad_Name".to_owned(),
            no_setup(),
            "error: invalid repository name \"Bad_Name\"",
        ),
        (
            format!("push --registry {}/Bad_Name", registry.host()),
            no_setup(),
            "error: invalid repository name \"Bad_Name\"",
        ),
    ];
    for (line, setup, expected) in &cases {
        let args: Vec<&str> = line.split_whitespace().collect();
        let output = xtask(&args).setup(|c| setup(c)).run();
        assert!(!output.status.success(), "{args:?} must fail");
        let log = stderr(&output);
        assert_eq!(log.lines().count(), 1, "{args:?}: one line, got:\n{log}");
        assert!(log.starts_with(expected), "{args:?}: {log}");
        assert!(stdout(&output).is_empty(), "{args:?} printed no image");
    }
    assert_eq!(registry.stored_repositories(), Vec::<String>::new());
    assert_eq!(locked.stored_repositories(), Vec::<String>::new());
}
