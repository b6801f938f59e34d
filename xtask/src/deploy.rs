//! `cargo xtask deploy`: the image `push` printed (by digest) on ECS Fargate through
//! `CloudFormation`. The topology is one template, `deploy/ecs-service.yaml`, which a person can
//! also deploy with the plain AWS CLI; this command checks first what the template cannot
//! (`deploy/preflight.rs`), turns its flags into the template's parameters, and runs a change
//! set: created, its changes printed, executed, the stack's events followed as progress lines,
//! the URL read from the stack's outputs. `--dry-run` prints the resources, the parameters and
//! the monthly bill (`deploy/bill.rs`); with AWS credentials at hand it also shows the change
//! set, then deletes it.

use anyhow::{Result, bail};

mod bill;
mod preflight;

use preflight::Preflight;

use crate::aws::Aws;
use crate::aws::cloudformation::{Stack, deploy_command, role_arn};
use crate::flags::Deploy;
use crate::stack::shutdown::Shutdown;

/// The template, as this checkout has it.
pub(crate) const TEMPLATE: &str = include_str!("../../deploy/ecs-service.yaml");
pub(crate) const TEMPLATE_PATH: &str = "deploy/ecs-service.yaml";
/// The longest a request may take (the app's `APP_REQUEST_TIMEOUT`, a template parameter): the
/// load balancer's deregistration delay must cover it.
const REQUEST_TIMEOUT_SECS: u64 = 8;

/// The parameters of one deploy, in the template's order.
type Parameters = Vec<(&'static str, String)>;

impl Deploy {
    pub(crate) fn run(self) -> Result<()> {
        let image = self.image()?;
        let mut preflight = Preflight::local(&self);
        if self.dry_run && !credentials_at_hand() {
            preflight.report()?;
            // The image this one replaces and the subnets' VPC only AWS knows.
            let previous = "<the Image the stack runs, if any>";
            self.print_plan(&self.parameters(&image, previous, "<the VPC of the subnets>"));
            return Ok(());
        }
        if preflight.failed() {
            // What the flags alone decide fails before any call.
            return preflight.report();
        }
        let aws = Aws::new(self.target.region.as_deref())?;
        let vpc = preflight.remote(&self, &aws, &image)?;
        preflight.report()?;
        let stack = Stack {
            aws: &aws,
            name: self.target.stack_name(),
        };
        let found = stack.deployed()?;
        if found
            .as_ref()
            .is_some_and(|found| found.stack_status == "ROLLBACK_COMPLETE")
        {
            bail!(
                "the stack {}'s first create failed and rolled back; CloudFormation cannot update \
                 it: `cargo xtask destroy --cluster {} --service {}`, then deploy again",
                stack.name,
                self.target.cluster,
                self.target.service
            );
        }
        // A deploy of the image the stack runs keeps the one rollback goes back to.
        let previous = match &found {
            None => "",
            Some(found) if found.parameter("Image") == image => found.parameter("PreviousImage"),
            Some(found) => found.parameter("Image"),
        };
        let parameters = self.parameters(&image, previous, &vpc);
        if self.dry_run {
            self.print_plan(&parameters);
        }
        self.change_set(&stack, found.is_none(), &parameters)
    }

    /// `--alb-subnets`, else `--subnets`.
    fn balancer_subnets(&self) -> &[String] {
        [&self.alb_subnets, &self.subnets][usize::from(self.alb_subnets.is_empty())]
    }

    /// The template's parameters from the flags: every one given, none left to its default or
    /// to the stack's previous value, so what runs is what this command says.
    fn parameters(&self, image: &str, previous: &str, vpc: &str) -> Parameters {
        let shutdown = Shutdown::get();
        let seconds = |d: std::time::Duration| d.as_secs().to_string();
        let n = |value: u32| value.to_string();
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        let public_ip = ["DISABLED", "ENABLED"][usize::from(self.public_ip)];
        let requests = n(self.requests_per_target.unwrap_or(0));
        let shared_group = text(&self.shared_security_group);
        vec![
            ("Cluster", self.target.cluster.clone()),
            ("ServiceName", self.target.service.clone()),
            ("Family", self.family.clone()),
            ("Image", image.to_owned()),
            ("PreviousImage", previous.to_owned()),
            ("Cpu", n(self.cpu)),
            ("Memory", n(self.memory)),
            ("CpuArchitecture", self.arch.ecs().to_owned()),
            ("ExecutionRoleArn", self.execution_role.clone()),
            ("VpcId", vpc.to_owned()),
            ("Subnets", self.subnets.join(",")),
            ("LoadBalancerSubnets", self.balancer_subnets().join(",")),
            ("ExtraSecurityGroups", self.security_groups.join(",")),
            ("AssignPublicIp", public_ip.to_owned()),
            ("MinTasks", n(self.min)),
            ("MaxTasks", n(self.max)),
            ("CpuTarget", n(self.cpu_target)),
            ("RequestsPerTarget", requests),
            ("CertificateArn", text(&self.certificate_arn)),
            ("SharedListenerArn", text(&self.shared_listener)),
            ("SharedLoadBalancerSecurityGroup", shared_group),
            ("Host", text(&self.host)),
            ("RulePriority", n(self.rule_priority)),
            ("DeregistrationDelay", n(self.deregistration_delay)),
            ("HealthCheckGracePeriod", n(self.health_check_grace)),
            ("Max5xxPercent", n(self.max_5xx_percent)),
            ("LogRetentionDays", n(self.log_retention_days)),
            ("ShutdownGrace", seconds(shutdown.grace)),
            ("StopTimeout", seconds(shutdown.stop_timeout)),
            ("RequestTimeout", REQUEST_TIMEOUT_SECS.to_string()),
            ("HealthCheckInterval", seconds(shutdown.health_interval)),
        ]
    }

    /// Whether the template's condition `name` holds for these flags.
    fn condition(&self, name: &str) -> bool {
        let own = self.shared_listener.is_none();
        match name {
            "OwnLoadBalancer" => own,
            "SharedLoadBalancer" => !own,
            "Https" => own && self.certificate_arn.is_some(),
            "ScaleOnRequests" => self.requests_per_target.is_some(),
            _ => true,
        }
    }

    /// The resources these flags make of the template, the plain-CLI command that deploys the
    /// same, and the monthly cost.
    fn print_plan(&self, parameters: &Parameters) {
        println!("{TEMPLATE_PATH} as the stack {}:", self.target.stack_name());
        for (logical, kind, condition) in resources(TEMPLATE) {
            if condition.is_none_or(|name| self.condition(name)) {
                println!("  {logical:<26} {kind}");
            }
        }
        let words = self.command(TEMPLATE_PATH, parameters);
        println!("\nthe same with the AWS CLI:\n{}", shell_command(&words));
        bill::print(self);
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

    /// The words of `aws cloudformation deploy` for the template in the file `template`.
    fn command(&self, template: &str, parameters: &Parameters) -> Vec<String> {
        let stack = self.target.stack_name();
        let role = self.cloudformation_role.as_deref();
        deploy_command(&stack, template, &self.target.service, role, parameters)
    }

    /// The change set: created and shown; then executed and followed, or with `--dry-run`
    /// deleted.
    fn change_set(&self, stack: &Stack, create: bool, parameters: &Parameters) -> Result<()> {
        let template = crate::files::root().join(TEMPLATE_PATH);
        let words = self.command(&template.to_string_lossy(), parameters);
        let Some(id) = stack.change_set(&words)? else {
            let name = &stack.name;
            println!("no changes: the stack {name} already is what these flags say");
            return Ok(());
        };
        if self.dry_run {
            stack.delete_change_set(&id)?;
            if create {
                // The stack a first change set makes holds nothing until it is executed.
                let role = role_arn(self.cloudformation_role.as_deref());
                stack.delete(self.target.wait_secs, &role)?;
            }
            println!("--dry-run: the change set was deleted, nothing was changed");
            return Ok(());
        }
        stack.execute_change_set(&id, self.target.wait_secs)?;
        if self.target.wait_secs > 0 {
            match stack.url()? {
                Some(url) => println!("URL: {url}"),
                None => println!("the stack has no Url output yet"),
            }
        }
        Ok(())
    }
}

/// `aws cloudformation deploy WORDS` as a shell takes it: a line for each flag, tag and parameter.
fn shell_command(words: &[String]) -> String {
    let mut command = "aws cloudformation deploy".to_owned();
    for word in words {
        let start = match (word.starts_with("--"), word.contains('=')) {
            (true, _) => " \\\n  ",
            (false, true) => " \\\n    ",
            (false, false) => " ",
        };
        let plain = (word.bytes()).all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,".contains(&b))
            && !word.is_empty();
        // Single quotes keep every character but the quote itself, which ends and reopens.
        let quoted = format!("'{}'", word.replace('\'', r"'\''"));
        command.push_str(start);
        command.push_str(if plain { word } else { &quoted });
    }
    command
}

/// Whether the AWS CLI has credentials to sign with, from where it looks first: the
/// environment, a profile, a web identity, the container's role, or the files `aws configure`
/// writes. (An instance role alone is not seen: pass --region and `AWS_PROFILE` there.)
fn credentials_at_hand() -> bool {
    let set = |name: &&str| std::env::var_os(name).is_some_and(|value| !value.is_empty());
    let aws = std::path::Path::new(&std::env::var_os("HOME").unwrap_or_default()).join(".aws");
    let variables = [
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ];
    let files = ["credentials", "config"];
    variables.iter().any(set) || files.iter().any(|file| aws.join(file).is_file())
}

/// The template's resources: logical id, type and condition, read from its two-space layout.
fn resources(template: &str) -> Vec<(&str, &str, Option<&str>)> {
    let section = template.split("\nResources:\n").nth(1).unwrap_or_default();
    let lines =
        (section.lines()).take_while(|line| line.is_empty() || line.starts_with([' ', '#']));
    let mut found: Vec<(&str, &str, Option<&str>)> = Vec::new();
    for line in lines {
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':'))
            && !name.starts_with([' ', '#'])
        {
            found.push((name, "", None));
        } else if let (Some(last), Some(kind)) = (found.last_mut(), line.strip_prefix("    Type: "))
        {
            last.1 = kind.trim();
        } else if let (Some(last), Some(condition)) =
            (found.last_mut(), line.strip_prefix("    Condition: "))
        {
            last.2 = Some(condition.trim());
        }
    }
    found
}
