//! `cargo xtask destroy`: what `deploy` created for the service removed, only what carries the
//! project's and the service's tags, in an order that never leaves tasks behind or a resource
//! held by another: the service scaled to 0 and deleted, its autoscaling, the alarm, a host rule
//! on a shared load balancer, deploy's own load balancer (its listeners go with it), the target
//! group, the security groups; the log group only with `--delete-logs`. Safe to run twice: what
//! is already gone is said and skipped.

use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::Value;

use crate::aws::Aws;
use crate::aws::ecs::{PROJECT_TAG, SERVICE_TAG, Service, project_name};
use crate::aws::owned::{self, Found, Names};
use crate::flags::Destroy;
use crate::util::wait;

/// How long deleted load balancers and stopped tasks may hold a security group (their network
/// interfaces go a few minutes after them).
const RELEASE: Duration = Duration::from_mins(10);

struct Removal<'a> {
    aws: &'a Aws,
    names: Names,
    removed: usize,
}

impl Destroy {
    pub(crate) fn run(self) -> Result<()> {
        let aws = Aws::in_region(self.target.region.as_deref())?;
        let (cluster, name) = (self.target.cluster.as_str(), self.target.service.as_str());
        let service = Service {
            aws: &aws,
            cluster,
            name,
        };
        let mut removal = Removal {
            aws: &aws,
            names: Names::new(cluster, name),
            removed: 0,
        };
        let service_was_ours = match service.describe()? {
            None => {
                println!("no service {name} in the cluster {cluster}: already gone");
                false
            }
            Some(found) if !service.owns(&found["tags"]) => {
                println!(
                    "the service {} carries no {PROJECT_TAG}={} {SERVICE_TAG}={} tags: not \
                     created by deploy, left alone with everything named after it",
                    name,
                    project_name(),
                    name
                );
                return Ok(());
            }
            Some(_) => {
                let scale = ["--cluster", cluster, "--service", name];
                aws.require(
                    "ecs",
                    "update-service",
                    &[&scale[..], &["--desired-count", "0"]].concat(),
                )?;
                aws.require(
                    "ecs",
                    "delete-service",
                    &[&scale[..], &["--force"]].concat(),
                )?;
                println!("deleted the service {name} (scaled to 0 first, so its tasks drain)");
                removal.removed += 1;
                true
            }
        };
        removal.scaling(service_was_ours)?;
        removal.alarm()?;
        removal.balancing()?;
        removal.security_groups()?;
        removal.removed += self.log_group(&aws)?;
        if removal.removed == 0 {
            println!("nothing to remove");
        }
        Ok(())
    }

    fn log_group(&self, aws: &Aws) -> Result<usize> {
        if !owned::log_group_exists(aws, &self.log_group)? {
            println!("no log group {}: already gone", self.log_group);
            return Ok(0);
        }
        if !self.delete_logs {
            println!(
                "kept the log group {} and its logs (--delete-logs removes them)",
                self.log_group
            );
            return Ok(0);
        }
        let tags = aws.require(
            "logs",
            "list-tags-log-group",
            &["--log-group-name", &self.log_group],
        )?;
        let tagged = |key: &str, value: &str| tags["tags"][key] == value;
        if !(tagged(PROJECT_TAG, project_name()) && tagged(SERVICE_TAG, &self.target.service)) {
            println!(
                "the log group {} carries no {PROJECT_TAG}/{SERVICE_TAG} tags of this service: \
                 left alone",
                self.log_group
            );
            return Ok(0);
        }
        aws.require(
            "logs",
            "delete-log-group",
            &["--log-group-name", &self.log_group],
        )?;
        println!("deleted the log group {} and its logs", self.log_group);
        Ok(1)
    }
}

impl Removal<'_> {
    fn said(&mut self, line: &str) {
        println!("{line}");
        self.removed += 1;
    }

    /// The scalable target of the service and its policies: deploy's when the service was
    /// (deleted just now), else only when the target carries the tags itself (left over by a
    /// destroy that stopped half-way).
    fn scaling(&mut self, service_was_ours: bool) -> Result<()> {
        let id = self.names.scaling_id.clone();
        let namespace = ["--service-namespace", "ecs"];
        let dimension = ["--scalable-dimension", "ecs:service:DesiredCount"];
        let targets = self.aws.require(
            "application-autoscaling",
            "describe-scalable-targets",
            &[&namespace[..], &["--resource-ids", &id]].concat(),
        )?;
        let Some(target) = targets["ScalableTargets"].get(0) else {
            return Ok(());
        };
        if !service_was_ours {
            let arn = target["ScalableTargetARN"].as_str().unwrap_or_default();
            let tagged = self
                .aws
                .call(
                    "application-autoscaling",
                    "list-tags-for-resource",
                    &["--resource-arn", arn],
                )?
                .is_ok_and(|tags| {
                    tags["Tags"][PROJECT_TAG] == project_name()
                        && tags["Tags"][SERVICE_TAG] == self.names.service.as_str()
                });
            if !tagged {
                println!("the scalable target {id} carries no tags of this service: left alone");
                return Ok(());
            }
        }
        let policies = self.aws.require(
            "application-autoscaling",
            "describe-scaling-policies",
            &[&namespace[..], &["--resource-id", &id]].concat(),
        )?;
        for policy in policies["ScalingPolicies"].as_array().into_iter().flatten() {
            let name = policy["PolicyName"].as_str().unwrap_or_default();
            self.aws.require(
                "application-autoscaling",
                "delete-scaling-policy",
                &[
                    &namespace[..],
                    &["--resource-id", &id],
                    &dimension,
                    &["--policy-name", name],
                ]
                .concat(),
            )?;
            self.said(&format!("deleted the scaling policy {name}"));
        }
        self.aws.require(
            "application-autoscaling",
            "deregister-scalable-target",
            &[&namespace[..], &["--resource-id", &id], &dimension].concat(),
        )?;
        self.said(&format!("deregistered the scalable target {id}"));
        Ok(())
    }

    fn alarm(&mut self) -> Result<()> {
        let name = self.names.alarm.clone();
        match owned::alarm(self.aws, &self.names, &name)? {
            Found::Absent => {}
            Found::Foreign => {
                println!("the alarm {name} carries no tags of this service: left alone");
            }
            Found::Ours(_) => {
                self.aws
                    .require("cloudwatch", "delete-alarms", &["--alarm-names", &name])?;
                self.said(&format!("deleted the alarm {name}"));
            }
        }
        Ok(())
    }

    /// The host rules forwarding to the target group on shared load balancers, deploy's own
    /// load balancer (its listeners go with it), then the target group, free by then.
    fn balancing(&mut self) -> Result<()> {
        let name = self.names.balancer.clone();
        let group = match owned::target_group(self.aws, &self.names, &name)? {
            Found::Ours(group) => Some(group),
            Found::Foreign => {
                println!("the target group {name} carries no tags of this service: left alone");
                None
            }
            Found::Absent => None,
        };
        let group_arn = group
            .as_ref()
            .and_then(|g| g["TargetGroupArn"].as_str())
            .unwrap_or_default()
            .to_owned();
        let own = match owned::load_balancer(self.aws, &self.names, &name)? {
            Found::Ours(balancer) => balancer["LoadBalancerArn"].as_str().map(str::to_owned),
            Found::Foreign => {
                println!("the load balancer {name} carries no tags of this service: left alone");
                None
            }
            Found::Absent => None,
        };
        for shared in group
            .iter()
            .flat_map(|g| {
                g["LoadBalancerArns"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|arn| arn.as_str().map(str::to_owned))
            .filter(|arn| own.as_deref() != Some(arn.as_str()))
        {
            self.host_rules(&shared, &group_arn)?;
        }
        if let Some(arn) = own {
            self.aws.require(
                "elbv2",
                "delete-load-balancer",
                &["--load-balancer-arn", &arn],
            )?;
            let gone = wait::until(RELEASE, Duration::from_secs(5), || {
                let answer = self.aws.call(
                    "elbv2",
                    "describe-load-balancers",
                    &["--load-balancer-arns", &arn],
                )?;
                Ok(answer.is_err().then_some(()))
            })?;
            if gone.is_none() {
                bail!(
                    "the load balancer {name} was still being deleted after {RELEASE:?}: run destroy again"
                );
            }
            self.said(&format!(
                "deleted the load balancer {name} and its listeners"
            ));
        }
        if group.is_some() {
            self.aws.require(
                "elbv2",
                "delete-target-group",
                &["--target-group-arn", &group_arn],
            )?;
            self.said(&format!("deleted the target group {name}"));
        }
        Ok(())
    }

    /// The rules on a shared load balancer's listeners that forward to `group`.
    fn host_rules(&mut self, balancer: &str, group: &str) -> Result<()> {
        let listeners = self.aws.require(
            "elbv2",
            "describe-listeners",
            &["--load-balancer-arn", balancer],
        )?;
        for listener in listeners["Listeners"].as_array().into_iter().flatten() {
            let arn = listener["ListenerArn"].as_str().unwrap_or_default();
            let rules = self
                .aws
                .require("elbv2", "describe-rules", &["--listener-arn", arn])?;
            for rule in rules["Rules"].as_array().into_iter().flatten() {
                let forwards = rule["Actions"].to_string().contains(group);
                if forwards && rule["IsDefault"] != true {
                    let rule_arn = rule["RuleArn"].as_str().unwrap_or_default();
                    self.aws
                        .require("elbv2", "delete-rule", &["--rule-arn", rule_arn])?;
                    self.said(&format!(
                        "deleted the listener rule for {} on the shared load balancer",
                        host_of(rule)
                    ));
                }
            }
        }
        Ok(())
    }

    /// The tasks' group, then the load balancer's (which the tasks' names); each retried while
    /// the network interfaces of stopped tasks or a deleted load balancer still hold it.
    fn security_groups(&mut self) -> Result<()> {
        for name in [self.names.task_group.clone(), self.names.alb_group.clone()] {
            let id = match owned::security_group(self.aws, &self.names, "", &name)? {
                Found::Absent => continue,
                Found::Foreign => {
                    println!(
                        "the security group {name} carries no tags of this service: left alone"
                    );
                    continue;
                }
                Found::Ours(group) => group["GroupId"].as_str().unwrap_or_default().to_owned(),
            };
            let mut held = String::new();
            let deleted = wait::until(RELEASE, Duration::from_secs(10), || {
                match self
                    .aws
                    .call("ec2", "delete-security-group", &["--group-id", &id])?
                {
                    Ok(_) => Ok(Some(())),
                    Err(error) if error.code == "DependencyViolation" => {
                        held = error.message;
                        Ok(None)
                    }
                    Err(error) => Err(crate::aws::explain(&error)),
                }
            })?;
            if deleted.is_none() {
                bail!(
                    "the security group {name} ({id}) is still in use after {RELEASE:?} ({held}): \
                     run destroy again once the tasks' network interfaces are gone"
                );
            }
            self.said(&format!("deleted the security group {name} ({id})"));
        }
        Ok(())
    }
}

/// The host a rule matches, for the message.
fn host_of(rule: &Value) -> String {
    rule["Conditions"][0]["HostHeaderConfig"]["Values"][0]
        .as_str()
        .or_else(|| rule["Conditions"][0]["Values"][0].as_str())
        .unwrap_or("?")
        .to_owned()
}
