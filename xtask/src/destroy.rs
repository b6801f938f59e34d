//! `cargo xtask destroy`: `delete-stack`, followed until the stack is gone. `CloudFormation`
//! deletes what it created, in dependency order, and nothing else; the log group is retained
//! by the template, so the logs outlive the service.

use anyhow::Result;

use crate::aws::Aws;
use crate::aws::cloudformation::{Stack, role_arn};
use crate::flags::Destroy;

impl Destroy {
    pub(crate) fn run(self) -> Result<()> {
        let target = &self.target;
        let aws = Aws::new(target.region.as_deref())?;
        let stack = Stack {
            aws: &aws,
            name: target.stack_name(),
        };
        let Some(found) = stack.describe()? else {
            println!("no stack {}: nothing to delete", stack.name);
            return Ok(());
        };
        let logs = stack.resource("LogGroup").ok();
        println!("deleting the stack {}", stack.name);
        stack.delete(target.wait_secs, &role_arn(found.role_arn.as_deref()))?;
        if let Some(logs) = logs {
            println!(
                "kept the log group {logs} and its logs: `aws logs delete-log-group \
                 --log-group-name {logs}` removes them"
            );
        }
        Ok(())
    }
}
