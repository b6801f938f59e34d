//! One ECS service, as `deploy`, `rollback` and `destroy` share it: found, tagged, waited for
//! until its deployment settles (or fails, or the circuit breaker rolls it back).

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::{Value, json};

use super::Aws;
use crate::util::wait;

/// The tag keys on everything `deploy` creates; `destroy` removes nothing without them.
pub(crate) const PROJECT_TAG: &str = "project";
pub(crate) const SERVICE_TAG: &str = "service";

/// The project's name in tags: the repository's last path segment.
pub(crate) fn project_name() -> &'static str {
    env!("CARGO_PKG_REPOSITORY")
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|name| !name.is_empty())
        .unwrap_or("app")
}

/// A service of a cluster.
pub(crate) struct Service<'a> {
    pub(crate) aws: &'a Aws,
    pub(crate) cluster: &'a str,
    pub(crate) name: &'a str,
}

/// The tags for what is created for `service`, as ECS takes them.
pub(crate) fn tags(service: &str) -> Value {
    json!([
        {"key": PROJECT_TAG, "value": project_name()},
        {"key": SERVICE_TAG, "value": service},
    ])
}

impl Service<'_> {
    /// The same tags as the CLI's shorthand: `key=project,value=...`.
    pub(crate) fn tag_pairs(&self) -> Vec<String> {
        [(PROJECT_TAG, project_name()), (SERVICE_TAG, self.name)]
            .iter()
            .map(|(key, value)| format!("key={key},value={value}"))
            .collect()
    }

    /// Whether `tags` (ECS's `[{key, value}]`) name this project and service.
    pub(crate) fn owns(&self, tags: &Value) -> bool {
        let has = |key: &str, value: &str| {
            tags.as_array()
                .into_iter()
                .flatten()
                .any(|tag| tag["key"] == key && tag["value"] == value)
        };
        has(PROJECT_TAG, project_name()) && has(SERVICE_TAG, self.name)
    }

    /// The service when it is active (a deleted one lingers as INACTIVE for a while).
    pub(crate) fn describe(&self) -> Result<Option<Value>> {
        let services = self.aws.require(
            "ecs",
            "describe-services",
            &[
                "--cluster",
                self.cluster,
                "--services",
                self.name,
                "--include",
                "TAGS",
            ],
        )?;
        Ok(services["services"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["status"] == "ACTIVE")
            .cloned())
    }

    pub(crate) fn wait_until_stable(&self, arn: &str, wait_secs: u32) -> Result<()> {
        if wait_secs == 0 {
            println!("not waiting for the service to become stable (--wait 0)");
            return Ok(());
        }
        let limit = Duration::from_secs(u64::from(wait_secs));
        let started = Instant::now();
        let mut waiting = String::new();
        let stable = wait::until(limit, Duration::from_secs(5), || {
            let services = self.aws.require(
                "ecs",
                "describe-services",
                &["--cluster", self.cluster, "--services", self.name],
            )?;
            match assess(&services["services"][0], arn) {
                Rollout::Stable(line) => Ok(Some(line)),
                Rollout::Failed(reason) => bail!(reason),
                Rollout::Waiting(state) => {
                    waiting = state;
                    Ok(None)
                }
            }
        })?;
        let Some(line) = stable else {
            bail!(
                "the service {} did not become stable within {} s ({waiting}); the task \
                 definition stays registered and ECS keeps trying: follow it with `aws ecs \
                 describe-services --cluster {} --services {}`",
                self.name,
                wait_secs,
                self.cluster,
                self.name
            );
        };
        println!(
            "stable after {:.0} s: {line}",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

enum Rollout {
    Stable(String),
    Waiting(String),
    Failed(String),
}

/// Where a deployment of `arn` stands, from `describe-services`' view of the service.
fn assess(service: &Value, arn: &str) -> Rollout {
    let all: &[Value] = service["deployments"].as_array().map_or(&[], Vec::as_slice);
    let primary = all
        .iter()
        .find(|d| d["status"] == "PRIMARY")
        .unwrap_or(&Value::Null);
    let ours = all.iter().find(|d| d["taskDefinition"] == arn);
    let (running, desired) = (
        service["runningCount"].as_u64().unwrap_or(0),
        service["desiredCount"].as_u64().unwrap_or(0),
    );
    let rollout = primary["rolloutState"].as_str().unwrap_or("");
    // The circuit breaker's rollback marks this deployment FAILED and points the service back
    // at the old task definition, which then settles: stable, but not with what was deployed.
    if ours.is_some_and(|d| d["rolloutState"] == "FAILED") || service["taskDefinition"] != arn {
        let reason = ours
            .and_then(|d| d["rolloutStateReason"].as_str())
            .unwrap_or("no reason given");
        return Rollout::Failed(format!(
            "the deployment of {} failed and ECS rolled the service back to {}: {reason}",
            short_arn(arn),
            short_arn(service["taskDefinition"].as_str().unwrap_or("?"))
        ));
    }
    if all.len() == 1 && running == desired && rollout != "IN_PROGRESS" {
        return Rollout::Stable(format!(
            "{running} of {desired} tasks of {} running",
            short_arn(arn)
        ));
    }
    Rollout::Waiting(format!(
        "{running} of {desired} tasks running, {} deployments, rollout {rollout}",
        all.len()
    ))
}

/// `app:3` of `arn:aws:ecs:...:task-definition/app:3`.
pub(crate) fn short_arn(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollback_is_a_failure_not_stability() {
        let new = "arn:aws:ecs:eu-west-1:1:task-definition/app:8";
        let old = "arn:aws:ecs:eu-west-1:1:task-definition/app:7";
        let deployment = |status: &str, definition: &str, state: &str| {
            json!({"status": status, "taskDefinition": definition, "rolloutState": state,
                   "rolloutStateReason": "tasks failed to start"})
        };
        let in_progress = json!({"taskDefinition": new, "desiredCount": 2, "runningCount": 1,
            "deployments": [deployment("PRIMARY", new, "IN_PROGRESS"),
                            deployment("ACTIVE", old, "COMPLETED")]});
        assert!(matches!(assess(&in_progress, new), Rollout::Waiting(_)));
        let done = json!({"taskDefinition": new, "desiredCount": 2, "runningCount": 2,
            "deployments": [deployment("PRIMARY", new, "COMPLETED")]});
        assert!(matches!(assess(&done, new), Rollout::Stable(_)));
        // The circuit breaker rolled back: the old definition runs, settled.
        let rolled_back = json!({"taskDefinition": old, "desiredCount": 2, "runningCount": 2,
            "deployments": [deployment("PRIMARY", old, "COMPLETED")]});
        let Rollout::Failed(reason) = assess(&rolled_back, new) else {
            panic!("a rollback must fail");
        };
        assert!(
            reason.contains("app:8 failed") && reason.contains("back to app:7"),
            "{reason}"
        );
        let failing = json!({"taskDefinition": old, "desiredCount": 2, "runningCount": 2,
            "deployments": [deployment("PRIMARY", old, "IN_PROGRESS"),
                            deployment("ACTIVE", new, "FAILED")]});
        let Rollout::Failed(reason) = assess(&failing, new) else {
            panic!("a failed rollout must fail");
        };
        assert!(reason.ends_with("tasks failed to start"), "{reason}");
    }
}
