//! What `deploy` checks before it creates or changes anything, where the template cannot say:
//! values that arrive as parameters (the Fargate size, the log retention), settings that must
//! agree with each other or with the app (the timings), names the template only repeats (the
//! TLS policy), and what only AWS or a registry knows (the image's architecture, the subnets'
//! zones and routes). Each check is one line, and each failure says what to change. The checks
//! of the flags and the template run first, always; those that read AWS or a registry run in a
//! real deploy before the change set, and `--dry-run` without AWS names them as skipped.

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{Deploy, REQUEST_TIMEOUT_SECS, TEMPLATE};
use crate::aws::Aws;
use crate::docker;
use crate::oci::distribution::{Credentials, Reference, Repository};
use crate::stack::shutdown::Shutdown;
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

    /// The checks of the flags and the template; the image's architecture too when the local
    /// engine has the image.
    pub(super) fn local(deploy: &Deploy, image: &str) -> Self {
        let mut preflight = Self::default();
        preflight.add("task size", task_size(deploy.cpu, deploy.memory));
        preflight.add("stop timeout", stop_timeout(Shutdown::get()));
        preflight.add("health check", health_check());
        preflight.add("stack name", stack_name(&deploy.stack_name()));
        preflight.add("scaling", scaling(deploy));
        preflight.add("deregistration delay", deregistration_delay(deploy));
        preflight.add("health check grace", health_check_grace(deploy));
        preflight.add("log retention", log_retention(deploy.log_retention_days));
        if deploy.certificate_arn.is_some() {
            preflight.add("TLS policy", tls_policy(TEMPLATE));
        }
        preflight.add(
            "architecture",
            match local_platform(image) {
                Some(platform) => architecture(&platform, deploy.arch.ecs(), "the local engine"),
                None => Verdict::Skipped(
                    "the image is not in the local engine; a real deploy reads it from its registry"
                        .to_owned(),
                ),
            },
        );
        if deploy.shared_listener.is_none() {
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

    /// The checks that read AWS or a registry, in place of the skipped ones; the subnets' VPC.
    pub(super) fn remote(&mut self, deploy: &Deploy, aws: &Aws, image: &str) -> Result<String> {
        let network = Network::read(deploy, aws)?;
        for check in &mut self.checks {
            if !matches!(check.verdict, Verdict::Skipped(_)) {
                continue;
            }
            check.verdict = match check.what {
                "architecture" => match registry_platform(aws, image) {
                    Ok(platform) => architecture(&platform, deploy.arch.ecs(), "its registry"),
                    Err(error) => Verdict::Fail(format!(
                        "cannot read the image's configuration from its registry ({error:#}): \
                         push it first (`cargo xtask push`), or give --image of one that exists"
                    )),
                },
                "network" => network.way_out(deploy, aws)?,
                "load balancer subnets" => network.balancer_subnets(deploy),
                _ => continue,
            };
        }
        Ok(network.vpc)
    }

    pub(super) fn failed(&self) -> bool {
        self.checks
            .iter()
            .any(|check| matches!(check.verdict, Verdict::Fail(_)))
    }

    /// Prints every check (to stderr: stdout carries the plan); fails when one did.
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

/// The number the template states for `key` (`HealthCheckIntervalSeconds: 5`), first found.
fn literal(template: &str, key: &str) -> Option<u64> {
    template
        .lines()
        .find_map(|line| line.trim().strip_prefix(&format!("{key}: "))?.parse().ok())
}

/// Fargate's CPU units and the memory (MiB) each allows: up to 4 vCPU in 1 GB steps, 8 vCPU
/// 16-60 GB in 4 GB steps, 16 vCPU 32-120 GB in 8 GB steps.
fn fargate_memory_ok(cpu: u32, memory: u32) -> bool {
    let steps = |low: u32, high: u32, step: u32| {
        (low * 1024..=high * 1024).contains(&memory) && memory.is_multiple_of(step * 1024)
    };
    match cpu {
        256 => matches!(memory, 512 | 1024 | 2048),
        512 => steps(1, 4, 1),
        1024 => steps(2, 8, 1),
        2048 => steps(4, 16, 1),
        4096 => steps(8, 30, 1),
        8192 => steps(16, 60, 4),
        16384 => steps(32, 120, 8),
        _ => false,
    }
}

fn task_size(cpu: u32, memory: u32) -> Verdict {
    if fargate_memory_ok(cpu, memory) {
        Verdict::Pass(format!(
            "{cpu} CPU units with {memory} MiB is a Fargate size"
        ))
    } else {
        Verdict::Fail(format!(
            "Fargate does not offer --cpu {cpu} with --memory {memory}: see \
             https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size"
        ))
    }
}

/// `CloudFormation`'s rule for stack names: a letter, then letters, digits and hyphens, 128 at
/// most (ECS allows underscores in cluster and service names; a stack does not).
fn stack_name(name: &str) -> Verdict {
    let valid = name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if valid {
        Verdict::Pass(format!("the stack is {name}"))
    } else {
        Verdict::Fail(format!(
            "the stack would be named {name:?}, and CloudFormation takes letters, digits and \
             hyphens, 128 at most: rename --cluster or --service"
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
fn deregistration_delay(deploy: &Deploy) -> Verdict {
    let timeout = REQUEST_TIMEOUT_SECS;
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

/// A new task must pass the load balancer's health check (the template's healthy threshold of
/// answers, its interval apart, after the container's start period) before ECS may judge it.
fn health_check_grace(deploy: &Deploy) -> Verdict {
    let start = literal(TEMPLATE, "StartPeriod").unwrap_or(0);
    let interval = literal(TEMPLATE, "HealthCheckIntervalSeconds").unwrap_or(30);
    let threshold = literal(TEMPLATE, "HealthyThresholdCount").unwrap_or(5);
    let needed = start.max(threshold * interval);
    let grace = u64::from(deploy.health_check_grace);
    if grace >= needed {
        Verdict::Pass(format!(
            "{grace} s covers start-up and the load balancer's first {threshold} checks \
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

/// On ECS the shutdown delay is 0 (the task leaves the load balancer before SIGTERM).
fn stop_timeout(shutdown: &Shutdown) -> Verdict {
    let (stop, grace) = (shutdown.stop_timeout.as_secs(), shutdown.grace.as_secs());
    if stop > grace {
        Verdict::Pass(format!(
            "{stop} s, above the app's shutdown grace ({grace} s)"
        ))
    } else {
        Verdict::Fail(format!(
            "the stop timeout ({stop} s) must exceed the shutdown grace ({grace} s), or ECS \
             kills tasks that are still draining: change compose.yaml's x-shutdown"
        ))
    }
}

/// The container's start period covers its first check.
fn health_check() -> Verdict {
    let start = literal(TEMPLATE, "StartPeriod").unwrap_or(0);
    let interval = Shutdown::get().health_interval.as_secs();
    if start >= interval {
        Verdict::Pass(format!(
            "its {start} s start period covers the first check ({interval} s after start) and \
             the app's start-up (well under a second)"
        ))
    } else {
        Verdict::Fail(format!(
            "the health check's start period ({start} s) must cover at least one interval \
             ({interval} s), or a task starting slowly is replaced before its first check"
        ))
    }
}

/// The retention periods `CloudWatch` Logs offers.
const RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

fn log_retention(days: u32) -> Verdict {
    if RETENTION_DAYS.contains(&days) {
        Verdict::Pass(format!("CloudWatch Logs keeps the tasks' logs {days} days"))
    } else {
        let offered: Vec<String> = RETENTION_DAYS.iter().map(u32::to_string).collect();
        Verdict::Fail(format!(
            "CloudWatch Logs does not offer {days} days of retention: give --log-retention-days \
             one of {}",
            offered.join(", ")
        ))
    }
}

/// The TLS 1.3 policies ELB offers an HTTPS listener (its own names; a misspelt one fails
/// only when `CloudFormation` creates the listener, half-way through a deploy).
const TLS13_POLICIES: [&str; 12] = [
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
    "ELBSecurityPolicy-TLS13-1-1-2021-06",
    "ELBSecurityPolicy-TLS13-1-0-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
];

fn tls_policy(template: &str) -> Verdict {
    let policy = template
        .lines()
        .find_map(|line| line.trim().strip_prefix("SslPolicy: "))
        .unwrap_or("none");
    if TLS13_POLICIES.contains(&policy) {
        Verdict::Pass(format!(
            "HTTPS with {policy}: TLS 1.3, and 1.2 at most back"
        ))
    } else {
        Verdict::Fail(format!(
            "the template's SslPolicy {policy} is not one of ELB's TLS 1.3 policies ({}): fix \
             {}",
            TLS13_POLICIES.join(", "),
            super::TEMPLATE_PATH
        ))
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
/// runtime platform (`X86_64`, `ARM64`).
fn architecture(platforms: &str, runtime: &str, source: &str) -> Verdict {
    let wanted = if runtime == "ARM64" {
        "linux/arm64"
    } else {
        "linux/amd64"
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

/// Where a route sends traffic: its gateway, NAT gateway, transit gateway, network interface
/// (a NAT instance, a firewall), ...; `None` for a blackhole.
fn route_target(route: &Value) -> Option<String> {
    if route["State"] == "blackhole" {
        return None;
    }
    let keys = [
        "GatewayId",
        "NatGatewayId",
        "TransitGatewayId",
        "NetworkInterfaceId",
        "InstanceId",
        "VpcPeeringConnectionId",
        "LocalGatewayId",
        "CarrierGatewayId",
        "CoreNetworkArn",
    ];
    keys.iter()
        .find_map(|key| route[*key].as_str().filter(|id| !id.is_empty()))
        .map(str::to_owned)
}

/// The subnets deploy names and their VPC's route tables, read with one call each.
struct Network {
    vpc: String,
    subnets: Vec<Value>,
    tables: Vec<Value>,
}

impl Network {
    fn read(deploy: &Deploy, aws: &Aws) -> Result<Self> {
        let mut ids: Vec<&str> = deploy.subnets.iter().map(String::as_str).collect();
        ids.extend(deploy.alb_subnets.iter().map(String::as_str));
        ids.sort_unstable();
        ids.dedup();
        let found = aws.require(
            "ec2",
            "describe-subnets",
            &[&["--subnet-ids"][..], &ids].concat(),
        )?;
        let subnets = found["Subnets"].as_array().cloned().unwrap_or_default();
        let vpc = subnets
            .first()
            .and_then(|subnet| subnet["VpcId"].as_str())
            .context("the subnets name no VPC")?
            .to_owned();
        let filter = format!("Name=vpc-id,Values={vpc}");
        let tables = aws.require("ec2", "describe-route-tables", &["--filters", &filter])?;
        let tables = tables["RouteTables"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(Self {
            vpc,
            subnets,
            tables,
        })
    }

    fn subnet(&self, id: &str) -> &Value {
        self.subnets
            .iter()
            .find(|subnet| subnet["SubnetId"] == id)
            .unwrap_or(&Value::Null)
    }

    /// The target of the subnet's default route (0.0.0.0/0), from its own route table, else
    /// the VPC's main one.
    fn default_route(&self, subnet: &str) -> Option<String> {
        let associated = |test: &dyn Fn(&Value) -> bool| {
            self.tables.iter().find(|table| {
                table["Associations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(test)
            })
        };
        associated(&|a| a["SubnetId"] == subnet)
            .or_else(|| associated(&|a| a["Main"] == true))?["Routes"]
            .as_array()?
            .iter()
            .filter(|route| route["DestinationCidrBlock"] == "0.0.0.0/0")
            .find_map(route_target)
    }

    /// Tasks must reach ECR, S3 and `CloudWatch` Logs: with a public IP through an internet
    /// gateway; without one through whatever default route each subnet has (a NAT gateway, a NAT
    /// instance, a transit gateway, a firewall), or the VPC's endpoints.
    fn way_out(&self, deploy: &Deploy, aws: &Aws) -> Result<Verdict> {
        let vpc = &self.vpc;
        let mut unrouted = Vec::new();
        let mut targets = Vec::new();
        for subnet in &deploy.subnets {
            let target = self.default_route(subnet);
            // An internet gateway carries only what has a public address.
            match target.filter(|t| t.starts_with("igw-") == deploy.public_ip) {
                Some(target) => targets.push(format!("{subnet} → {target}")),
                None => unrouted.push(subnet.clone()),
            }
        }
        if unrouted.is_empty() {
            return Ok(Verdict::Pass(format!(
                "every subnet routes out ({}): tasks reach ECR, S3 and CloudWatch Logs",
                targets.join(", ")
            )));
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
                "no default route out of {} but an internet gateway's, and {vpc} has endpoints for \
             {}: tasks reach ECR, S3 and CloudWatch Logs",
                unrouted.join(", "),
                ENDPOINTS.join(", ")
            )));
        }
        Ok(Verdict::Fail(format!(
            "tasks without a public IP in {} cannot reach ECR, S3 and CloudWatch Logs, so the first \
         would never pull its image: add a default route (0.0.0.0/0) to a NAT gateway, a NAT \
         instance, a transit gateway or a firewall, or VPC endpoints for {} to {vpc}, or use \
         public subnets with --public-ip",
            unrouted.join(", "),
            missing.join(", ")
        )))
    }

    /// An internet-facing load balancer needs one subnet in each of two or more availability
    /// zones (ELB refuses two in one zone), each routed to an internet gateway.
    fn balancer_subnets(&self, deploy: &Deploy) -> Verdict {
        let subnets = if deploy.alb_subnets.is_empty() {
            &deploy.subnets
        } else {
            &deploy.alb_subnets
        };
        let mut zones: Vec<(String, String)> = Vec::new();
        let mut private = Vec::new();
        for id in subnets {
            let zone = self.subnet(id)["AvailabilityZone"]
                .as_str()
                .unwrap_or_default();
            if let Some((_, other)) = zones.iter().find(|(known, _)| known == zone) {
                return Verdict::Fail(format!(
                    "{other} and {id} are both in {zone}, and a load balancer takes one subnet per \
                 zone: give --alb-subnets one public subnet in each zone"
                ));
            }
            zones.push((zone.to_owned(), id.to_owned()));
            if !self
                .default_route(id)
                .is_some_and(|target| target.starts_with("igw-"))
            {
                private.push(id.to_owned());
            }
        }
        if !private.is_empty() {
            return Verdict::Fail(format!(
                "{} {} no route to an internet gateway, so an internet-facing load balancer there is \
             unreachable: give --alb-subnets public subnets",
                private.join(", "),
                if private.len() == 1 { "has" } else { "have" }
            ));
        }
        let names: Vec<&str> = zones.iter().map(|(zone, _)| zone.as_str()).collect();
        if zones.len() < 2 {
            return Verdict::Fail(format!(
                "an Application Load Balancer needs subnets in two or more availability zones, and \
             these are all in {}: give --alb-subnets one public subnet per zone",
                names.join(", ")
            ));
        }
        Verdict::Pass(format!(
            "public subnets in {}: the load balancer is reachable and spans zones",
            names.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fargate_sizes_up_to_16_vcpu() {
        for (cpu, memory) in [(256, 512), (1024, 3072), (8192, 16384), (8192, 61440)] {
            assert!(fargate_memory_ok(cpu, memory), "{cpu} {memory}");
        }
        for (cpu, memory) in [(16384, 32768), (16384, 122_880)] {
            assert!(fargate_memory_ok(cpu, memory), "{cpu} {memory}");
        }
        // 8 vCPU in 4 GB steps, 16 vCPU in 8 GB steps; nothing between the listed CPUs.
        for (cpu, memory) in [(256, 4096), (300, 512), (8192, 18432), (16384, 36864)] {
            assert!(!fargate_memory_ok(cpu, memory), "{cpu} {memory}");
        }
        assert!(matches!(task_size(8192, 20480), Verdict::Pass(_)));
    }

    #[test]
    fn the_tls_policy_must_be_one_elb_offers() {
        assert!(matches!(tls_policy(TEMPLATE), Verdict::Pass(_)));
        let misspelt = TEMPLATE.replace(
            "ELBSecurityPolicy-TLS13-1-2-2021-06",
            "ELBSecurityPolicy-TLS13-1-2-2021",
        );
        let Verdict::Fail(line) = tls_policy(&misspelt) else {
            panic!("a policy ELB does not have must fail");
        };
        assert!(line.starts_with("the template's SslPolicy ELBSecurityPolicy-TLS13-1-2-2021 "));
    }

    #[test]
    fn stack_names_and_log_retention() {
        assert!(matches!(
            stack_name("rust-container-reference-web-app"),
            Verdict::Pass(_)
        ));
        assert!(matches!(stack_name("project-web-my_app"), Verdict::Fail(_)));
        assert!(matches!(log_retention(30), Verdict::Pass(_)));
        assert!(matches!(log_retention(31), Verdict::Fail(_)));
    }

    #[test]
    fn any_default_route_leads_out_but_a_blackhole() {
        let route = |key: &str, id: &str| json!({"DestinationCidrBlock": "0.0.0.0/0", key: id});
        assert_eq!(
            route_target(&route("TransitGatewayId", "tgw-1")).as_deref(),
            Some("tgw-1")
        );
        assert_eq!(
            route_target(&route("NetworkInterfaceId", "eni-1")).as_deref(),
            Some("eni-1")
        );
        assert_eq!(
            route_target(&route("GatewayId", "vpce-1")).as_deref(),
            Some("vpce-1")
        );
        let mut dead = route("NatGatewayId", "nat-1");
        dead["State"] = json!("blackhole");
        assert_eq!(route_target(&dead), None);
    }

    #[test]
    fn the_architecture_must_match_the_runtime_platform() {
        assert!(matches!(
            architecture("linux/amd64", "X86_64", "here"),
            Verdict::Pass(_)
        ));
        assert!(matches!(
            architecture("linux/amd64,linux/arm64", "ARM64", "here"),
            Verdict::Pass(_)
        ));
        let Verdict::Fail(line) = architecture("linux/amd64", "ARM64", "the local engine") else {
            panic!("amd64 on ARM64 must fail");
        };
        assert!(
            line.contains("linux/amd64 (the local engine) but the task runs on linux/arm64: pass --arch x86_64"),
            "{line}"
        );
    }

    #[test]
    fn the_template_agrees_with_the_timing_checks() {
        let shutdown = Shutdown::get();
        assert!(matches!(stop_timeout(shutdown), Verdict::Pass(_)));
        assert!(matches!(health_check(), Verdict::Pass(_)));
        assert_eq!(literal(TEMPLATE, "HealthCheckIntervalSeconds"), Some(5));
        assert_eq!(literal(TEMPLATE, "HealthyThresholdCount"), Some(2));
        assert_eq!(literal(TEMPLATE, "StartPeriod"), Some(10));
    }
}
