//! `cargo xtask rollback`: the service put back through its stack, never around it. An update
//! still in progress is cancelled, and `CloudFormation` rolls it back to the stack as it was.
//! Otherwise the last update succeeded and is unwanted: the image of the task definition
//! revision before the current one is deployed again by a change set in which every other
//! parameter keeps the stack's value, so only the image goes back. (`CloudFormation` keeps no
//! parameters but the current ones; the circuit breaker and the 5xx alarm already roll back a
//! release that fails while it deploys, and `CloudFormation`'s update with it.)

use anyhow::{Context, Result, bail};

use crate::aws::Aws;
use crate::aws::cloudformation::{Stack, busy, role_of, stack_name};
use crate::flags::Rollback;

impl Rollback {
    pub(crate) fn run(self) -> Result<()> {
        let target = &self.target;
        let aws = Aws::new(target.region.as_deref())?;
        let name = stack_name(&target.cluster, &target.service);
        let stack = Stack { aws: &aws, name };
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
        let current = stack.resource("TaskDefinition")?;
        let (family, revision) = current
            .rsplit('/')
            .next()
            .and_then(|name| name.rsplit_once(':'))
            .and_then(|(family, revision)| Some((family, revision.parse::<u32>().ok()?)))
            .with_context(|| format!("{current} names no revision"))?;
        let image_of = |definition: &str| -> Result<String> {
            let query = "taskDefinition.containerDefinitions[0].image";
            let args = ["--task-definition", definition, "--query", query];
            aws.answer::<Option<String>>("ecs", "describe-task-definition", &args)?
                .with_context(|| format!("{definition} names no image"))
        };
        let image = image_of(&current)?;
        // The newest revision below with another image: `CloudFormation` deregisters a
        // replaced revision, and ECS still describes it.
        let previous = (1..revision)
            .rev()
            .find_map(|earlier| {
                image_of(&format!("{family}:{earlier}"))
                    .ok()
                    .filter(|i| *i != image)
            })
            .with_context(|| {
                format!("{family}:{revision} runs {image}, and no revision below ran another image")
            })?;
        println!(
            "rolling {} back to {previous} (now {image})",
            target.service
        );
        let values: Vec<(&str, Option<String>)> = found
            .parameters
            .iter()
            .map(|p| p.parameter_key.as_str())
            .map(|key| (key, (key == "Image").then(|| previous.clone())))
            .collect();
        let change_set = format!("xtask-rollback-{revision}");
        if stack.change_set(&change_set, false, "", &values, &role_of(&found))? {
            stack.execute_change_set(&change_set, target.wait_secs)?;
        }
        Ok(())
    }
}
