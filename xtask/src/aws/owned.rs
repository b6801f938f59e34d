//! What deploy made, found again: the names it gives what it creates (from the cluster and the
//! service), and lookups by those names told apart by the project's and service's tags. `deploy`
//! reuses what it finds (never creating a second of anything), `destroy` removes it, and
//! neither touches a resource of the same name that lacks the tags.

use anyhow::Result;
use serde_json::{Value, json};

use super::Aws;
use super::ecs::{PROJECT_TAG, SERVICE_TAG, project_name};

/// The names of what deploy makes for a service, derived from the cluster and the service, so
/// `destroy` finds them without being told: ELB names are unique per account and region, and
/// at most 32 characters.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub(crate) service: String,
    /// The load balancer and the target group: `CLUSTER-SERVICE`.
    pub(crate) balancer: String,
    pub(crate) alb_group: String,
    pub(crate) task_group: String,
    pub(crate) alarm: String,
    pub(crate) cpu_policy: String,
    pub(crate) requests_policy: String,
    /// Application Auto Scaling's id of the service: `service/CLUSTER/SERVICE`.
    pub(crate) scaling_id: String,
}

impl Names {
    pub(crate) fn new(cluster: &str, service: &str) -> Self {
        let balancer = format!("{cluster}-{service}");
        Self {
            service: service.to_owned(),
            alb_group: format!("{balancer}-alb"),
            task_group: format!("{balancer}-tasks"),
            alarm: format!("{balancer}-5xx"),
            cpu_policy: format!("{balancer}-cpu"),
            requests_policy: format!("{balancer}-requests"),
            scaling_id: format!("service/{cluster}/{service}"),
            balancer,
        }
    }

    /// The project's and service's tags as EC2, ELB and `CloudWatch` take them.
    pub(crate) fn tags(&self) -> Value {
        json!([
            {"Key": PROJECT_TAG, "Value": project_name()},
            {"Key": SERVICE_TAG, "Value": self.service},
        ])
    }

    /// Whether `tags` (`[{Key, Value}]` or `[{key, value}]`) name this project and service.
    pub(crate) fn owns(&self, tags: &Value) -> bool {
        let has = |key: &str, value: &str| {
            tags.as_array().into_iter().flatten().any(|tag| {
                (tag["Key"] == key || tag["key"] == key)
                    && (tag["Value"] == value || tag["value"] == value)
            })
        };
        has(PROJECT_TAG, project_name()) && has(SERVICE_TAG, &self.service)
    }
}

/// A resource looked up by name.
pub(crate) enum Found {
    Absent,
    Ours(Value),
    /// One of that name exists, without the tags.
    Foreign,
}

/// The security group `name` in `vpc`.
pub(crate) fn security_group(aws: &Aws, names: &Names, vpc: &str, name: &str) -> Result<Found> {
    let mut filters = vec![format!("Name=group-name,Values={name}")];
    if !vpc.is_empty() {
        filters.push(format!("Name=vpc-id,Values={vpc}"));
    }
    let mut args = vec!["--filters"];
    args.extend(filters.iter().map(String::as_str));
    let found = aws.require("ec2", "describe-security-groups", &args)?;
    let groups = found["SecurityGroups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    pick(&groups, |group| Ok(names.owns(&group["Tags"])))
}

/// The first of `items` that `ours` accepts; else whether any exists.
fn pick(items: &[Value], ours: impl Fn(&Value) -> Result<bool>) -> Result<Found> {
    for item in items {
        if ours(item)? {
            return Ok(Found::Ours(item.clone()));
        }
    }
    Ok(if items.is_empty() {
        Found::Absent
    } else {
        Found::Foreign
    })
}

/// ELB resources of `kind` (`load-balancers`, `target-groups`) named `name`: several can share
/// a name where the API allows it (moto does), and one is ours or none.
fn elb_by_name(aws: &Aws, names: &Names, kind: &str, name: &str) -> Result<Found> {
    let (key, arn_key) = match kind {
        "load-balancers" => ("LoadBalancers", "LoadBalancerArn"),
        _ => ("TargetGroups", "TargetGroupArn"),
    };
    let found = match aws.call("elbv2", &format!("describe-{kind}"), &["--names", name])? {
        Ok(found) => found,
        Err(error) if error.code.ends_with("NotFound") => return Ok(Found::Absent),
        Err(error) => return Err(crate::aws::explain(&error)),
    };
    let items = found[key].as_array().cloned().unwrap_or_default();
    pick(&items, |item| {
        Ok(names.owns(&elb_tags(aws, item[arn_key].as_str().unwrap_or_default())?))
    })
}

pub(crate) fn load_balancer(aws: &Aws, names: &Names, name: &str) -> Result<Found> {
    elb_by_name(aws, names, "load-balancers", name)
}

pub(crate) fn target_group(aws: &Aws, names: &Names, name: &str) -> Result<Found> {
    elb_by_name(aws, names, "target-groups", name)
}

/// The tags of an ELB resource.
pub(crate) fn elb_tags(aws: &Aws, arn: &str) -> Result<Value> {
    let described = aws.require("elbv2", "describe-tags", &["--resource-arns", arn])?;
    Ok(described["TagDescriptions"][0]["Tags"].clone())
}

/// The alarm `name`, with the tags `CloudWatch` keeps apart from it.
pub(crate) fn alarm(aws: &Aws, names: &Names, name: &str) -> Result<Found> {
    let found = aws.require("cloudwatch", "describe-alarms", &["--alarm-names", name])?;
    let alarms = found["MetricAlarms"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    pick(&alarms, |alarm| {
        let arn = alarm["AlarmArn"].as_str().unwrap_or_default();
        let tags = aws.require(
            "cloudwatch",
            "list-tags-for-resource",
            &["--resource-arn", arn],
        )?;
        Ok(names.owns(&tags["Tags"]))
    })
}

/// Whether the log group `name` exists (its name is a prefix of others').
pub(crate) fn log_group_exists(aws: &Aws, name: &str) -> Result<bool> {
    let groups = aws.require(
        "logs",
        "describe-log-groups",
        &["--log-group-name-prefix", name],
    )?;
    Ok(groups["logGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|group| group["logGroupName"] == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_reads_either_tag_spelling() {
        let names = Names::new("web", "app");
        assert!(names.owns(&names.tags()));
        let ecs = json!([{"key": PROJECT_TAG, "value": project_name()},
                         {"key": SERVICE_TAG, "value": "app"}]);
        assert!(names.owns(&ecs));
        assert!(!Names::new("web", "other").owns(&ecs));
    }
}
