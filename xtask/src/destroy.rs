//! `cargo xtask destroy`: what `deploy` created for the service removed, only what carries the
//! project's and the service's tags, in an order that never leaves tasks behind (scaled to 0,
//! then deleted); the log group only with `--delete-logs`. Safe to run twice: what is already
//! gone is said and skipped.

use anyhow::Result;

use crate::aws::Aws;
use crate::aws::ecs::{PROJECT_TAG, SERVICE_TAG, Service, project_name};
use crate::flags::Destroy;

impl Destroy {
    pub(crate) fn run(self) -> Result<()> {
        let region = crate::aws::region(self.region.as_deref())?;
        let aws = Aws::new(Some(&region))?;
        let service = Service {
            aws: &aws,
            cluster: &self.cluster,
            name: &self.service,
        };
        let mut removed = 0;
        match service.describe()? {
            None => println!(
                "no service {} in the cluster {}: already gone",
                self.service, self.cluster
            ),
            Some(found) if !service.owns(&found["tags"]) => println!(
                "the service {} carries no {PROJECT_TAG}={} {SERVICE_TAG}={} tags: not \
                 created by deploy, left alone",
                self.service,
                project_name(),
                self.service
            ),
            Some(_) => {
                let scale = [
                    "--cluster",
                    self.cluster.as_str(),
                    "--service",
                    self.service.as_str(),
                ];
                aws.require(
                    "ecs",
                    "update-service",
                    &[&scale[..], &["--desired-count", "0"]].concat(),
                )?;
                aws.require(
                    "ecs",
                    "delete-service",
                    &[&scale[..], &["--force"]].concat(),
                )?;
                println!(
                    "deleted the service {} (scaled to 0 first, so its tasks drain)",
                    self.service
                );
                removed += 1;
            }
        }
        removed += self.log_group(&aws)?;
        if removed == 0 {
            println!("nothing to remove");
        }
        Ok(())
    }

    fn log_group(&self, aws: &Aws) -> Result<usize> {
        let groups = aws.require(
            "logs",
            "describe-log-groups",
            &["--log-group-name-prefix", &self.log_group],
        )?;
        let exists = groups["logGroups"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|group| group["logGroupName"] == self.log_group.as_str());
        if !exists {
            println!("no log group {}: already gone", self.log_group);
            return Ok(0);
        }
        if !self.delete_logs {
            println!(
                "kept the log group {} and its logs (--delete-logs removes them)",
                self.log_group
            );
            return Ok(0);
        }
        let tags = aws.require(
            "logs",
            "list-tags-log-group",
            &["--log-group-name", &self.log_group],
        )?;
        let tagged = |key: &str, value: &str| tags["tags"][key] == value;
        if !(tagged(PROJECT_TAG, project_name()) && tagged(SERVICE_TAG, &self.service)) {
            println!(
                "the log group {} carries no {PROJECT_TAG}/{SERVICE_TAG} tags of this service: \
                 left alone",
                self.log_group
            );
            return Ok(0);
        }
        aws.require(
            "logs",
            "delete-log-group",
            &["--log-group-name", &self.log_group],
        )?;
        println!("deleted the log group {} and its logs", self.log_group);
        Ok(1)
    }
}
