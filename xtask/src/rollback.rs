//! `cargo xtask rollback`: the service put back through its stack, never around it. An update
//! still in progress is cancelled, and `CloudFormation` rolls it back to the stack as it was.
//! Otherwise the last update succeeded and is unwanted: a change set swaps the stack's `Image`
//! and `PreviousImage` (which `deploy` sets to the image it replaced) and keeps every other
//! parameter and the template, so only the image goes back, and a second rollback undoes the
//! first. (The circuit breaker and the 5xx alarm already roll back a release that fails while
//! it deploys, and `CloudFormation`'s update with it.)

use anyhow::{Result, bail};

use crate::aws::Aws;
use crate::aws::cloudformation::{Stack, busy, change_set_name, role_arn};
use crate::flags::Rollback;

impl Rollback {
    pub(crate) fn run(self) -> Result<()> {
        let target = &self.target;
        let aws = Aws::new(target.region.as_deref())?;
        let stack = Stack {
            aws: &aws,
            name: target.stack_name(),
        };
        let Some(found) = stack.describe()? else {
            bail!(
                "no stack {}: nothing to roll back (`cargo xtask deploy` creates it)",
                stack.name
            );
        };
        match found.stack_status.as_str() {
            "UPDATE_IN_PROGRESS" => {
                println!(
                    "the stack {} is updating: cancelling, CloudFormation rolls it back",
                    stack.name
                );
                return stack.cancel_update(target.wait_secs);
            }
            status if busy(status) => bail!(
                "the stack {} is {status}: wait until it settles",
                stack.name
            ),
            _ => {}
        }
        let (image, previous) = (found.parameter("Image"), found.parameter("PreviousImage"));
        if previous.is_empty() {
            bail!(
                "the stack {} records no image before {image} (its PreviousImage is empty): \
                 rollback goes back to the image a deploy replaced, so deploy another first",
                stack.name
            );
        }
        if let Some((hidden, _)) = found.parameters.iter().find(|(_, value)| value == "****") {
            bail!(
                "the stack's parameter {hidden} is NoEcho, so its value cannot be read back: roll \
                 back with `cargo xtask deploy --image {previous}`"
            );
        }
        println!(
            "rolling {} back to {previous} (now {image})",
            target.service
        );
        let values: Vec<(&str, String)> = (found.parameters.iter())
            .map(|(key, value)| match key.as_str() {
                "Image" => (key.as_str(), previous.to_owned()),
                "PreviousImage" => (key.as_str(), image.to_owned()),
                _ => (key.as_str(), value.clone()),
            })
            .collect();
        let change_set = change_set_name()?;
        if stack.change_set(
            &change_set,
            false,
            "",
            &values,
            &role_arn(found.role_arn.as_deref()),
        )? {
            stack.execute_change_set(&change_set, target.wait_secs)?;
        }
        Ok(())
    }
}
