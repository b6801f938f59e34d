//! `cargo xtask rollback`: the service put back through its stack, never around it. An update
//! still in progress is cancelled, and `CloudFormation` rolls it back to the stack as it was.
//! Otherwise the last update succeeded and is unwanted: the image of the task definition
//! revision before the current one is deployed again by a change set in which every other
//! parameter keeps the stack's value, so only the image goes back. (`CloudFormation` itself keeps
//! no earlier parameters; the circuit breaker and the 5xx alarm already roll back a release
//! that fails while it deploys, and `CloudFormation`'s update with it.)

use anyhow::{Context, Result, bail};

use crate::aws::Aws;
use crate::aws::cloudformation::{Settled, Stack, role_of, settled, stack_name};
use crate::flags::Rollback;

impl Rollback {
    pub(crate) fn run(self) -> Result<()> {
        let target = &self.target;
        let aws = Aws::in_region(target.region.as_deref())?;
        let stack = Stack {
            aws: &aws,
            name: stack_name(&target.cluster, &target.service),
        };
        let Some(found) = stack.describe()? else {
            bail!(
                "no stack {}: nothing to roll back (`cargo xtask deploy` creates it)",
                stack.name
            );
        };
        let status = found["StackStatus"].as_str().unwrap_or_default();
        if status == "UPDATE_IN_PROGRESS" {
            println!(
                "the stack {} is updating: cancelling, CloudFormation rolls it back",
                stack.name
            );
            return stack.cancel_update(target.wait_secs);
        }
        if settled(status) == Settled::Busy {
            bail!(
                "the stack {} is {status}: wait until it settles",
                stack.name
            );
        }
        let current = stack.resource("TaskDefinition")?;
        let (family, revision) = family_revision(&current)?;
        let image_of = |definition: &str| -> Result<String> {
            let described = aws.require(
                "ecs",
                "describe-task-definition",
                &["--task-definition", definition],
            )?;
            described["taskDefinition"]["containerDefinitions"][0]["image"]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("{definition} names no image"))
        };
        let image = image_of(&current)?;
        // The newest earlier revision with another image (CloudFormation deregisters a replaced
        // revision, and ECS still describes it).
        let previous = (1..revision)
            .rev()
            .map(|earlier| format!("{family}:{earlier}"))
            .find_map(|earlier| image_of(&earlier).ok().filter(|other| *other != image))
            .with_context(|| {
                format!("{family}:{revision} runs {image}, and no earlier revision of {family} ran another image")
            })?;
        println!(
            "rolling {} back to {previous} (now {image})",
            target.service
        );
        let parameters = found["Parameters"].as_array().cloned().unwrap_or_default();
        let values: Vec<(&str, Option<String>)> = parameters
            .iter()
            .filter_map(|p| p["ParameterKey"].as_str())
            .map(|key| (key, (key == "Image").then(|| previous.clone())))
            .collect();
        let name = format!("xtask-rollback-{revision}");
        if stack.change_set(&name, false, "", &values, &role_of(&found))? {
            stack.execute_change_set(&name, target.wait_secs)?;
        }
        Ok(())
    }
}

/// `("app", 3)` of `arn:...:task-definition/app:3`.
fn family_revision(arn: &str) -> Result<(&str, u32)> {
    let (family, revision) = arn
        .rsplit('/')
        .next()
        .and_then(|name| name.rsplit_once(':'))
        .with_context(|| format!("{arn} names no revision"))?;
    Ok((
        family,
        revision
            .parse()
            .with_context(|| format!("{arn}: revision"))?,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_family_and_revision() {
        let arn = "arn:aws:ecs:eu-west-1:1:task-definition/app:12";
        assert_eq!(super::family_revision(arn).expect("parses"), ("app", 12));
        assert!(super::family_revision("arn:aws:ecs:eu-west-1:1:task-definition/app").is_err());
    }
}
