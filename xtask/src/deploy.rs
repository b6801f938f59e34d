//! `cargo xtask deploy`: ECS Fargate as production runs it, for the image `push` printed (by
//! digest). Preflight checks (`deploy/preflight.rs`) come first; then every resource of the
//! plan (`deploy/plan.rs`: security groups, load balancer, target group, listeners, alarm, task
//! definition, service, autoscaling) is looked up by name and tags and created, changed or left
//! alone (`deploy/apply.rs`); then a bounded wait until the service is stable, and its URL.
//! `--dry-run` runs the checks that need no AWS and prints the plan and its monthly cost.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

mod apply;
pub(crate) mod cost;
mod plan;
mod preflight;

use apply::{Apply, contains};
use plan::Known;
use preflight::Preflight;

use crate::aws::Aws;
use crate::aws::ecs::{PROJECT_TAG, SERVICE_TAG, project_name, short_arn};
use crate::flags::Deploy;
use crate::stack::shutdown::Shutdown;

const CONTAINER: &str = "app";
const PORT: u16 = 8080;
/// awslogs' buffer in non-blocking mode: at about 200 bytes a line, 125 000 lines.
const LOG_BUFFER: &str = "25m";
/// The longest a request may take (the app's `APP_REQUEST_TIMEOUT`, stated in the task
/// definition): the load balancer's deregistration delay must cover it.
const REQUEST_TIMEOUT_SECS: u32 = 10;

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
            let plan = self.plan(&definition, &Known::default());
            println!("{}", serde_json::to_string_pretty(&plan)?);
            self.print_cost();
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

    /// The monthly cost at `--min` and at `--max` tasks, to stderr (stdout carries the plan).
    fn print_cost(&self) {
        let task = cost::Task {
            cpu_units: self.cpu,
            memory_mib: self.memory,
            arm64: self.arch == crate::flags::Arch::Arm64,
        };
        let own = self.load_balancer.is_none();
        let egress = if self.public_ip {
            cost::Egress::PublicIp
        } else {
            cost::Egress::Nat
        };
        for tasks in [self.min, self.max] {
            let estimate = cost::monthly(&self.prices, task, tasks, egress, own);
            eprintln!("\nmonthly cost at {tasks} task(s):");
            eprint!("{}", estimate.render());
            if egress == cost::Egress::Nat {
                let endpoints =
                    cost::monthly(&self.prices, task, tasks, cost::Egress::Endpoints, own);
                eprintln!(
                    "with VPC endpoints instead of NAT gateways: {:.2} USD a month",
                    endpoints.total()
                );
            }
        }
        eprintln!("{}", cost::note(&self.prices));
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
                // ECS stops a task behind a load balancer in order: it deregisters the target,
                // waits the deregistration delay (no new requests, those in flight finish), and
                // only then sends SIGTERM. So no shutdown delay, unlike behind nginx or in
                // Kubernetes, where SIGTERM races the removal; the stack's grace period
                // (compose.yaml, x-shutdown) drains the rest, and SIGKILL comes only after the
                // stop timeout, above it.
                "stopTimeout": shutdown.stop_timeout.as_secs(),
                "environment": [
                    {"name": "APP_SHUTDOWN_DELAY", "value": "0s"},
                    {"name": "APP_SHUTDOWN_GRACE", "value": format!("{}s", shutdown.grace.as_secs())},
                    {"name": "APP_REQUEST_TIMEOUT", "value": format!("{REQUEST_TIMEOUT_SECS}s")},
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

    /// Created here, not by the log driver (`awslogs-create-group`), which would need
    /// `logs:CreateLogGroup` on the execution role; `AmazonECSTaskExecutionRolePolicy` lacks it.
    fn create_log_group(&self, aws: &Aws) -> Result<()> {
        let label = format!("log group {}", self.log_group);
        if crate::aws::owned::log_group_exists(aws, &self.log_group)? {
            apply::say("unchanged", &label);
            return Ok(());
        }
        let tags = format!(
            "{PROJECT_TAG}={},{SERVICE_TAG}={}",
            project_name(),
            self.service
        );
        aws.require(
            "logs",
            "create-log-group",
            &["--log-group-name", &self.log_group, "--tags", &tags],
        )?;
        apply::say("created", &label);
        Ok(())
    }

    fn apply(&self, aws: &Aws, definition: &Value) -> Result<()> {
        let mut apply = Apply {
            deploy: self,
            aws,
            names: self.names(),
            known: Known::default(),
            dns: String::new(),
        };
        let service = apply.service_handle();
        let existing = service.describe()?;
        if let Some(found) = existing
            .as_ref()
            .filter(|found| !service.owns(&found["tags"]))
        {
            // A service deploy made before it tagged, or one made by hand: tagged now, so
            // `destroy` knows it as this project's.
            let arn = found["serviceArn"].as_str().unwrap_or_default();
            let mut args = vec!["--resource-arn", arn, "--tags"];
            let tag_pairs = service.tag_pairs();
            args.extend(tag_pairs.iter().map(String::as_str));
            aws.require("ecs", "tag-resource", &args)?;
            println!("tagged the service {} as this project's", self.service);
        }
        println!("deploying {} to {}:", self.service, self.cluster);
        apply.network()?;
        apply.security_groups()?;
        apply.load_balancer()?;
        apply.target_group()?;
        apply.listeners()?;
        apply.alarm()?;
        self.create_log_group(aws)?;
        apply.known.task_definition = self.register(aws, existing.as_ref(), definition)?;
        let deployed = apply.service(existing.as_ref())?;
        apply.scaling()?;
        println!("URL: {}", apply.url());
        if deployed {
            let arn = apply.known.task_definition.clone();
            apply
                .service_handle()
                .wait_until_stable(&arn, self.wait_secs)?;
        }
        Ok(())
    }

    /// The task definition the service runs when it already is the rendered one; else a new
    /// revision, registered, with what changed.
    fn register(&self, aws: &Aws, service: Option<&Value>, definition: &Value) -> Result<String> {
        let previous = match service.and_then(|s| s["taskDefinition"].as_str()) {
            Some(arn) => aws.require(
                "ecs",
                "describe-task-definition",
                &["--task-definition", arn],
            )?["taskDefinition"]
                .clone(),
            None => Value::Null,
        };
        if !previous.is_null() && contains(&previous, definition) {
            let arn = previous["taskDefinitionArn"]
                .as_str()
                .context("no task definition ARN")?;
            println!("  unchanged task definition {}", short_arn(arn));
            return Ok(arn.to_owned());
        }
        let mut input = definition.clone();
        input["tags"] = crate::aws::ecs::tags(&self.service);
        let registered = aws.require(
            "ecs",
            "register-task-definition",
            &["--cli-input-json", &input.to_string()],
        )?;
        let next = &registered["taskDefinition"];
        let arn = next["taskDefinitionArn"]
            .as_str()
            .context("register-task-definition returned no ARN")?;
        if previous.is_null() {
            println!("  created   task definition {}", short_arn(arn));
        } else {
            println!(
                "  changed   task definition {} → {}",
                short_arn(previous["taskDefinitionArn"].as_str().unwrap_or("?")),
                short_arn(arn)
            );
            for line in changes(&previous, next) {
                println!("              {line}");
            }
        }
        Ok(arn.to_owned())
    }
}

/// What a new task definition revision changes, field by field.
fn changes(previous: &Value, next: &Value) -> Vec<String> {
    let mut lines = Vec::new();
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
