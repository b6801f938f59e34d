//! The ECS template, `deploy/ecs-service.yaml`, and `cargo xtask deploy`, `rollback` and
//! `destroy` around it: cfn-lint against AWS's own resource schemas, the preflight's refusals
//! of what cfn-lint cannot see, `--dry-run` with no AWS at all, and a stack created, updated
//! and deleted on moto's server, the AWS API stand-in that runs here.

use std::fs;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::files::{project_root, scratch_path};
use crate::support::moto::Moto;
use crate::support::needs::tools_available;
use crate::support::process::{stderr, stdout, succeeds, tools_path, xtask};
use crate::support::registry::Registry;

const TEMPLATE: &str = "deploy/ecs-service.yaml";
const ROLE: &str = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole";

fn template() -> String {
    fs::read_to_string(project_root().join(TEMPLATE)).expect("the template")
}

/// cfn-lint passes the template with no error and no warning, and refuses each broken copy: a
/// health check every second (ELB's minimum is 5), a task size Fargate does not offer written
/// in the template, and a property `CloudFormation` does not know.
pub(crate) fn cfn_lint_passes_the_template_and_refuses_broken_copies() {
    if !tools_available("cfn_lint_passes_the_template", &["cfn-lint"]) {
        return;
    }
    let dir = scratch_path("cfn-lint");
    fs::create_dir_all(&dir).expect("a scratch directory");
    let good = template();
    let broken = [
        (
            "interval",
            "HealthCheckIntervalSeconds: 5",
            "HealthCheckIntervalSeconds: 1",
        ),
        (
            "size",
            "      Cpu: !Ref Cpu\n      Memory: !Ref Memory",
            "      Cpu: \"256\"\n      Memory: \"4096\"",
        ),
        ("property", "HealthCheckPath:", "HealthCheckPathname:"),
    ];
    let mut files = Vec::new();
    for (name, from, to) in broken {
        assert!(good.contains(from), "the template no longer says {from:?}");
        let path = dir.join(format!("{name}.yaml"));
        fs::write(&path, good.replacen(from, to, 1)).expect("a broken copy");
        files.push(path);
    }
    let lint = |paths: &[&std::path::Path]| {
        Command::new("cfn-lint")
            .env("PATH", tools_path())
            .args(paths)
            .output()
            .expect("cfn-lint runs")
    };
    let clean = lint(&[&project_root().join(TEMPLATE)]);
    assert!(
        clean.status.success() && stdout(&clean).trim().is_empty(),
        "cfn-lint: {}{}",
        stdout(&clean),
        stderr(&clean)
    );
    let refused = lint(
        &files
            .iter()
            .map(std::path::PathBuf::as_path)
            .collect::<Vec<_>>(),
    );
    assert!(!refused.status.success());
    let said = stdout(&refused);
    // Each finding is a rule id line followed by `FILE:LINE:COLUMN`.
    for (file, rule) in files.iter().zip(["E3034", "E3047", "E3002"]) {
        let name = file.display().to_string();
        let found = said
            .split("\n\n")
            .any(|finding| finding.starts_with(rule) && finding.contains(&name));
        assert!(found, "{rule} on {name} missing from:\n{said}");
    }
}

/// The template's timing defaults are compose.yaml's `x-shutdown`, so a person deploying it
/// with the plain AWS CLI gets the values `deploy` passes; and the container's start period in
/// the template covers its first health check, or a task starting slowly is replaced before it.
pub(crate) fn the_template_defaults_are_the_shutdown_settings() {
    let compose = fs::read_to_string(project_root().join("compose.yaml")).expect("compose.yaml");
    let block = compose.split_once("\nx-shutdown:\n").expect("x-shutdown").1;
    let setting = |key: &str| {
        block
            .lines()
            .take_while(|line| line.starts_with("  "))
            .find_map(|line| line.trim().strip_prefix(&format!("{key}: ")))
            .and_then(|value| value.split_whitespace().last())
            .map_or_else(
                || panic!("x-shutdown has no {key}"),
                |value| value.trim_end_matches('s').to_owned(),
            )
    };
    let template = template();
    let default = |name: &str| {
        let block = template
            .split_once(&format!("\n  {name}:\n"))
            .expect(name)
            .1;
        block
            .lines()
            .find_map(|line| line.trim().strip_prefix("Default: "))
            .map_or_else(
                || panic!("{name} has no default"),
                |value| value.trim_matches('"').to_owned(),
            )
    };
    for (parameter, key) in [
        ("ShutdownGrace", "grace"),
        ("StopTimeout", "stop-timeout"),
        ("HealthCheckInterval", "health-interval"),
    ] {
        assert_eq!(
            default(parameter),
            setting(key),
            "{parameter} against x-shutdown's {key}"
        );
    }
    let start_period: u64 = (template.lines())
        .find_map(|line| line.trim().strip_prefix("StartPeriod: ")?.parse().ok())
        .expect("the container's health check has a StartPeriod");
    let interval: u64 = setting("health-interval").parse().expect("seconds");
    assert!(
        start_period >= interval,
        "StartPeriod {start_period} s is shorter than x-shutdown's health-interval {interval} s"
    );
}

/// A digest no registry needs to hold: the checks that need no AWS never read it.
fn some_image() -> String {
    format!(
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:{}",
        "ab".repeat(32)
    )
}

/// `cargo xtask deploy --dry-run WORDS` with no AWS credentials, profile or endpoint at all.
fn deploy_without_aws(words: &str) -> Output {
    let words = format!(
        "deploy --cluster web --subnets subnet-a,subnet-b --execution-role {ROLE} --dry-run {words}"
    );
    let all: Vec<&str> = words.split_whitespace().collect();
    let home = scratch_path("no-aws-home");
    xtask(&all)
        .setup(|command| {
            for variable in [
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_PROFILE",
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            ] {
                command.env_remove(variable);
            }
            // No ~/.aws either; cargo and rustup keep theirs where they are.
            let home_dir = std::env::var_os("HOME").unwrap_or_default();
            for (variable, default) in [("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")] {
                if std::env::var_os(variable).is_none() {
                    command.env(variable, std::path::Path::new(&home_dir).join(default));
                }
            }
            command
                .env("HOME", &home)
                .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
        })
        .run()
}

/// `--dry-run` with no AWS at all: the preflight that needs none, every resource these flags
/// make of the template, the parameters as the plain AWS CLI takes them, the monthly cost at
/// --min and --max tasks; and a shared load balancer's flags make a host rule, not a balancer.
pub(crate) fn dry_run_without_aws_prints_resources_parameters_and_cost() {
    let image = some_image();
    let own = deploy_without_aws(&format!(
        "--image {image} --certificate-arn arn:aws:acm:eu-west-1:123456789012:certificate/x \
         --requests-per-target 500 --min 2 --max 6"
    ));
    assert!(own.status.success(), "{}", stderr(&own));
    let said = stdout(&own);
    said_all(
        &said,
        &[
            "deploy/ecs-service.yaml as the stack rust-container-reference-web-app:",
            "  LoadBalancer               AWS::ElasticLoadBalancingV2::LoadBalancer",
            "  HttpsListener              AWS::ElasticLoadBalancingV2::Listener",
            "  RequestScaling             AWS::ApplicationAutoScaling::ScalingPolicy",
            "aws cloudformation deploy \\\n  --template-file deploy/ecs-service.yaml \\",
            &format!("    Image={image} \\"),
            "    MinTasks=2 \\",
            "    'VpcId=<the VPC of the subnets>' \\",
            "monthly cost at 2 task(s):",
            "monthly cost at 6 task(s):",
        ],
    );
    assert!(!said.contains("HostRule"), "{said}");
    // Every parameter the template declares, in its order, and no other: the AWS CLI drops a
    // key the template lacks, and leaves one not given at the stack's previous value.
    let given: Vec<&str> = (said.split("--parameter-overrides \\\n").nth(1))
        .expect("the parameters")
        .lines()
        .map_while(|line| line.trim_start().trim_start_matches('\'').split_once('='))
        .map(|(key, _)| key)
        .collect();
    let template = template();
    let declared: Vec<&str> = (template.split("\nParameters:\n").nth(1))
        .expect("a Parameters section")
        .lines()
        .take_while(|line| line.is_empty() || line.starts_with([' ', '#']))
        .filter_map(|line| line.strip_prefix("  ")?.strip_suffix(':'))
        .filter(|name| !name.starts_with([' ', '#']))
        .collect();
    assert_eq!(given, declared);
    said_all(
        &stderr(&own),
        &[
            "ok      TLS policy: HTTPS with ELBSecurityPolicy-TLS13-1-2-2021-06",
            "skipped network: needs AWS",
        ],
    );

    let shared = deploy_without_aws(&format!(
        "--image {image} --shared-listener \
         arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shared/1/2 \
         --shared-security-group sg-0123456789abcdef0 --host api.example.test"
    ));
    assert!(shared.status.success(), "{}", stderr(&shared));
    let said = stdout(&shared);
    assert!(said.contains("  HostRule  "), "{said}");
    assert!(!said.contains("  LoadBalancer  "), "{said}");
    assert!(!said.contains("RequestScaling"), "{said}");
}

/// What cfn-lint cannot see, refused by the preflight before any call, one line each: a task
/// size that arrives as a parameter, timings that must agree, a stack name `CloudFormation` does
/// not take; and the 8 and 16 vCPU sizes accepted. (A value outside a parameter's own limits in
/// the template is `CloudFormation`'s to refuse when it creates the change set; moto's does not
/// check them, so no test here shows it.)
pub(crate) fn preflight_refuses_what_the_template_cannot_see() {
    let image = some_image();
    // Every check runs, so one deploy shows them all.
    let refused = deploy_without_aws(&format!(
        "--image {image} --cpu 256 --memory 4096 --deregistration-delay 5 \
         --health-check-grace 4 --min 3 --max 2 --service my_app"
    ));
    assert!(!refused.status.success());
    assert!(stdout(&refused).is_empty(), "{}", stdout(&refused));
    let said = stderr(&refused);
    for expected in [
        "preflight failed; nothing was created or changed",
        "task size: Fargate does not offer --cpu 256 with --memory 4096",
        "deregistration delay: the deregistration delay (5 s) is shorter than the app's request \
         timeout (8 s)",
        "health check grace: the health check grace period (4 s) ends before a new task can pass \
         the load balancer's checks (10 s)",
        "scaling: --min 3 is above --max 2",
        "stack name: the stack would be named \"rust-container-reference-web-my_app\"",
    ] {
        assert!(
            said.contains(expected),
            "{expected:?} missing from:\n{said}"
        );
    }
    let eight = deploy_without_aws(&format!("--image {image} --cpu 8192 --memory 18432"));
    assert!(
        stderr(&eight).contains("task size: Fargate does not offer --cpu 8192 with --memory 18432"),
        "{}",
        stderr(&eight)
    );
    for (cpu, memory) in [("8192", "20480"), ("16384", "65536")] {
        let output = deploy_without_aws(&format!("--image {image} --cpu {cpu} --memory {memory}"));
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let tag = deploy_without_aws("--image app:latest");
    assert!(stderr(&tag).contains("deploy runs images by digest"));
}

/// An image of `arch` (`amd64`) in `registry` as `name`, written over the registry API: a
/// configuration and a manifest without layers, which is all the preflight reads. Its
/// `HOST/NAME@sha256:...`.
fn image_in(registry: &Registry, name: &str, arch: &str) -> String {
    let base = format!("http://{}/v2/{name}", registry.host());
    let client = reqwest::blocking::Client::new();
    let config = format!(
        r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"config":{{}}}}"#
    );
    let config_digest = sha256(&config);
    let started = client
        .post(format!("{base}/blobs/uploads/"))
        .send()
        .expect("an upload starts");
    let location = started.headers()["location"]
        .to_str()
        .expect("a location")
        .to_owned();
    let location = if location.starts_with("http") {
        location
    } else {
        format!("http://{}{location}", registry.host())
    };
    let joiner = if location.contains('?') { '&' } else { '?' };
    let stored = client
        .put(format!("{location}{joiner}digest={config_digest}"))
        .body(config.clone())
        .send()
        .expect("the configuration uploads");
    assert!(stored.status().is_success(), "{}", stored.status());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":{},"digest":"{config_digest}"}},"layers":[]}}"#,
        config.len()
    );
    let digest = sha256(&manifest);
    let put = client
        .put(format!("{base}/manifests/{digest}"))
        .header(
            "content-type",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .body(manifest)
        .send()
        .expect("the manifest uploads");
    assert!(put.status().is_success(), "{}", put.status());
    format!("{}/{name}@{digest}", registry.host())
}

/// `sha256:HEX` of `text`, by coreutils.
fn sha256(text: &str) -> String {
    let file = scratch_path("blob");
    fs::write(&file, text).expect("a blob file");
    let summed = succeeds(Command::new("sha256sum").arg(&file));
    let hex = String::from_utf8_lossy(&summed.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_owned();
    format!("sha256:{hex}")
}

/// In moto: a VPC with public subnets in eu-west-1a (two) and eu-west-1b routed to an internet
/// gateway, a private subnet with no way out, and the cluster `web`. Built by a stack of its own
/// (moto creates it in one call), the public subnets then put on the public route table, which
/// moto's `CloudFormation` does not do.
struct Network {
    public_a: String,
    public_b: String,
    public_a2: String,
    private_a: String,
}

const NETWORK: &str = r"
Resources:
  Vpc: {Type: AWS::EC2::VPC, Properties: {CidrBlock: 10.0.0.0/16}}
  Gateway: {Type: AWS::EC2::InternetGateway}
  Attachment: {Type: AWS::EC2::VPCGatewayAttachment, Properties: {VpcId: !Ref Vpc, InternetGatewayId: !Ref Gateway}}
  Public: {Type: AWS::EC2::RouteTable, Properties: {VpcId: !Ref Vpc}}
  Out: {Type: AWS::EC2::Route, DependsOn: Attachment, Properties: {RouteTableId: !Ref Public, DestinationCidrBlock: 0.0.0.0/0, GatewayId: !Ref Gateway}}
  PublicA: {Type: AWS::EC2::Subnet, Properties: {VpcId: !Ref Vpc, CidrBlock: 10.0.1.0/24, AvailabilityZone: eu-west-1a}}
  PublicB: {Type: AWS::EC2::Subnet, Properties: {VpcId: !Ref Vpc, CidrBlock: 10.0.2.0/24, AvailabilityZone: eu-west-1b}}
  PublicA2: {Type: AWS::EC2::Subnet, Properties: {VpcId: !Ref Vpc, CidrBlock: 10.0.4.0/24, AvailabilityZone: eu-west-1a}}
  PrivateA: {Type: AWS::EC2::Subnet, Properties: {VpcId: !Ref Vpc, CidrBlock: 10.0.3.0/24, AvailabilityZone: eu-west-1a}}
  Cluster: {Type: AWS::ECS::Cluster, Properties: {ClusterName: web}}
";

fn network(moto: &Moto) -> Network {
    moto.aws(&[
        "cloudformation",
        "create-stack",
        "--stack-name",
        "network",
        "--template-body",
        NETWORK,
    ]);
    let resources = moto.aws(&[
        "cloudformation",
        "describe-stack-resources",
        "--stack-name",
        "network",
    ]);
    let id = |logical: &str| -> String {
        resources["StackResources"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|r| r["LogicalResourceId"] == logical)
            .and_then(|r| r["PhysicalResourceId"].as_str())
            .unwrap_or_else(|| panic!("no {logical}"))
            .to_owned()
    };
    let network = Network {
        public_a: id("PublicA"),
        public_b: id("PublicB"),
        public_a2: id("PublicA2"),
        private_a: id("PrivateA"),
    };
    let table = id("Public");
    std::thread::scope(|scope| {
        for subnet in [&network.public_a, &network.public_b, &network.public_a2] {
            let table = &table;
            scope.spawn(move || {
                moto.aws(&[
                    "ec2",
                    "associate-route-table",
                    "--route-table-id",
                    table,
                    "--subnet-id",
                    subnet,
                ])
            });
        }
    });
    network
}

/// On moto: a deploy the preflight refuses creates nothing; `--dry-run` shows the change set
/// and deletes it; a deploy creates the stack, and the same again changes nothing and leaves no
/// change set behind; one with a new image updates it; `rollback`
/// puts the first image back, and again the second; `destroy` deletes the stack, and
/// `rollback` then finds nothing to roll back.
///
/// What moto cannot show, so this test does not claim it: it ignores `AWS::CloudWatch::Alarm`
/// and `AWS::ApplicationAutoScaling::*` (the deployment alarm, the scaling); it drops the load
/// balancer's and the target group's attributes (invalid header fields dropped, the
/// deregistration delay), the task definition's Fargate
/// settings and the service's load balancer, network and deployment
/// configuration; it never fills a stack's outputs after a change set (no URL); it writes no
/// resource events; on an update it registers the new revision without its container
/// definition and leaves the service on the old one (it updates only resources that name a
/// changed parameter themselves), so the service's image after a rollback is not seen; it
/// describes a list parameter as Python writes a list (`['subnet-a', 'subnet-b']`), which the
/// rollback passes back as read, so it then loses track of the load balancer; and on delete it
/// leaves that, the service, the task definition and the target group behind.
pub(crate) fn a_stack_on_moto_is_created_updated_and_deleted() {
    let test = "a_stack_on_moto_is_created_updated_and_deleted";
    if !tools_available(test, &["moto_server", "docker-registry", "sha256sum"]) {
        return;
    }
    let moto = Moto::start(false);
    let network = network(&moto);
    let registry = Registry::start(None);
    let first = image_in(&registry, "deploy/app", "amd64");
    let run = |args: &[&str]| xtask(args).setup(|c| moto.env(c)).run();
    let deploy = |image: &str, subnets: &str, alb: &str, extra: &str| {
        let words = format!(
            "deploy --cluster web --subnets {subnets} --alb-subnets {alb} --execution-role {ROLE} \
             --image {image} --requests-per-target 500 --min 2 --max 6 {extra}"
        );
        run(&words.split_whitespace().collect::<Vec<_>>())
    };
    let public = format!("{},{}", network.public_a, network.public_b);

    let plain_cli = refused_then_previewed(&moto, &deploy, &network, &first);

    let created = deploy(&first, &public, &public, "--public-ip");
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(
        stdout(&created).contains("the stack rust-container-reference-web-app is CREATE_COMPLETE"),
        "{}",
        stdout(&created)
    );
    created_as_the_template_says(&moto, &first);

    // The same flags again: nothing to change, and the change set that says so not left behind.
    let again = deploy(&first, &public, &public, "--public-ip");
    assert!(again.status.success(), "{}", stderr(&again));
    let said = stdout(&again);
    assert!(
        said.contains("no changes: the stack rust-container-reference-web-app already is"),
        "{said}"
    );
    let [failed] = read_all(
        &moto,
        [&[
            "cloudformation",
            "list-change-sets",
            "--stack-name",
            "rust-container-reference-web-app",
            "--query",
            "Summaries[?Status=='FAILED']",
        ]],
    );
    assert_eq!(failed, Value::Array(Vec::new()));

    let second = image_in(&registry, "deploy/moved", "amd64");
    let updated = deploy(&second, &public, &public, "--public-ip");
    assert!(updated.status.success(), "{}", stderr(&updated));
    assert!(
        stdout(&updated).contains("the stack rust-container-reference-web-app is UPDATE_COMPLETE"),
        "{}",
        stdout(&updated)
    );
    let [stacks, definitions, old] = read_all(
        &moto,
        [
            DESCRIBE_STACK,
            &["ecs", "list-task-definitions"],
            &[
                "ecs",
                "describe-task-definition",
                "--task-definition",
                "app:1",
            ],
        ],
    );
    assert_eq!(parameter(&stacks["Stacks"][0], "Image"), second);
    assert_eq!(parameter(&stacks["Stacks"][0], "PreviousImage"), first);
    // A new revision, the replaced one deregistered (moto keeps its description).
    let arns = definitions["taskDefinitionArns"].to_string();
    assert!(
        arns.contains("task-definition/app:2") && !arns.contains("task-definition/app:1"),
        "{arns}"
    );
    assert_eq!(old["taskDefinition"]["status"], "INACTIVE");
    rolled_back(&moto, &run, &first, &second);
    destroyed(&moto, &run);
    deployed_with_the_aws_cli_alone(&moto, &plain_cli, &first);
}

/// A deploy the preflight refuses, both reasons said; then `--dry-run` with AWS: the checks
/// that read it, the change set's additions, and the change set and the stack it made gone.
/// The plain `aws cloudformation deploy` command the dry run printed.
fn refused_then_previewed(
    moto: &Moto,
    deploy: &Deploy<'_>,
    network: &Network,
    first: &str,
) -> String {
    let public = format!("{},{}", network.public_a, network.public_b);
    // Tasks in a subnet with no way out, and two load balancer subnets in one zone: both said,
    // nothing created.
    let crowded = format!(
        "{},{},{}",
        network.public_a, network.public_a2, network.public_b
    );
    let refused = deploy(first, &network.private_a, &crowded, "");
    assert!(!refused.status.success());
    said_all(
        &stderr(&refused),
        &[
            format!(
                "  network: tasks without a public IP in {} cannot reach ECR, S3 and CloudWatch Logs",
                network.private_a
            ),
            format!(
                "  load balancer subnets: {} and {} are both in eu-west-1a",
                network.public_a, network.public_a2
            ),
        ],
    );

    let dry = deploy(first, &public, &public, "--public-ip --dry-run");
    assert!(dry.status.success(), "{}", stderr(&dry));
    said_all(
        &stderr(&dry),
        &[
            "ok      architecture: the image is linux/amd64 (its registry)",
            "ok      network: every subnet routes out (",
            "ok      load balancer subnets: public subnets in eu-west-1a, eu-west-1b",
        ],
    );
    said_all(
        &stdout(&dry),
        &[
            "  Add      LoadBalancer               AWS::ElasticLoadBalancingV2::LoadBalancer",
            "  Add      Service                    AWS::ECS::Service",
            "--dry-run: the change set was deleted, nothing was changed",
        ],
    );
    let balancers = moto.aws(&["elbv2", "describe-load-balancers"]);
    assert_eq!(balancers["LoadBalancers"], Value::Array(Vec::new()));
    // The command: its first line, and each line a backslash continues.
    let said = stdout(&dry);
    let start = said
        .find("aws cloudformation deploy ")
        .expect("the dry run prints the plain-CLI command");
    let mut command = String::new();
    for line in said[start..].lines() {
        command.push_str(line);
        command.push('\n');
        if !line.ends_with('\\') {
            break;
        }
    }
    command
}

/// The command `--dry-run` printed, run by a shell with the AWS CLI alone, deploys the same
/// stack `cargo xtask deploy` made with those flags (which `destroy` has since deleted).
fn deployed_with_the_aws_cli_alone(moto: &Moto, command: &str, image: &str) {
    let mut bash = Command::new("bash");
    moto.env(bash.args(["-c", command]).current_dir(project_root()));
    let output = bash.output().expect("bash runs");
    assert!(
        output.status.success(),
        "{command}\n{}{}",
        stdout(&output),
        stderr(&output)
    );
    let [stacks] = read_all(moto, [DESCRIBE_STACK]);
    let stack = &stacks["Stacks"][0];
    assert_eq!(stack["StackStatus"], "CREATE_COMPLETE", "{stack}");
    assert_eq!(parameter(stack, "Image"), image);
    assert_eq!(parameter(stack, "MinTasks"), "2");
    assert_eq!(parameter(stack, "AssignPublicIp"), "ENABLED");
    let tags = stack["Tags"].to_string();
    assert!(
        tags.contains(r#"{"Key":"project","Value":"rust-container-reference"}"#),
        "{tags}"
    );
}

/// The log group's retention, the task definition's container as the template writes it, and
/// the service on that revision.
fn task_as_the_template_says(logs: &Value, definition: &Value, services: &Value, image: &str) {
    let log_group = &logs["logGroups"][0];
    assert_eq!(log_group["retentionInDays"], 30);
    let container = &definition["taskDefinition"]["containerDefinitions"][0];
    assert_eq!(container["image"], image);
    assert_eq!(container["user"], "65532:65532");
    assert_eq!(container["readonlyRootFilesystem"], true);
    assert_eq!(container["stopTimeout"], 15);
    assert_eq!(
        container["healthCheck"]["command"].to_string(),
        r#"["CMD","/app","healthcheck"]"#
    );
    let options = &container["logConfiguration"]["options"];
    assert_eq!(options["mode"], "non-blocking");
    assert_eq!(options["max-buffer-size"], "25m");
    assert_eq!(options["awslogs-group"], log_group["logGroupName"]);
    said_all(
        &container["environment"].to_string(),
        &[
            r#"{"name":"APP_SHUTDOWN_DELAY","value":"0s"}"#,
            r#"{"name":"APP_SHUTDOWN_GRACE","value":"8s"}"#,
            r#"{"name":"APP_REQUEST_TIMEOUT","value":"8s"}"#,
        ],
    );
    assert!(
        services["services"][0]["taskDefinition"]
            .as_str()
            .is_some_and(|arn| arn.ends_with("task-definition/app:1")),
        "{services}"
    );
}

/// `cargo xtask deploy` of an image into subnets, load balancer subnets, with more flags.
type Deploy<'a> = dyn Fn(&str, &str, &str, &str) -> Output + 'a;

/// `rollback` swaps the stack's `Image` and `PreviousImage` by a change set that keeps every
/// other parameter, so a second rollback undoes the first. (moto lists no changes in an
/// update's change set.)
fn rolled_back(moto: &Moto, run: &(dyn Fn(&[&str]) -> Output + Sync), first: &str, second: &str) {
    for (now, before) in [(first, second), (second, first)] {
        let back = run(&["rollback", "--cluster", "web"]);
        assert!(back.status.success(), "{}", stderr(&back));
        said_all(
            &stdout(&back),
            &[
                format!("rolling app back to {now} (now {before})"),
                "the stack rust-container-reference-web-app is UPDATE_COMPLETE".to_owned(),
            ],
        );
        let [stacks] = read_all(moto, [DESCRIBE_STACK]);
        let stack = &stacks["Stacks"][0];
        assert_eq!(parameter(stack, "Image"), now);
        assert_eq!(parameter(stack, "PreviousImage"), before);
        assert_eq!(
            parameter(stack, "MaxTasks"),
            "6",
            "the other parameters are kept"
        );
    }
}

/// `destroy` deletes the stack, keeps the logs, and run again finds nothing; nor does
/// `rollback` then.
fn destroyed(moto: &Moto, run: &(dyn Fn(&[&str]) -> Output + Sync)) {
    let deleted = run(&["destroy", "--cluster", "web"]);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let said = stdout(&deleted);
    assert!(said.contains("is DELETE_COMPLETE"), "{said}");
    assert!(
        said.contains("kept the log group rust-container-reference-web-app-LogGroup-"),
        "{said}"
    );
    let [groups, logs] = read_all(
        moto,
        [
            &["ec2", "describe-security-groups"],
            &["logs", "describe-log-groups"],
        ],
    );
    assert!(
        groups["SecurityGroups"]
            .as_array()
            .is_some_and(|all| all.iter().all(|g| g["GroupName"] == "default")),
        "{groups}"
    );
    // The template retains the log group, so the logs outlive the stack.
    assert_eq!(logs["logGroups"][0]["retentionInDays"], 30, "{logs}");
    let (again, back) = std::thread::scope(|scope| {
        let again = scope.spawn(|| run(&["destroy", "--cluster", "web"]));
        let back = run(&["rollback", "--cluster", "web"]);
        (again.join().expect("destroy ran"), back)
    });
    assert!(
        stdout(&again).contains("no stack rust-container-reference-web-app: nothing to delete")
    );
    assert!(!back.status.success());
    assert!(
        stderr(&back).contains("no stack rust-container-reference-web-app: nothing to roll back"),
        "{}",
        stderr(&back)
    );
}

/// Asserts that `text` has every one of `lines`.
fn said_all<S: AsRef<str>>(text: &str, lines: &[S]) {
    for line in lines {
        let line = line.as_ref();
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
}

/// Each of `calls` to moto at once, their answers in order: most of a call's time is the AWS
/// CLI starting.
fn read_all<const N: usize>(moto: &Moto, calls: [&[&str]; N]) -> [Value; N] {
    std::thread::scope(|scope| {
        let running = calls.map(|call| scope.spawn(move || moto.aws(call)));
        running.map(|thread| thread.join().expect("an AWS call"))
    })
}

const DESCRIBE_STACK: &[&str] = &[
    "cloudformation",
    "describe-stacks",
    "--stack-name",
    "rust-container-reference-web-app",
];

fn parameter(stack: &Value, key: &str) -> String {
    stack["Parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["ParameterKey"] == key)
        .and_then(|p| p["ParameterValue"].as_str())
        .unwrap_or_else(|| panic!("no parameter {key}"))
        .to_owned()
}

/// What moto keeps of the first deploy, against the template and the flags: the stack's tags
/// and parameters, the internet-facing load balancer, the target group's
/// health check, the listener, the security groups' ingress, the log
/// group's retention, the task definition's container and the service on it.
fn created_as_the_template_says(moto: &Moto, image: &str) {
    let [
        stacks,
        balancers,
        groups,
        security,
        logs,
        definition,
        services,
    ] = read_all(
        moto,
        [
            DESCRIBE_STACK,
            &["elbv2", "describe-load-balancers"],
            &["elbv2", "describe-target-groups"],
            &["ec2", "describe-security-groups"],
            &["logs", "describe-log-groups"],
            &[
                "ecs",
                "describe-task-definition",
                "--task-definition",
                "app:1",
            ],
            &[
                "ecs",
                "describe-services",
                "--cluster",
                "web",
                "--services",
                "app",
            ],
        ],
    );
    let stack = &stacks["Stacks"][0];
    assert_eq!(stack["StackStatus"], "CREATE_COMPLETE");
    let tags = stack["Tags"].to_string();
    assert!(
        tags.contains(r#""Key":"project","Value":"rust-container-reference""#),
        "{tags}"
    );
    assert!(tags.contains(r#""Key":"service","Value":"app""#), "{tags}");
    for (key, value) in [
        ("Image", image),
        ("MinTasks", "2"),
        ("MaxTasks", "6"),
        ("AssignPublicIp", "ENABLED"),
    ] {
        assert_eq!(parameter(stack, key), value, "{key}");
    }
    let balancer = &balancers["LoadBalancers"][0];
    assert_eq!(balancer["Scheme"], "internet-facing");
    let arn = balancer["LoadBalancerArn"].as_str().expect("an ARN");
    let group = &groups["TargetGroups"][0];
    for (key, value) in [
        ("HealthCheckPath", Value::from("/health/ready")),
        ("HealthCheckIntervalSeconds", Value::from(5)),
        ("HealthyThresholdCount", Value::from(2)),
        ("Port", Value::from(8080)),
        ("TargetType", Value::from("ip")),
    ] {
        assert_eq!(group[key], value, "target group {key}");
    }
    let group_arn = group["TargetGroupArn"].as_str().expect("an ARN");
    let listeners = moto.aws(&["elbv2", "describe-listeners", "--load-balancer-arn", arn]);
    let listener = &listeners["Listeners"][0];
    assert_eq!(
        (listener["Port"].clone(), listener["Protocol"].clone()),
        (Value::from(80), Value::from("HTTP"))
    );
    assert_eq!(listener["DefaultActions"][0]["TargetGroupArn"], group_arn);
    // The tasks take 8080 from the load balancer's group only.
    let all = security["SecurityGroups"].as_array().expect("groups");
    let balancer_group = balancer["SecurityGroups"][0].as_str().expect("its group");
    let tasks = all
        .iter()
        .find(|g| g["IpPermissions"][0]["FromPort"] == 8080)
        .expect("the tasks' group");
    assert_eq!(
        tasks["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"],
        balancer_group
    );
    task_as_the_template_says(&logs, &definition, &services, image);
}
