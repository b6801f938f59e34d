//! `cargo xtask deploy`, `rollback` and `destroy` against moto's server, which speaks the ECS,
//! ELB, EC2, `CloudWatch`, Application Auto Scaling, ACM, Logs and IAM APIs, as AWS cannot run
//! here; a recording proxy in front of it keeps what xtask sent, for the settings moto drops.

use std::fs;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::ship::pinned;
use crate::support::files::{project_root, scratch_path};
use crate::support::http::free_port;
use crate::support::moto::Moto;
use crate::support::needs::{docker_exclusive, tools_available};
use crate::support::process::{stderr, stdout, succeeds, xtask};
use crate::support::proxy::Recorder;
use crate::support::registry::Registry;

/// What the rendered task definition must say for production on Fargate.
fn production_settings(rendered: &Value, image: &str) {
    let container = &rendered["containerDefinitions"][0];
    assert_eq!(container["image"], image);
    assert_eq!(container["user"], "65532:65532");
    assert_eq!(container["readonlyRootFilesystem"], true);
    assert_eq!(
        container["healthCheck"]["command"],
        json!(["CMD", "/app", "healthcheck"])
    );
    assert_eq!(container["logConfiguration"]["logDriver"], "awslogs");
    assert_eq!(rendered["networkMode"], "awsvpc");
    let stop = container["stopTimeout"].as_u64().expect("stopTimeout");
    let seconds = |name: &str| -> u64 {
        container["environment"]
            .as_array()
            .expect("environment")
            .iter()
            .find(|v| v["name"] == name)
            .and_then(|v| v["value"].as_str()?.strip_suffix('s')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    // ECS deregisters a task and waits the deregistration delay before SIGTERM: no delay after.
    assert_eq!(seconds("APP_SHUTDOWN_DELAY"), 0);
    let grace = seconds("APP_SHUTDOWN_GRACE");
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

/// The network deploy runs in, in moto: a VPC with two public subnets in two zones routed to an
/// internet gateway (the load balancer's), and a private subnet for the tasks with no NAT
/// gateway; with `endpoints`, the VPC endpoints that let its tasks reach ECR, S3 and
/// `CloudWatch` Logs. And the cluster `web`.
struct Network {
    /// The load balancer's subnets, comma-separated.
    public: String,
    /// The tasks' subnet.
    private: String,
}

fn network(moto: &Moto, endpoints: bool) -> Network {
    let vpc = moto.aws(&["ec2", "create-vpc", "--cidr-block", "10.0.0.0/16"]);
    let vpc = vpc["Vpc"]["VpcId"].as_str().expect("vpc").to_owned();
    let subnet = |cidr: &str, zone: &str| {
        let created = moto.aws(&[
            "ec2",
            "create-subnet",
            "--vpc-id",
            &vpc,
            "--cidr-block",
            cidr,
            "--availability-zone",
            zone,
        ]);
        created["Subnet"]["SubnetId"]
            .as_str()
            .expect("subnet")
            .to_owned()
    };
    let public = [
        subnet("10.0.1.0/24", "eu-west-1a"),
        subnet("10.0.2.0/24", "eu-west-1b"),
    ];
    let private = subnet("10.0.3.0/24", "eu-west-1a");
    let gateway = moto.aws(&["ec2", "create-internet-gateway"]);
    let gateway = gateway["InternetGateway"]["InternetGatewayId"]
        .as_str()
        .expect("gateway");
    moto.aws(&[
        "ec2",
        "attach-internet-gateway",
        "--internet-gateway-id",
        gateway,
        "--vpc-id",
        &vpc,
    ]);
    let table = moto.aws(&["ec2", "create-route-table", "--vpc-id", &vpc]);
    let table = table["RouteTable"]["RouteTableId"].as_str().expect("table");
    moto.aws(&[
        "ec2",
        "create-route",
        "--route-table-id",
        table,
        "--destination-cidr-block",
        "0.0.0.0/0",
        "--gateway-id",
        gateway,
    ]);
    for subnet in &public {
        moto.aws(&[
            "ec2",
            "associate-route-table",
            "--route-table-id",
            table,
            "--subnet-id",
            subnet,
        ]);
    }
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
    Network {
        public: public.join(","),
        private,
    }
}

/// `cargo xtask deploy` of `image` to moto's cluster `web` in `network`, with `extra`; through
/// `via` (a recorder's endpoint, or one that does not answer) when given.
fn deploy_in(
    moto: &Moto,
    via: Option<&str>,
    network: &Network,
    image: &str,
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "deploy",
        "--cluster",
        "web",
        "--subnets",
        &network.private,
        "--alb-subnets",
        &network.public,
        "--execution-role",
        "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "--image",
        image,
        "--region",
        "eu-west-1",
    ];
    args.extend_from_slice(extra);
    xtask(&args)
        .setup(|command| {
            moto.env(command);
            if let Some(endpoint) = via {
                command.env("AWS_ENDPOINT_URL", endpoint);
            }
        })
        .run()
}

/// A certificate the test makes (openssl), imported into moto's ACM: its ARN.
fn import_certificate(moto: &Moto) -> String {
    let dir = scratch_path("ecs-certificate");
    fs::create_dir_all(&dir).expect("a scratch directory");
    let (key, certificate) = (dir.join("key.pem"), dir.join("certificate.pem"));
    succeeds(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=app.example.test",
        "-keyout",
        &key.display().to_string(),
        "-out",
        &certificate.display().to_string(),
    ]));
    let imported = moto.aws(&[
        "acm",
        "import-certificate",
        "--certificate",
        &format!("fileb://{}", certificate.display()),
        "--private-key",
        &format!("fileb://{}", key.display()),
    ]);
    imported["CertificateArn"]
        .as_str()
        .expect("a certificate ARN")
        .to_owned()
}

/// Whether `actual` holds every field of `planned` (objects recursively, arrays element by
/// element, `60` as `60.0` or `"60"`), where `planned`'s placeholders (`<...>`, what AWS
/// assigns) stand for anything.
fn holds(actual: &Value, planned: &Value) -> bool {
    match (actual, planned) {
        (_, Value::String(text)) if text.starts_with('<') && text.ends_with('>') => true,
        (Value::Object(actual), Value::Object(planned)) => planned
            .iter()
            .all(|(key, value)| actual.get(key).is_some_and(|a| holds(a, value))),
        (Value::Array(actual), Value::Array(planned)) => {
            actual.len() == planned.len() && actual.iter().zip(planned).all(|(a, p)| holds(a, p))
        }
        (Value::Number(a), Value::Number(p)) => a.as_f64() == p.as_f64(),
        (Value::String(a), Value::Number(p)) => a.parse::<f64>().ok() == p.as_f64(),
        _ => actual == planned,
    }
}

/// Asserts [`holds`], naming the resource and both sides.
fn as_planned(what: &str, actual: &Value, planned: &Value, except: &[&str]) {
    let mut planned = planned.clone();
    for key in except {
        planned.as_object_mut().expect("an object").remove(*key);
    }
    assert!(
        holds(actual, &planned),
        "{what} is not as --dry-run planned it:\nplanned: {planned:#}\nactual: {actual:#}"
    );
}

/// Every resource a deploy creates, as `--dry-run` printed it, read back from moto field by
/// field; what moto does not keep, checked on the requests xtask sent. A second deploy with the
/// same inputs changes nothing and creates nothing; an image update registers a revision and
/// updates the service, nothing else.
#[test]
fn deploy_creates_what_dry_run_renders_and_then_changes_only_what_changed() {
    let test = "deploy_creates_what_dry_run_renders_and_then_changes_only_what_changed";
    let Some(_engine) = docker_exclusive(test, &["moto_server", "docker-registry", "openssl"])
    else {
        return;
    };
    let moto = Moto::start(false);
    let network = network(&moto, true);
    // A real image in a real registry: preflight reads its architecture.
    let registry = Registry::start(None);
    let destination = format!("{}/deploy/app", registry.host());
    let pushed = xtask(&["push", "--registry", &destination]).run();
    assert!(pushed.status.success());
    let image = pinned(&pushed);
    let certificate = import_certificate(&moto);
    let recorder = Recorder::start(moto.port());
    let settings = [
        "--certificate-arn",
        &certificate,
        "--requests-per-target",
        "500",
        "--min",
        "2",
        "--max",
        "6",
    ];
    let endpoint = recorder.endpoint();
    let deploy_image = |image: &str, extra: &[&str]| {
        deploy_in(
            &moto,
            Some(&endpoint),
            &network,
            image,
            &[&settings[..], extra].concat(),
        )
    };
    let deploy = |extra: &[&str]| deploy_image(&image, extra);

    let dry = deploy(&["--dry-run"]);
    assert!(dry.status.success());
    let plan: Value = serde_json::from_str(&stdout(&dry)).expect("--dry-run prints JSON");
    production_settings(&plan["taskDefinition"], &image);
    architecture_from_the_engine(&deploy, &dry);
    for cost in [
        "monthly cost at 2 task(s):",
        "monthly cost at 6 task(s):",
        "total",
    ] {
        assert!(stderr(&dry).contains(cost), "{cost:?} missing");
    }
    assert_eq!(
        recorder.operations(),
        Vec::<String>::new(),
        "--dry-run called AWS"
    );

    // Without the pushed tags in the engine, the architecture comes from the registry.
    remove_local_tags(&destination);
    let first = deploy(&["--wait", "0"]);
    assert!(first.status.success());
    for line in [
        "ok      architecture: the image is linux/amd64 (its registry)",
        "ok      network: no NAT gateway on",
        "ok      load balancer subnets: public subnets in eu-west-1a, eu-west-1b",
    ] {
        assert!(stderr(&first).contains(line), "{line:?} missing");
    }
    let said = stdout(&first);
    for resource in [
        "security group web-app-alb",
        "security group web-app-tasks",
        "load balancer web-app",
        "target group web-app",
        "listener HTTP:80",
        "listener HTTPS:443",
        "alarm web-app-5xx",
        "log group /ecs/app",
        "task definition app:1",
        "service app in cluster web with 2 task(s)",
        "scaling service/web/app (2 to 6 tasks)",
        "scaling policy web-app-cpu",
        "scaling policy web-app-requests",
    ] {
        let line = format!("created   {resource}");
        assert!(said.contains(&line), "{line:?} missing from:\n{said}");
    }
    assert!(said.contains("URL: https://web-app-"), "{said}");
    created_as_planned(&moto, &recorder, &plan);

    a_second_deploy_changes_nothing(&moto, &recorder, &deploy);
    // The same image under another name: a new revision, the service updated; and the target
    // group's health check, changed by hand meanwhile, put back.
    let moved = push_to(&registry, "deploy/moved");
    let target = moto.aws(&["elbv2", "describe-target-groups", "--names", "web-app"]);
    moto.aws(&[
        "elbv2",
        "modify-target-group",
        "--target-group-arn",
        target["TargetGroups"][0]["TargetGroupArn"]
            .as_str()
            .expect("an ARN"),
        "--health-check-path",
        "/health",
    ]);
    an_image_update_changes_the_revision(&recorder, &plan, &deploy_image(&moved, &["--wait", "0"]));
    waits_a_bounded_time(&deploy);
}

/// The same deploy again: every resource unchanged, no call that writes, still one load
/// balancer and one target group (moto would make a second of either).
fn a_second_deploy_changes_nothing(
    moto: &Moto,
    recorder: &Recorder,
    deploy: &dyn Fn(&[&str]) -> Output,
) {
    let before = recorder.operations().len();
    let second = deploy(&["--wait", "0"]);
    assert!(second.status.success());
    let said = stdout(&second);
    assert_eq!(said.matches("  unchanged ").count(), 13, "{said}");
    for word in ["created", "changed  "] {
        assert!(!said.contains(word), "a second deploy {word}:\n{said}");
    }
    let writes: Vec<String> = recorder.operations()[before..]
        .iter()
        .filter(|op| !op.starts_with("Describe") && !op.starts_with("List"))
        .cloned()
        .collect();
    assert_eq!(writes, Vec::<String>::new(), "a second deploy wrote");
    for (kind, key) in [
        ("load-balancers", "LoadBalancers"),
        ("target-groups", "TargetGroups"),
    ] {
        let found = moto.aws(&["elbv2", &format!("describe-{kind}")]);
        assert_eq!(
            found[key].as_array().map(Vec::len),
            Some(1),
            "{kind}: {found}"
        );
    }
}

/// What a deploy of the same image under another name did: a new task definition revision, the
/// service updated to it (its count left to autoscaling), the target group's drifted health
/// check put back, nothing else.
fn an_image_update_changes_the_revision(recorder: &Recorder, plan: &Value, third: &Output) {
    assert!(third.status.success());
    let said = stdout(third);
    for line in [
        "changed   task definition app:1 → app:2",
        "image: ",
        "changed   service app: taskDefinition",
        "changed   target group web-app: HealthCheckPath: \"/health\" → \"/health/ready\"",
    ] {
        assert!(said.contains(line), "{line:?} missing from:\n{said}");
    }
    assert_eq!(said.matches("  unchanged ").count(), 10, "{said}");
    let update = recorder
        .calls("UpdateService")
        .pop()
        .expect("an UpdateService call");
    assert!(
        update["taskDefinition"]
            .as_str()
            .is_some_and(|arn| arn.ends_with("task-definition/app:2")),
        "{update}"
    );
    assert!(
        update.get("desiredCount").is_none(),
        "autoscaling owns the count: {update}"
    );
    as_planned(
        "the service update",
        &update["deploymentConfiguration"],
        &plan["service"]["deploymentConfiguration"],
        &[],
    );
}

/// The resources of the first deploy against `plan`, in moto and in the recorded requests.
fn created_as_planned(moto: &Moto, recorder: &Recorder, plan: &Value) {
    let group = |name: &str| {
        let found = moto.aws(&[
            "ec2",
            "describe-security-groups",
            "--filters",
            &format!("Name=group-name,Values={name}"),
        ]);
        found["SecurityGroups"][0].clone()
    };
    let alb_group = group("web-app-alb");
    for (planned, actual) in plan["securityGroups"]
        .as_array()
        .expect("groups")
        .iter()
        .zip([&alb_group, &group("web-app-tasks")])
    {
        as_planned(
            "a security group",
            actual,
            planned,
            &["TagSpecifications", "IpPermissions"],
        );
        for permission in planned["IpPermissions"].as_array().expect("ingress") {
            let ingress = actual["IpPermissions"].as_array().expect("ingress");
            assert!(
                ingress.iter().any(|a| holds(a, permission)),
                "{permission} missing from {actual:#}"
            );
        }
    }
    let alb_id = alb_group["GroupId"].as_str().expect("an id");
    let tasks = group("web-app-tasks");
    assert_eq!(
        tasks["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"], alb_id,
        "the tasks take 8080 from the load balancer's group only"
    );

    let balancer = moto.aws(&["elbv2", "describe-load-balancers", "--names", "web-app"]);
    let balancer = &balancer["LoadBalancers"][0];
    as_planned(
        "the load balancer",
        balancer,
        &plan["loadBalancer"],
        &["Name", "Subnets", "Tags"],
    );
    let mut subnets: Vec<&str> = balancer["AvailabilityZones"]
        .as_array()
        .expect("zones")
        .iter()
        .filter_map(|zone| zone["SubnetId"].as_str())
        .collect();
    subnets.sort_unstable();
    let mut planned: Vec<&str> = plan["loadBalancer"]["Subnets"]
        .as_array()
        .expect("subnets")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    planned.sort_unstable();
    assert_eq!(subnets, planned);
    assert_eq!(balancer["SecurityGroups"], json!([alb_id]));
    assert_eq!(balancer["LoadBalancerName"], plan["loadBalancer"]["Name"]);
    let balancer_arn = balancer["LoadBalancerArn"].as_str().expect("an ARN");

    let target = moto.aws(&["elbv2", "describe-target-groups", "--names", "web-app"]);
    let target = &target["TargetGroups"][0];
    as_planned(
        "the target group",
        target,
        &plan["targetGroup"],
        &["Name", "Tags", "Attributes"],
    );
    assert_eq!(target["TargetGroupName"], plan["targetGroup"]["Name"]);
    let target_arn = target["TargetGroupArn"].as_str().expect("an ARN");
    let attributes = moto.aws(&[
        "elbv2",
        "describe-target-group-attributes",
        "--target-group-arn",
        target_arn,
    ]);
    for planned in plan["targetGroup"]["Attributes"]
        .as_array()
        .expect("attributes")
    {
        assert!(
            attributes["Attributes"]
                .as_array()
                .is_some_and(|all| all.iter().any(|a| holds(a, planned))),
            "{planned} missing from {attributes}"
        );
    }

    listeners_as_planned(moto, plan, balancer_arn, target_arn);
    registered_as_rendered(moto, &plan["taskDefinition"]);
    service_as_planned(moto, recorder, plan, target_arn);
    scaling_as_planned(moto, plan, balancer_arn, target_arn);
}

/// The listeners of the load balancer, by port: HTTPS forwarding to the target group, HTTP
/// redirecting to it.
fn listeners_as_planned(moto: &Moto, plan: &Value, balancer_arn: &str, target_arn: &str) {
    let listeners = moto.aws(&[
        "elbv2",
        "describe-listeners",
        "--load-balancer-arn",
        balancer_arn,
    ]);
    for planned in plan["listeners"].as_array().expect("listeners") {
        let actual = listeners["Listeners"]
            .as_array()
            .and_then(|all| all.iter().find(|l| l["Port"] == planned["Port"]))
            .unwrap_or_else(|| panic!("no listener on {}", planned["Port"]));
        as_planned("a listener", actual, planned, &["Tags"]);
        if planned["Protocol"] == "HTTPS" {
            assert_eq!(actual["DefaultActions"][0]["TargetGroupArn"], target_arn);
        } else {
            assert_eq!(actual["DefaultActions"][0]["Type"], "redirect");
        }
    }
}

/// The service, read back where moto keeps it, and as sent where it does not.
fn service_as_planned(moto: &Moto, recorder: &Recorder, plan: &Value, target_arn: &str) {
    let planned = &plan["service"];
    let described = moto.aws(&[
        "ecs",
        "describe-services",
        "--cluster",
        "web",
        "--services",
        "app",
    ]);
    let service = &described["services"][0];
    for key in [
        "serviceName",
        "desiredCount",
        "launchType",
        "networkConfiguration",
        "loadBalancers",
    ] {
        assert!(
            holds(&service[key], &planned[key]),
            "service {key}: {} vs {}",
            service[key],
            planned[key]
        );
    }
    assert_eq!(service["loadBalancers"][0]["targetGroupArn"], target_arn);
    // moto drops the deployment configuration and the grace period: the request carried them.
    let created = recorder.calls("CreateService");
    assert_eq!(created.len(), 1, "one service created");
    as_planned("the CreateService request", &created[0], planned, &[]);
    assert_eq!(created[0]["loadBalancers"][0]["targetGroupArn"], target_arn);
    assert_eq!(created[0]["healthCheckGracePeriodSeconds"], 30);
    assert_eq!(
        created[0]["deploymentConfiguration"],
        json!({
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
            "deploymentCircuitBreaker": {"enable": true, "rollback": true},
            "alarms": {"alarmNames": ["web-app-5xx"], "enable": true, "rollback": true},
        })
    );
    assert!(
        created[0]["taskDefinition"]
            .as_str()
            .is_some_and(|arn| arn.ends_with("task-definition/app:1"))
    );
}

/// The scalable target, its policies and the alarm, against the real load balancer's and
/// target group's dimensions.
fn scaling_as_planned(moto: &Moto, plan: &Value, balancer_arn: &str, target_arn: &str) {
    let dimension = |arn: &str| {
        arn.split_once(":loadbalancer/").map_or_else(
            || arn.rsplit_once(':').expect("an ARN").1.to_owned(),
            |(_, rest)| rest.to_owned(),
        )
    };
    let (balancer, target) = (dimension(balancer_arn), dimension(target_arn));
    let scaling = [
        "--service-namespace",
        "ecs",
        "--resource-ids",
        "service/web/app",
    ];
    let targets = moto.aws(
        &[
            &["application-autoscaling", "describe-scalable-targets"][..],
            &scaling,
        ]
        .concat(),
    );
    as_planned(
        "the scalable target",
        &targets["ScalableTargets"][0],
        &plan["scalableTarget"],
        &["Tags"],
    );
    let policies = moto.aws(&[
        "application-autoscaling",
        "describe-scaling-policies",
        "--service-namespace",
        "ecs",
        "--resource-id",
        "service/web/app",
    ]);
    let policies = policies["ScalingPolicies"].as_array().expect("policies");
    assert_eq!(policies.len(), 2);
    for planned in plan["scalingPolicies"].as_array().expect("policies") {
        let actual = policies
            .iter()
            .find(|p| p["PolicyName"] == planned["PolicyName"])
            .expect("the policy");
        as_planned("a scaling policy", actual, planned, &[]);
    }
    let requests = policies
        .iter()
        .find(|p| p["PolicyName"] == "web-app-requests")
        .expect("the requests policy");
    assert_eq!(
        requests["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]["ResourceLabel"],
        format!("{balancer}/{target}")
    );
    let alarms = moto.aws(&[
        "cloudwatch",
        "describe-alarms",
        "--alarm-names",
        "web-app-5xx",
    ]);
    let alarm = &alarms["MetricAlarms"][0];
    as_planned("the alarm", alarm, &plan["alarm"], &["Tags"]);
    let dimensions = |id: &str| {
        alarm["Metrics"]
            .as_array()
            .and_then(|all| all.iter().find(|m| m["Id"] == id))
            .map_or_else(
                || panic!("no metric {id} in {alarm}"),
                |m| m["MetricStat"]["Metric"]["Dimensions"].clone(),
            )
    };
    let both = json!([{"Name": "LoadBalancer", "Value": balancer},
                      {"Name": "TargetGroup", "Value": target}]);
    assert_eq!(dimensions("target"), both);
    assert_eq!(dimensions("requests"), both);
    // The load balancer's own 5xx exist per load balancer only.
    assert_eq!(
        dimensions("balancer"),
        json!([{"Name": "LoadBalancer", "Value": balancer}])
    );
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
        (
            &["--image", &valid, "--deregistration-delay", "5"][..],
            "deregistration delay: the deregistration delay (5 s) is shorter than the app's \
             request timeout (10 s), so requests still running are cut: give \
             --deregistration-delay 10 or more",
        ),
        (
            &["--image", &valid, "--health-check-grace", "4"][..],
            "health check grace: the health check grace period (4 s) ends before a new task can \
             pass the load balancer's checks (10 s)",
        ),
        (
            &["--image", &valid, "--min", "3", "--max", "2"][..],
            "scaling: --min 3 is above --max 2: give --max at least --min",
        ),
        (
            &[
                "--image",
                &valid,
                "--service",
                "a-service-name-that-is-much-too-long",
            ][..],
            "names: the load balancer and target group would be named \"c-a-service-name-that-is-much-too-long\"",
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
/// VPC without endpoints, an image no registry serves, public IPs in a subnet without an
/// internet gateway, and a load balancer in private subnets of one zone: one line each saying
/// what to change, a non-zero exit, nothing created.
#[test]
fn preflight_failures_are_one_line_each_and_create_nothing() {
    let test = "preflight_failures_are_one_line_each_and_create_nothing";
    if !tools_available(test, &["moto_server", "docker-registry"]) {
        return;
    }
    let moto = Moto::start(false);
    let network = network(&moto, false);
    let subnet = network.private.clone();
    // A registry that answers at once that it has no such image (a closed port would cost
    // every deploy below the client's retries).
    let registry = Registry::start(None);
    let absent = format!("{}/app@sha256:{}", registry.host(), "ab".repeat(32));
    let deploy_behind = |public: &str, extra: &[&str]| {
        let network = Network {
            public: public.to_owned(),
            private: subnet.clone(),
        };
        deploy_in(
            &moto,
            None,
            &network,
            &absent,
            &[&["--wait", "0"], extra].concat(),
        )
    };
    let deploy = |extra: &[&str]| deploy_behind(&network.public, extra);
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
    let hidden = deploy_behind(&subnet, &[]);
    assert!(!hidden.status.success());
    assert!(
        stderr(&hidden).contains(&format!(
            "  load balancer subnets: {subnet} has no route to an internet gateway, so an \
             internet-facing load balancer there is unreachable: give --alb-subnets public subnets"
        )),
        "{}",
        stderr(&hidden)
    );
    let one_zone = network
        .public
        .split(',')
        .next()
        .expect("a subnet")
        .to_owned();
    let single = deploy_behind(&one_zone, &[]);
    assert!(
        stderr(&single).contains(
            "  load balancer subnets: an Application Load Balancer needs subnets in two or more \
             availability zones, and these are all in eu-west-1a"
        ),
        "{}",
        stderr(&single)
    );
    let none = moto.aws(&["ecs", "list-task-definitions"]);
    assert_eq!(none["taskDefinitionArns"], json!([]));
    let services = moto.aws(&["ecs", "list-services", "--cluster", "web"]);
    assert_eq!(services["serviceArns"], json!([]));
    let groups = moto.aws(&["logs", "describe-log-groups"]);
    assert_eq!(groups["logGroups"], json!([]));
    let balancers = moto.aws(&["elbv2", "describe-load-balancers"]);
    assert_eq!(balancers["LoadBalancers"], json!([]));
    wrong_credentials_and_no_endpoint(&network, &absent);
    let security = moto.aws(&["ec2", "describe-security-groups"]);
    assert!(
        security["SecurityGroups"]
            .as_array()
            .is_some_and(|all| all.iter().all(|g| g["GroupName"] == "default")),
        "{security}"
    );
}

/// A deploy with credentials AWS does not know, and one to an endpoint that does not answer:
/// after the checks that need no AWS, one line saying what to check.
fn wrong_credentials_and_no_endpoint(network: &Network, image: &str) {
    let strict = Moto::start(true);
    let closed = format!("http://127.0.0.1:{}", free_port());
    for (via, expected) in [
        (None, "error: AWS refused the credentials (AuthFailure"),
        (
            Some(closed.as_str()),
            "error: the AWS endpoint is unreachable",
        ),
    ] {
        let output = deploy_in(&strict, via, network, image, &["--wait", "0"]);
        assert!(!output.status.success());
        let log = stderr(&output);
        let errors: Vec<&str> = log
            .lines()
            .filter(|line| line.starts_with("error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{log}");
        assert!(
            errors[0].contains(expected.trim_start_matches("error: ")),
            "{}",
            errors[0]
        );
    }
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
    let network = network(&moto, true);
    let registry = Registry::start(None);
    let image = push_to(&registry, "rollback/app");
    let run = |args: &[&str]| xtask(args).setup(|c| moto.env(c)).run();
    let deploy = |memory: &str| {
        let output = deploy_in(
            &moto,
            None,
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

    shares_the_load_balancer(&moto, &network, &image);
    destroys_only_what_deploy_tagged(&run, &moto);
}

/// A second service, `api`, on the first one's load balancer: a host rule on its listener to a
/// target group of its own, and no second load balancer; the same deploy again changes nothing.
fn shares_the_load_balancer(moto: &Moto, network: &Network, image: &str) {
    let balancers = moto.aws(&["elbv2", "describe-load-balancers", "--names", "web-app"]);
    let arn = balancers["LoadBalancers"][0]["LoadBalancerArn"]
        .as_str()
        .expect("the load balancer")
        .to_owned();
    let shared = [
        "--service",
        "api",
        "--log-group",
        "/ecs/api",
        "--load-balancer",
        &arn,
        "--host",
        "api.example.test",
        "--wait",
        "0",
    ];
    let first = deploy_in(moto, None, network, image, &shared);
    assert!(first.status.success());
    let said = stdout(&first);
    for line in [
        "shared    load balancer",
        "created   security group web-api-tasks",
        "created   target group web-api",
        "created   listener rule for api.example.test",
        "created   service api",
        "URL: http://api.example.test/",
    ] {
        assert!(said.contains(line), "{line:?} missing from:\n{said}");
    }
    assert!(!said.contains("web-api-alb"), "{said}");
    let again = deploy_in(moto, None, network, image, &shared);
    assert!(again.status.success());
    assert!(
        stdout(&again).contains("unchanged listener rule for api.example.test"),
        "{}",
        stdout(&again)
    );
    assert!(!stdout(&again).contains("created"), "{}", stdout(&again));
    let all = moto.aws(&["elbv2", "describe-load-balancers"]);
    assert_eq!(all["LoadBalancers"].as_array().map(Vec::len), Some(1));
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

    // The service on the shared load balancer: its rule goes, the load balancer stays.
    let api = run(&[
        "destroy",
        "--cluster",
        "web",
        "--service",
        "api",
        "--log-group",
        "/ecs/api",
        "--delete-logs",
    ]);
    assert!(api.status.success());
    let said = stdout(&api);
    for line in [
        "deleted the service api",
        "deleted the listener rule for api.example.test on the shared load balancer",
        "deleted the target group web-api",
        "deleted the security group web-api-tasks",
        "deleted the log group /ecs/api",
    ] {
        assert!(said.contains(line), "{line:?} missing from:\n{said}");
    }
    let balancers = moto.aws(&["elbv2", "describe-load-balancers"]);
    assert_eq!(balancers["LoadBalancers"].as_array().map(Vec::len), Some(1));

    let destroyed = run(&["destroy", "--cluster", "web"]);
    assert!(destroyed.status.success());
    let said = stdout(&destroyed);
    for line in [
        "deleted the service app",
        "deleted the scaling policy web-app-cpu",
        "deregistered the scalable target service/web/app",
        "deleted the alarm web-app-5xx",
        "deleted the load balancer web-app and its listeners",
        "deleted the target group web-app",
        "deleted the security group web-app-tasks",
        "deleted the security group web-app-alb",
        "kept the log group /ecs/app",
    ] {
        assert!(said.contains(line), "{line:?} missing from:\n{said}");
    }
    assert_ne!(status("app"), "ACTIVE");
    nothing_tagged_is_left(moto);
    let with_logs = run(&["destroy", "--cluster", "web", "--delete-logs"]);
    assert!(with_logs.status.success());
    let said = stdout(&with_logs);
    assert!(
        said.contains("no service app in the cluster web: already gone"),
        "{said}"
    );
    assert!(said.contains("deleted the log group /ecs/app"), "{said}");
    let groups = moto.aws(&["logs", "describe-log-groups"]);
    assert_eq!(groups["logGroups"], json!([]));
    let third = run(&["destroy", "--cluster", "web", "--delete-logs"]);
    assert!(third.status.success());
    assert!(stdout(&third).contains("nothing to remove"));
}

/// No load balancer, target group, security group but the VPC's default, deployment alarm,
/// scalable target or scaling policy is left in moto.
fn nothing_tagged_is_left(moto: &Moto) {
    let balancers = moto.aws(&["elbv2", "describe-load-balancers"]);
    assert_eq!(balancers["LoadBalancers"], json!([]));
    let targets = moto.aws(&["elbv2", "describe-target-groups"]);
    assert_eq!(targets["TargetGroups"], json!([]));
    let groups = moto.aws(&["ec2", "describe-security-groups"]);
    let names: Vec<&str> = groups["SecurityGroups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["GroupName"].as_str())
        .filter(|name| *name != "default")
        .collect();
    assert_eq!(names, Vec::<&str>::new());
    let alarms = moto.aws(&[
        "cloudwatch",
        "describe-alarms",
        "--alarm-names",
        "web-app-5xx",
        "web-api-5xx",
    ]);
    assert_eq!(alarms["MetricAlarms"], json!([]));
    let namespace = ["--service-namespace", "ecs"];
    let scalable = moto.aws(
        &[
            &["application-autoscaling", "describe-scalable-targets"][..],
            &namespace,
        ]
        .concat(),
    );
    assert_eq!(scalable["ScalableTargets"], json!([]));
    let policies = moto.aws(
        &[
            &["application-autoscaling", "describe-scaling-policies"][..],
            &namespace,
        ]
        .concat(),
    );
    assert_eq!(policies["ScalingPolicies"], json!([]));
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
            // moto names CloudWatch's actions by its endpoint, `monitoring:`; IAM by `cloudwatch:`.
            if let Some(actions) = statement["Action"].as_array_mut() {
                let moto_names: Vec<Value> = actions
                    .iter()
                    .filter_map(|a| a.as_str()?.strip_prefix("cloudwatch:"))
                    .map(|name| Value::from(format!("monitoring:{name}")))
                    .collect();
                actions.extend(moto_names);
            }
        }
        policy.to_string()
    };
    moto.become_user("short", &policy(Some("ec2:DescribeVpcEndpoints")));
    let refused = deploy_in(&moto, None, &network, &image, &["--wait", "0"]);
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
        deploy_in(&moto, None, &network, &image, &["--wait", "0"]),
        deploy_in(
            &moto,
            None,
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
