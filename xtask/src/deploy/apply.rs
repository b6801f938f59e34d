//! A real deploy: each resource of the plan looked up by its name and the project's tags, then
//! created, changed or left alone, and said so, one line each. Nothing is created twice: a
//! second deploy with the same inputs finds everything and changes nothing.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::Deploy;
use super::plan::Known;
use crate::aws::Aws;
use crate::aws::ecs::{Service, short_arn};
use crate::aws::owned::{self, Found, Names};

/// One line of what a deploy did to a resource.
pub(super) fn say(verb: &str, what: &str) {
    println!("  {verb:<9} {what}");
}

/// `value` without the keys in `drop`: a plan entry as the create call takes it.
fn without(value: &Value, drop: &[&str]) -> Value {
    let mut value = value.clone();
    if let Some(object) = value.as_object_mut() {
        for key in drop {
            object.remove(*key);
        }
    }
    value
}

pub(super) struct Apply<'a> {
    pub(super) deploy: &'a Deploy,
    pub(super) aws: &'a Aws,
    pub(super) names: Names,
    pub(super) known: Known,
    /// The load balancer's DNS name: the URL the service answers on.
    pub(super) dns: String,
}

impl Apply<'_> {
    /// The subnets' VPC, and the shared load balancer's security group and address.
    pub(super) fn network(&mut self) -> Result<()> {
        let subnet = &self.deploy.subnets[0];
        let described = self
            .aws
            .require("ec2", "describe-subnets", &["--subnet-ids", subnet])?;
        self.known.vpc = described["Subnets"][0]["VpcId"]
            .as_str()
            .with_context(|| format!("the subnet {subnet} names no VPC"))?
            .to_owned();
        if let Some(arn) = &self.deploy.load_balancer {
            let found = self.aws.require(
                "elbv2",
                "describe-load-balancers",
                &["--load-balancer-arns", arn],
            )?;
            let balancer = &found["LoadBalancers"][0];
            if balancer["VpcId"] != self.known.vpc.as_str() {
                bail!(
                    "the load balancer {arn} is in {}, the subnets in {}: give subnets of its VPC",
                    balancer["VpcId"],
                    self.known.vpc
                );
            }
            balancer["SecurityGroups"][0]
                .as_str()
                .context("the shared load balancer has no security group")?
                .clone_into(&mut self.known.alb_group);
            self.known.load_balancer.clone_from(arn);
            balancer["DNSName"]
                .as_str()
                .unwrap_or_default()
                .clone_into(&mut self.dns);
        }
        Ok(())
    }

    /// The load balancer's group (when deploy makes the load balancer), then the tasks'.
    pub(super) fn security_groups(&mut self) -> Result<()> {
        let mut plans = self.deploy.security_groups_plan(&self.known);
        for index in 0..plans.len() {
            if index > 0 {
                // The tasks' ingress names the load balancer's group, known only now.
                plans = self.deploy.security_groups_plan(&self.known);
            }
            let plan = &plans[index];
            let name = plan["GroupName"].as_str().unwrap_or_default().to_owned();
            let (id, created, held) = match owned::security_group(
                self.aws,
                &self.names,
                &self.known.vpc,
                &name,
            )? {
                Found::Ours(group) => (
                    group["GroupId"].as_str().unwrap_or_default().to_owned(),
                    false,
                    group["IpPermissions"].clone(),
                ),
                Found::Foreign => bail!(
                    "a security group {name} exists in {} without this project's tags: delete or \
                     rename it, or deploy under another --service",
                    self.known.vpc
                ),
                Found::Absent => {
                    let created = self.aws.require(
                        "ec2",
                        "create-security-group",
                        &[
                            "--cli-input-json",
                            &without(plan, &["IpPermissions"]).to_string(),
                        ],
                    )?;
                    let id = created["GroupId"]
                        .as_str()
                        .context("no group id")?
                        .to_owned();
                    (id, true, Value::Null)
                }
            };
            let mut added = 0;
            let missing = plan["IpPermissions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|permission| {
                    !held
                        .as_array()
                        .is_some_and(|all| all.iter().any(|h| contains(h, permission)))
                });
            for permission in missing {
                let answer = self.aws.call(
                    "ec2",
                    "authorize-security-group-ingress",
                    &[
                        "--group-id",
                        &id,
                        "--ip-permissions",
                        &json!([permission]).to_string(),
                    ],
                )?;
                match answer {
                    Ok(_) => added += 1,
                    Err(error) if error.code == "InvalidPermission.Duplicate" => {}
                    Err(error) => return Err(crate::aws::explain(&error)),
                }
            }
            match (created, added) {
                (true, _) => say("created", &format!("security group {name} ({id})")),
                (false, 0) => say("unchanged", &format!("security group {name} ({id})")),
                (false, n) => say(
                    "changed",
                    &format!("security group {name} ({id}): {n} ingress rule(s) added"),
                ),
            }
            if name == self.names.alb_group {
                self.known.alb_group = id;
            } else {
                self.known.task_group = id;
            }
        }
        Ok(())
    }

    pub(super) fn load_balancer(&mut self) -> Result<()> {
        if self.deploy.load_balancer.is_some() {
            say(
                "shared",
                &format!("load balancer {}", short_arn(&self.known.load_balancer)),
            );
            return Ok(());
        }
        let name = self.names.balancer.clone();
        let balancer = match owned::load_balancer(self.aws, &self.names, &name)? {
            Found::Ours(balancer) => {
                say("unchanged", &format!("load balancer {name}"));
                balancer
            }
            Found::Foreign => bail!(
                "a load balancer {name} exists without this project's tags: give it to deploy \
                 with --load-balancer and --host, or deploy under another --service"
            ),
            Found::Absent => {
                let plan = self.deploy.load_balancer_plan(&self.known);
                let created = self.aws.require(
                    "elbv2",
                    "create-load-balancer",
                    &["--cli-input-json", &plan.to_string()],
                )?;
                say("created", &format!("load balancer {name}"));
                created["LoadBalancers"][0].clone()
            }
        };
        balancer["LoadBalancerArn"]
            .as_str()
            .context("no load balancer ARN")?
            .clone_into(&mut self.known.load_balancer);
        balancer["DNSName"]
            .as_str()
            .unwrap_or_default()
            .clone_into(&mut self.dns);
        Ok(())
    }

    pub(super) fn target_group(&mut self) -> Result<()> {
        let name = self.names.balancer.clone();
        let plan = self.deploy.target_group_plan(&self.known);
        let (group, created) = match owned::target_group(self.aws, &self.names, &name)? {
            Found::Ours(group) => (group, false),
            Found::Foreign => bail!(
                "a target group {name} exists without this project's tags: delete it, or deploy \
                 under another --service"
            ),
            Found::Absent => {
                let created = self.aws.require(
                    "elbv2",
                    "create-target-group",
                    &[
                        "--cli-input-json",
                        &without(&plan, &["Attributes"]).to_string(),
                    ],
                )?;
                (created["TargetGroups"][0].clone(), true)
            }
        };
        let arn = group["TargetGroupArn"]
            .as_str()
            .context("no target group ARN")?
            .to_owned();
        let attributes = self.aws.require(
            "elbv2",
            "describe-target-group-attributes",
            &["--target-group-arn", &arn],
        )?;
        let mut changed = self.health_check(&group, &plan)?;
        for wanted in plan["Attributes"].as_array().into_iter().flatten() {
            let current = attributes["Attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["Key"] == wanted["Key"])
                .map_or(Value::Null, |a| a["Value"].clone());
            if current != wanted["Value"] {
                changed.push(format!(
                    "{}: {current} → {}",
                    wanted["Key"], wanted["Value"]
                ));
            }
        }
        if !changed.is_empty() {
            self.aws.require(
                "elbv2",
                "modify-target-group-attributes",
                &[
                    "--target-group-arn",
                    &arn,
                    "--attributes",
                    &plan["Attributes"].to_string(),
                ],
            )?;
        }
        match (created, changed.is_empty()) {
            (true, _) => say("created", &format!("target group {name}")),
            (false, true) => say("unchanged", &format!("target group {name}")),
            (false, false) => say(
                "changed",
                &format!("target group {name}: {}", changed.join(", ")),
            ),
        }
        self.known.target_group = arn;
        Ok(())
    }

    /// The target group's health check brought back to the plan where it drifted (changed by
    /// hand, or by an older deploy); what changed, as `key: old → new`.
    fn health_check(&self, group: &Value, plan: &Value) -> Result<Vec<String>> {
        const KEYS: [&str; 7] = [
            "HealthCheckProtocol",
            "HealthCheckPath",
            "HealthCheckIntervalSeconds",
            "HealthCheckTimeoutSeconds",
            "HealthyThresholdCount",
            "UnhealthyThresholdCount",
            "Matcher",
        ];
        let drifted: Vec<&str> = KEYS
            .into_iter()
            .filter(|key| !contains(&group[*key], &plan[*key]))
            .collect();
        if drifted.is_empty() {
            return Ok(Vec::new());
        }
        let mut input = json!({"TargetGroupArn": group["TargetGroupArn"]});
        for key in KEYS {
            input[key] = plan[key].clone();
        }
        self.aws.require(
            "elbv2",
            "modify-target-group",
            &["--cli-input-json", &input.to_string()],
        )?;
        Ok(drifted
            .into_iter()
            .map(|key| format!("{key}: {} → {}", group[key], plan[key]))
            .collect())
    }

    /// The listeners of deploy's own load balancer, each by its port; those no longer planned
    /// (HTTPS after `--certificate-arn` is dropped) removed.
    pub(super) fn listeners(&mut self) -> Result<()> {
        if self.deploy.load_balancer.is_some() {
            return self.host_rule();
        }
        let existing = self.aws.require(
            "elbv2",
            "describe-listeners",
            &["--load-balancer-arn", &self.known.load_balancer],
        )?;
        let existing = existing["Listeners"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let plans = self.deploy.listeners_plan(&self.known);
        for plan in &plans {
            let label = format!(
                "listener {}:{}",
                plan["Protocol"].as_str().unwrap_or("?"),
                plan["Port"]
            );
            match existing.iter().find(|l| l["Port"] == plan["Port"]) {
                None => {
                    self.aws.require(
                        "elbv2",
                        "create-listener",
                        &["--cli-input-json", &plan.to_string()],
                    )?;
                    say("created", &label);
                }
                Some(listener) if same_listener(listener, plan) => say("unchanged", &label),
                Some(listener) => {
                    let mut input = without(plan, &["LoadBalancerArn", "Tags"]);
                    input["ListenerArn"] = listener["ListenerArn"].clone();
                    self.aws.require(
                        "elbv2",
                        "modify-listener",
                        &["--cli-input-json", &input.to_string()],
                    )?;
                    say("changed", &label);
                }
            }
        }
        for stale in existing
            .iter()
            .filter(|l| !plans.iter().any(|p| p["Port"] == l["Port"]))
        {
            let arn = stale["ListenerArn"].as_str().unwrap_or_default();
            self.aws
                .require("elbv2", "delete-listener", &["--listener-arn", arn])?;
            say(
                "deleted",
                &format!(
                    "listener {}:{}",
                    stale["Protocol"].as_str().unwrap_or("?"),
                    stale["Port"]
                ),
            );
        }
        Ok(())
    }

    /// On a shared load balancer: a rule for `--host` on its HTTPS listener (else its HTTP
    /// one), forwarding to the target group, at the lowest free priority.
    fn host_rule(&mut self) -> Result<()> {
        let listeners = self.aws.require(
            "elbv2",
            "describe-listeners",
            &["--load-balancer-arn", &self.known.load_balancer],
        )?;
        let listeners = listeners["Listeners"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let listener = listeners
            .iter()
            .find(|l| l["Port"] == 443)
            .or_else(|| listeners.iter().find(|l| l["Port"] == 80))
            .context("the shared load balancer has no listener on 443 or 80: add one first")?;
        let arn = listener["ListenerArn"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let rules = self
            .aws
            .require("elbv2", "describe-rules", &["--listener-arn", &arn])?;
        let rules = rules["Rules"].as_array().cloned().unwrap_or_default();
        let host = self.deploy.host.clone().unwrap_or_default();
        let label = format!("listener rule for {host}");
        if rules.iter().any(|rule| {
            rule["Actions"]
                .to_string()
                .contains(&self.known.target_group)
        }) {
            say("unchanged", &label);
            return Ok(());
        }
        let taken: Vec<u32> = rules
            .iter()
            .filter_map(|rule| rule["Priority"].as_str()?.parse().ok())
            .collect();
        let free = (1..=50_000)
            .find(|priority| !taken.contains(priority))
            .context("the shared listener has 50 000 rules, ELB's limit: remove one")?;
        self.known.listener = arn;
        self.known.rule_priority = json!(free);
        let plan = self.deploy.listeners_plan(&self.known).remove(0);
        self.aws.require(
            "elbv2",
            "create-rule",
            &["--cli-input-json", &plan.to_string()],
        )?;
        say("created", &label);
        Ok(())
    }

    /// The 5xx alarm, before the service that names it.
    pub(super) fn alarm(&self) -> Result<()> {
        let plan = self.deploy.alarm_plan(&self.known);
        let found = self.aws.require(
            "cloudwatch",
            "describe-alarms",
            &["--alarm-names", &self.names.alarm],
        )?;
        let label = format!("alarm {}", self.names.alarm);
        let current = &found["MetricAlarms"][0];
        let same = !current.is_null()
            && [
                "Metrics",
                "Threshold",
                "ComparisonOperator",
                "EvaluationPeriods",
                "DatapointsToAlarm",
                "TreatMissingData",
            ]
            .iter()
            .all(|key| contains(&current[*key], &plan[*key]));
        self.put(
            &label,
            current,
            same,
            ("cloudwatch", "put-metric-alarm"),
            &plan,
        )
    }

    /// Says `unchanged` when the resource is `same` as planned; else sends `input` to the
    /// create-or-replace `call` and says whether it was created (`current` is null) or changed.
    fn put(
        &self,
        label: &str,
        current: &Value,
        same: bool,
        (service, operation): (&str, &str),
        input: &Value,
    ) -> Result<()> {
        if same {
            say("unchanged", label);
            return Ok(());
        }
        self.aws.require(
            service,
            operation,
            &["--cli-input-json", &input.to_string()],
        )?;
        say(
            if current.is_null() {
                "created"
            } else {
                "changed"
            },
            label,
        );
        Ok(())
    }

    /// The scalable target and its policies, after the service they scale.
    pub(super) fn scaling(&self) -> Result<()> {
        let target = self.deploy.scalable_target_plan();
        let id = &self.names.scaling_id;
        let found = self.aws.require(
            "application-autoscaling",
            "describe-scalable-targets",
            &["--service-namespace", "ecs", "--resource-ids", id],
        )?;
        let current = &found["ScalableTargets"][0];
        let label = format!(
            "scaling {id} ({} to {} tasks)",
            self.deploy.min, self.deploy.max
        );
        let same = current["MinCapacity"] == target["MinCapacity"]
            && current["MaxCapacity"] == target["MaxCapacity"];
        let register = ("application-autoscaling", "register-scalable-target");
        self.put(&label, current, same, register, &target)?;
        let policies = self.aws.require(
            "application-autoscaling",
            "describe-scaling-policies",
            &["--service-namespace", "ecs", "--resource-id", id],
        )?;
        let policies = policies["ScalingPolicies"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let plans = self.deploy.scaling_policies_plan(&self.known);
        for plan in &plans {
            let name = plan["PolicyName"].as_str().unwrap_or_default();
            let current = policies
                .iter()
                .find(|p| p["PolicyName"] == name)
                .unwrap_or(&Value::Null);
            let key = "TargetTrackingScalingPolicyConfiguration";
            let same = !current.is_null() && contains(&current[key], &plan[key]);
            let put = ("application-autoscaling", "put-scaling-policy");
            self.put(&format!("scaling policy {name}"), current, same, put, plan)?;
        }
        for stale in policies.iter().filter(|p| {
            p["PolicyName"] == self.names.requests_policy.as_str()
                && !plans
                    .iter()
                    .any(|plan| plan["PolicyName"] == p["PolicyName"])
        }) {
            let name = stale["PolicyName"].as_str().unwrap_or_default();
            self.aws.require(
                "application-autoscaling",
                "delete-scaling-policy",
                &[
                    "--service-namespace",
                    "ecs",
                    "--resource-id",
                    id,
                    "--scalable-dimension",
                    "ecs:service:DesiredCount",
                    "--policy-name",
                    name,
                ],
            )?;
            say("deleted", &format!("scaling policy {name}"));
        }
        Ok(())
    }

    /// Creates the service, or updates what differs (never its task count, which autoscaling
    /// owns); whether a deployment started.
    pub(super) fn service(&self, existing: Option<&Value>) -> Result<bool> {
        let plan = self.deploy.service_plan(&self.known);
        let Some(current) = existing else {
            self.aws.require(
                "ecs",
                "create-service",
                &["--cli-input-json", &plan.to_string()],
            )?;
            say(
                "created",
                &format!(
                    "service {} in cluster {} with {} task(s)",
                    self.deploy.service, self.deploy.cluster, self.deploy.min
                ),
            );
            return Ok(true);
        };
        let mut changed = Vec::new();
        for key in [
            "taskDefinition",
            "networkConfiguration",
            "loadBalancers",
            "healthCheckGracePeriodSeconds",
            "deploymentConfiguration",
        ] {
            // What a service description leaves out (moto drops some settings) is not a change.
            if !current[key].is_null() && !contains(&current[key], &plan[key]) {
                changed.push(key);
            }
        }
        let label = format!("service {}", self.deploy.service);
        if changed.is_empty() {
            say("unchanged", &label);
            return Ok(false);
        }
        let mut input = without(
            &plan,
            &[
                "serviceName",
                "desiredCount",
                "launchType",
                "propagateTags",
                "tags",
            ],
        );
        input["service"] = json!(self.deploy.service);
        self.aws.require(
            "ecs",
            "update-service",
            &["--cli-input-json", &input.to_string()],
        )?;
        say("changed", &format!("{label}: {}", changed.join(", ")));
        Ok(true)
    }

    pub(super) fn url(&self) -> String {
        let scheme = if self.deploy.certificate_arn.is_some() {
            "https"
        } else {
            "http"
        };
        match &self.deploy.host {
            Some(host) => format!("{scheme}://{host}/ (through {})", self.dns),
            None => format!("{scheme}://{}/", self.dns),
        }
    }

    pub(super) fn service_handle(&self) -> Service<'_> {
        Service {
            aws: self.aws,
            cluster: &self.deploy.cluster,
            name: &self.deploy.service,
        }
    }
}

/// Whether a listener already is what the plan says: protocol, port, and its default actions'
/// types and targets.
fn same_listener(listener: &Value, plan: &Value) -> bool {
    listener["Protocol"] == plan["Protocol"]
        && contains(&listener["DefaultActions"], &plan["DefaultActions"])
        && (plan["Certificates"].is_null()
            || contains(&listener["Certificates"], &plan["Certificates"]))
}

/// Whether `actual` has every field of `wanted` (objects recursively, arrays element by
/// element); AWS adds fields of its own to what it describes.
pub(crate) fn contains(actual: &Value, wanted: &Value) -> bool {
    match (actual, wanted) {
        (Value::Object(actual), Value::Object(wanted)) => wanted
            .iter()
            .all(|(key, value)| actual.get(key).is_some_and(|a| contains(a, value))),
        (Value::Array(actual), Value::Array(wanted)) => {
            actual.len() == wanted.len() && actual.iter().zip(wanted).all(|(a, w)| contains(a, w))
        }
        (Value::Number(a), Value::Number(w)) => a.as_f64() == w.as_f64(),
        (Value::String(a), Value::Number(w)) | (Value::Number(w), Value::String(a)) => {
            a.parse::<f64>().ok() == w.as_f64()
        }
        _ => actual == wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_aws_adds_is_not_a_difference() {
        let wanted =
            json!({"Port": 80, "DefaultActions": [{"Type": "forward", "TargetGroupArn": "t"}]});
        let described = json!({"Port": 80, "ListenerArn": "l",
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": "t", "Order": 1}]});
        assert!(contains(&described, &wanted));
        assert!(!contains(&wanted, &described));
        assert!(contains(
            &json!({"TargetValue": 60.0}),
            &json!({"TargetValue": 60})
        ));
        assert!(contains(&json!({"Value": "15"}), &json!({"Value": 15})));
        let other = json!({"Port": 80, "DefaultActions": [{"Type": "redirect"}]});
        assert!(!contains(&other, &wanted));
    }
}
