//! `cargo xtask deploy`: an ECS Fargate task definition for the image `push` printed (by
//! digest), registered, and a service created or updated to run it; then a bounded wait until
//! the service is stable, and what changed. Preflight checks (`deploy/preflight.rs`) come first;
//! `--dry-run` runs those that need no AWS and prints the task definition.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

mod preflight;

use preflight::Preflight;

use crate::aws::Aws;
use crate::aws::ecs::{PROJECT_TAG, SERVICE_TAG, Service, project_name, short_arn};
use crate::flags::Deploy;
use crate::stack::shutdown::Shutdown;

const CONTAINER: &str = "app";
const PORT: u16 = 8080;
/// awslogs' buffer in non-blocking mode: at about 200 bytes a line, 125 000 lines.
const LOG_BUFFER: &str = "25m";

/// Fargate's CPU units and the memory (MiB) each allows.
fn fargate_memory_ok(cpu: u32, memory: u32) -> bool {
    match cpu {
        256 => matches!(memory, 512 | 1024 | 2048),
        512 => (1024..=4096).contains(&memory) && memory.is_multiple_of(1024),
        1024 => (2048..=8192).contains(&memory) && memory.is_multiple_of(1024),
        2048 => (4096..=16384).contains(&memory) && memory.is_multiple_of(1024),
        4096 => (8192..=30720).contains(&memory) && memory.is_multiple_of(1024),
        _ => false,
    }
}

impl Deploy {
    pub(crate) fn run(self) -> Result<()> {
        let image = self.image()?;
        let region = crate::aws::region(self.region.as_deref())?;
        let definition = self.task_definition(&image, &region);
        let mut preflight = Preflight::local(&self, &definition);
        if self.dry_run {
            preflight.report()?;
            println!("{}", serde_json::to_string_pretty(&definition)?);
            return Ok(());
        }
        if preflight.failed() {
            // What the flags alone decide fails before any call.
            return preflight.report();
        }
        let aws = Aws::new(Some(&region))?;
        preflight.remote(&self, &aws, &definition)?;
        preflight.report()?;
        self.apply(&aws, &definition)
    }

    /// `--image`, or the digest the last `push` printed; always by digest.
    fn image(&self) -> Result<String> {
        let image = match &self.image {
            Some(image) => image.clone(),
            None => crate::records::LastPush::read()?.image,
        };
        let digest_ok = image
            .split_once("@sha256:")
            .is_some_and(|(_, hex)| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        if !digest_ok {
            bail!(
                "deploy runs images by digest: give --image URI@sha256:<64 hex digits>, not {image:?}"
            );
        }
        Ok(image)
    }

    /// The task definition, as `aws ecs register-task-definition --cli-input-json` takes it.
    pub(crate) fn task_definition(&self, image: &str, region: &str) -> Value {
        let shutdown = Shutdown::get();
        json!({
            "family": self.family,
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": self.cpu.to_string(),
            "memory": self.memory.to_string(),
            "executionRoleArn": self.execution_role,
            "runtimePlatform": {"operatingSystemFamily": "LINUX", "cpuArchitecture": self.arch.ecs()},
            "containerDefinitions": [{
                "name": CONTAINER,
                "image": image,
                "essential": true,
                "portMappings": [{"containerPort": PORT, "protocol": "tcp"}],
                "user": "65532:65532",
                "readonlyRootFilesystem": true,
                // The stack's shutdown settings (compose.yaml, x-shutdown): after SIGTERM the
                // app keeps serving for the delay, then drains for at most the grace period;
                // ECS sends SIGKILL only after the stop timeout, above their sum.
                "stopTimeout": shutdown.stop_timeout.as_secs(),
                "environment": [
                    {"name": "APP_SHUTDOWN_DELAY", "value": format!("{}s", shutdown.delay.as_secs())},
                    {"name": "APP_SHUTDOWN_GRACE", "value": format!("{}s", shutdown.grace.as_secs())},
                ],
                // Exec form: the image has no shell; the binary checks itself.
                "healthCheck": {
                    "command": ["CMD", "/app", "healthcheck"],
                    "interval": shutdown.health_interval.as_secs(),
                    "timeout": 5,
                    "retries": 3,
                    "startPeriod": 10,
                },
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": self.log_group,
                        "awslogs-region": region,
                        "awslogs-stream-prefix": CONTAINER,
                        // ECS's default since 2025, stated with its buffer: a stalled
                        // CloudWatch Logs never blocks the app; a full buffer drops lines.
                        "mode": "non-blocking",
                        "max-buffer-size": LOG_BUFFER,
                    },
                },
            }],
        })
    }

    fn network_configuration(&self) -> String {
        format!(
            "awsvpcConfiguration={{subnets=[{}],securityGroups=[{}],assignPublicIp={}}}",
            self.subnets.join(","),
            self.security_groups.join(","),
            if self.public_ip {
                "ENABLED"
            } else {
                "DISABLED"
            }
        )
    }

    /// Created here, not by the log driver (`awslogs-create-group`), which would need
    /// `logs:CreateLogGroup` on the execution role; `AmazonECSTaskExecutionRolePolicy` lacks it.
    fn create_log_group(&self, aws: &Aws) -> Result<()> {
        let tags = format!(
            "{PROJECT_TAG}={},{SERVICE_TAG}={}",
            project_name(),
            self.service
        );
        match aws.call(
            "logs",
            "create-log-group",
            &["--log-group-name", &self.log_group, "--tags", &tags],
        )? {
            Ok(_) => println!("created the log group {}", self.log_group),
            Err(error) if error.code == "ResourceAlreadyExistsException" => {}
            Err(error) => return Err(crate::aws::explain(&error)),
        }
        Ok(())
    }

    fn apply(&self, aws: &Aws, definition: &Value) -> Result<()> {
        let service = Service {
            aws,
            cluster: &self.cluster,
            name: &self.service,
        };
        let existing = service.describe()?;
        let previous = match &existing {
            Some(found) => {
                let arn = found["taskDefinition"].as_str().unwrap_or_default();
                Some(
                    aws.require(
                        "ecs",
                        "describe-task-definition",
                        &["--task-definition", arn],
                    )?["taskDefinition"]
                        .clone(),
                )
            }
            None => None,
        };
        let tag_pairs = service.tag_pairs();
        self.create_log_group(aws)?;
        if let Some(found) = existing
            .as_ref()
            .filter(|found| !service.owns(&found["tags"]))
        {
            // A service deploy made before it tagged, or one made by hand: tagged now, so
            // `destroy` knows it as this project's.
            let arn = found["serviceArn"].as_str().unwrap_or_default();
            let mut args = vec!["--resource-arn", arn, "--tags"];
            args.extend(tag_pairs.iter().map(String::as_str));
            aws.require("ecs", "tag-resource", &args)?;
            println!("tagged the service {} as this project's", self.service);
        }
        let mut input = definition.clone();
        input["tags"] = service.tags();
        let registered = aws.require(
            "ecs",
            "register-task-definition",
            &["--cli-input-json", &input.to_string()],
        )?;
        let arn = registered["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .context("register-task-definition returned no ARN")?
            .to_owned();
        let count = self.desired_count.to_string();
        let network = self.network_configuration();
        if existing.is_some() {
            aws.require(
                "ecs",
                "update-service",
                &[
                    "--cluster",
                    &self.cluster,
                    "--service",
                    &self.service,
                    "--task-definition",
                    &arn,
                    "--desired-count",
                    &count,
                    "--network-configuration",
                    &network,
                ],
            )?;
        } else {
            aws.require(
                "ecs",
                "create-service",
                &[
                    "--cluster", &self.cluster, "--service-name", &self.service,
                    "--task-definition", &arn, "--desired-count", &count,
                    "--launch-type", "FARGATE", "--network-configuration", &network,
                    // A deployment whose tasks keep failing stops and rolls back by itself.
                    "--deployment-configuration",
                    "deploymentCircuitBreaker={enable=true,rollback=true},maximumPercent=200,minimumHealthyPercent=100",
                    "--propagate-tags", "SERVICE",
                    "--tags", &tag_pairs[0], &tag_pairs[1],
                ],
            )?;
        }
        println!("registered {}", short_arn(&arn));
        for line in changes(
            existing.as_ref(),
            previous.as_ref(),
            &registered["taskDefinition"],
            self,
        ) {
            println!("  {line}");
        }
        Service {
            aws,
            cluster: &self.cluster,
            name: &self.service,
        }
        .wait_until_stable(&arn, self.wait_secs)
    }
}

/// What the deployment changes, field by field.
fn changes(
    service: Option<&Value>,
    previous: Option<&Value>,
    next: &Value,
    flags: &Deploy,
) -> Vec<String> {
    let Some(service) = service else {
        return vec![format!(
            "created service {} in cluster {} with {} task(s)",
            flags.service, flags.cluster, flags.desired_count
        )];
    };
    let mut lines = Vec::new();
    let old_count = service["desiredCount"].as_u64().unwrap_or(0);
    if old_count != u64::from(flags.desired_count) {
        lines.push(format!(
            "desired count: {old_count} → {}",
            flags.desired_count
        ));
    }
    let previous = previous.cloned().unwrap_or(Value::Null);
    lines.push(format!(
        "task definition: {} → {}",
        short_arn(previous["taskDefinitionArn"].as_str().unwrap_or("?")),
        short_arn(next["taskDefinitionArn"].as_str().unwrap_or("?"))
    ));
    for key in ["cpu", "memory", "executionRoleArn", "runtimePlatform"] {
        if previous[key] != next[key] {
            lines.push(format!("{key}: {} → {}", previous[key], next[key]));
        }
    }
    let (old, new) = (
        &previous["containerDefinitions"][0],
        &next["containerDefinitions"][0],
    );
    for key in [
        "image",
        "user",
        "readonlyRootFilesystem",
        "stopTimeout",
        "environment",
        "healthCheck",
        "logConfiguration",
        "portMappings",
    ] {
        if old[key] != new[key] {
            lines.push(format!("{key}: {} → {}", old[key], new[key]));
        }
    }
    if lines.len() == 1 {
        lines.push("nothing else changed: the same image and settings, a new revision".to_owned());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fargate_sizes() {
        assert!(fargate_memory_ok(256, 512));
        assert!(fargate_memory_ok(1024, 3072));
        assert!(!fargate_memory_ok(256, 4096));
        assert!(!fargate_memory_ok(300, 512));
    }
}
