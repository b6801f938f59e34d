//! What `deploy` checks before it creates or changes anything: each check one line, and each
//! failure says what to change. The checks that read nothing but the flags and the rendered task
//! definition run first, always; those that read AWS (the subnets' routes and endpoints) or a
//! registry run in a real deploy before its first change, and `--dry-run`, which calls nothing,
//! names them as skipped.

use std::fmt::Write as _;

use anyhow::{Result, bail};
use serde_json::Value;

use super::plan::{HEALTH_INTERVAL, HEALTHY_THRESHOLD};
use super::{Deploy, fargate_memory_ok};
use crate::aws::Aws;
use crate::docker;
use crate::oci::distribution::{Credentials, Reference, Repository};
use crate::util::process;

/// The VPC endpoints a task without a public IP needs when no NAT gateway routes it out: the
/// ECR API and registry (the image manifest and config), S3 (ECR keeps layers there) and
/// `CloudWatch` Logs (awslogs).
const ENDPOINTS: [&str; 4] = ["ecr.api", "ecr.dkr", "s3", "logs"];

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Pass(String),
    Fail(String),
    Skipped(String),
}

#[derive(Debug)]
pub(super) struct Check {
    pub(super) what: &'static str,
    pub(super) verdict: Verdict,
}

/// Every check of one deploy.
#[derive(Debug, Default)]
pub(super) struct Preflight {
    pub(super) checks: Vec<Check>,
}

impl Preflight {
    fn add(&mut self, what: &'static str, verdict: Verdict) {
        self.checks.push(Check { what, verdict });
    }

    /// The checks of the flags and the rendered task definition; the image's architecture too
    /// when the local engine has the image.
    pub(super) fn local(deploy: &Deploy, definition: &Value) -> Self {
        let mut preflight = Self::default();
        preflight.add("task size", task_size(deploy));
        let container = &definition["containerDefinitions"][0];
        preflight.add("stop timeout", stop_timeout(container));
        preflight.add("health check", health_check(container));
        preflight.add("names", names(deploy));
        preflight.add("scaling", scaling(deploy));
        preflight.add(
            "deregistration delay",
            deregistration_delay(deploy, container),
        );
        preflight.add("health check grace", health_check_grace(deploy, container));
        preflight.add("log driver", log_driver(container));
        preflight.add("root filesystem", root_filesystem(container));
        preflight.add(
            "architecture",
            match local_platform(container["image"].as_str().unwrap_or_default()) {
                Some(platform) => architecture(&platform, definition, "the local engine"),
                None => Verdict::Skipped(
                    "the image is not in the local engine; a real deploy reads it from its registry"
                        .to_owned(),
                ),
            },
        );
        if deploy.load_balancer.is_none() {
            preflight.add(
                "load balancer subnets",
                Verdict::Skipped(
                    "needs AWS: a real deploy reads the subnets' zones and route tables".to_owned(),
                ),
            );
        }
        preflight.add(
            "network",
            Verdict::Skipped(
                "needs AWS: a real deploy reads the subnets' route tables and the VPC's endpoints"
                    .to_owned(),
            ),
        );
        preflight
    }

    /// The checks that read AWS or a registry, in place of the skipped ones.
    pub(super) fn remote(&mut self, deploy: &Deploy, aws: &Aws, definition: &Value) -> Result<()> {
        for check in &mut self.checks {
            if !matches!(check.verdict, Verdict::Skipped(_)) {
                continue;
            }
            check.verdict = match check.what {
                "architecture" => {
                    let image = definition["containerDefinitions"][0]["image"]
                        .as_str()
                        .unwrap_or_default();
                    match registry_platform(aws, image) {
                        Ok(platform) => architecture(&platform, definition, "its registry"),
                        Err(error) => Verdict::Fail(format!(
                            "cannot read the image's configuration from its registry ({error:#}): \
                             push it first (`cargo xtask push`), or give --image of one that exists"
                        )),
                    }
                }
                "network" => network(deploy, aws)?,
                "load balancer subnets" => balancer_subnets(deploy, aws)?,
                _ => continue,
            };
        }
        Ok(())
    }

    pub(super) fn failed(&self) -> bool {
        self.checks
            .iter()
            .any(|check| matches!(check.verdict, Verdict::Fail(_)))
    }

    /// Prints every check (to stderr: stdout carries `--dry-run`'s JSON); fails when one did.
    pub(super) fn report(&self) -> Result<()> {
        let mut failed = String::new();
        eprintln!("preflight:");
        for Check { what, verdict } in &self.checks {
            let (mark, text) = match verdict {
                Verdict::Pass(text) => ("ok     ", text),
                Verdict::Fail(text) => {
                    let _ = writeln!(failed, "  {what}: {text}");
                    ("FAILED ", text)
                }
                Verdict::Skipped(text) => ("skipped", text),
            };
            eprintln!("  {mark} {what}: {text}");
        }
        if !failed.is_empty() {
            bail!("preflight failed; nothing was created or changed:\n{failed}");
        }
        Ok(())
    }
}

fn task_size(deploy: &Deploy) -> Verdict {
    if fargate_memory_ok(deploy.cpu, deploy.memory) {
        Verdict::Pass(format!(
            "{} CPU units with {} MiB is a Fargate size",
            deploy.cpu, deploy.memory
        ))
    } else {
        Verdict::Fail(format!(
            "Fargate does not offer --cpu {} with --memory {}: see \
             https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size",
            deploy.cpu, deploy.memory
        ))
    }
}

/// The names deploy gives what it creates fit ELB's rules: at most 32 letters, digits and
/// hyphens.
fn names(deploy: &Deploy) -> Verdict {
    let name = deploy.names().balancer;
    let valid = name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Verdict::Pass(format!(
            "the load balancer and target group are named {name}"
        ))
    } else {
        Verdict::Fail(format!(
            "the load balancer and target group would be named {name:?}, and ELB names are at \
             most 32 letters, digits and hyphens: shorten --cluster or --service"
        ))
    }
}

fn scaling(deploy: &Deploy) -> Verdict {
    if deploy.min <= deploy.max {
        Verdict::Pass(format!(
            "{} to {} tasks, at {} % average CPU{}; out after 1 min, in after 5",
            deploy.min,
            deploy.max,
            deploy.cpu_target,
            deploy
                .requests_per_target
                .map(|n| format!(" or {n} requests per task a minute"))
                .unwrap_or_default()
        ))
    } else {
        Verdict::Fail(format!(
            "--min {} is above --max {}: give --max at least --min",
            deploy.min, deploy.max
        ))
    }
}

/// ECS deregisters a stopping task, waits the deregistration delay, then sends SIGTERM: the
/// delay must let the longest request the app allows finish.
fn deregistration_delay(deploy: &Deploy, container: &Value) -> Verdict {
    let timeout = env_seconds(container, "APP_REQUEST_TIMEOUT").unwrap_or(10);
    let delay = u64::from(deploy.deregistration_delay);
    if delay >= timeout {
        Verdict::Pass(format!(
            "{delay} s covers the app's {timeout} s request timeout: a stopping task finishes \
             every request before SIGTERM"
        ))
    } else {
        Verdict::Fail(format!(
            "the deregistration delay ({delay} s) is shorter than the app's request timeout \
             ({timeout} s), so requests still running are cut: give --deregistration-delay \
             {timeout} or more"
        ))
    }
}

/// A new task must pass the load balancer's health check (two answers, `HEALTH_INTERVAL`
/// apart, after its start period) before ECS may judge it by the load balancer.
fn health_check_grace(deploy: &Deploy, container: &Value) -> Verdict {
    let start = container["healthCheck"]["startPeriod"]
        .as_u64()
        .unwrap_or(0);
    let needed = start.max(u64::from(HEALTHY_THRESHOLD * HEALTH_INTERVAL));
    let grace = u64::from(deploy.health_check_grace);
    if grace >= needed {
        Verdict::Pass(format!(
            "{grace} s covers start-up and the load balancer's first {HEALTHY_THRESHOLD} checks \
             ({needed} s)"
        ))
    } else {
        Verdict::Fail(format!(
            "the health check grace period ({grace} s) ends before a new task can pass the load \
             balancer's checks ({needed} s), so ECS replaces healthy tasks: give \
             --health-check-grace {needed} or more"
        ))
    }
}

/// `5s` in the container's environment, as seconds.
fn env_seconds(container: &Value, name: &str) -> Option<u64> {
    container["environment"]
        .as_array()?
        .iter()
        .find(|variable| variable["name"] == name)?["value"]
        .as_str()?
        .strip_suffix('s')?
        .parse()
        .ok()
}

fn stop_timeout(container: &Value) -> Verdict {
    let stop = container["stopTimeout"].as_u64().unwrap_or(30);
    let delay = env_seconds(container, "APP_SHUTDOWN_DELAY").unwrap_or(0);
    let grace = env_seconds(container, "APP_SHUTDOWN_GRACE").unwrap_or(20);
    if stop > delay + grace {
        Verdict::Pass(format!(
            "{stop} s, above the app's shutdown delay + grace ({delay} s + {grace} s)"
        ))
    } else {
        Verdict::Fail(format!(
            "the stop timeout ({stop} s) must exceed the shutdown delay + grace ({delay} s + \
             {grace} s), or ECS kills tasks that are still draining: change compose.yaml's \
             x-shutdown"
        ))
    }
}

fn health_check(container: &Value) -> Verdict {
    let check = &container["healthCheck"];
    let (start, interval) = (
        check["startPeriod"].as_u64().unwrap_or(0),
        check["interval"].as_u64().unwrap_or(30),
    );
    if check["command"][0] != "CMD" {
        return Verdict::Fail(
            "the health check must be exec form (`CMD`): the image has no shell".to_owned(),
        );
    }
    if start >= interval {
        Verdict::Pass(format!(
            "exec form; its {start} s start period covers the first check ({interval} s after \
             start) and the app's start-up (well under a second)"
        ))
    } else {
        Verdict::Fail(format!(
            "the health check's start period ({start} s) must cover at least one interval \
             ({interval} s), or a task starting slowly is replaced before its first check"
        ))
    }
}

fn log_driver(container: &Value) -> Verdict {
    let options = &container["logConfiguration"]["options"];
    match (
        options["mode"].as_str(),
        options["max-buffer-size"].as_str(),
    ) {
        (Some("non-blocking"), Some(buffer)) => Verdict::Pass(format!(
            "awslogs, non-blocking with a {buffer} buffer: a stalled CloudWatch never stalls the \
             app, and lines are dropped when the buffer fills (ECS's default mode since 2025)"
        )),
        _ => Verdict::Fail(
            "awslogs must say `mode: non-blocking` with an explicit `max-buffer-size`, so a \
             stalled CloudWatch Logs never blocks the app's writes"
                .to_owned(),
        ),
    }
}

fn root_filesystem(container: &Value) -> Verdict {
    if container["readonlyRootFilesystem"] == true {
        Verdict::Pass(
            "read-only; ECS Exec stays off (it needs writable paths, and there is no shell)"
                .to_owned(),
        )
    } else {
        Verdict::Fail("the root filesystem must be read-only: the app writes nothing".to_owned())
    }
}

/// `linux/amd64` from the local engine, for an image it holds under this reference.
fn local_platform(image: &str) -> Option<String> {
    let platform = process::capture(docker::docker().args([
        "image",
        "inspect",
        "--format",
        "{{.Os}}/{{.Architecture}}",
        image,
    ]))
    .ok()?;
    platform.contains('/').then_some(platform)
}

/// `linux/amd64` from the image's configuration in its registry (ECR through
/// `aws ecr get-login-password`; others as `push --daemonless` authenticates).
fn registry_platform(aws: &Aws, image: &str) -> Result<String> {
    let reference = Reference::parse(image)?;
    let credentials = if reference.host.contains(".dkr.ecr.") {
        Some(Credentials {
            username: "AWS".to_owned(),
            password: aws.text("ecr", "get-login-password", &[])?,
        })
    } else {
        Credentials::for_host(&reference.host)?
    };
    let mut repository = Repository::new(&reference.host, &reference.name, credentials).read_only();
    let Some(manifest) = repository.manifest(reference.manifest_reference())? else {
        bail!("no manifest {image}");
    };
    let manifest: Value = serde_json::from_slice(&manifest.bytes)?;
    if let Some(platforms) = manifest["manifests"].as_array() {
        // An index: every platform it offers.
        let names: Vec<String> = platforms
            .iter()
            .filter_map(|m| {
                Some(format!(
                    "{}/{}",
                    m["platform"]["os"].as_str()?,
                    m["platform"]["architecture"].as_str()?
                ))
            })
            .collect();
        return Ok(names.join(","));
    }
    let digest = manifest["config"]["digest"].as_str().unwrap_or_default();
    let config: Value = serde_json::from_slice(&repository.blob(digest)?)?;
    Ok(format!(
        "{}/{}",
        config["os"].as_str().unwrap_or("?"),
        config["architecture"].as_str().unwrap_or("?")
    ))
}

/// The image's platforms (`linux/amd64`, or several for an index) against the task's
/// `runtimePlatform`.
fn architecture(platforms: &str, definition: &Value, source: &str) -> Verdict {
    let wanted = match definition["runtimePlatform"]["cpuArchitecture"].as_str() {
        Some("ARM64") => "linux/arm64",
        _ => "linux/amd64",
    };
    if platforms.split(',').any(|platform| platform == wanted) {
        Verdict::Pass(format!(
            "the image is {platforms} ({source}), as the task's runtime platform"
        ))
    } else {
        let flag = if wanted == "linux/arm64" {
            "x86_64"
        } else {
            "arm64"
        };
        Verdict::Fail(format!(
            "the image is {platforms} ({source}) but the task runs on {wanted}: pass --arch \
             {flag}, or build the image for {wanted}"
        ))
    }
}

/// Tasks must reach ECR, S3 and `CloudWatch` Logs: through a public IP and an internet gateway,
/// or, without one, a NAT gateway on every subnet's route table or the VPC's endpoints.
fn network(deploy: &Deploy, aws: &Aws) -> Result<Verdict> {
    let mut unrouted = Vec::new();
    let mut vpc = String::new();
    for subnet in &deploy.subnets {
        let described = aws.require("ec2", "describe-subnets", &["--subnet-ids", subnet])?;
        described["Subnets"][0]["VpcId"]
            .as_str()
            .unwrap_or_default()
            .clone_into(&mut vpc);
        let routes = subnet_routes(aws, subnet, &vpc)?;
        let default_route = |key: &str, prefix: &str| {
            routes.iter().any(|route| {
                route["DestinationCidrBlock"] == "0.0.0.0/0"
                    && route[key].as_str().is_some_and(|id| id.starts_with(prefix))
            })
        };
        let out = if deploy.public_ip {
            default_route("GatewayId", "igw-")
        } else {
            default_route("NatGatewayId", "nat-")
        };
        if !out {
            unrouted.push(subnet.clone());
        }
    }
    if unrouted.is_empty() {
        return Ok(Verdict::Pass(if deploy.public_ip {
            "public IPs, and every subnet routes to an internet gateway".to_owned()
        } else {
            "every subnet routes to a NAT gateway: tasks reach ECR, S3 and CloudWatch Logs"
                .to_owned()
        }));
    }
    if deploy.public_ip {
        return Ok(Verdict::Fail(format!(
            "{} {} no route to an internet gateway, so tasks with a public IP cannot reach ECR: \
             use public subnets, or private ones without --public-ip",
            unrouted.join(", "),
            if unrouted.len() == 1 { "has" } else { "have" }
        )));
    }
    let endpoints = aws.require(
        "ec2",
        "describe-vpc-endpoints",
        &["--filters", &format!("Name=vpc-id,Values={vpc}")],
    )?;
    let names: Vec<&str> = endpoints["VpcEndpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|endpoint| endpoint["ServiceName"].as_str())
        .collect();
    let missing: Vec<&str> = ENDPOINTS
        .into_iter()
        .filter(|wanted| {
            !names
                .iter()
                .any(|name| name.ends_with(&format!(".{wanted}")))
        })
        .collect();
    if missing.is_empty() {
        return Ok(Verdict::Pass(format!(
            "no NAT gateway on {}, but {vpc} has endpoints for {}: tasks reach ECR, S3 and \
             CloudWatch Logs",
            unrouted.join(", "),
            ENDPOINTS.join(", ")
        )));
    }
    Ok(Verdict::Fail(format!(
        "tasks without a public IP in {} cannot reach ECR, S3 and CloudWatch Logs, so the first \
         would never pull its image: add a NAT gateway route (0.0.0.0/0) to the subnets, or VPC \
         endpoints for {} to {vpc}, or use public subnets with --public-ip",
        unrouted.join(", "),
        missing.join(", ")
    )))
}

/// An internet-facing load balancer needs subnets in two or more availability zones, each
/// routed to an internet gateway, or nobody reaches it.
fn balancer_subnets(deploy: &Deploy, aws: &Aws) -> Result<Verdict> {
    let subnets = deploy.balancer_subnets();
    let described = aws.require(
        "ec2",
        "describe-subnets",
        &[
            &["--subnet-ids"][..],
            &subnets.iter().map(String::as_str).collect::<Vec<_>>(),
        ]
        .concat(),
    )?;
    let mut zones = Vec::new();
    let mut private = Vec::new();
    for subnet in described["Subnets"].as_array().into_iter().flatten() {
        let id = subnet["SubnetId"].as_str().unwrap_or_default();
        let vpc = subnet["VpcId"].as_str().unwrap_or_default();
        if let Some(zone) = subnet["AvailabilityZone"].as_str()
            && !zones.iter().any(|known| known == zone)
        {
            zones.push(zone.to_owned());
        }
        let routes = subnet_routes(aws, id, vpc)?;
        let public = routes.iter().any(|route| {
            route["DestinationCidrBlock"] == "0.0.0.0/0"
                && route["GatewayId"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("igw-"))
        });
        if !public {
            private.push(id.to_owned());
        }
    }
    if !private.is_empty() {
        return Ok(Verdict::Fail(format!(
            "{} {} no route to an internet gateway, so an internet-facing load balancer there is \
             unreachable: give --alb-subnets public subnets",
            private.join(", "),
            if private.len() == 1 { "has" } else { "have" }
        )));
    }
    if zones.len() < 2 {
        return Ok(Verdict::Fail(format!(
            "an Application Load Balancer needs subnets in two or more availability zones, and \
             these are all in {}: give --alb-subnets one public subnet per zone",
            zones.join(", ")
        )));
    }
    Ok(Verdict::Pass(format!(
        "public subnets in {}: the load balancer is reachable and spans zones",
        zones.join(", ")
    )))
}

/// The routes of the subnet's route table: its own association, else the VPC's main table.
fn subnet_routes(aws: &Aws, subnet: &str, vpc: &str) -> Result<Vec<Value>> {
    let own = aws.require(
        "ec2",
        "describe-route-tables",
        &[
            "--filters",
            &format!("Name=association.subnet-id,Values={subnet}"),
        ],
    )?;
    let tables = if own["RouteTables"].as_array().is_some_and(|t| !t.is_empty()) {
        own
    } else {
        aws.require(
            "ec2",
            "describe-route-tables",
            &[
                "--filters",
                &format!("Name=vpc-id,Values={vpc}"),
                "Name=association.main,Values=true",
            ],
        )?
    };
    Ok(tables["RouteTables"][0]["Routes"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn container() -> Value {
        json!({
            "image": "x",
            "stopTimeout": 10,
            "readonlyRootFilesystem": true,
            "environment": [
                {"name": "APP_SHUTDOWN_DELAY", "value": "2s"},
                {"name": "APP_SHUTDOWN_GRACE", "value": "5s"},
            ],
            "healthCheck": {"command": ["CMD", "/app", "healthcheck"], "interval": 5, "startPeriod": 10},
            "logConfiguration": {"options": {"mode": "non-blocking", "max-buffer-size": "25m"}},
        })
    }

    #[test]
    fn each_setting_is_judged() {
        let good = container();
        assert!(matches!(stop_timeout(&good), Verdict::Pass(_)));
        assert!(matches!(health_check(&good), Verdict::Pass(_)));
        assert!(matches!(log_driver(&good), Verdict::Pass(_)));
        assert!(matches!(root_filesystem(&good), Verdict::Pass(_)));
        let mut bad = good;
        bad["stopTimeout"] = json!(7);
        bad["healthCheck"]["startPeriod"] = json!(2);
        bad["logConfiguration"]["options"]["mode"] = json!("blocking");
        bad["readonlyRootFilesystem"] = json!(false);
        for verdict in [
            stop_timeout(&bad),
            health_check(&bad),
            log_driver(&bad),
            root_filesystem(&bad),
        ] {
            assert!(matches!(verdict, Verdict::Fail(_)), "{verdict:?}");
        }
    }

    #[test]
    fn the_architecture_must_match_the_runtime_platform() {
        let arm = json!({"runtimePlatform": {"cpuArchitecture": "ARM64"}});
        let x86 = json!({"runtimePlatform": {"cpuArchitecture": "X86_64"}});
        assert!(matches!(
            architecture("linux/amd64", &x86, "here"),
            Verdict::Pass(_)
        ));
        assert!(matches!(
            architecture("linux/amd64,linux/arm64", &arm, "here"),
            Verdict::Pass(_)
        ));
        let Verdict::Fail(line) = architecture("linux/amd64", &arm, "the local engine") else {
            panic!("amd64 on ARM64 must fail");
        };
        assert!(
            line.contains("linux/amd64 (the local engine) but the task runs on linux/arm64: pass --arch x86_64"),
            "{line}"
        );
    }
}
