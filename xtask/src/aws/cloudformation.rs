//! One `CloudFormation` stack, as `deploy`, `rollback` and `destroy` share it: the `aws
//! cloudformation deploy` command that deploys a template, run as far as its change set, which
//! is shown and then executed or deleted; and the stack's events followed as progress lines
//! until it settles. `CloudFormation` does the creating, comparing, rolling back and deleting.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

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

/// Whether a status is on the way somewhere (`UPDATE_IN_PROGRESS`, `REVIEW_IN_PROGRESS`).
fn busy(status: &str) -> bool {
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

/// The words after `aws cloudformation deploy` that deploy the template in the file `template`
/// as the stack `stack` of `service`, with every one of its `parameters` given (none left to
/// the stack's previous value). The same command deploys it without xtask.
pub(crate) fn deploy_command(
    stack: &str,
    template: &str,
    service: &str,
    role: Option<&str>,
    parameters: &[(&str, String)],
) -> Vec<String> {
    let project = format!("project={}", project_name());
    let service = format!("service={service}");
    let mut words = vec!["--template-file", template, "--stack-name", stack];
    words.extend(role_arn(role));
    words.extend(["--tags", &project, &service, "--parameter-overrides"]);
    let parameters = parameters
        .iter()
        .map(|(key, value)| format!("{key}={value}"));
    words
        .into_iter()
        .map(str::to_owned)
        .chain(parameters)
        .collect()
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

    /// The stack, unless it holds nothing: there is none of that name, or only one a change set
    /// made that was never executed (`REVIEW_IN_PROGRESS`).
    pub(crate) fn deployed(&self) -> Result<Option<StackDescription>> {
        let found = self.describe()?;
        Ok(found.filter(|found| found.stack_status != "REVIEW_IN_PROGRESS"))
    }

    /// `aws cloudformation OPERATION --stack-name NAME EXTRA`, read as `T`; `None` when there is
    /// no stack of that name, any other error explained.
    fn unless_gone<T: DeserializeOwned>(
        &self,
        operation: &str,
        extra: &[&str],
    ) -> Result<Option<T>> {
        let args = [&["--stack-name", self.name.as_str()][..], extra].concat();
        match self.aws.call("cloudformation", operation, &args)? {
            Ok(found) => Ok(Some(found)),
            Err(error) if error.message.contains("does not exist") => Ok(None),
            Err(error) => Err(super::explain(&error)),
        }
    }

    /// Like `unless_gone`, every AWS error explained as a failure.
    fn read<T: DeserializeOwned>(&self, operation: &str, extra: &[&str]) -> Result<T> {
        let args = [&["--stack-name", self.name.as_str()][..], extra].concat();
        self.aws.answer("cloudformation", operation, &args)
    }

    /// Runs `aws cloudformation deploy WORDS` as far as the change set
    /// (`--no-execute-changeset`): the CLI creates it for the stack or for a new one and waits
    /// until `CloudFormation` has computed it. Prints its changes; its id, or `None` when
    /// nothing would change.
    pub(crate) fn change_set(&self, words: &[String]) -> Result<Option<String>> {
        let mut args: Vec<&str> = words.iter().map(String::as_str).collect();
        args.extend(["--no-execute-changeset", "--no-fail-on-empty-changeset"]);
        let said = match self.aws.run("cloudformation", "deploy", &args)? {
            Ok(said) => said,
            Err(error) => match error.message.split_once("Reason: ") {
                Some((_, reason)) => {
                    self.delete_failed_change_sets()?;
                    bail!("CloudFormation refused the change set: {reason}")
                }
                None => return Err(super::explain(&error).context("aws cloudformation deploy")),
            },
        };
        if said.contains("No changes to deploy") {
            self.delete_failed_change_sets()?;
            return Ok(None);
        }
        let id = said
            .split_once("--change-set-name ")
            .map(|(_, id)| id.trim());
        let id =
            id.with_context(|| format!("aws cloudformation deploy named no change set: {said}"))?;
        // Each change: action, logical id, type, replacement.
        let query = "Changes[].ResourceChange.[Action, LogicalResourceId, ResourceType, \
                     Replacement || ''] || `[]`";
        let args = ["--change-set-name", id, "--query", query];
        let changes: Vec<[String; 4]> = self.read("describe-change-set", &args)?;
        println!("changes to the stack {}:", self.name);
        for [action, logical, kind, replacement] in &changes {
            let replaced = match replacement.as_str() {
                "True" => " (replaced)",
                "Conditional" => " (maybe replaced)",
                _ => "",
            };
            println!("  {action:<8} {logical:<26} {kind}{replaced}");
        }
        Ok(Some(id.to_owned()))
    }

    /// Deletes the stack's FAILED change sets: the CLI's `deploy` leaves the one it made behind
    /// when nothing would change or `CloudFormation` refused it.
    fn delete_failed_change_sets(&self) -> Result<()> {
        let query = "Summaries[?Status=='FAILED'].ChangeSetId";
        let failed: Vec<String> = self.read("list-change-sets", &["--query", query])?;
        failed.iter().try_for_each(|id| self.delete_change_set(id))
    }

    pub(crate) fn delete_change_set(&self, id: &str) -> Result<()> {
        self.read("delete-change-set", &["--change-set-name", id])
            .map(|_: Value| ())
    }

    /// Executes the change set and follows the stack until it settles where it was going.
    pub(crate) fn execute_change_set(&self, name: &str, wait_secs: u32) -> Result<()> {
        let named = ["--change-set-name", name];
        self.act("execute-change-set", &named, wait_secs)
    }

    /// `delete-stack`, followed until the stack is gone.
    pub(crate) fn delete(&self, wait_secs: u32, extra: &[&str]) -> Result<()> {
        self.act("delete-stack", extra, wait_secs)
    }

    /// `cancel-update-stack`: `CloudFormation` rolls the update in progress back, which is
    /// what was asked for.
    pub(crate) fn cancel_update(&self, wait_secs: u32) -> Result<()> {
        self.act("cancel-update-stack", &[], wait_secs)
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
    /// (the stack's own events carry its status, so one call a look does); with `wait_secs` 0
    /// it only starts the operation. A failure's first failing resource and its reason are the
    /// error; but a cancelled update rolled back is what was asked for.
    fn act(&self, operation: &str, extra: &[&str], wait_secs: u32) -> Result<()> {
        if wait_secs == 0 {
            self.read::<Value>(operation, extra)?;
            println!("{operation}: not following the stack's events (--wait 0)");
            return Ok(());
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
        let asked = operation == "cancel-update-stack" && status == "UPDATE_ROLLBACK_COMPLETE";
        if failed(&status) && !asked {
            let cause = cause.as_deref().unwrap_or("no failed resource reported");
            bail!("the stack {} ended {status}, caused by {cause}", self.name);
        }
        println!("the stack {} is {status}", self.name);
        Ok(())
    }

    /// Writes the stack's template, as it was last deployed, to `path`.
    pub(crate) fn save_template(&self, path: &std::path::Path) -> Result<()> {
        let body: Value = self.read("get-template", &["--query", "TemplateBody"])?;
        let text = body
            .as_str()
            .map_or_else(|| body.to_string(), str::to_owned);
        crate::files::write_atomically(path, text.as_bytes())
    }

    /// The stack's `Url` output, or with a shared load balancer its `Host`.
    pub(crate) fn url(&self) -> Result<Option<String>> {
        let query = "Stacks[0].Outputs[?OutputKey=='Url' || OutputKey=='Host'].OutputValue | [0]";
        self.read("describe-stacks", &["--query", query])
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
