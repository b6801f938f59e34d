//! What `deploy` checks before it changes anything, where the template cannot say: values that
//! arrive as parameters (the Fargate size), settings that must agree with each other or with
//! the app (the timings), a name the template only repeats (the TLS policy), and what only AWS
//! or a registry knows (the image's architecture, the subnets' zones and routes). One line a
//! check; each failure says what to change. The checks of the flags and the template run first,
//! always; those that read AWS or a registry run in a real deploy before the change set, and
//! `--dry-run` without AWS names them as skipped. A parameter's own limits in the template
//! (`AllowedValues`, `MinValue`, `MaxValue`) are `CloudFormation`'s to apply, which it does when
//! it creates the change set.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;
use serde_json::Value;

use super::{Deploy, REQUEST_TIMEOUT_SECS, TEMPLATE, TEMPLATE_PATH};
use crate::aws::Aws;
use crate::oci::distribution::{Credentials, Reference, Repository};
use crate::oci::documents::{ImageConfig, IndexOrManifest};

/// The VPC endpoints a task without a public IP needs when no route leads out: the ECR API and
/// registry (the image manifest and config), S3 (ECR keeps layers there) and `CloudWatch` Logs.
const ENDPOINTS: [&str; 4] = ["ecr.api", "ecr.dkr", "s3", "logs"];

/// The TLS 1.3 policies ELB offers an HTTPS listener: a misspelt name fails only when
/// `CloudFormation` creates the listener, half-way through a deploy.
const TLS13_POLICIES: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06 \
    ELBSecurityPolicy-TLS13-1-2-Res-2021-06 ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06 \
    ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06 ELBSecurityPolicy-TLS13-1-1-2021-06 \
    ELBSecurityPolicy-TLS13-1-0-2021-06 ELBSecurityPolicy-TLS13-1-3-2021-06 \
    ELBSecurityPolicy-TLS13-1-2-PQ-2025-09 ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09 \
    ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09 ELBSecurityPolicy-TLS13-1-2-Ext2-PQ-2025-09 \
    ELBSecurityPolicy-TLS13-1-3-PQ-2025-09";

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Pass(String),
    Fail(String),
    Skipped(String),
}

/// `Pass(pass)` when `ok`, else `Fail(fail)`.
fn verdict(ok: bool, pass: String, fail: String) -> Verdict {
    if ok {
        Verdict::Pass(pass)
    } else {
        Verdict::Fail(fail)
    }
}

/// Every check of one deploy, by name.
#[derive(Debug, Default)]
pub(super) struct Preflight {
    checks: Vec<(&'static str, Verdict)>,
}

impl Preflight {
    /// The checks of the flags and the template.
    pub(super) fn local(deploy: &Deploy) -> Self {
        let mut checks = vec![
            ("task size", task_size(deploy.cpu, deploy.memory)),
            ("stack name", stack_name(&deploy.target.stack_name())),
            ("scaling", scaling(deploy)),
            ("deregistration delay", deregistration_delay(deploy)),
            ("health check grace", health_check_grace(deploy)),
            (
                "architecture",
                skipped("needs AWS: a real deploy reads the image's platform in its registry"),
            ),
        ];
        if deploy.certificate_arn.is_some() {
            checks.push(("TLS policy", tls_policy(TEMPLATE)));
        }
        if deploy.shared_listener.is_none() {
            let needs = "needs AWS: a real deploy reads the subnets' zones and route tables";
            checks.push(("load balancer subnets", skipped(needs)));
        }
        let needs =
            "needs AWS: a real deploy reads the subnets' route tables and the VPC's endpoints";
        checks.push(("network", skipped(needs)));
        Self { checks }
    }

    /// The checks that read AWS or a registry, in place of the skipped ones; the subnets' VPC.
    pub(super) fn remote(&mut self, deploy: &Deploy, aws: &Aws, image: &str) -> Result<String> {
        let network = Network::read(deploy, aws)?;
        let skipped = |(_, verdict): &&mut (_, Verdict)| matches!(verdict, Verdict::Skipped(_));
        for (what, verdict) in self.checks.iter_mut().filter(skipped) {
            *verdict = match *what {
                "architecture" => match registry_platform(aws, image) {
                    Ok(platform) => architecture(&platform, deploy.arch.ecs()),
                    Err(error) => Verdict::Fail(format!(
                        "cannot read the image's configuration from its registry ({error:#}): \
                         push it first (`cargo xtask push`), or give --image of one that exists"
                    )),
                },
                "network" => network.way_out(deploy, aws)?,
                _ => network.balancer_subnets(deploy),
            };
        }
        Ok(network.vpc)
    }

    pub(super) fn failed(&self) -> bool {
        self.checks
            .iter()
            .any(|(_, v)| matches!(v, Verdict::Fail(_)))
    }

    /// Prints every check (to stderr: stdout carries the plan); fails when one did.
    pub(super) fn report(&self) -> Result<()> {
        eprintln!("preflight:");
        let mut failed = Vec::new();
        for (what, verdict) in &self.checks {
            let (mark, text) = match verdict {
                Verdict::Pass(text) => ("ok     ", text),
                Verdict::Fail(text) => ("FAILED ", text),
                Verdict::Skipped(text) => ("skipped", text),
            };
            eprintln!("  {mark} {what}: {text}");
            if let Verdict::Fail(_) = verdict {
                failed.push(format!("  {what}: {text}"));
            }
        }
        let failed = failed.join("\n");
        ensure!(
            failed.is_empty(),
            "preflight failed; nothing was created or changed:\n{failed}"
        );
        Ok(())
    }
}

fn skipped(why: &str) -> Verdict {
    Verdict::Skipped(why.to_owned())
}

/// The number the template states for `key` (`HealthCheckIntervalSeconds: 5`), first found.
fn literal(key: &str) -> u64 {
    TEMPLATE
        .lines()
        .find_map(|line| line.trim().strip_prefix(&format!("{key}: "))?.parse().ok())
        .unwrap_or(0)
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
    verdict(
        fargate_memory_ok(cpu, memory),
        format!("{cpu} CPU units with {memory} MiB is a Fargate size"),
        format!(
            "Fargate does not offer --cpu {cpu} with --memory {memory}: see \
             https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size"
        ),
    )
}

/// `CloudFormation`'s rule for stack names: a letter, then letters, digits and hyphens, 128 at
/// most (ECS takes underscores in cluster and service names; a stack does not).
fn stack_name(name: &str) -> Verdict {
    let valid = name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    verdict(
        valid,
        format!("the stack is {name}"),
        format!(
            "the stack would be named {name:?}, and CloudFormation takes letters, digits and \
             hyphens, 128 at most: rename --cluster or --service"
        ),
    )
}

fn scaling(deploy: &Deploy) -> Verdict {
    let (min, max, target) = (deploy.min, deploy.max, deploy.cpu_target);
    let requests = deploy
        .requests_per_target
        .map(|n| format!(" or {n} requests per task a minute"));
    verdict(
        min <= max,
        format!(
            "{min} to {max} tasks, at {target} % average CPU{}; out after 1 min, in after 5",
            requests.unwrap_or_default()
        ),
        format!("--min {min} is above --max {max}: give --max at least --min"),
    )
}

/// ECS deregisters a stopping task, waits the deregistration delay, then sends SIGTERM: the
/// delay must let the longest request the app allows finish.
fn deregistration_delay(deploy: &Deploy) -> Verdict {
    let (delay, timeout) = (u64::from(deploy.deregistration_delay), REQUEST_TIMEOUT_SECS);
    verdict(
        delay >= timeout,
        format!(
            "{delay} s covers the app's {timeout} s request timeout: a stopping task finishes \
             every request before SIGTERM"
        ),
        format!(
            "the deregistration delay ({delay} s) is shorter than the app's request timeout \
             ({timeout} s), so requests still running are cut: give --deregistration-delay \
             {timeout} or more"
        ),
    )
}

/// A new task must pass the load balancer's health check (the template's healthy threshold of
/// answers, its interval apart, after the container's start period) before ECS may judge it.
fn health_check_grace(deploy: &Deploy) -> Verdict {
    let threshold = literal("HealthyThresholdCount");
    let needed = literal("StartPeriod").max(threshold * literal("HealthCheckIntervalSeconds"));
    let grace = u64::from(deploy.health_check_grace);
    verdict(
        grace >= needed,
        format!(
            "{grace} s covers start-up and the load balancer's first {threshold} checks ({needed} s)"
        ),
        format!(
            "the health check grace period ({grace} s) ends before a new task can pass the load \
             balancer's checks ({needed} s), so ECS replaces healthy tasks: give \
             --health-check-grace {needed} or more"
        ),
    )
}

fn tls_policy(template: &str) -> Verdict {
    let policy = template
        .lines()
        .find_map(|line| line.trim().strip_prefix("SslPolicy: "))
        .unwrap_or("none");
    verdict(
        TLS13_POLICIES.split(' ').any(|known| known == policy),
        format!("HTTPS with {policy}: TLS 1.3, and 1.2 at most back"),
        format!(
            "the template's SslPolicy {policy} is not one of ELB's TLS 1.3 policies ({}): fix \
             {TEMPLATE_PATH}",
            TLS13_POLICIES.replace(' ', ", ")
        ),
    )
}

/// `linux/amd64` from the image's configuration in its registry (ECR through
/// `aws ecr get-login-password`; others as `push --daemonless` authenticates); an index gives
/// every platform it offers, comma-separated.
fn registry_platform(aws: &Aws, image: &str) -> Result<String> {
    let reference = Reference::parse(image)?;
    let credentials = if reference.host.contains(".dkr.ecr.") {
        let password = aws.text("ecr", "get-login-password", &[])?;
        Some(Credentials {
            username: "AWS".to_owned(),
            password,
        })
    } else {
        Credentials::for_host(&reference.host)?
    };
    let mut repository = Repository::new(&reference.host, &reference.name, credentials).read_only();
    let Some(manifest) = repository.manifest(reference.manifest_reference())? else {
        bail!("no manifest {image}");
    };
    match serde_json::from_slice(&manifest.bytes)
        .with_context(|| format!("the registry's manifest of {image} is not one xtask reads"))?
    {
        IndexOrManifest::Index(index) => Ok(index
            .manifests
            .iter()
            .filter_map(|m| m.platform.as_ref())
            .map(|p| format!("{}/{}", p.os, p.architecture))
            .collect::<Vec<_>>()
            .join(",")),
        IndexOrManifest::Manifest(manifest) => {
            let config: ImageConfig =
                serde_json::from_slice(&repository.blob(&manifest.config.digest)?)
                    .with_context(|| format!("the configuration of {image} is not one"))?;
            if config.os.is_empty() {
                bail!("the image's configuration names no platform");
            }
            Ok(format!("{}/{}", config.os, config.architecture))
        }
    }
}

/// The image's platforms, as its registry has them, against the task's runtime platform
/// (`X86_64`, `ARM64`).
fn architecture(platforms: &str, runtime: &str) -> Verdict {
    let (wanted, other) = if runtime == "ARM64" {
        ("linux/arm64", "x86_64")
    } else {
        ("linux/amd64", "arm64")
    };
    verdict(
        platforms.split(',').any(|platform| platform == wanted),
        format!("the image is {platforms} (its registry), as the task's runtime platform"),
        format!(
            "the image is {platforms} (its registry) but the task runs on {wanted}: pass --arch \
             {other}, or build the image for {wanted}"
        ),
    )
}

// The answers below are read through the AWS CLI's `--query`, which picks the list out of
// AWS's envelope (`Subnets`, `RouteTables`): only the fields xtask uses.

/// A subnet, as `SUBNETS` reshapes it.
#[derive(Deserialize)]
struct Subnet {
    id: String,
    vpc: String,
    zone: String,
}

const SUBNETS: &str = "Subnets[].{id: SubnetId, vpc: VpcId, zone: AvailabilityZone || '?'}";

/// A route table, as `TABLES` reshapes it: the subnets it is associated with, whether it is
/// the VPC's main one, and its routes.
#[derive(Deserialize)]
struct RouteTable {
    subnets: Vec<String>,
    main: bool,
    routes: Vec<Route>,
}

const TABLES: &str = "RouteTables[].{subnets: Associations[].SubnetId || `[]`, \
                      main: Associations[?Main] | [0] != `null`, routes: Routes || `[]`}";

/// A route; where it sends traffic is whichever target it names.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Route {
    destination_cidr_block: Option<String>,
    state: Option<String>,
    /// `GatewayId`, `NatGatewayId`, `TransitGatewayId`, `NetworkInterfaceId` (a NAT instance, a
    /// firewall), `CoreNetworkArn`, ...: AWS adds kinds of target, and each is one such field.
    #[serde(flatten)]
    fields: BTreeMap<String, Value>,
}

impl Route {
    /// Where it sends traffic; `None` for a blackhole.
    fn target(&self) -> Option<String> {
        let names_target = |key: &str| {
            (key.ends_with("Id") || key.ends_with("Arn"))
                && !key.starts_with("Destination")
                && key != "InstanceOwnerId"
        };
        if self.state.as_deref() == Some("blackhole") {
            return None;
        }
        self.fields
            .iter()
            .filter(|(key, _)| names_target(key))
            .find_map(|(_, id)| id.as_str().filter(|id| !id.is_empty()))
            .map(str::to_owned)
    }
}

/// The subnets deploy names and their VPC's route tables, read with one call each.
struct Network {
    vpc: String,
    subnets: Vec<Subnet>,
    tables: Vec<RouteTable>,
}

impl Network {
    fn read(deploy: &Deploy, aws: &Aws) -> Result<Self> {
        let all = deploy.subnets.iter().chain(&deploy.alb_subnets);
        let mut ids: Vec<&str> = all.map(String::as_str).collect();
        ids.sort_unstable();
        ids.dedup();
        let args = [&["--query", SUBNETS, "--subnet-ids"][..], &ids].concat();
        let subnets: Vec<Subnet> = aws.answer("ec2", "describe-subnets", &args)?;
        let vpc = subnets
            .first()
            .context("describe-subnets named no subnet")?
            .vpc
            .clone();
        let filter = format!("Name=vpc-id,Values={vpc}");
        let args = ["--filters", &filter, "--query", TABLES];
        let tables = aws.answer("ec2", "describe-route-tables", &args)?;
        Ok(Self {
            vpc,
            subnets,
            tables,
        })
    }

    /// The target of the subnet's default route (0.0.0.0/0), from its own route table, else
    /// the VPC's main one.
    fn default_route(&self, subnet: &str) -> Option<String> {
        let tables = || self.tables.iter();
        let table = (tables().find(|table| table.subnets.iter().any(|id| id == subnet)))
            .or_else(|| tables().find(|table| table.main))?;
        table
            .routes
            .iter()
            .filter(|route| route.destination_cidr_block.as_deref() == Some("0.0.0.0/0"))
            .find_map(Route::target)
    }

    /// Tasks must reach ECR, S3 and `CloudWatch` Logs: with a public IP through an internet
    /// gateway; without one through any default route each subnet has (a NAT gateway, a NAT
    /// instance, a transit gateway, a firewall), or the VPC's endpoints.
    fn way_out(&self, deploy: &Deploy, aws: &Aws) -> Result<Verdict> {
        let vpc = &self.vpc;
        let (mut routed, mut unrouted) = (Vec::new(), Vec::new());
        for subnet in &deploy.subnets {
            // An internet gateway carries only what has a public address.
            match self
                .default_route(subnet)
                .filter(|t| t.starts_with("igw-") == deploy.public_ip)
            {
                Some(target) => routed.push(format!("{subnet} → {target}")),
                None => unrouted.push(subnet.as_str()),
            }
        }
        let unrouted = unrouted.join(", ");
        if unrouted.is_empty() {
            let routed = routed.join(", ");
            let line = format!(
                "every subnet routes out ({routed}): tasks reach ECR, S3 and CloudWatch Logs"
            );
            return Ok(Verdict::Pass(line));
        }
        if deploy.public_ip {
            return Ok(Verdict::Fail(format!(
                "{unrouted}: no route to an internet gateway, so tasks with a public IP cannot \
                 reach ECR: use public subnets, or private ones without --public-ip"
            )));
        }
        let filter = format!("Name=vpc-id,Values={vpc}");
        let query = "VpcEndpoints[].ServiceName";
        let args = ["--filters", &filter, "--query", query];
        let services: Vec<String> = aws.answer("ec2", "describe-vpc-endpoints", &args)?;
        let missing: Vec<&str> = ENDPOINTS
            .into_iter()
            .filter(|e| !services.iter().any(|name| name.ends_with(&format!(".{e}"))))
            .collect();
        Ok(verdict(
            missing.is_empty(),
            format!(
                "no default route out of {unrouted}, but {vpc} has endpoints for {}",
                ENDPOINTS.join(", ")
            ),
            format!(
                "tasks without a public IP in {unrouted} cannot reach ECR, S3 and CloudWatch Logs, \
                 so the first would never pull its image: add a default route (0.0.0.0/0) to a NAT \
                 gateway, a NAT instance, a transit gateway or a firewall, or VPC endpoints for {} \
                 to {vpc}, or use public subnets with --public-ip",
                missing.join(", ")
            ),
        ))
    }

    /// An internet-facing load balancer needs one subnet in each of two or more zones (ELB
    /// refuses two in one zone), each routed to an internet gateway.
    fn balancer_subnets(&self, deploy: &Deploy) -> Verdict {
        let mut zones: Vec<(&str, &str)> = Vec::new();
        let mut private = Vec::new();
        for id in deploy.balancer_subnets() {
            let subnet = self.subnets.iter().find(|s| s.id == *id);
            let zone = subnet.map_or("?", |s| s.zone.as_str());
            if let Some((_, other)) = zones.iter().find(|(known, _)| *known == zone) {
                return Verdict::Fail(format!(
                    "{other} and {id} are both in {zone}, and a load balancer takes one subnet per \
                     zone: give --alb-subnets one public subnet in each zone"
                ));
            }
            zones.push((zone, id));
            if !self
                .default_route(id)
                .is_some_and(|target| target.starts_with("igw-"))
            {
                private.push(id.as_str());
            }
        }
        let names: Vec<&str> = zones.iter().map(|(zone, _)| *zone).collect();
        if !private.is_empty() {
            return Verdict::Fail(format!(
                "{}: no route to an internet gateway, so an internet-facing load balancer there \
                 is unreachable: give --alb-subnets public subnets",
                private.join(", ")
            ));
        }
        verdict(
            names.len() >= 2,
            format!(
                "public subnets in {}: the load balancer is reachable and spans zones",
                names.join(", ")
            ),
            format!(
                "an Application Load Balancer needs subnets in two or more availability zones, \
                 and these are all in {}: give --alb-subnets one public subnet per zone",
                names.join(", ")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_tls_policy_elb_does_not_have_fails() {
        assert!(matches!(tls_policy(TEMPLATE), Verdict::Pass(_)));
        let misspelt = TEMPLATE.replace("TLS13-1-2-2021-06", "TLS13-1-2-2021");
        let Verdict::Fail(line) = tls_policy(&misspelt) else {
            panic!("a policy ELB does not have must fail");
        };
        assert!(line.starts_with("the template's SslPolicy ELBSecurityPolicy-TLS13-1-2-2021 "));
    }

    #[test]
    fn any_default_route_leads_out_but_a_blackhole() {
        let route = |key: &str, id: &str, state: &str| -> Route {
            serde_json::from_value(
                json!({"DestinationCidrBlock": "0.0.0.0/0", key: id, "State": state}),
            )
            .expect("a route")
        };
        for (key, id) in [
            ("TransitGatewayId", "tgw-1"),
            ("NetworkInterfaceId", "eni-1"),
            ("GatewayId", "vpce-1"),
        ] {
            assert_eq!(route(key, id, "active").target().as_deref(), Some(id));
        }
        assert_eq!(route("NatGatewayId", "nat-1", "blackhole").target(), None);
    }

    #[test]
    fn the_architecture_must_match_the_runtime_platform() {
        assert!(matches!(
            architecture("linux/amd64,linux/arm64", "ARM64"),
            Verdict::Pass(_)
        ));
        let Verdict::Fail(line) = architecture("linux/amd64", "ARM64") else {
            panic!("amd64 on ARM64 must fail");
        };
        assert!(
            line.contains("(its registry) but the task runs on linux/arm64: pass --arch x86_64")
        );
    }
}
