//! One `CloudFormation` stack, as `deploy`, `rollback` and `destroy` share it: its status, a change
//! set created, shown, executed or deleted, and its events followed as progress lines until it
//! settles. `CloudFormation` does the creating, comparing, rolling back and deleting; this only
//! asks and reports.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::Aws;
use crate::util::wait;

/// The project's name: the repository's last path segment. Every stack's name starts with it,
/// which is what the deploy identity's policy allows, and it is the stack's `project` tag.
pub(crate) fn project_name() -> &'static str {
    env!("CARGO_PKG_REPOSITORY")
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|name| !name.is_empty())
        .unwrap_or("app")
}

/// The stack of a service in a cluster.
pub(crate) fn stack_name(cluster: &str, service: &str) -> String {
    format!("{}-{cluster}-{service}", project_name())
}

/// Where a stack stands, from its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    Done,
    RolledBack,
    Busy,
}

pub(crate) fn settled(status: &str) -> Settled {
    if status.ends_with("_IN_PROGRESS") {
        Settled::Busy
    } else if status.contains("ROLLBACK") || status.ends_with("_FAILED") {
        Settled::RolledBack
    } else {
        Settled::Done
    }
}

pub(crate) struct Stack<'a> {
    pub(crate) aws: &'a Aws,
    pub(crate) name: String,
}

impl Stack<'_> {
    /// The stack, or `None` when there is none of that name.
    pub(crate) fn describe(&self) -> Result<Option<Value>> {
        match self.aws.call(
            "cloudformation",
            "describe-stacks",
            &["--stack-name", &self.name],
        )? {
            Ok(found) => Ok(Some(found["Stacks"][0].clone())),
            Err(error) if error.message.contains("does not exist") => Ok(None),
            Err(error) => Err(super::explain(&error)),
        }
    }

    fn run(&self, operation: &str, extra: &[&str]) -> Result<Value> {
        let args = [&["--stack-name", self.name.as_str()][..], extra].concat();
        self.aws.require("cloudformation", operation, &args)
    }

    /// Creates the change set `change_set` with `parameters` (each a value, or `None` for the
    /// stack's current one), waits until `CloudFormation` has computed it, and prints its changes.
    /// `false`: nothing would change (the change set is deleted then).
    pub(crate) fn change_set(
        &self,
        change_set: &str,
        create: bool,
        template: &str,
        parameters: &[(&str, Option<String>)],
        extra: &[&str],
    ) -> Result<bool> {
        let parameters: Vec<Value> = parameters
            .iter()
            .map(|(key, value)| match value {
                Some(value) => json!({"ParameterKey": key, "ParameterValue": value}),
                None => json!({"ParameterKey": key, "UsePreviousValue": true}),
            })
            .collect();
        let kind = if create { "CREATE" } else { "UPDATE" };
        let parameters = Value::from(parameters).to_string();
        let mut args = vec!["--change-set-name", change_set, "--change-set-type", kind];
        args.extend(["--parameters", &parameters]);
        if template.is_empty() {
            args.push("--use-previous-template");
        } else {
            args.extend(["--template-body", template]);
        }
        args.extend(extra);
        self.run("create-change-set", &args)?;
        let named = ["--change-set-name", change_set];
        let described = wait::until(Duration::from_mins(5), Duration::from_secs(2), || {
            let described = self.run("describe-change-set", &named)?;
            let status = described["Status"].as_str().unwrap_or_default().to_owned();
            Ok(
                (!status.ends_with("_PENDING") && !status.ends_with("_IN_PROGRESS"))
                    .then_some(described),
            )
        })?
        .context("CloudFormation did not compute the change set within 5 minutes")?;
        if described["Status"] == "FAILED" {
            let reason = described["StatusReason"]
                .as_str()
                .unwrap_or("no reason given");
            self.run("delete-change-set", &named)?;
            if reason.contains("didn't contain changes") || reason.contains("No updates") {
                return Ok(false);
            }
            bail!("CloudFormation refused the change set: {reason}");
        }
        println!("changes to the stack {}:", self.name);
        for change in described["Changes"].as_array().into_iter().flatten() {
            let change = &change["ResourceChange"];
            let text = |key: &str| change[key].as_str().unwrap_or_default().to_owned();
            let replacement = match change["Replacement"].as_str() {
                Some("True") => " (replaced)",
                Some("Conditional") => " (maybe replaced)",
                _ => "",
            };
            println!(
                "  {:<8} {:<26} {}{replacement}",
                text("Action"),
                text("LogicalResourceId"),
                text("ResourceType")
            );
        }
        Ok(true)
    }

    pub(crate) fn delete_change_set(&self, change_set: &str) -> Result<()> {
        self.run("delete-change-set", &["--change-set-name", change_set])
            .map(drop)
    }

    pub(crate) fn execute_change_set(&self, change_set: &str, wait_secs: u32) -> Result<()> {
        let seen = self.event_ids()?;
        self.run("execute-change-set", &["--change-set-name", change_set])?;
        self.follow(seen, wait_secs)
    }

    /// `delete-stack`, followed until the stack is gone.
    pub(crate) fn delete(&self, wait_secs: u32, extra: &[&str]) -> Result<()> {
        let seen = self.event_ids()?;
        self.run("delete-stack", extra)?;
        self.follow(seen, wait_secs)
    }

    /// `cancel-update-stack`: `CloudFormation` rolls the update in progress back.
    pub(crate) fn cancel_update(&self, wait_secs: u32) -> Result<()> {
        let seen = self.event_ids()?;
        self.run("cancel-update-stack", &[])?;
        self.follow(seen, wait_secs).or_else(|error| {
            // The cancelled update's rollback is what was asked for.
            let status = self.status()?;
            if status == "UPDATE_ROLLBACK_COMPLETE" {
                println!("the update was cancelled and rolled back");
                Ok(())
            } else {
                Err(error)
            }
        })
    }

    /// The stack's status; `DELETE_COMPLETE` once it is gone.
    pub(crate) fn status(&self) -> Result<String> {
        Ok(self.describe()?.map_or_else(
            || "DELETE_COMPLETE".to_owned(),
            |stack| stack["StackStatus"].as_str().unwrap_or_default().to_owned(),
        ))
    }

    /// The newest events, newest first (`CloudFormation`'s order); `None` once the stack is gone.
    fn events(&self) -> Result<Option<Vec<Value>>> {
        let answer = self.aws.call(
            "cloudformation",
            "describe-stack-events",
            &["--stack-name", &self.name, "--max-items", "100"],
        )?;
        Ok(answer
            .ok()
            .map(|found| found["StackEvents"].as_array().cloned().unwrap_or_default()))
    }

    fn event_ids(&self) -> Result<HashSet<String>> {
        Ok(self
            .events()?
            .unwrap_or_default()
            .iter()
            .map(event_id)
            .collect())
    }

    /// Prints each new event as a progress line until the stack settles: `Ok` when it got
    /// where it was going, an error naming the event that made it roll back otherwise. The
    /// stack's own events carry its status, so one call a look does.
    fn follow(&self, mut seen: HashSet<String>, wait_secs: u32) -> Result<()> {
        let mut failures = Vec::new();
        let mut status = String::new();
        let limit = Duration::from_secs(u64::from(wait_secs));
        let settled_status = wait::until(limit, Duration::from_secs(5), || {
            let Some(events) = self.events()? else {
                return Ok(Some("DELETE_COMPLETE".to_owned()));
            };
            for event in events.iter().rev().filter(|e| seen.insert(event_id(e))) {
                let text = |key: &str| event[key].as_str().unwrap_or_default().to_owned();
                let (state, reason) = (text("ResourceStatus"), text("ResourceStatusReason"));
                println!("  {:<26} {state:<28} {reason}", text("LogicalResourceId"));
                if event["ResourceType"] == "AWS::CloudFormation::Stack" {
                    status.clone_from(&state);
                } else if state.ends_with("_FAILED") && !reason.contains("cancelled") {
                    failures.push(format!("{}: {reason}", text("LogicalResourceId")));
                }
            }
            Ok((!status.is_empty() && settled(&status) != Settled::Busy).then(|| status.clone()))
        })?;
        let Some(status) = settled_status else {
            bail!(
                "the stack {} is still changing after {wait_secs} s; CloudFormation carries on: \
                 follow it with `aws cloudformation describe-stack-events --stack-name {}`",
                self.name,
                self.name
            );
        };
        if settled(&status) == Settled::RolledBack {
            let cause = failures
                .first()
                .map_or("no failed resource reported", String::as_str);
            bail!("the stack {} ended {status}, caused by {cause}", self.name);
        }
        println!("the stack {} is {status}", self.name);
        Ok(())
    }
}

/// `--role-arn` of the role the stack acts with, for a call that should keep it (a deploy
/// identity may be allowed stack changes only through that role).
pub(crate) fn role_of(stack: &Value) -> Vec<&str> {
    stack["RoleARN"]
        .as_str()
        .map_or_else(Vec::new, |role| vec!["--role-arn", role])
}

impl Stack<'_> {
    /// The first of the stack's outputs `keys` it has.
    pub(crate) fn output(&self, keys: &[&str]) -> Result<Option<String>> {
        let stack = self.describe()?.unwrap_or_default();
        Ok(stack["Outputs"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|output| keys.iter().any(|key| output["OutputKey"] == *key))
            .and_then(|output| output["OutputValue"].as_str())
            .map(str::to_owned))
    }

    /// The physical id of the stack's resource `logical` (an ARN, a name). All of them are
    /// read and searched here: moto answers 500 to a lookup of one when it skipped another.
    pub(crate) fn resource(&self, logical: &str) -> Result<String> {
        let found = self.run("describe-stack-resources", &[])?;
        found["StackResources"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|resource| resource["LogicalResourceId"] == logical)
            .and_then(|resource| resource["PhysicalResourceId"].as_str())
            .map(str::to_owned)
            .with_context(|| format!("the stack {} has no {logical}", self.name))
    }
}

fn event_id(event: &Value) -> String {
    event["EventId"].as_str().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollback_is_settled_but_not_done() {
        assert_eq!(settled("CREATE_COMPLETE"), Settled::Done);
        assert_eq!(settled("UPDATE_COMPLETE"), Settled::Done);
        assert_eq!(settled("DELETE_COMPLETE"), Settled::Done);
        assert_eq!(settled("UPDATE_IN_PROGRESS"), Settled::Busy);
        assert_eq!(settled("UPDATE_ROLLBACK_IN_PROGRESS"), Settled::Busy);
        assert_eq!(settled("UPDATE_ROLLBACK_COMPLETE"), Settled::RolledBack);
        assert_eq!(settled("ROLLBACK_COMPLETE"), Settled::RolledBack);
        assert_eq!(settled("DELETE_FAILED"), Settled::RolledBack);
        assert!(stack_name("web", "app").ends_with("-web-app"));
    }
}
