//! Every resource `deploy` creates or changes, rendered as the AWS API takes it (the JSON of
//! `aws ... --cli-input-json`): `--dry-run` prints these, and a real deploy sends them, with the
//! identifiers AWS assigned filled in where `--dry-run` can only name them.

use serde_json::{Value, json};

use super::{CONTAINER, Deploy, PORT};
use crate::aws::ecs::{PROJECT_TAG, SERVICE_TAG, project_name};
use crate::aws::owned::Names;

/// The target group's health check: `/health/ready` every 5 s, two answers either way.
pub(crate) const HEALTH_INTERVAL: u32 = 5;
pub(crate) const HEALTHY_THRESHOLD: u32 = 2;
/// The policies' cooldowns: scale out after a minute, in only after five.
const SCALE_OUT_COOLDOWN: u32 = 60;
const SCALE_IN_COOLDOWN: u32 = 300;
/// The alarm's period and how many periods over the threshold trip it.
const ALARM_PERIOD: u32 = 60;
const ALARM_PERIODS: u32 = 2;

/// What AWS assigns, known once the resource exists; until then (and always in `--dry-run`), a
/// placeholder that says what goes there.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    pub(crate) vpc: String,
    pub(crate) alb_group: String,
    pub(crate) task_group: String,
    pub(crate) load_balancer: String,
    pub(crate) target_group: String,
    /// The shared load balancer's listener the host rule goes on.
    pub(crate) listener: String,
    pub(crate) rule_priority: Value,
    pub(crate) task_definition: String,
}

impl Default for Known {
    fn default() -> Self {
        Self {
            vpc: "<the subnets' VPC>".to_owned(),
            alb_group: "<the load balancer's security group>".to_owned(),
            task_group: "<the tasks' security group>".to_owned(),
            load_balancer: "<the load balancer's ARN>".to_owned(),
            target_group: "<the target group's ARN>".to_owned(),
            listener: "<the shared load balancer's listener>".to_owned(),
            rule_priority: json!("<the lowest free priority>"),
            task_definition: "<the registered task definition>".to_owned(),
        }
    }
}

/// `app/NAME/ID` of a load balancer's ARN, or `targetgroup/NAME/ID` of a target group's: the
/// dimension `CloudWatch` names them by.
pub(crate) fn dimension(arn: &str) -> String {
    arn.split_once(":loadbalancer/")
        .or_else(|| arn.split_once(':').and_then(|_| arn.rsplit_once(':')))
        .map_or(arn, |(_, rest)| rest)
        .to_owned()
}

impl Deploy {
    pub(crate) fn names(&self) -> Names {
        Names::new(&self.cluster, &self.service)
    }

    /// The load balancer's subnets: `--alb-subnets`, else the tasks'.
    pub(crate) fn balancer_subnets(&self) -> &[String] {
        if self.alb_subnets.is_empty() {
            &self.subnets
        } else {
            &self.alb_subnets
        }
    }

    /// The load balancer's security group (when deploy creates the load balancer) and the
    /// tasks', with the ingress each allows.
    pub(crate) fn security_groups_plan(&self, known: &Known) -> Vec<Value> {
        let names = self.names();
        let group = |name: &str, description: &str, ingress: Value| {
            json!({
                "GroupName": name,
                "Description": description,
                "VpcId": known.vpc,
                "TagSpecifications": [{"ResourceType": "security-group", "Tags": names.tags()}],
                "IpPermissions": ingress,
            })
        };
        let mut groups = Vec::new();
        if self.load_balancer.is_none() {
            let open = |port: u16| {
                json!({"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                       "IpRanges": [{"CidrIp": "0.0.0.0/0"}]})
            };
            groups.push(group(
                &names.alb_group,
                "The load balancer: HTTP and HTTPS from anywhere",
                json!([open(80), open(443)]),
            ));
        }
        groups.push(group(
            &names.task_group,
            "The tasks: the app port, from the load balancer only",
            json!([{"IpProtocol": "tcp", "FromPort": PORT, "ToPort": PORT,
                    "UserIdGroupPairs": [{"GroupId": known.alb_group}]}]),
        ));
        groups
    }

    pub(crate) fn load_balancer_plan(&self, known: &Known) -> Value {
        if let Some(arn) = &self.load_balancer {
            return json!({"LoadBalancerArn": arn, "Shared": true});
        }
        json!({
            "Name": self.names().balancer,
            "Type": "application",
            "Scheme": "internet-facing",
            "IpAddressType": "ipv4",
            "Subnets": self.balancer_subnets(),
            "SecurityGroups": [known.alb_group],
            "Tags": self.names().tags(),
        })
    }

    /// The target group, with the attributes set after it is created.
    pub(crate) fn target_group_plan(&self, known: &Known) -> Value {
        json!({
            "Name": self.names().balancer,
            "Protocol": "HTTP",
            "Port": PORT,
            "TargetType": "ip",
            "VpcId": known.vpc,
            "HealthCheckProtocol": "HTTP",
            "HealthCheckPath": "/health/ready",
            "HealthCheckIntervalSeconds": HEALTH_INTERVAL,
            "HealthCheckTimeoutSeconds": 2,
            "HealthyThresholdCount": HEALTHY_THRESHOLD,
            "UnhealthyThresholdCount": 2,
            "Matcher": {"HttpCode": "200"},
            "Tags": self.names().tags(),
            "Attributes": [{
                "Key": "deregistration_delay.timeout_seconds",
                "Value": self.deregistration_delay.to_string(),
            }],
        })
    }

    /// The listeners of a load balancer deploy creates (HTTP, or HTTPS with HTTP redirected to
    /// it), or the host rule on a shared one's listener.
    pub(crate) fn listeners_plan(&self, known: &Known) -> Vec<Value> {
        let forward = json!([{"Type": "forward", "TargetGroupArn": known.target_group}]);
        if self.load_balancer.is_some() {
            return vec![json!({
                "ListenerArn": known.listener,
                "Priority": known.rule_priority,
                "Conditions": [{"Field": "host-header",
                                "HostHeaderConfig": {"Values": [self.host]}}],
                "Actions": forward,
                "Tags": self.names().tags(),
            })];
        }
        let listener = |protocol: &str, port: u16, actions: &Value| {
            json!({
                "LoadBalancerArn": known.load_balancer,
                "Protocol": protocol,
                "Port": port,
                "DefaultActions": actions,
                "Tags": self.names().tags(),
            })
        };
        match &self.certificate_arn {
            None => vec![listener("HTTP", 80, &forward)],
            Some(certificate) => {
                let mut https = listener("HTTPS", 443, &forward);
                https["Certificates"] = json!([{"CertificateArn": certificate}]);
                https["SslPolicy"] = json!("ELBSecurityPolicy-TLS13-1-2-2021-06");
                let redirect = json!([{"Type": "redirect", "RedirectConfig": {
                    "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}]);
                vec![listener("HTTP", 80, &redirect), https]
            }
        }
    }

    /// `create-service`'s input; `update-service` takes the same settings but the count and
    /// the tags.
    pub(crate) fn service_plan(&self, known: &Known) -> Value {
        let names = self.names();
        let mut groups = vec![known.task_group.clone()];
        groups.extend(self.security_groups.iter().cloned());
        json!({
            "cluster": self.cluster,
            "serviceName": self.service,
            "taskDefinition": known.task_definition,
            "desiredCount": self.min,
            "launchType": "FARGATE",
            "networkConfiguration": {"awsvpcConfiguration": {
                "subnets": self.subnets,
                "securityGroups": groups,
                "assignPublicIp": if self.public_ip { "ENABLED" } else { "DISABLED" },
            }},
            "loadBalancers": [{
                "targetGroupArn": known.target_group,
                "containerName": CONTAINER,
                "containerPort": PORT,
            }],
            "healthCheckGracePeriodSeconds": self.health_check_grace,
            // Rolling, never below the running count; a release whose tasks keep failing, or
            // that trips the 5xx alarm, rolls back by itself.
            "deploymentConfiguration": {
                "maximumPercent": 200,
                "minimumHealthyPercent": 100,
                "deploymentCircuitBreaker": {"enable": true, "rollback": true},
                "alarms": {"alarmNames": [names.alarm], "enable": true, "rollback": true},
            },
            "enableExecuteCommand": false,
            "propagateTags": "SERVICE",
            "tags": crate::aws::ecs::tags(&self.service),
        })
    }

    pub(crate) fn scalable_target_plan(&self) -> Value {
        json!({
            "ServiceNamespace": "ecs",
            "ResourceId": self.names().scaling_id,
            "ScalableDimension": "ecs:service:DesiredCount",
            "MinCapacity": self.min,
            "MaxCapacity": self.max,
            "Tags": {PROJECT_TAG: project_name(), SERVICE_TAG: self.service},
        })
    }

    /// Target tracking on average CPU, and on requests per task with `--requests-per-target`;
    /// out fast, in slowly, so a burst does not make the service flap.
    pub(crate) fn scaling_policies_plan(&self, known: &Known) -> Vec<Value> {
        let names = self.names();
        let policy = |name: &str, target: u32, metric: Value| {
            json!({
                "PolicyName": name,
                "ServiceNamespace": "ecs",
                "ResourceId": names.scaling_id,
                "ScalableDimension": "ecs:service:DesiredCount",
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": f64::from(target),
                    "PredefinedMetricSpecification": metric,
                    "ScaleOutCooldown": SCALE_OUT_COOLDOWN,
                    "ScaleInCooldown": SCALE_IN_COOLDOWN,
                },
            })
        };
        let mut policies = vec![policy(
            &names.cpu_policy,
            self.cpu_target,
            json!({"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}),
        )];
        if let Some(requests) = self.requests_per_target {
            policies.push(policy(
                &names.requests_policy,
                requests,
                json!({
                    "PredefinedMetricType": "ALBRequestCountPerTarget",
                    "ResourceLabel": format!("{}/{}", dimension(&known.load_balancer),
                                             dimension(&known.target_group)),
                }),
            ));
        }
        policies
    }

    /// The share of 5xx answers among all requests: the tasks', and, on a load balancer of its
    /// own, the load balancer's (502/503/504 when targets fail; a shared one's would count other
    /// services' too). The deployment alarm.
    pub(crate) fn alarm_plan(&self, known: &Known) -> Value {
        let balancer = json!({"Name": "LoadBalancer", "Value": dimension(&known.load_balancer)});
        let target = json!({"Name": "TargetGroup", "Value": dimension(&known.target_group)});
        let metric = |id: &str, name: &str, dimensions: Value| {
            json!({
                "Id": id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ApplicationELB",
                        "MetricName": name,
                        "Dimensions": dimensions,
                    },
                    "Period": ALARM_PERIOD,
                    "Stat": "Sum",
                },
                "ReturnData": false,
            })
        };
        let own = self.load_balancer.is_none();
        let expression = if own {
            "100 * (FILL(target, 0) + FILL(balancer, 0)) / requests"
        } else {
            "100 * FILL(target, 0) / requests"
        };
        let both = json!([balancer, target]);
        let mut metrics = vec![
            json!({"Id": "ratio", "Expression": expression, "Label": "5xx %", "ReturnData": true}),
            metric("target", "HTTPCode_Target_5XX_Count", both.clone()),
            metric("requests", "RequestCount", both),
        ];
        if own {
            // The load balancer's own answers exist per load balancer only.
            metrics.push(metric(
                "balancer",
                "HTTPCode_ELB_5XX_Count",
                json!([balancer]),
            ));
        }
        json!({
            "AlarmName": self.names().alarm,
            "AlarmDescription": format!(
                "More than {} % of {}'s answers are 5xx: ECS rolls the deployment back",
                self.max_5xx_percent, self.service),
            "Metrics": metrics,
            "Threshold": f64::from(self.max_5xx_percent),
            "ComparisonOperator": "GreaterThanThreshold",
            "EvaluationPeriods": ALARM_PERIODS,
            "DatapointsToAlarm": ALARM_PERIODS,
            // No requests is no evidence of failure.
            "TreatMissingData": "notBreaching",
            "Tags": self.names().tags(),
        })
    }

    /// Everything, as `--dry-run` prints it.
    pub(crate) fn plan(&self, definition: &Value, known: &Known) -> Value {
        json!({
            "securityGroups": self.security_groups_plan(known),
            "loadBalancer": self.load_balancer_plan(known),
            "targetGroup": self.target_group_plan(known),
            "listeners": self.listeners_plan(known),
            "taskDefinition": definition,
            "service": self.service_plan(known),
            "scalableTarget": self.scalable_target_plan(),
            "scalingPolicies": self.scaling_policies_plan(known),
            "alarm": self.alarm_plan(known),
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::flags::{Command, Xtask};

    fn deploy(extra: &str) -> Deploy {
        let line =
            format!("cargo-xtask deploy --cluster web --subnets s --execution-role r {extra}");
        match Xtask::try_parse_from(line.split_whitespace()).map(|x| x.command) {
            Ok(Command::Deploy(deploy)) => *deploy,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn https_redirects_http_and_a_shared_balancer_gets_a_host_rule() {
        let known = Known::default();
        let plain = deploy("").listeners_plan(&known);
        assert_eq!(plain.len(), 1);
        assert_eq!(plain[0]["DefaultActions"][0]["Type"], "forward");
        let secure = deploy("--certificate-arn arn:cert").listeners_plan(&known);
        assert_eq!(secure[0]["Port"], 80);
        assert_eq!(
            secure[0]["DefaultActions"][0]["RedirectConfig"]["Protocol"],
            "HTTPS"
        );
        assert_eq!(secure[1]["Certificates"][0]["CertificateArn"], "arn:cert");
        let shared = deploy("--load-balancer arn:lb --host api.example.test");
        let rule = &shared.listeners_plan(&known)[0];
        assert_eq!(
            rule["Conditions"][0]["HostHeaderConfig"]["Values"][0],
            "api.example.test"
        );
        // A shared balancer brings its own security group: deploy makes the tasks' only.
        let groups = shared.security_groups_plan(&known);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0]["GroupName"], "web-app-tasks");
    }

    #[test]
    fn requests_scaling_only_when_asked() {
        let known = Known::default();
        assert_eq!(deploy("").scaling_policies_plan(&known).len(), 1);
        let both = deploy("--requests-per-target 500").scaling_policies_plan(&known);
        assert_eq!(
            both[1]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"],
            500.0
        );
        let service = deploy("--min 3").service_plan(&known);
        assert_eq!(service["desiredCount"], 3);
        assert_eq!(
            service["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"],
            "DISABLED"
        );
    }

    #[test]
    fn cloudwatch_dimensions_of_arns() {
        assert_eq!(
            dimension("arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/web-app/f8ce"),
            "app/web-app/f8ce"
        );
        assert_eq!(
            dimension("arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/web-app/4419"),
            "targetgroup/web-app/4419"
        );
        assert_eq!(dimension("<placeholder>"), "<placeholder>");
    }
}
