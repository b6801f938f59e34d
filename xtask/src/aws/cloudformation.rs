//! One `CloudFormation` stack, as `deploy`, `rollback` and `destroy` share it: a change set
//! created, shown, executed or deleted, and the stack's events followed as progress lines until
//! it settles. `CloudFormation` does the creating, comparing, rolling back and deleting.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::Aws;
use crate::process::wait;

/// The project's name: the repository's last path segment. Every stack's name starts with it,
/// which is what the deploy identity's policy allows, and it is the stack's `project` tag.
pub(crate) fn project_name() -> &'static str {
    let repository = env!("CARGO_PKG_REPOSITORY").trim_end_matches('/');
    repository.rsplit('/').next().unwrap_or("app")
}

/// The stack of a service in a cluster.
pub(crate) fn stack_name(cluster: &str, service: &str) -> String {
    format!("{}-{cluster}-{service}", project_name())
}

/// A change set's name, unique to the second: `xtask-1767225600`.
pub(crate) fn change_set_name() -> Result<String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    Ok(format!(
        "xtask-{}",
        now.context("the clock is before 1970")?.as_secs()
    ))
}

/// Whether a status is on the way somewhere (`UPDATE_IN_PROGRESS`, `REVIEW_IN_PROGRESS`).
pub(crate) fn busy(status: &str) -> bool {
    status.ends_with("_IN_PROGRESS")
}

/// Whether a settled status is a failure: a rollback, or a step that failed.
fn failed(status: &str) -> bool {
    status.contains("ROLLBACK") || status.ends_with("_FAILED")
}

/// `--role-arn ROLE`, the role `CloudFormation` acts with (a deploy identity may be allowed
/// stack changes only through it); nothing without one.
pub(crate) fn role_arn(role: Option<&str>) -> Vec<&str> {
    role.map_or_else(Vec::new, |role| vec!["--role-arn", role])
}

// The answers below are read through the AWS CLI's `--query`, which picks the list or the
// object out of AWS's envelope (`Stacks[0]`, `StackEvents`): only the fields xtask uses.

/// A stack as `describe-stacks` describes it: its parameters as (key, value) pairs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StackDescription {
    pub(crate) stack_status: String,
    #[serde(rename = "RoleARN")]
    pub(crate) role_arn: Option<String>,
    pub(crate) parameters: Vec<(String, String)>,
}

impl StackDescription {
    /// The value the stack holds for the parameter `key` (empty when it has none).
    pub(crate) fn parameter(&self, key: &str) -> &str {
        let found = self.parameters.iter().find(|(k, _)| k == key);
        found.map_or("", |(_, value)| value)
    }
}

/// The stack's fields `StackDescription` reads.
const DESCRIBED: &str = "Stacks[0].{StackStatus: StackStatus, RoleARN: RoleARN, Parameters: \
                         Parameters[].[ParameterKey, ParameterValue || ''] || `[]`}";

pub(crate) struct Stack<'a> {
    pub(crate) aws: &'a Aws,
    pub(crate) name: String,
}

impl Stack<'_> {
    /// The stack, or `None` when there is none of that name.
    pub(crate) fn describe(&self) -> Result<Option<StackDescription>> {
        self.unless_gone("describe-stacks", &["--query", DESCRIBED])
    }

    /// `call`, with `None` when there is no stack of that name; any other error explained.
    fn unless_gone<T: DeserializeOwned>(
        &self,
        operation: &str,
        extra: &[&str],
    ) -> Result<Option<T>> {
        match self.call(operation, extra)? {
            Ok(found) => Ok(Some(found)),
            Err(error) if error.message.contains("does not exist") => Ok(None),
            Err(error) => Err(super::explain(&error)),
        }
    }

    /// `aws cloudformation OPERATION --stack-name NAME EXTRA`, read as `T`; `Err(AwsError)` is
    /// AWS's answer.
    fn call<T: DeserializeOwned>(
        &self,
        operation: &str,
        extra: &[&str],
    ) -> Result<std::result::Result<T, super::AwsError>> {
        let args = [&["--stack-name", self.name.as_str()][..], extra].concat();
        self.aws.call("cloudformation", operation, &args)
    }

    /// Like `call`, every AWS error explained as a failure.
    fn read<T: DeserializeOwned>(&self, operation: &str, extra: &[&str]) -> Result<T> {
        let args = [&["--stack-name", self.name.as_str()][..], extra].concat();
        self.aws.answer("cloudformation", operation, &args)
    }

    /// Creates the change set `name` of `template` (empty: the stack's own) with every one of
    /// the template's `parameters` (none left to the stack's previous value), waits until
    /// `CloudFormation` has computed it and prints its changes. `false`: nothing would change,
    /// and the change set is deleted.
    pub(crate) fn change_set(
        &self,
        name: &str,
        create: bool,
        template: &str,
        parameters: &[(&str, String)],
        extra: &[&str],
    ) -> Result<bool> {
        let parameters: Vec<Value> = parameters
            .iter()
            .map(|(key, value)| json!({"ParameterKey": key, "ParameterValue": value}))
            .collect();
        let parameters = Value::from(parameters).to_string();
        let kind = if create { "CREATE" } else { "UPDATE" };
        let mut args = vec!["--change-set-name", name, "--change-set-type", kind];
        args.extend(["--parameters", &parameters]);
        if template.is_empty() {
            args.push("--use-previous-template");
        } else {
            args.extend(["--template-body", template]);
        }
        self.read::<Value>("create-change-set", &[&args[..], extra].concat())?;
        let named = ["--change-set-name", name];
        // Status, its reason, and each change: action, logical id, type, replacement.
        let query = "[Status, StatusReason || 'no reason given', Changes[].ResourceChange.\
                     [Action, LogicalResourceId, ResourceType, Replacement || ''] || `[]`]";
        let query = [&named[..], &["--query", query]].concat();
        let (status, reason, changes): (String, String, Vec<[String; 4]>) =
            wait::until(Duration::from_mins(5), Duration::from_secs(2), || {
                let described: (String, String, _) = self.read("describe-change-set", &query)?;
                Ok((!described.0.ends_with("PENDING") && !busy(&described.0)).then_some(described))
            })?
            .context("CloudFormation did not compute the change set within 5 minutes")?;
        if status == "FAILED" {
            self.read::<Value>("delete-change-set", &named)?;
            if reason.contains("didn't contain changes") || reason.contains("No updates") {
                return Ok(false);
            }
            bail!("CloudFormation refused the change set: {reason}");
        }
        println!("changes to the stack {}:", self.name);
        for [action, logical, kind, replacement] in &changes {
            let replaced = match replacement.as_str() {
                "True" => " (replaced)",
                "Conditional" => " (maybe replaced)",
                _ => "",
            };
            println!("  {action:<8} {logical:<26} {kind}{replaced}");
        }
        Ok(true)
    }

    pub(crate) fn delete_change_set(&self, name: &str) -> Result<()> {
        self.read("delete-change-set", &["--change-set-name", name])
            .map(|_: Value| ())
    }

    /// Executes the change set and follows the stack until it settles where it was going.
    pub(crate) fn execute_change_set(&self, name: &str, wait_secs: u32) -> Result<()> {
        let named = ["--change-set-name", name];
        self.act("execute-change-set", &named, wait_secs).map(drop)
    }

    /// `delete-stack`, followed until the stack is gone.
    pub(crate) fn delete(&self, wait_secs: u32, extra: &[&str]) -> Result<()> {
        self.act("delete-stack", extra, wait_secs).map(drop)
    }

    /// `cancel-update-stack`: `CloudFormation` rolls the update in progress back, which is
    /// what was asked for.
    pub(crate) fn cancel_update(&self, wait_secs: u32) -> Result<()> {
        let status = self.act("cancel-update-stack", &[], wait_secs)?;
        if let Some(status) = status.filter(|status| status != "UPDATE_ROLLBACK_COMPLETE") {
            bail!("the stack {} ended {status}, not rolled back", self.name);
        }
        Ok(())
    }

    /// The newest events, newest first (`CloudFormation`'s order); `None` once the stack is gone.
    /// Each: id, logical id, type, status, reason.
    fn events(&self) -> Result<Option<Vec<[String; 5]>>> {
        let query = "StackEvents[].[EventId, LogicalResourceId, ResourceType, ResourceStatus, \
                     ResourceStatusReason || '']";
        let query = ["--max-items", "100", "--query", query];
        self.unless_gone("describe-stack-events", &query)
    }

    /// Runs `operation`, then prints each new event as a progress line until the stack settles
    /// (the stack's own events carry its status, so one call a look does); its last status, or
    /// `None` with `wait_secs` 0, which only starts the operation.
    /// A failure's first failing resource and its reason are the error.
    fn act(&self, operation: &str, extra: &[&str], wait_secs: u32) -> Result<Option<String>> {
        if wait_secs == 0 {
            self.read::<Value>(operation, extra)?;
            println!("{operation}: not following the stack's events (--wait 0)");
            return Ok(None);
        }
        let mut seen: HashSet<String> = self
            .events()?
            .unwrap_or_default()
            .into_iter()
            .map(|[id, ..]| id)
            .collect();
        self.read::<Value>(operation, extra)?;
        let (mut status, mut cause) = (String::new(), None);
        let limit = Duration::from_secs(u64::from(wait_secs));
        let settled = wait::until(limit, Duration::from_secs(5), || {
            let Some(events) = self.events()? else {
                return Ok(Some("DELETE_COMPLETE".to_owned()));
            };
            for [_, logical, kind, state, reason] in
                events.iter().rev().filter(|e| seen.insert(e[0].clone()))
            {
                println!("  {logical:<26} {state:<28} {reason}");
                if kind == "AWS::CloudFormation::Stack" {
                    status.clone_from(state);
                } else if state.ends_with("_FAILED") && !reason.contains("cancelled") {
                    cause.get_or_insert(format!("{logical}: {reason}"));
                }
            }
            Ok((!status.is_empty() && !busy(&status)).then(|| status.clone()))
        })?;
        let Some(status) = settled else {
            bail!(
                "the stack {0} is still changing after {wait_secs} s; CloudFormation carries on: \
                 follow it with `aws cloudformation describe-stack-events --stack-name {0}`",
                self.name
            );
        };
        if failed(&status) && operation != "cancel-update-stack" {
            let cause = cause.as_deref().unwrap_or("no failed resource reported");
            bail!("the stack {} ended {status}, caused by {cause}", self.name);
        }
        println!("the stack {} is {status}", self.name);
        Ok(Some(status))
    }

    /// The value of the first of the stack's outputs `keys` it has.
    pub(crate) fn output(&self, keys: &[&str]) -> Result<Option<String>> {
        let keys: Vec<String> = keys.iter().map(|k| format!("OutputKey=='{k}'")).collect();
        let query = format!(
            "Stacks[0].Outputs[?{}].OutputValue | [0]",
            keys.join(" || ")
        );
        self.read("describe-stacks", &["--query", &query])
    }

    /// The physical id of the stack's resource `logical` (an ARN, a name). All are read and
    /// the CLI picks it: moto answers 500 to a lookup of one when it skipped another.
    pub(crate) fn resource(&self, logical: &str) -> Result<String> {
        let query =
            format!("StackResources[?LogicalResourceId=='{logical}'].PhysicalResourceId | [0]");
        let found: Option<String> = self.read("describe-stack-resources", &["--query", &query])?;
        found.with_context(|| format!("the stack {} has no {logical}", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollback_is_settled_but_failed() {
        assert!(busy("UPDATE_ROLLBACK_IN_PROGRESS") && busy("REVIEW_IN_PROGRESS"));
        assert!(!failed("UPDATE_COMPLETE") && !failed("DELETE_COMPLETE"));
        assert!(failed("UPDATE_ROLLBACK_COMPLETE") && failed("DELETE_FAILED"));
        assert!(stack_name("web", "app").ends_with("-web-app"));
    }
}
