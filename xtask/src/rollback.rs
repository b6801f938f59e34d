//! `cargo xtask rollback`: the service put back through its stack, never around it. An update
//! still in progress is cancelled, and `CloudFormation` rolls it back to the stack as it was.
//! Otherwise the last update succeeded and is unwanted: the stack's own template is deployed
//! again (`aws cloudformation deploy`, as `deploy` runs it) with its `Image` and `PreviousImage`
//! (which `deploy` sets to the image it replaced) swapped and every other parameter kept, so
//! only the image goes back, and a second rollback undoes the first. (The circuit breaker and
//! the 5xx alarm already roll back a release that fails while it deploys, and
//! `CloudFormation`'s update with it.)

use anyhow::{Result, bail};

use crate::aws::Aws;
use crate::aws::cloudformation::{Stack, deploy_command};
use crate::flags::Rollback;

impl Rollback {
    pub(crate) fn run(self) -> Result<()> {
        let target = &self.target;
        let aws = Aws::new(target.region.as_deref())?;
        let stack = Stack {
            aws: &aws,
            name: target.stack_name(),
        };
        let Some(found) = stack.deployed()? else {
            bail!(
                "no stack {}: nothing to roll back (`cargo xtask deploy` creates it)",
                stack.name
            );
        };
        // Any other state in progress is CloudFormation's to refuse, in one line.
        if found.stack_status == "UPDATE_IN_PROGRESS" {
            let name = &stack.name;
            println!("the stack {name} is updating: cancelling, CloudFormation rolls it back");
            return stack.cancel_update(target.wait_secs);
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
        let service = &target.service;
        let values: Vec<(&str, String)> = (found.parameters.iter())
            .map(|(key, value)| match key.as_str() {
                "Image" => (key.as_str(), previous.to_owned()),
                "PreviousImage" => (key.as_str(), image.to_owned()),
                _ => (key.as_str(), value.clone()),
            })
            .collect();
        let template = crate::files::target_dir().join(format!("xtask/{}.yaml", stack.name));
        stack.save_template(&template)?;
        let role = found.role_arn.as_deref();
        let template = template.to_string_lossy();
        let words = deploy_command(&stack.name, &template, service, role, &values);
        if let Some(id) = stack.change_set(&words)? {
            println!("rolling {service} back to {previous} (now {image})");
            stack.execute_change_set(&id, target.wait_secs)?;
        }
        Ok(())
    }
}
