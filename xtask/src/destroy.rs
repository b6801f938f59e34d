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
        let aws = Aws::in_region(self.target.region.as_deref())?;
        let (cluster, name) = (self.target.cluster.as_str(), self.target.service.as_str());
        let service = Service {
            aws: &aws,
            cluster,
            name,
        };
        let mut removed = 0;
        match service.describe()? {
            None => println!("no service {name} in the cluster {cluster}: already gone"),
            Some(found) if !service.owns(&found["tags"]) => println!(
                "the service {} carries no {PROJECT_TAG}={} {SERVICE_TAG}={} tags: not \
                 created by deploy, left alone",
                name,
                project_name(),
                name
            ),
            Some(_) => {
                let scale = ["--cluster", cluster, "--service", name];
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
                println!("deleted the service {name} (scaled to 0 first, so its tasks drain)");
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
        if !(tagged(PROJECT_TAG, project_name()) && tagged(SERVICE_TAG, &self.target.service)) {
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
