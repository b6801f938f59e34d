//! `cargo xtask rollback`: the service put back on the task definition revision before the one
//! it runs (the latest active revision below it), then the same bounded wait as `deploy`.

use anyhow::{Context, Result, bail};

use crate::aws::Aws;
use crate::aws::ecs::{Service, short_arn};
use crate::flags::Rollback;

impl Rollback {
    pub(crate) fn run(self) -> Result<()> {
        let aws = Aws::in_region(self.target.region.as_deref())?;
        let (cluster, name) = (self.target.cluster.as_str(), self.target.service.as_str());
        let service = Service {
            aws: &aws,
            cluster,
            name,
        };
        let Some(found) = service.describe()? else {
            bail!(
                "no service {name} in the cluster {cluster}: nothing to roll back (`cargo xtask deploy` \
                 creates it)"
            );
        };
        let current = found["taskDefinition"]
            .as_str()
            .context("the service names no task definition")?;
        let (family, revision) = family_revision(current)?;
        let listed = aws.require(
            "ecs",
            "list-task-definitions",
            &[
                "--family-prefix",
                family,
                "--status",
                "ACTIVE",
                "--sort",
                "DESC",
            ],
        )?;
        let previous = listed["taskDefinitionArns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|arn| arn.as_str())
            .filter(|arn| family_revision(arn).is_ok_and(|(f, r)| f == family && r < revision))
            .max_by_key(|arn| family_revision(arn).map_or(0, |(_, r)| r))
            .with_context(|| {
                format!(
                    "{} runs {}, and no earlier active revision of {family} exists to roll back to",
                    name,
                    short_arn(current)
                )
            })?;
        aws.require(
            "ecs",
            "update-service",
            &[
                "--cluster",
                cluster,
                "--service",
                name,
                "--task-definition",
                previous,
            ],
        )?;
        println!(
            "rolled {} back: {} → {}",
            name,
            short_arn(current),
            short_arn(previous)
        );
        service.wait_until_stable(previous, self.wait_secs)
    }
}

/// `("app", 3)` of `arn:...:task-definition/app:3`.
fn family_revision(arn: &str) -> Result<(&str, u32)> {
    let (family, revision) = short_arn(arn)
        .rsplit_once(':')
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
