//! `cargo xtask push` and `deploy` against real servers on loopback: Debian's `docker-registry`
//! (the distribution registry) receives the real scratch image, and moto's server speaks the
//! ECR and ECS APIs, as AWS cannot run here.

use std::fs;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::files::project_root;
use crate::support::http::{self, free_port, wait_until};
use crate::support::needs::{docker_exclusive, tools_available};
use crate::support::process::{Running, stderr, stdout, succeeds, tools_path, xtask};
use crate::support::registry::{Registry, listening};

/// moto's server on a free loopback port; with `authenticate`, it checks credentials as IAM
/// does (every request: no key it issued is valid).
struct Moto {
    _server: Running,
    port: u16,
    /// The access key id and secret the AWS CLI signs with.
    keys: std::cell::RefCell<(String, String)>,
}

impl Moto {
    fn start(authenticate: bool) -> Self {
        Self::enforcing(authenticate.then_some(0))
    }

    /// With IAM enforced after the first `free` requests (none: never).
    fn enforcing(free: Option<u32>) -> Self {
        let port = free_port();
        let mut command = Command::new("moto_server");
        command
            .env("PATH", tools_path())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(free) = free {
            command.env("INITIAL_NO_AUTH_ACTION_COUNT", free.to_string());
        }
        Self {
            _server: listening(&mut command, port, "moto_server"),
            port,
            keys: std::cell::RefCell::new(("testing".to_owned(), "testing".to_owned())),
        }
    }

    /// An IAM user with `policy` and its access key; the AWS calls from now on are its own.
    fn become_user(&self, name: &str, policy: &str) {
        self.aws(&["iam", "create-user", "--user-name", name]);
        self.aws(&[
            "iam",
            "put-user-policy",
            "--user-name",
            name,
            "--policy-name",
            "policy",
            "--policy-document",
            policy,
        ]);
        let key = self.aws(&["iam", "create-access-key", "--user-name", name]);
        let key = &key["AccessKey"];
        *self.keys.borrow_mut() = (
            key["AccessKeyId"].as_str().expect("a key id").to_owned(),
            key["SecretAccessKey"]
                .as_str()
                .expect("a secret")
                .to_owned(),
        );
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The AWS environment pointing at this server.
    fn env(&self, command: &mut Command) {
        command
            .env("PATH", tools_path())
            .env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_ACCESS_KEY_ID", &self.keys.borrow().0)
            .env("AWS_SECRET_ACCESS_KEY", &self.keys.borrow().1)
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_DEFAULT_REGION", "eu-west-1")
            .env_remove("AWS_PROFILE");
    }

    fn aws(&self, args: &[&str]) -> Value {
        let mut command = Command::new("aws");
        self.env(&mut command);
        let output = succeeds(command.args(args).args(["--output", "json"]));
        serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
    }
}

/// The last stdout line: `HOST/NAME@sha256:...`.
fn pinned(output: &Output) -> String {
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

#[test]
fn push_to_a_registry_then_pull_by_digest_and_run() {
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

#[test]
fn tags_never_move() {
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

#[test]
fn push_to_ecr_creates_the_repository_with_its_settings() {
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

/// An HTTP proxy in front of the registry that answers `503 Service Unavailable` to the first
/// `failures` manifest uploads (`PUT .../manifests/...`) and forwards everything else: a
/// registry having a bad moment, for the retry.
struct FlakyProxy {
    port: u16,
}

impl FlakyProxy {
    fn start(upstream: u16, failures: usize) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let left = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(failures));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let left = std::sync::Arc::clone(&left);
                std::thread::spawn(move || {
                    let _ = serve(client, upstream, &left);
                });
            }
        });
        Self { port }
    }
}

/// One request at a time from `client`: its head and body read whole (by Content-Length or
/// chunks), sent upstream on a fresh connection that closes after the response, the response
/// relayed as it comes.
fn serve(
    client: std::net::TcpStream,
    upstream: u16,
    left: &std::sync::atomic::AtomicUsize,
) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::Ordering;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut writer = client;
    // A TLS hello (docker tries HTTPS first): answer in plain HTTP, as the registry itself does,
    // so the client falls back to HTTP.
    if reader.fill_buf()?.first() == Some(&0x16) {
        return writer.write_all(
            b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
        );
    }
    loop {
        let mut head = Vec::new();
        loop {
            let start = head.len();
            if reader.read_until(b'\n', &mut head)? == 0 {
                return Ok(());
            }
            if head[start..] == *b"\r\n" {
                break;
            }
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let header = |name: &str| {
            text.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
        };
        let mut body = Vec::new();
        if let Some(length) = header("content-length").and_then(|v| v.parse::<u64>().ok()) {
            (&mut reader).take(length).read_to_end(&mut body)?;
        } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                let mut size_line = Vec::new();
                reader.read_until(b'\n', &mut size_line)?;
                body.extend_from_slice(&size_line);
                let size = usize::from_str_radix(
                    String::from_utf8_lossy(&size_line)
                        .trim()
                        .split(';')
                        .next()
                        .unwrap_or("0"),
                    16,
                )
                .unwrap_or(0);
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk)?;
                body.extend_from_slice(&chunk);
                if size == 0 {
                    break;
                }
            }
        }
        let first = text.lines().next().unwrap_or_default();
        let manifest_put = first.starts_with("PUT ") && first.contains("/manifests/");
        if manifest_put
            && left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            writer.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return Ok(());
        }
        let mut upstream_connection = std::net::TcpStream::connect(("127.0.0.1", upstream))?;
        let head = text.replacen("\r\n", "\r\nConnection: close\r\n", 1);
        upstream_connection.write_all(head.as_bytes())?;
        upstream_connection.write_all(&body)?;
        std::io::copy(&mut upstream_connection, &mut writer)?;
    }
}

#[test]
fn a_transient_registry_failure_is_retried() {
    let test = "a_transient_registry_failure_is_retried";
    let Some(_engine) = docker_exclusive(test, &["docker-registry"]) else {
        return;
    };
    let registry = Registry::start(None);
    let proxy = FlakyProxy::start(registry.port, 1);
    let destination = format!("127.0.0.1:{}/flaky/app", proxy.port);
    let output = xtask(&["push", "--registry", &destination]).run();
    assert!(output.status.success(), "the second attempt succeeds");
    let log = stderr(&output);
    assert!(log.contains("503 Service Unavailable"), "{log}");
    assert!(log.contains("retrying in 1 s"), "{log}");
    assert!(pinned(&output).starts_with(&format!("{destination}@sha256:")));
    assert_eq!(registry.stored_repositories(), ["flaky/app"]);

    // The push without Docker retries the same failure itself.
    let proxy = FlakyProxy::start(registry.port, 1);
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

#[test]
fn push_failures_are_one_clear_line_and_push_nothing() {
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

/// What the rendered task definition must say for production on Fargate.
fn production_settings(rendered: &Value, image: &str) {
    let container = &rendered["containerDefinitions"][0];
    assert_eq!(container["image"], image);
    assert_eq!(container["user"], "65532:65532");
    assert_eq!(container["readonlyRootFilesystem"], true);
    assert_eq!(
        container["healthCheck"]["command"],
        serde_json::json!(["CMD", "/app", "healthcheck"])
    );
    assert_eq!(container["logConfiguration"]["logDriver"], "awslogs");
    assert_eq!(rendered["networkMode"], "awsvpc");
    let stop = container["stopTimeout"].as_u64().expect("stopTimeout");
    let grace: u64 = container["environment"]
        .as_array()
        .expect("environment")
        .iter()
        .filter_map(|v| v["value"].as_str()?.strip_suffix('s')?.parse::<u64>().ok())
        .sum();
    assert!(
        stop > grace,
        "stop timeout {stop} s outlasts the app's {grace} s"
    );
}

/// `cargo xtask push` of the scratch image to `registry` as `name`: its `URI@sha256:...`.
fn push_to(registry: &Registry, name: &str) -> String {
    let pushed = xtask(&["push", "--registry", &format!("{}/{name}", registry.host())]).run();
    assert!(pushed.status.success());
    pinned(&pushed)
}

/// `cargo xtask deploy` to moto's cluster `web` in the network of [`network`], with `extra`.
fn deploy_in(moto: &Moto, network: &(String, String), image: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "deploy",
        "--cluster",
        "web",
        "--subnets",
        &network.0,
        "--security-groups",
        &network.1,
        "--execution-role",
        "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "--image",
        image,
        "--region",
        "eu-west-1",
    ];
    args.extend_from_slice(extra);
    xtask(&args).setup(|c| moto.env(c)).run()
}

/// A VPC, subnet, security group and cluster in moto, for `deploy`; with `endpoints`, the VPC
/// endpoints that let tasks without a public IP reach ECR, S3 and `CloudWatch` Logs (the subnet
/// has no NAT gateway).
fn network(moto: &Moto, endpoints: bool) -> (String, String) {
    let vpc = moto.aws(&["ec2", "create-vpc", "--cidr-block", "10.0.0.0/16"]);
    let vpc = vpc["Vpc"]["VpcId"].as_str().expect("vpc").to_owned();
    let subnet = moto.aws(&[
        "ec2",
        "create-subnet",
        "--vpc-id",
        &vpc,
        "--cidr-block",
        "10.0.1.0/24",
    ]);
    let group = moto.aws(&[
        "ec2",
        "create-security-group",
        "--group-name",
        "app",
        "--description",
        "app",
        "--vpc-id",
        &vpc,
    ]);
    moto.aws(&["ecs", "create-cluster", "--cluster-name", "web"]);
    for service in ["ecr.api", "ecr.dkr", "s3", "logs"]
        .iter()
        .filter(|_| endpoints)
    {
        moto.aws(&[
            "ec2",
            "create-vpc-endpoint",
            "--vpc-id",
            &vpc,
            "--service-name",
            &format!("com.amazonaws.eu-west-1.{service}"),
        ]);
    }
    (
        subnet["Subnet"]["SubnetId"]
            .as_str()
            .expect("subnet")
            .to_owned(),
        group["GroupId"].as_str().expect("group").to_owned(),
    )
}

#[test]
fn deploy_registers_what_dry_run_renders_and_updates_the_service() {
    let test = "deploy_registers_what_dry_run_renders_and_updates_the_service";
    let Some(_engine) = docker_exclusive(test, &["moto_server", "docker-registry"]) else {
        return;
    };
    let moto = Moto::start(false);
    let (subnet, group) = network(&moto, true);
    // A real image in a real registry: preflight reads its architecture.
    let registry = Registry::start(None);
    let destination = format!("{}/deploy/app", registry.host());
    let pushed = xtask(&["push", "--registry", &destination]).run();
    assert!(pushed.status.success());
    let image = pinned(&pushed);
    let network = (subnet.clone(), group.clone());
    let deploy = |extra: &[&str]| deploy_in(&moto, &network, &image, extra);

    let dry = deploy(&["--dry-run"]);
    assert!(dry.status.success());
    let rendered: Value = serde_json::from_str(&stdout(&dry)).expect("--dry-run prints JSON");
    production_settings(&rendered, &image);
    architecture_from_the_engine(&deploy, &dry);
    // Nothing was called.
    let none = moto.aws(&["ecs", "list-task-definitions"]);
    assert_eq!(none["taskDefinitionArns"], serde_json::json!([]));

    // Without the pushed tags in the engine, the architecture comes from the registry.
    remove_local_tags(&destination);
    let first = deploy(&["--wait", "0"]);
    assert!(first.status.success());
    for line in [
        "ok      architecture: the image is linux/amd64 (its registry)",
        "ok      network: no NAT gateway on",
    ] {
        assert!(stderr(&first).contains(line), "{line:?} missing");
    }
    assert!(stdout(&first).contains("created service app in cluster web with 1 task(s)"));
    let groups = moto.aws(&[
        "logs",
        "describe-log-groups",
        "--log-group-name-prefix",
        "/ecs/app",
    ]);
    assert_eq!(groups["logGroups"][0]["logGroupName"], "/ecs/app");
    registered_as_rendered(&moto, &rendered);
    let service = moto.aws(&[
        "ecs",
        "describe-services",
        "--cluster",
        "web",
        "--services",
        "app",
    ]);
    let service = &service["services"][0];
    assert_eq!(service["desiredCount"], 1);
    assert_eq!(service["launchType"], "FARGATE");
    assert_eq!(
        service["networkConfiguration"]["awsvpcConfiguration"]["subnets"],
        serde_json::json!([subnet])
    );
    assert!(
        service["taskDefinition"]
            .as_str()
            .is_some_and(|a| a.ends_with("task-definition/app:1"))
    );

    let second = deploy(&["--wait", "0", "--desired-count", "2", "--memory", "1024"]);
    assert!(second.status.success());
    let changes = stdout(&second);
    for expected in [
        "desired count: 1 → 2",
        "task definition: app:1 → app:2",
        "memory: \"512\" → \"1024\"",
    ] {
        assert!(
            changes.contains(expected),
            "{expected:?} missing from:\n{changes}"
        );
    }

    waits_a_bounded_time(&deploy);
}

/// The task definition moto stored is the one `--dry-run` rendered, field by field.
fn registered_as_rendered(moto: &Moto, rendered: &Value) {
    let container = &rendered["containerDefinitions"][0];
    let registered = moto.aws(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        "app",
    ]);
    let registered = &registered["taskDefinition"];
    for (key, value) in rendered.as_object().expect("object") {
        if key == "containerDefinitions" {
            continue;
        }
        assert_eq!(&registered[key], value, "{key}");
    }
    for (key, value) in container.as_object().expect("object") {
        assert_eq!(
            &registered["containerDefinitions"][0][key], value,
            "container {key}"
        );
    }
}

/// `--dry-run`'s preflight: the architecture read from the local engine, the network skipped;
/// the same image on Graviton refused in one line.
fn architecture_from_the_engine(deploy: &dyn Fn(&[&str]) -> Output, dry: &Output) {
    let checks = stderr(dry);
    for line in [
        "ok      architecture: the image is linux/amd64 (the local engine)",
        "ok      log driver: awslogs, non-blocking with a 25m buffer",
        "skipped network: needs AWS",
    ] {
        assert!(checks.contains(line), "{line:?} missing from:\n{checks}");
    }
    // An amd64 image on Graviton: one line says what to change, nothing is rendered.
    let arm = deploy(&["--dry-run", "--arch", "arm64"]);
    assert!(!arm.status.success());
    assert!(stdout(&arm).is_empty());
    assert!(
        stderr(&arm).contains(
            "architecture: the image is linux/amd64 (the local engine) but the task runs on \
             linux/arm64: pass --arch x86_64"
        ),
        "{}",
        stderr(&arm)
    );
}

/// Removes the tags `push` gave the image in the local engine, so only the registry has it.
fn remove_local_tags(destination: &str) {
    let local_tags = succeeds(Command::new("docker").args([
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        destination,
    ]));
    for tag in String::from_utf8_lossy(&local_tags.stdout).lines() {
        succeeds(Command::new("docker").args(["image", "rm", tag]));
    }
}

/// moto never starts tasks, so the service never settles: the wait gives up, bounded.
fn waits_a_bounded_time(deploy: &dyn Fn(&[&str]) -> Output) {
    let started = Instant::now();
    let waited = deploy(&["--wait", "2"]);
    assert!(!waited.status.success());
    assert!(
        stderr(&waited).contains("did not become stable within 2 s"),
        "{}",
        stderr(&waited)
    );
    assert!(started.elapsed() < Duration::from_mins(1));
}

#[test]
fn deploy_refuses_bad_input_before_calling_aws() {
    let valid = format!("a@sha256:{}", "00".repeat(32));
    let base = [
        "deploy",
        "--cluster",
        "c",
        "--subnets",
        "s",
        "--security-groups",
        "g",
        "--execution-role",
        "r",
        "--region",
        "eu-west-1",
        "--dry-run",
    ];
    for (extra, expected) in [
        (
            &["--image", "app:latest"][..],
            "deploy runs images by digest",
        ),
        (
            &["--image", &valid, "--cpu", "256", "--memory", "4096"][..],
            "task size: Fargate does not offer --cpu 256 with --memory 4096",
        ),
    ] {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let output = xtask(&args).run();
        assert!(!output.status.success());
        assert!(stderr(&output).contains(expected), "{}", stderr(&output));
    }
}

/// Preflight in a real deploy: tasks without a public IP in a subnet with no NAT gateway and a
/// VPC without endpoints, an image no registry serves, and public IPs in a subnet without an
/// internet gateway: one line each saying what to change, a non-zero exit, nothing created.
#[test]
fn preflight_failures_are_one_line_each_and_create_nothing() {
    let test = "preflight_failures_are_one_line_each_and_create_nothing";
    if !tools_available(test, &["moto_server"]) {
        return;
    }
    let moto = Moto::start(false);
    let (subnet, group) = network(&moto, false);
    let absent = format!("127.0.0.1:{}/app@sha256:{}", free_port(), "ab".repeat(32));
    let network = (subnet.clone(), group.clone());
    let deploy = |extra: &[&str]| {
        deploy_in(
            &moto,
            &network,
            &absent,
            &[&["--wait", "0"], extra].concat(),
        )
    };
    let private = deploy(&[]);
    assert!(!private.status.success());
    let said = stderr(&private);
    for line in [
        "preflight failed; nothing was created or changed:",
        &format!(
            "  network: tasks without a public IP in {subnet} cannot reach ECR, S3 and CloudWatch Logs"
        ),
        "VPC endpoints for ecr.api, ecr.dkr, s3, logs",
        "  architecture: cannot read the image's configuration from its registry",
    ] {
        assert!(said.contains(line), "{line:?} missing from:\n{said}");
    }
    let public = deploy(&["--public-ip"]);
    assert!(!public.status.success());
    assert!(
        stderr(&public).contains(&format!(
            "  network: {subnet} has no route to an internet gateway"
        )),
        "{}",
        stderr(&public)
    );
    let none = moto.aws(&["ecs", "list-task-definitions"]);
    assert_eq!(none["taskDefinitionArns"], serde_json::json!([]));
    let services = moto.aws(&["ecs", "list-services", "--cluster", "web"]);
    assert_eq!(services["serviceArns"], serde_json::json!([]));
    let groups = moto.aws(&["logs", "describe-log-groups"]);
    assert_eq!(groups["logGroups"], serde_json::json!([]));
}

/// `rollback` puts the service on the revision before the one it runs; `destroy` removes only
/// what deploy made and tagged (a service made by hand is left alone), keeps the logs unless
/// asked, and is a no-op the second time.
#[test]
fn rollback_and_destroy_touch_only_what_deploy_made() {
    let test = "rollback_and_destroy_touch_only_what_deploy_made";
    let Some(_engine) = docker_exclusive(test, &["moto_server", "docker-registry"]) else {
        return;
    };
    let moto = Moto::start(false);
    let (subnet, group) = network(&moto, true);
    let registry = Registry::start(None);
    let image = push_to(&registry, "rollback/app");
    let run = |args: &[&str]| xtask(args).setup(|c| moto.env(c)).run();
    let network = (subnet, group);
    let deploy = |memory: &str| {
        let output = deploy_in(
            &moto,
            &network,
            &image,
            &["--memory", memory, "--wait", "0"],
        );
        assert!(output.status.success(), "deploy failed");
    };
    deploy("512");
    deploy("1024");
    let service = |name: &str| {
        let described = moto.aws(&[
            "ecs",
            "describe-services",
            "--cluster",
            "web",
            "--services",
            name,
            "--include",
            "TAGS",
        ]);
        described["services"][0].clone()
    };
    let tags = &service("app")["tags"];
    for (key, value) in [("project", "rust-container-reference"), ("service", "app")] {
        assert!(
            tags.as_array()
                .is_some_and(|t| t.iter().any(|t| t["key"] == key && t["value"] == value)),
            "{key}={value} missing from the service's tags {tags}"
        );
    }

    let back = run(&["rollback", "--cluster", "web", "--wait", "0"]);
    assert!(back.status.success());
    assert!(
        stdout(&back).contains("rolled app back: app:2 → app:1"),
        "{}",
        stdout(&back)
    );
    assert!(
        service("app")["taskDefinition"]
            .as_str()
            .is_some_and(|arn| arn.ends_with("task-definition/app:1"))
    );
    let again = run(&["rollback", "--cluster", "web", "--wait", "0"]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("app runs app:1, and no earlier active revision of app exists"),
        "{}",
        stderr(&again)
    );

    destroys_only_what_deploy_tagged(&run, &moto);
}

/// After `rollback_and_destroy_touch_only_what_deploy_made`'s deploys: a service made by hand is
/// left alone, the deployed one goes, the logs only when asked, and a third run is a no-op.
fn destroys_only_what_deploy_tagged(run: &dyn Fn(&[&str]) -> Output, moto: &Moto) {
    let status = |name: &str| {
        let described = moto.aws(&[
            "ecs",
            "describe-services",
            "--cluster",
            "web",
            "--services",
            name,
        ]);
        described["services"][0]["status"].clone()
    };
    // A service made by hand carries no tags: destroy leaves it.
    moto.aws(&[
        "ecs",
        "create-service",
        "--cluster",
        "web",
        "--service-name",
        "other",
        "--task-definition",
        "app:1",
        "--desired-count",
        "0",
    ]);
    let other = run(&["destroy", "--cluster", "web", "--service", "other"]);
    assert!(other.status.success());
    assert!(stdout(&other).contains("not created by deploy, left alone"));
    assert_eq!(status("other"), "ACTIVE");

    let destroyed = run(&["destroy", "--cluster", "web"]);
    assert!(destroyed.status.success());
    let said = stdout(&destroyed);
    assert!(said.contains("deleted the service app"), "{said}");
    assert!(said.contains("kept the log group /ecs/app"), "{said}");
    assert_ne!(status("app"), "ACTIVE");
    let with_logs = run(&["destroy", "--cluster", "web", "--delete-logs"]);
    assert!(with_logs.status.success());
    let said = stdout(&with_logs);
    assert!(
        said.contains("no service app in the cluster web: already gone"),
        "{said}"
    );
    assert!(said.contains("deleted the log group /ecs/app"), "{said}");
    let groups = moto.aws(&["logs", "describe-log-groups"]);
    assert_eq!(groups["logGroups"], serde_json::json!([]));
    let third = run(&["destroy", "--cluster", "web", "--delete-logs"]);
    assert!(third.status.success());
    assert!(stdout(&third).contains("nothing to remove"));
}

/// The README's policy document for `deploy`, `rollback` and `destroy` (deploy/iam-policy.json)
/// is enough for all three, with moto enforcing IAM; and one action less is refused in one line.
/// moto judges actions only, every request against resource `*`, so the test's copy widens the
/// document's resources to `*` and drops its conditions: what it proves is the list of actions.
#[test]
fn deploy_rollback_and_destroy_run_under_the_documented_policy() {
    let test = "deploy_rollback_and_destroy_run_under_the_documented_policy";
    let Some(_engine) = docker_exclusive(test, &["moto_server", "docker-registry"]) else {
        return;
    };
    let registry = Registry::start(None);
    let image = push_to(&registry, "iam/app");

    // Three requests are free: an administrator is made with them, and sets the scene.
    let moto = Moto::enforcing(Some(3));
    moto.become_user(
        "admin",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    );
    let admin = moto.keys.borrow().clone();
    let network = network(&moto, true);
    let documented: Value = serde_json::from_str(
        &fs::read_to_string(project_root().join("deploy/iam-policy.json")).expect("the policy"),
    )
    .expect("JSON");
    let policy = |without: Option<&str>| {
        let mut policy = documented.clone();
        for statement in policy["Statement"].as_array_mut().expect("statements") {
            statement["Resource"] = Value::from("*");
            statement
                .as_object_mut()
                .expect("an object")
                .remove("Condition");
            if let (Some(action), Some(actions)) = (without, statement["Action"].as_array_mut()) {
                actions.retain(|a| a != action);
            }
        }
        policy.to_string()
    };
    moto.become_user("short", &policy(Some("ec2:DescribeVpcEndpoints")));
    let refused = deploy_in(&moto, &network, &image, &["--wait", "0"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("AWS denied the call (AccessDenied"),
        "{}",
        stderr(&refused)
    );

    *moto.keys.borrow_mut() = admin;
    moto.become_user("deployer", &policy(None));
    let run = |args: &[&str]| xtask(args).setup(|c| moto.env(c)).run();
    for step in [
        deploy_in(&moto, &network, &image, &["--wait", "0"]),
        deploy_in(
            &moto,
            &network,
            &image,
            &["--memory", "1024", "--wait", "0"],
        ),
        run(&["rollback", "--cluster", "web", "--wait", "0"]),
        run(&["destroy", "--cluster", "web", "--delete-logs"]),
    ] {
        assert!(step.status.success(), "{}", stderr(&step));
    }
}
