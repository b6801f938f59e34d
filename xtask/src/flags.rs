//! Every command and flag `cargo xtask` understands, parsed in one place.

use anyhow::{Context, Result, bail};

pub(crate) use crate::image::archive::Source;
use crate::project::variant::Variant;

pub(crate) const USAGE: &str = "\
cargo xtask <command> [flags]

Commands:
  bases     build local equivalents of the public base images (for machines without a registry)
  build     build images: single | scratch | distroless | all (default all)
              --no-cache          build every step again (a cold build)
  compare   build what is missing, then measure every image side by side
              --rebuild           build every image again, cold
              --skip-rebuild-timing  do not time a rebuild after a source-only change
              --json | --markdown | --csv   print the same data in that format
              --html FILE         also write a self-contained page with SVG charts
              --deployments N     image pulls a month for the cost estimate (default 30)
              --storage-price USD registry storage per GB-month (default 0.10, ECR)
              --transfer-price USD  data transfer per GB (default 0.09, ECR to the internet)
  test-image IMAGE  check an image as production uses it; pass/fail table, non-zero on failure
              --max-size SIZE     size budget such as 4MB (default 6MB)
  analyze IMAGE | --archive FILE
            layers, wasted space, largest files, recommendations and a 0-100 score
              --json              print JSON
              --benchmark         also time `docker save` writing the image to a file
  scan IMAGE | --archive FILE
            attack surface, configuration checks, secrets, Rust dependencies, trivy's findings
            when trivy is installed, and a 0-100 score
              --json              print JSON
              --sbom FILE         write a CycloneDX JSON SBOM (OS packages and Rust crates)
              --fail-on SEVERITY  exit non-zero on a vulnerability this severe or worse
                                  (LOW, MEDIUM, HIGH, CRITICAL), a secret or a failed check
            (IMAGE: a local image, or single | scratch | distroless for this project's images)
  push      build the image, push it tagged with the version and git revision, read it back,
            print URI@sha256:...
              --variant scratch|distroless   which image (default scratch)
              --ecr [--region R] [--repository NAME]   to ECR (default repository app),
                                  created when missing: scan on push, immutable tags, AES-256
              --registry HOST[:PORT]/NAME    to any registry
  deploy    register an ECS Fargate task definition for the pushed image and create or update
            its service, then wait until it is stable
              --cluster C --subnets S[,S] --security-groups G[,G] --execution-role ARN
              --service NAME --family NAME   (default app for both)
              --desired-count N --cpu UNITS --memory MIB   (default 1, 256, 512)
              --image URI@sha256:...         (default: what the last push printed)
              --region R --log-group NAME    (default AWS_REGION, /ecs/app)
              --public-ip         give tasks a public IP (subnets without a NAT)
              --wait SECS         how long to wait for a stable service (default 600; 0: not)
              --dry-run           print the task definition JSON; call nothing
  lint-workflows [FILE...]  actionlint on the GitHub workflows (default: all of them)
  up        start the stack (app behind nginx) and wait until every service is healthy
              --monitoring        also Prometheus and Grafana (needs GRAFANA_ADMIN_PASSWORD)
              --no-grafana        with --monitoring: Prometheus only
              --single            also the single-stage image, on 127.0.0.1:8081
  down      stop the stack and remove its containers and network
              --volumes           also delete Prometheus and Grafana data
  status    each service of the stack, its health and its URL
  logs [SERVICE...]  the last log lines of the stack or of some services
              --follow            keep printing
  bench     build the static release binary, load it on loopback with wrk, print figures
              --duration SECS     seconds of load per endpoint (default 10)
              --connections N     open connections (default 64)
              --threads N         wrk threads (default 2)
  ci        the test command: tools, engine, base images, format, lint, every test, compare,
            benchmark smoke run
              --yes               install missing Debian packages and start dockerd (root;
                                  implied by CI=true)
  profiles  build the app under candidate release profiles; print size, rebuild time and
            throughput of each
              --duration SECS     seconds of load per endpoint and profile (default 5)
  history   show recorded builds and the trend of image sizes
              --last N            how many entries (default 15)
  help      print this text

Global flag:
  --yes     where no Docker engine answers on Debian/Ubuntu as root: install docker.io and start
            dockerd without asking (also implied by CI=true); `ci` also installs test tools
";

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Bases;

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Status;

#[derive(Debug, PartialEq)]
pub(crate) enum Command {
    Help,
    Bases,
    Build(Build),
    Compare(Compare),
    TestImage(TestImage),
    Analyze(Analyze),
    Scan(Scan),
    Push(Push),
    Deploy(Deploy),
    LintWorkflows(Vec<std::path::PathBuf>),
    Bench(Bench),
    Ci(Ci),
    Profiles(Profiles),
    History { last: u32 },
    Up(Up),
    Down(Down),
    Status,
    Logs(Logs),
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Profiles {
    pub(crate) duration_secs: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputFormat {
    Table,
    Json,
    Markdown,
    Csv,
}

#[derive(Debug, PartialEq)]
pub(crate) struct Compare {
    pub(crate) rebuild: bool,
    pub(crate) skip_rebuild: bool,
    pub(crate) format: OutputFormat,
    pub(crate) html: Option<std::path::PathBuf>,
    pub(crate) deployments: u32,
    pub(crate) storage_price: f64,
    pub(crate) transfer_price: f64,
}

impl Default for Compare {
    fn default() -> Self {
        Self {
            rebuild: false,
            skip_rebuild: false,
            format: OutputFormat::Table,
            html: None,
            deployments: 30,
            storage_price: 0.10,
            transfer_price: 0.09,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // three independent switches, as on the command line
pub(crate) struct Up {
    pub(crate) monitoring: bool,
    pub(crate) grafana: bool,
    pub(crate) single: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Down {
    pub(crate) volumes: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Logs {
    pub(crate) services: Vec<String>,
    pub(crate) follow: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TestImage {
    pub(crate) image: String,
    pub(crate) max_size_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    Ecr {
        region: Option<String>,
        repository: String,
    },
    Registry(String),
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Push {
    pub(crate) variant: Variant,
    pub(crate) destination: Destination,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // independent switches, as on the command line
pub(crate) struct Deploy {
    pub(crate) cluster: String,
    pub(crate) subnets: Vec<String>,
    pub(crate) security_groups: Vec<String>,
    pub(crate) execution_role: String,
    pub(crate) service: String,
    pub(crate) family: String,
    pub(crate) desired_count: u32,
    pub(crate) cpu: u32,
    pub(crate) memory: u32,
    pub(crate) image: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) log_group: String,
    pub(crate) public_ip: bool,
    pub(crate) wait_secs: u32,
    pub(crate) dry_run: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Analyze {
    pub(crate) source: Source,
    pub(crate) json: bool,
    pub(crate) benchmark: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Severity {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "UNKNOWN" => Some(Self::Unknown),
            "LOW" => Some(Self::Low),
            "MEDIUM" => Some(Self::Medium),
            "HIGH" => Some(Self::High),
            "CRITICAL" => Some(Self::Critical),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
            Self::Critical => "CRITICAL",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Scan {
    pub(crate) source: Source,
    pub(crate) json: bool,
    pub(crate) sbom: Option<std::path::PathBuf>,
    pub(crate) fail_on: Option<Severity>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Build {
    pub(crate) variants: Vec<Variant>,
    pub(crate) no_cache: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Bench {
    pub(crate) duration_secs: u32,
    pub(crate) connections: u32,
    pub(crate) threads: u32,
}

impl Default for Bench {
    fn default() -> Self {
        Self {
            duration_secs: 10,
            connections: 64,
            threads: 2,
        }
    }
}

#[derive(Debug, PartialEq, Eq, Default)]
pub(crate) struct Ci {
    pub(crate) yes: bool,
}

/// `--yes` may stand anywhere: it lets any Docker-using command install and start an engine,
/// and `ci` install test tools.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<(Command, bool)> {
    let (yes, rest): (Vec<String>, Vec<String>) =
        args.into_iter().partition(|a| a == "--yes" || a == "-y");
    parse_command(rest).map(|command| {
        let yes = !yes.is_empty();
        match command {
            Command::Ci(_) => (Command::Ci(Ci { yes }), yes),
            other => (other, yes),
        }
    })
}

fn parse_command(args: Vec<String>) -> Result<Command> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Ok(Command::Help);
    };
    match command.as_str() {
        "help" | "--help" | "-h" => Ok(Command::Help),
        "history" => {
            let mut last = 15;
            while let Some(flag) = args.next() {
                match flag.as_str() {
                    "--last" => last = positive(&flag, args.next())?,
                    other => bail!("unknown flag {other:?} for `history`"),
                }
            }
            Ok(Command::History { last })
        }
        "up" | "down" | "status" | "logs" => parse_stack(&command, args),
        "bases" => {
            no_flags("bases", args)?;
            Ok(Command::Bases)
        }
        "build" => parse_build(args),
        "compare" => parse_compare(args),
        "test-image" => parse_test_image(args),
        "analyze" => parse_analyze(args),
        "scan" => parse_scan(args),
        "push" => parse_push(args),
        "lint-workflows" => {
            let files: Vec<std::path::PathBuf> = args.map(Into::into).collect();
            if let Some(flag) = files.iter().find(|f| f.to_string_lossy().starts_with('-')) {
                bail!(
                    "unknown flag {:?} for `lint-workflows`",
                    flag.display().to_string()
                );
            }
            Ok(Command::LintWorkflows(files))
        }
        "deploy" => parse_deploy(args),
        "bench" => {
            let mut flags = Bench::default();
            while let Some(flag) = args.next() {
                let target = match flag.as_str() {
                    "--duration" => &mut flags.duration_secs,
                    "--connections" => &mut flags.connections,
                    "--threads" => &mut flags.threads,
                    other => bail!("unknown flag {other:?} for `bench`"),
                };
                *target = positive(&flag, args.next())?;
            }
            Ok(Command::Bench(flags))
        }
        "ci" => {
            no_flags("ci", args)?;
            Ok(Command::Ci(Ci::default()))
        }
        "profiles" => {
            let mut flags = Profiles { duration_secs: 5 };
            while let Some(flag) = args.next() {
                match flag.as_str() {
                    "--duration" => flags.duration_secs = positive(&flag, args.next())?,
                    other => bail!("unknown flag {other:?} for `profiles`"),
                }
            }
            Ok(Command::Profiles(flags))
        }
        other => bail!("unknown command {other:?}"),
    }
}

fn parse_build(args: impl Iterator<Item = String>) -> Result<Command> {
    let mut variants = Vec::new();
    let mut no_cache = false;
    for word in args {
        match word.as_str() {
            "--no-cache" => no_cache = true,
            "all" => variants.extend(Variant::ALL),
            name => variants.push(Variant::parse(name).with_context(|| {
                format!("unknown image {name:?}: choose single, scratch, distroless or all")
            })?),
        }
    }
    if variants.is_empty() {
        variants.extend(Variant::ALL);
    }
    variants.sort_by_key(|variant| Variant::ALL.iter().position(|v| v == variant));
    variants.dedup();
    Ok(Command::Build(Build { variants, no_cache }))
}

fn parse_compare(mut args: impl Iterator<Item = String>) -> Result<Command> {
    let mut flags = Compare::default();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--rebuild" => flags.rebuild = true,
            "--skip-rebuild-timing" => flags.skip_rebuild = true,
            "--json" => flags.format = OutputFormat::Json,
            "--markdown" => flags.format = OutputFormat::Markdown,
            "--csv" => flags.format = OutputFormat::Csv,
            "--html" => {
                flags.html = Some(args.next().context("--html needs a file name")?.into());
            }
            "--deployments" => flags.deployments = positive(&flag, args.next())?,
            "--storage-price" => flags.storage_price = price(&flag, args.next())?,
            "--transfer-price" => flags.transfer_price = price(&flag, args.next())?,
            other => bail!("unknown flag {other:?} for `compare`"),
        }
    }
    Ok(Command::Compare(flags))
}

/// The image (positional: a local name, or one of this project's variants) or
/// `--archive FILE`; other words go to `flag`, which returns whether it knew the word.
fn parse_source(
    command: &str,
    mut args: impl Iterator<Item = String>,
    mut flag: impl FnMut(&str, &mut dyn Iterator<Item = String>) -> Result<bool>,
) -> Result<Source> {
    let (mut image, mut archive) = (None, None);
    while let Some(word) = args.next() {
        if word == "--archive" {
            archive = Some(args.next().context("--archive needs a file name")?);
        } else if flag(&word, &mut args)? {
        } else if word.starts_with('-') {
            bail!("unknown flag {word:?} for `{command}`");
        } else if image.is_some() {
            bail!("`{command}` takes one image, got {word:?} too");
        } else {
            image = Some(word);
        }
    }
    match (image, archive) {
        (None, None) => bail!(
            "`{command}` needs an image (a local name, or single | scratch | distroless) or \
             --archive FILE"
        ),
        (Some(_), Some(_)) => bail!("`{command}` takes an image or --archive FILE, not both"),
        (None, Some(path)) => Ok(Source::Archive(path.into())),
        (Some(name), None) => Ok(Source::Engine(
            Variant::parse(&name).map_or(name, Variant::tag),
        )),
    }
}

fn parse_analyze(args: impl Iterator<Item = String>) -> Result<Command> {
    let (mut json, mut benchmark) = (false, false);
    let source = parse_source("analyze", args, |word, _| {
        match word {
            "--json" => json = true,
            "--benchmark" => benchmark = true,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(Command::Analyze(Analyze {
        source,
        json,
        benchmark,
    }))
}

fn parse_scan(args: impl Iterator<Item = String>) -> Result<Command> {
    let (mut json, mut sbom, mut fail_on) = (false, None, None);
    let source = parse_source("scan", args, |word, rest| {
        match word {
            "--json" => json = true,
            "--sbom" => sbom = Some(rest.next().context("--sbom needs a file name")?.into()),
            "--fail-on" => {
                let value = rest.next().context("--fail-on needs a severity")?;
                fail_on = Some(Severity::parse(&value).with_context(|| {
                    format!("unknown severity {value:?}: choose LOW, MEDIUM, HIGH or CRITICAL")
                })?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(Command::Scan(Scan {
        source,
        json,
        sbom,
        fail_on,
    }))
}

fn parse_push(mut args: impl Iterator<Item = String>) -> Result<Command> {
    let mut variant = Variant::Scratch;
    let (mut ecr, mut region, mut repository, mut registry) = (false, None, None, None);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--variant" => {
                let name = value()?;
                variant = match Variant::parse(&name) {
                    Some(v @ (Variant::Scratch | Variant::Distroless)) => v,
                    _ => bail!("push takes --variant scratch or distroless, not {name:?}"),
                };
            }
            "--ecr" => ecr = true,
            "--region" => region = Some(value()?),
            "--repository" => repository = Some(value()?),
            "--registry" => registry = Some(value()?),
            other => bail!("unknown flag {other:?} for `push`"),
        }
    }
    let destination = match (ecr, registry) {
        (true, Some(_)) => bail!("push goes to --ecr or to --registry, not both"),
        (true, None) => Destination::Ecr {
            region,
            repository: repository.unwrap_or_else(|| "app".to_owned()),
        },
        (false, Some(registry)) => {
            if region.is_some() || repository.is_some() {
                bail!("--region and --repository go with --ecr; --registry takes HOST[:PORT]/NAME");
            }
            Destination::Registry(registry)
        }
        (false, None) => bail!("push needs a destination: --ecr, or --registry HOST[:PORT]/NAME"),
    };
    Ok(Command::Push(Push {
        variant,
        destination,
    }))
}

fn list(flag: &str, value: &str) -> Result<Vec<String>> {
    let items: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect();
    if items.is_empty() {
        bail!("{flag} needs at least one id");
    }
    Ok(items)
}

fn parse_deploy(mut args: impl Iterator<Item = String>) -> Result<Command> {
    let mut deploy = Deploy {
        cluster: String::new(),
        subnets: Vec::new(),
        security_groups: Vec::new(),
        execution_role: String::new(),
        service: "app".to_owned(),
        family: "app".to_owned(),
        desired_count: 1,
        cpu: 256,
        memory: 512,
        image: None,
        region: None,
        log_group: "/ecs/app".to_owned(),
        public_ip: false,
        wait_secs: 600,
        dry_run: false,
    };
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--dry-run" => deploy.dry_run = true,
            "--public-ip" => deploy.public_ip = true,
            "--desired-count" => {
                let value = args.next().context("--desired-count needs a value")?;
                deploy.desired_count = value
                    .parse()
                    .with_context(|| format!("--desired-count takes a number, not {value:?}"))?;
            }
            "--cpu" => deploy.cpu = positive(&flag, args.next())?,
            "--memory" => deploy.memory = positive(&flag, args.next())?,
            "--wait" => {
                let value = args.next().context("--wait needs a number of seconds")?;
                deploy.wait_secs = value
                    .parse()
                    .with_context(|| format!("--wait takes seconds, not {value:?}"))?;
            }
            _ => {
                let value = args
                    .next()
                    .with_context(|| format!("{flag} needs a value"))?;
                match flag.as_str() {
                    "--cluster" => deploy.cluster = value,
                    "--subnets" => deploy.subnets = list(&flag, &value)?,
                    "--security-groups" => deploy.security_groups = list(&flag, &value)?,
                    "--execution-role" => deploy.execution_role = value,
                    "--service" => deploy.service = value,
                    "--family" => deploy.family = value,
                    "--image" => deploy.image = Some(value),
                    "--region" => deploy.region = Some(value),
                    "--log-group" => deploy.log_group = value,
                    other => bail!("unknown flag {other:?} for `deploy`"),
                }
            }
        }
    }
    let mut missing = Vec::new();
    if deploy.cluster.is_empty() {
        missing.push("--cluster");
    }
    if deploy.subnets.is_empty() {
        missing.push("--subnets");
    }
    if deploy.security_groups.is_empty() {
        missing.push("--security-groups");
    }
    if deploy.execution_role.is_empty() {
        missing.push("--execution-role (the role ECS pulls the image and writes logs with)");
    }
    if !missing.is_empty() {
        bail!("deploy needs {}", missing.join(", "));
    }
    Ok(Command::Deploy(deploy))
}

fn parse_test_image(mut args: impl Iterator<Item = String>) -> Result<Command> {
    let mut image = None;
    let mut max_size_bytes = 6_000_000;
    while let Some(word) = args.next() {
        match word.as_str() {
            "--max-size" => max_size_bytes = size(&word, args.next())?,
            flag if flag.starts_with('-') => {
                bail!("unknown flag {flag:?} for `test-image`")
            }
            _ if image.is_some() => bail!("`test-image` takes one image, got {word:?} too"),
            _ => image = Some(word),
        }
    }
    let image = image.context("`test-image` needs an image, such as app:scratch")?;
    Ok(Command::TestImage(TestImage {
        image,
        max_size_bytes,
    }))
}

fn parse_stack(command: &str, args: impl Iterator<Item = String>) -> Result<Command> {
    match command {
        "up" => {
            let mut flags = Up {
                monitoring: false,
                grafana: true,
                single: false,
            };
            for flag in args {
                match flag.as_str() {
                    "--monitoring" => flags.monitoring = true,
                    "--no-grafana" => flags.grafana = false,
                    "--single" => flags.single = true,
                    other => bail!("unknown flag {other:?} for `up`"),
                }
            }
            Ok(Command::Up(flags))
        }
        "down" => {
            let mut flags = Down { volumes: false };
            for flag in args {
                match flag.as_str() {
                    "--volumes" => flags.volumes = true,
                    other => bail!("unknown flag {other:?} for `down`"),
                }
            }
            Ok(Command::Down(flags))
        }
        "status" => {
            no_flags("status", args)?;
            Ok(Command::Status)
        }
        "logs" => {
            let mut flags = Logs {
                services: Vec::new(),
                follow: false,
            };
            for word in args {
                match word.as_str() {
                    "--follow" | "-f" => flags.follow = true,
                    flag if flag.starts_with('-') => bail!("unknown flag {flag:?} for `logs`"),
                    service => flags.services.push(service.to_owned()),
                }
            }
            Ok(Command::Logs(flags))
        }
        _ => bail!("unknown command {command:?}"),
    }
}

fn no_flags(command: &str, mut args: impl Iterator<Item = String>) -> Result<()> {
    match args.next() {
        Some(flag) => bail!("unknown flag {flag:?} for `{command}`"),
        None => Ok(()),
    }
}

/// `4MB`, `500kB`, `1GB` (decimal, as registries count) or a number of bytes.
fn size(flag: &str, value: Option<String>) -> Result<u64> {
    let value = value.with_context(|| format!("{flag} needs a value"))?;
    let split = value
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let factor = match unit {
        "" | "B" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        _ => 0.0,
    };
    match number.parse::<f64>() {
        Ok(n) if n > 0.0 && factor > 0.0 => Ok((n * factor).round() as u64),
        _ => bail!("{flag} takes a size such as 4MB or 500kB, not {value:?}"),
    }
}

fn price(flag: &str, value: Option<String>) -> Result<f64> {
    let value = value.with_context(|| format!("{flag} needs a value"))?;
    match value.parse::<f64>() {
        Ok(price) if price.is_finite() && price >= 0.0 => Ok(price),
        _ => bail!("{flag} takes a price in US dollars such as 0.10, not {value:?}"),
    }
}

fn positive(flag: &str, value: Option<String>) -> Result<u32> {
    let value = value.with_context(|| format!("{flag} needs a value"))?;
    match value.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("{flag} takes a positive whole number, not {value:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &str) -> Result<Command> {
        parse(words.split_whitespace().map(str::to_owned)).map(|(command, _)| command)
    }

    #[test]
    fn parses_commands_and_flags() {
        assert_eq!(parse_words("").expect("no args"), Command::Help);
        assert_eq!(
            parse_words("bench --duration 3 --connections 8").expect("bench"),
            Command::Bench(Bench {
                duration_secs: 3,
                connections: 8,
                threads: 2
            })
        );
        assert_eq!(
            parse_words("ci --yes").expect("ci"),
            Command::Ci(Ci { yes: true })
        );
        assert_eq!(
            parse_words("scan --json scratch --fail-on high --sbom out.json").expect("scan"),
            Command::Scan(Scan {
                source: Source::Engine("app:scratch".to_owned()),
                json: true,
                sbom: Some("out.json".into()),
                fail_on: Some(Severity::High),
            })
        );
        assert_eq!(
            parse_words("analyze --archive image.tar --benchmark").expect("analyze"),
            Command::Analyze(Analyze {
                source: Source::Archive("image.tar".into()),
                json: false,
                benchmark: true,
            })
        );
    }

    #[test]
    fn analyze_and_scan_need_exactly_one_image() {
        let message = |words| parse_words(words).expect_err(words).to_string();
        assert!(message("analyze").contains("needs an image"));
        assert!(message("scan a --archive b").contains("not both"));
        assert!(message("scan a b").contains("one image"));
        assert!(message("scan a --fail-on severe").contains("unknown severity"));
        assert!(message("analyze a --sbom x").contains("unknown flag"));
    }

    #[test]
    fn rejects_what_it_does_not_know_with_a_reason() {
        let message = |words| parse_words(words).expect_err(words).to_string();
        assert_eq!(message("launch"), r#"unknown command "launch""#);
        assert!(message("push").contains("needs a destination"));
        assert!(message("push --ecr --registry localhost:5000/app").contains("not both"));
        assert!(
            message("push --registry h:1/app --variant single").contains("scratch or distroless")
        );
        assert_eq!(
            message("deploy --cluster c"),
            "deploy needs --subnets, --security-groups, --execution-role (the role ECS pulls the \
             image and writes logs with)"
        );
        assert!(message("deploy --wait soon").contains("--wait takes seconds"));
        assert_eq!(
            message("bench --fast"),
            r#"unknown flag "--fast" for `bench`"#
        );
        assert_eq!(message("bench --duration"), "--duration needs a value");
        assert_eq!(
            message("bench --duration 0"),
            r#"--duration takes a positive whole number, not "0""#
        );
    }
}
