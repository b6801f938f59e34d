//! Every command and flag `cargo xtask` understands, declared once: the doc comment on a command
//! or flag is its help (`cargo xtask help`, `cargo xtask <command> --help`), its default is
//! declared beside it, and clap parses, suggests and refuses. Commands run in the file of their
//! name (`impl flags::Build` in `build.rs`).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

use crate::findings::severity::Severity;
use crate::image::archive::Source;
use crate::project::variant::Variant;

/// The project's build tool: build, compare, check, scan, run and ship the service's images.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    arg_required_else_help = true,
    max_term_width = 100
)]
pub(crate) struct Xtask {
    /// Install what a command needs without asking (implied by CI=true; Debian/Ubuntu, as root
    /// or with password-less sudo): docker.io, then start dockerd; debootstrap for the local base
    /// images; docker-registry, iproute2, containerd, runc, procps and mount for the cold pulls
    /// and `save`, with Debian trixie's Docker 26 under target/tools where dockerd is older than
    /// 25; `ci` also installs the test tools (docs/programs.md lists every one)
    #[arg(long, short = 'y', global = true)]
    pub(crate) yes: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    Bases(Bases),
    Build(Build),
    Compare(Compare),
    TestImage(TestImage),
    Analyze(Analyze),
    Scan(Scan),
    Save(Save),
    Push(Push),
    Deploy(Box<Deploy>),
    Rollback(Rollback),
    Destroy(Destroy),
    LintWorkflows(LintWorkflows),
    Up(Up),
    Roll(Roll),
    Down(Down),
    Status(Status),
    Logs(Logs),
    Bench(Bench),
    Cost(Cost),
    Ci(Ci),
    Profiles(Profiles),
    History(History),
}

/// Build local stand-ins for the public base images (no registry needed)
#[derive(Debug, Args)]
pub(crate) struct Bases {}

/// Build images, timed, each build recorded in the history
#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // independent switches, as on the command line
pub(crate) struct Build {
    /// Which images (default: all)
    #[arg(value_enum)]
    pub(crate) images: Vec<BuildImages>,
    /// Build every step again (a cold build)
    #[arg(long)]
    pub(crate) no_cache: bool,
    /// The multi-stage images' cargo profile, from the workspace's Cargo.toml (`release-fast`
    /// rebuilds faster; the single-stage baseline always builds `release`)
    #[arg(long, default_value = "release", value_name = "NAME")]
    pub(crate) profile: String,
    /// Without Docker, as ko and Jib do: the static binary built on the host with the builder
    /// stage's flags, the image written as an OCI layout; the same commit gives the same digest
    /// (the shipped profile, as the images ship)
    #[arg(long, conflicts_with_all = ["images", "no_cache", "profile"])]
    pub(crate) daemonless: bool,
    /// With --daemonless: which image
    #[arg(long, requires = "daemonless", default_value = "scratch", value_parser = shipped_variant)]
    pub(crate) variant: Variant,
    /// With --daemonless: the OCI layout's folder [default: target/xtask/oci/VARIANT]
    #[arg(long, requires = "daemonless", value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// With --daemonless: also one archive that `docker load` reads (Docker 20.10 and 25+)
    #[arg(long, requires = "daemonless", value_name = "FILE")]
    pub(crate) tar: Option<PathBuf>,
    /// With --daemonless: put the image in the local engine, as app:VARIANT-daemonless
    #[arg(long, requires = "daemonless")]
    pub(crate) load: bool,
    /// With --daemonless: build twice, in two clean copies of the last commit at different
    /// paths, and compare; name the first difference if the digests differ
    #[arg(long, requires = "daemonless", conflicts_with_all = ["out", "tar", "load"])]
    pub(crate) verify: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BuildImages {
    /// The single-stage baseline
    #[value(alias = "single-stage")]
    Single,
    Scratch,
    Distroless,
    All,
}

impl Build {
    /// The chosen images, each once, in the order of [`Variant::ALL`].
    pub(crate) fn variants(&self) -> Vec<Variant> {
        let chosen = |variant: Variant| {
            self.images.is_empty()
                || self.images.iter().any(|image| match image {
                    BuildImages::All => true,
                    BuildImages::Single => variant == Variant::Single,
                    BuildImages::Scratch => variant == Variant::Scratch,
                    BuildImages::Distroless => variant == Variant::Distroless,
                })
        };
        Variant::ALL.into_iter().filter(|v| chosen(*v)).collect()
    }
}

/// Build what is missing, then measure every image side by side
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("format").args(["json", "markdown", "csv"])))]
#[allow(clippy::struct_excessive_bools)] // independent switches, as on the command line
pub(crate) struct Compare {
    /// Build every image again, cold
    #[arg(long)]
    pub(crate) rebuild: bool,
    /// Do not time a rebuild after a source-only change
    #[arg(long = "skip-rebuild-timing")]
    pub(crate) skip_rebuild: bool,
    /// Rebuild pairs (the image, then the same compile on the host) timed per multi-stage image
    /// after a source edit: one reports that pair, more their medians (a pair is two compiles)
    #[arg(
        long,
        default_value_t = 1,
        value_name = "N",
        value_parser = positive(),
        conflicts_with = "skip_rebuild"
    )]
    pub(crate) rebuild_pairs: u32,
    /// Do not time a cold pull from a local registry to the first answer
    #[arg(long = "skip-pull-timing")]
    pub(crate) skip_pull: bool,
    /// The multi-stage images' cargo profile, from the workspace's Cargo.toml (the single-stage
    /// baseline always builds `release`)
    #[arg(long, default_value = "release", value_name = "NAME")]
    pub(crate) profile: String,
    /// Print the report as JSON
    #[arg(long)]
    pub(crate) json: bool,
    /// Print the report as Markdown (a CI job summary)
    #[arg(long)]
    pub(crate) markdown: bool,
    /// Print the report as CSV
    #[arg(long)]
    pub(crate) csv: bool,
    /// Also write a self-contained page with SVG charts
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
    /// Image pulls a month, for the cost estimate
    #[arg(long, default_value_t = 30, value_name = "N", value_parser = positive())]
    pub(crate) deployments: u32,
    /// Registry storage price in USD per GB-month (ECR's)
    #[arg(long, default_value_t = 0.10, value_name = "USD", value_parser = price)]
    pub(crate) storage_price: f64,
    /// Data transfer price in USD per GB (ECR to the internet)
    #[arg(long, default_value_t = 0.09, value_name = "USD", value_parser = price)]
    pub(crate) transfer_price: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputFormat {
    Table,
    Json,
    Markdown,
    Csv,
}

impl Compare {
    pub(crate) fn format(&self) -> OutputFormat {
        if self.json {
            OutputFormat::Json
        } else if self.markdown {
            OutputFormat::Markdown
        } else if self.csv {
            OutputFormat::Csv
        } else {
            OutputFormat::Table
        }
    }
}

/// Check an image as production uses it: a pass/fail table
#[derive(Debug, Args)]
pub(crate) struct TestImage {
    /// The image, such as app:scratch
    pub(crate) image: String,
    /// Size budget, such as 4MB or 500kB (decimal units)
    #[arg(long = "max-size", default_value = "6MB", value_name = "SIZE", value_parser = size)]
    pub(crate) max_size_bytes: u64,
}

/// The image `analyze` and `scan` read: exactly one of a name or `--archive`.
#[derive(Debug, Args)]
#[group(id = "source", required = true, multiple = false)]
pub(crate) struct ImageSource {
    /// A local image, or single | scratch | distroless for this project's images
    image: Option<String>,
    /// A file `docker save` wrote (plain or gzipped), or an OCI image layout (a tar or a folder)
    #[arg(long, value_name = "FILE")]
    archive: Option<PathBuf>,
}

impl ImageSource {
    pub(crate) fn source(&self) -> Source {
        match (&self.archive, &self.image) {
            (Some(path), _) => Source::Archive(path.clone()),
            (None, Some(name)) => {
                Source::Engine(Variant::parse(name).map_or_else(|| name.clone(), Variant::tag))
            }
            // clap requires one of the two.
            (None, None) => Source::Engine(String::new()),
        }
    }
}

/// Layers, wasted space, largest files, recommendations and a 0-100 score
#[derive(Debug, Args)]
pub(crate) struct Analyze {
    #[command(flatten)]
    pub(crate) image: ImageSource,
    /// Print JSON
    #[arg(long)]
    pub(crate) json: bool,
    /// Also time `docker save` writing the image to a file
    #[arg(long)]
    pub(crate) benchmark: bool,
}

/// Write an image to a file as Docker 25 and later save it: the OCI image layout
///
/// The image goes from this machine's engine, or from an archive with --archive, into a
/// second, throwaway engine of Docker 25 or later (this machine's dockerd when it is that
/// recent, else Debian trixie's Docker 26, unpacked under target/tools with --yes as root) and
/// is saved from there, so an older engine, which writes only the docker-archive layout, still
/// gives the tools that read OCI layouts (`analyze --archive`, skopeo, umoci) what they read;
/// and an archive that engine cannot load fails here.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").args(["image", "archive"]).required(true)))]
pub(crate) struct Save {
    /// A local image, or single | scratch | distroless for this project's images
    pub(crate) image: Option<String>,
    /// An archive to load into the second engine instead (`build --daemonless --tar` writes one)
    #[arg(long, value_name = "FILE")]
    pub(crate) archive: Option<PathBuf>,
    /// The archive to write
    #[arg(long, short = 'o', value_name = "FILE")]
    pub(crate) output: PathBuf,
}

/// Attack surface, secrets, Rust crates, vulnerabilities, and a 0-100 score
///
/// Configuration checks, secrets in layer files, the crates of every Rust binary, trivy's
/// findings when trivy is installed.
#[derive(Debug, Args)]
pub(crate) struct Scan {
    #[command(flatten)]
    pub(crate) image: ImageSource,
    /// Print JSON
    #[arg(long)]
    pub(crate) json: bool,
    /// Write a CycloneDX JSON SBOM (OS packages and Rust crates)
    #[arg(long, value_name = "FILE")]
    pub(crate) sbom: Option<PathBuf>,
    /// Exit non-zero on a vulnerability this severe or worse, a secret or a failed check
    #[arg(long, value_enum, ignore_case = true, value_name = "SEVERITY")]
    pub(crate) fail_on: Option<Severity>,
}

/// Push the image to ECR or any registry; print URI@sha256:...
///
/// Built first, tagged with the version and the git revision, read back from the registry.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("destination").args(["ecr", "registry"]).required(true)))]
pub(crate) struct Push {
    /// Which image
    #[arg(long, default_value = "scratch", value_parser = shipped_variant)]
    pub(crate) variant: Variant,
    /// To ECR; the repository is created when missing (scan on push, immutable tags, AES-256)
    #[arg(long)]
    pub(crate) ecr: bool,
    /// The AWS region (default: the AWS CLI's: `AWS_REGION`, `AWS_DEFAULT_REGION` or the profile's)
    #[arg(long, conflicts_with = "registry")]
    pub(crate) region: Option<String>,
    /// The ECR repository
    #[arg(long, conflicts_with = "registry", default_value = "app")]
    pub(crate) repository: String,
    /// To any registry: HOST[:PORT]/NAME
    #[arg(long, value_name = "HOST[:PORT]/NAME")]
    pub(crate) registry: Option<String>,
    /// Without Docker: the image `build --daemonless` makes, sent over the registry API by
    /// xtask itself (only the blobs the registry lacks); credentials from
    /// `XTASK_REGISTRY_USERNAME`/`XTASK_REGISTRY_PASSWORD` or docker's config.json, for ECR from
    /// the AWS CLI
    #[arg(long)]
    pub(crate) daemonless: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    Ecr {
        region: Option<String>,
        repository: String,
    },
    Registry(String),
}

impl Push {
    pub(crate) fn destination(&self) -> Destination {
        match &self.registry {
            Some(registry) => Destination::Registry(registry.clone()),
            None => Destination::Ecr {
                region: self.region.clone(),
                repository: self.repository.clone(),
            },
        }
    }
}

/// Deploy the pushed image to ECS Fargate through `CloudFormation`: a change set of
/// deploy/ecs-service.yaml, shown, executed and followed until the stack settles
///
/// Checks first what the template cannot (the Fargate size, the timings that must agree, the
/// image's architecture, the subnets' zones and way out), then passes the flags as the
/// template's parameters. The stack is named after the project, the cluster and the service.
#[derive(Debug, Clone, Args)]
#[allow(clippy::struct_excessive_bools)] // independent switches, as on the command line
pub(crate) struct Deploy {
    #[command(flatten)]
    pub(crate) target: EcsService,
    /// The tasks' subnet ids, comma-separated (private ones, unless --public-ip)
    #[arg(long, required = true, value_delimiter = ',', value_parser = non_empty)]
    pub(crate) subnets: Vec<String>,
    /// The load balancer's subnet ids (public, one per zone, two or more zones; default:
    /// --subnets)
    #[arg(long, value_delimiter = ',', value_parser = non_empty)]
    pub(crate) alb_subnets: Vec<String>,
    /// More security groups for the tasks, beyond the stack's own
    #[arg(long, value_delimiter = ',', value_parser = non_empty)]
    pub(crate) security_groups: Vec<String>,
    /// The role ECS pulls the image and writes logs with
    #[arg(long)]
    pub(crate) execution_role: String,
    /// The role `CloudFormation` acts with (deploy/cloudformation-role-policy.json); without it,
    /// `CloudFormation` acts with the caller's own permissions
    #[arg(long, value_name = "ARN")]
    pub(crate) cloudformation_role: Option<String>,
    /// The task definition family
    #[arg(long, default_value = "app")]
    pub(crate) family: String,
    /// The fewest tasks autoscaling keeps
    #[arg(long, default_value_t = 1, value_parser = positive())]
    pub(crate) min: u32,
    /// The most tasks autoscaling starts
    #[arg(long, default_value_t = 10, value_parser = positive())]
    pub(crate) max: u32,
    /// Average CPU (percent) autoscaling keeps the tasks at
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(10..=90))]
    pub(crate) cpu_target: u32,
    /// Also scale on the load balancer's requests per task per minute
    #[arg(long, value_name = "N", value_parser = positive())]
    pub(crate) requests_per_target: Option<u32>,
    /// Task CPU units
    #[arg(long, default_value_t = 256, value_parser = positive())]
    pub(crate) cpu: u32,
    /// Task memory in MiB
    #[arg(long, default_value_t = 512, value_parser = positive())]
    pub(crate) memory: u32,
    /// URI@sha256:... (default: what the last push printed)
    #[arg(long)]
    pub(crate) image: Option<String>,
    /// Days `CloudWatch` Logs keeps the tasks' logs (a value `CloudWatch` offers: 1, 3, 5, 7, 14,
    /// 30, 60, 90, ...)
    #[arg(long, default_value_t = 30, value_name = "DAYS")]
    pub(crate) log_retention_days: u32,
    /// Give tasks a public IP (subnets without a NAT)
    #[arg(long)]
    pub(crate) public_ip: bool,
    /// The CPU the tasks run on: `x86_64`, or `arm64` (Graviton, cheaper) for an image built for it
    #[arg(long, value_enum, default_value_t = Arch::X86_64)]
    pub(crate) arch: Arch,
    /// Share a load balancer: a host rule on this listener of it instead of a load balancer of
    /// the service's own
    #[arg(long, value_name = "ARN", requires_all = ["host", "shared_security_group"])]
    pub(crate) shared_listener: Option<String>,
    /// With --shared-listener: the shared load balancer's security group, which the tasks
    /// accept traffic from
    #[arg(long, value_name = "ID", requires = "shared_listener")]
    pub(crate) shared_security_group: Option<String>,
    /// With --shared-listener: the host name the service answers on
    #[arg(long, requires = "shared_listener")]
    pub(crate) host: Option<String>,
    /// With --shared-listener: the host rule's priority, unique on that listener
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=50_000))]
    pub(crate) rule_priority: u32,
    /// An ACM certificate: HTTPS on 443, and HTTP redirected to it
    #[arg(long, value_name = "ARN", conflicts_with = "shared_listener")]
    pub(crate) certificate_arn: Option<String>,
    /// Seconds the load balancer drains a task before ECS stops it (at least the request timeout)
    #[arg(long, default_value_t = 15, value_name = "SECS")]
    pub(crate) deregistration_delay: u32,
    /// Seconds ECS ignores a new task's failing load balancer health checks
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub(crate) health_check_grace: u32,
    /// The share of 5xx answers (percent, over two minutes) that rolls a release back
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) max_5xx_percent: u32,
    /// Print the template's resources, the parameters and the monthly cost; with AWS
    /// credentials at hand, also create the change set, print its changes and delete it
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten, next_help_heading = COST_HEADING)]
    pub(crate) prices: Prices,
}

/// Where `--help` lists the price flags. `Deploy` sets it where it flattens them, and it also
/// covers any flag declared after them: `prices` stays `Deploy`'s last field.
const COST_HEADING: &str = "Cost estimate (deploy --dry-run prints it)";

/// The cost estimate's assumptions: AWS list prices in us-east-1 as of 2025, and how much the
/// service uses of what is billed by use.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Prices {
    /// Fargate price in USD per vCPU-hour, Linux on x86
    #[arg(long, default_value_t = 0.04048, value_name = "USD", value_parser = price)]
    pub(crate) fargate_vcpu_price: f64,
    /// Fargate price in USD per GB-hour of memory, Linux on x86
    #[arg(long, default_value_t = 0.004445, value_name = "USD", value_parser = price)]
    pub(crate) fargate_gb_price: f64,
    /// Fargate price in USD per vCPU-hour, Linux on arm64 (Graviton, 20 % below x86)
    #[arg(long, default_value_t = 0.03238, value_name = "USD", value_parser = price)]
    pub(crate) fargate_arm_vcpu_price: f64,
    /// Fargate price in USD per GB-hour of memory, Linux on arm64
    #[arg(long, default_value_t = 0.00356, value_name = "USD", value_parser = price)]
    pub(crate) fargate_arm_gb_price: f64,
    /// Application Load Balancer price in USD per hour (not counted with --shared-listener)
    #[arg(long, default_value_t = 0.0225, value_name = "USD", value_parser = price)]
    pub(crate) alb_price: f64,
    /// Application Load Balancer price in USD per LCU-hour
    #[arg(long, default_value_t = 0.008, value_name = "USD", value_parser = price)]
    pub(crate) lcu_price: f64,
    /// LCUs the service's traffic uses in an average hour (one is 25 new connections a second,
    /// 3000 open connections or 1 GB an hour)
    #[arg(long, default_value_t = 1.0, value_name = "N", value_parser = amount)]
    pub(crate) lcus: f64,
    /// NAT gateway price in USD per hour
    #[arg(long, default_value_t = 0.045, value_name = "USD", value_parser = price)]
    pub(crate) nat_price: f64,
    /// NAT gateway price in USD per GB processed
    #[arg(long, default_value_t = 0.045, value_name = "USD", value_parser = price)]
    pub(crate) nat_gb_price: f64,
    /// Interface endpoint price in USD per endpoint per AZ-hour
    #[arg(long, default_value_t = 0.01, value_name = "USD", value_parser = price)]
    pub(crate) endpoint_price: f64,
    /// Interface endpoint price in USD per GB processed
    #[arg(long, default_value_t = 0.01, value_name = "USD", value_parser = price)]
    pub(crate) endpoint_gb_price: f64,
    /// Public IPv4 address price in USD per hour (charged for every address since February 2024)
    #[arg(long, default_value_t = 0.005, value_name = "USD", value_parser = price)]
    pub(crate) ipv4_price: f64,
    /// Log ingestion price in USD per GB (the standard log class)
    #[arg(long, default_value_t = 0.50, value_name = "USD", value_parser = price)]
    pub(crate) log_price: f64,
    /// GB of logs each task writes a month
    #[arg(long, default_value_t = 1.0, value_name = "GB", value_parser = amount)]
    pub(crate) log_gb: f64,
    /// GB each task moves a month through the NAT gateways or interface endpoints besides its
    /// logs (image pulls, AWS API calls, calls out)
    #[arg(long, default_value_t = 10.0, value_name = "GB", value_parser = amount)]
    pub(crate) egress_gb: f64,
    /// Availability zones: NAT gateways and each interface endpoint are billed once per AZ
    #[arg(long, default_value_t = 2, value_name = "N", value_parser = positive())]
    pub(crate) azs: u32,
}

/// Which service's stack, in which cluster and region.
#[derive(Debug, Clone, Args)]
pub(crate) struct EcsService {
    /// The ECS cluster, which exists already
    #[arg(long)]
    pub(crate) cluster: String,
    /// The ECS service
    #[arg(long, default_value = "app")]
    pub(crate) service: String,
    /// The AWS region (default: the AWS CLI's: `AWS_REGION`, `AWS_DEFAULT_REGION` or the profile's)
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Seconds to follow the stack's events until it settles (0: do not follow)
    #[arg(long = "wait", default_value_t = 1800, value_name = "SECS")]
    pub(crate) wait_secs: u32,
}

impl EcsService {
    pub(crate) fn stack_name(&self) -> String {
        crate::aws::cloudformation::stack_name(&self.cluster, &self.service)
    }
}

/// Put the service back through its stack: an update in progress cancelled (`CloudFormation`
/// rolls it back), else the image the last deploy replaced (the stack's `PreviousImage`) deployed
/// again, every other parameter as the stack has it
#[derive(Debug, Args)]
pub(crate) struct Rollback {
    #[command(flatten)]
    pub(crate) target: EcsService,
}

/// Delete the service's stack and everything in it, and wait until it is gone
///
/// The log group is kept, with its retention (the stack retains it); delete it with
/// `aws logs delete-log-group` when its logs are no longer wanted.
#[derive(Debug, Args)]
pub(crate) struct Destroy {
    #[command(flatten)]
    pub(crate) target: EcsService,
}

/// A task's CPU architecture, as `deploy --arch` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Arch {
    #[value(name = "x86_64")]
    X86_64,
    #[value(name = "arm64")]
    Arm64,
}

impl Arch {
    /// ECS's name in `runtimePlatform.cpuArchitecture`.
    pub(crate) fn ecs(self) -> &'static str {
        match self {
            Self::X86_64 => "X86_64",
            Self::Arm64 => "ARM64",
        }
    }
}

/// actionlint on the GitHub workflows
#[derive(Debug, Args)]
pub(crate) struct LintWorkflows {
    /// Workflow files (default: all of them)
    pub(crate) files: Vec<PathBuf>,
}

/// Start the stack (the app behind nginx) and wait until every service is healthy
#[derive(Debug, Args)]
pub(crate) struct Up {
    /// Also Prometheus and Grafana (Grafana needs `GRAFANA_ADMIN_PASSWORD`)
    #[arg(long)]
    pub(crate) monitoring: bool,
    /// With --monitoring: Prometheus only
    #[arg(long)]
    pub(crate) no_grafana: bool,
    /// Also the single-stage image, on 127.0.0.1:8081
    #[arg(long)]
    pub(crate) single: bool,
    /// App containers behind nginx (default: 1, or as many as run now; already up: replicas
    /// whose image changed are replaced one at a time, and the count is changed to N)
    #[arg(long, value_name = "N", value_parser = replica_count())]
    pub(crate) replicas: Option<usize>,
}

/// Replace the running app's replicas one at a time: start a new one, wait until it is healthy
/// and receiving traffic, stop an old one (it drains), and so on
///
/// Stops at a new replica that never becomes healthy, removes it, and leaves the old ones
/// serving. The stack must be up (`cargo xtask up`).
#[derive(Debug, Args)]
pub(crate) struct Roll {
    /// Roll to this image (default: app:scratch, built from the sources first)
    #[arg(long, value_name = "REF", value_parser = non_empty)]
    pub(crate) image: Option<String>,
    /// End with N replicas (default: as many as run now)
    #[arg(long, value_name = "N", value_parser = replica_count())]
    pub(crate) replicas: Option<usize>,
}

/// Stop the stack and remove its containers and network
#[derive(Debug, Args)]
pub(crate) struct Down {
    /// Also delete Prometheus and Grafana data
    #[arg(long)]
    pub(crate) volumes: bool,
}

/// Each service of the stack, its health and its URL
#[derive(Debug, Args)]
pub(crate) struct Status {}

/// The last log lines of the stack or of some services
#[derive(Debug, Args)]
pub(crate) struct Logs {
    /// Services (default: all)
    pub(crate) services: Vec<String>,
    /// Keep printing
    #[arg(long, short)]
    pub(crate) follow: bool,
}

/// Build the static release binary, load it on loopback with wrk, print figures
#[derive(Debug, Clone, Args)]
pub(crate) struct Bench {
    /// Seconds of load per endpoint
    #[arg(long = "duration", default_value_t = 10, value_name = "SECS", value_parser = positive())]
    pub(crate) duration_secs: u32,
    /// Open connections
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = positive())]
    pub(crate) connections: u32,
    /// wrk threads
    #[arg(long, default_value_t = 2, value_name = "N", value_parser = positive())]
    pub(crate) threads: u32,
    /// Instead: the compose stack with 3 replicas behind nginx under open-loop load at a fixed
    /// rate, through a rolling update, a replica killed with SIGKILL, a restart with slow
    /// requests in flight and nginx reloads; prints failed requests, latency and timings
    #[arg(long)]
    pub(crate) roll: bool,
    /// With --roll: requests per second (at most 500: nginx allows one client 1000)
    #[arg(long, default_value_t = 200, value_name = "N", requires = "roll", value_parser = clap::value_parser!(u32).range(1..=500))]
    pub(crate) rate: u32,
    /// With --roll: print the figures as JSON
    #[arg(long, requires = "roll")]
    pub(crate) json: bool,
}

/// Instructions per request, counted with callgrind: the service against a bare axum
/// handler, and what each production feature costs
///
/// Each figure is the difference between a run with N keep-alive requests and one with none,
/// over N, counted --repeat times; the static release binaries, as images ship them.
#[derive(Debug, Args)]
pub(crate) struct Cost {
    /// Keep-alive requests per counted run
    #[arg(long, default_value_t = 2000, value_name = "N", value_parser = positive())]
    pub(crate) requests: u32,
    /// Counts per figure; the spread between them is reported
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = positive())]
    pub(crate) repeat: u32,
    /// Only this endpoint (repeatable; default: /, /health, /info and /metrics)
    #[arg(long = "endpoint", value_name = "PATH", value_parser = cost_endpoint)]
    pub(crate) endpoints: Vec<String>,
    /// Print the report as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// The endpoints `cost` counts, in the order it prints them.
pub(crate) const COST_ENDPOINTS: [&str; 4] = ["/", "/health", "/info", "/metrics"];

fn cost_endpoint(value: &str) -> Result<String> {
    if COST_ENDPOINTS.contains(&value) {
        Ok(value.to_owned())
    } else {
        bail!("counts one of {}", COST_ENDPOINTS.join(", "))
    }
}

/// The test command: format, lint, compare, every test, the scan gate, benchmarks, cost
///
/// In order: the test tools, the Docker engine and the local base images (with --yes or
/// CI=true it installs what is missing; Debian packages need root), `cargo fmt --check`,
/// clippy with warnings denied, `lint-workflows`, `compare --rebuild`, `cargo test
/// --workspace`, `scan --fail-on HIGH` on the scratch and distroless images, `analyze single
/// --benchmark`, `bench --duration 2`, and `cost`; then how long each step took.
#[derive(Debug, Args)]
pub(crate) struct Ci {}

/// Size, rebuild time and throughput of the app under candidate release profiles
#[derive(Debug, Args)]
pub(crate) struct Profiles {
    /// Seconds of load per endpoint and profile
    #[arg(long = "duration", default_value_t = 5, value_name = "SECS", value_parser = positive())]
    pub(crate) duration_secs: u32,
}

/// Show recorded builds and the trend of image sizes
#[derive(Debug, Args)]
pub(crate) struct History {
    /// How many entries
    #[arg(long, default_value_t = 15, value_name = "N")]
    pub(crate) last: usize,
}

impl Xtask {
    /// A command given as its words, as the user would type them after `cargo xtask`: how `ci`
    /// runs the other commands, so that it runs exactly what a user can.
    pub(crate) fn from_words(words: &[&str]) -> Result<Command> {
        let flags =
            Self::try_parse_from(std::iter::once("cargo xtask").chain(words.iter().copied()))?;
        Ok(flags.command)
    }
}

fn positive() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..)
}

/// 1 to 20 replicas: each is a container with its own memory limit on this one host.
fn replica_count() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..=20)
}

/// Only the images a deployment runs: the multi-stage ones.
fn shipped_variant(name: &str) -> Result<Variant> {
    match Variant::parse(name) {
        Some(variant @ (Variant::Scratch | Variant::Distroless)) => Ok(variant),
        _ => bail!("scratch or distroless, not {name:?}: the single-stage baseline is not shipped"),
    }
}

fn non_empty(value: &str) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        bail!("an empty id; give ids separated by commas");
    }
    Ok(value.to_owned())
}

/// `4MB`, `500kB`, `1GB` (decimal, as registries count) or a number of bytes.
fn size(value: &str) -> Result<u64> {
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
        _ => bail!("takes a size such as 4MB or 500kB"),
    }
}

fn price(value: &str) -> Result<f64> {
    match value.parse::<f64>() {
        Ok(price) if price.is_finite() && price >= 0.0 => Ok(price),
        _ => bail!("takes a price in US dollars, 0 or more, such as 0.10"),
    }
}

fn amount(value: &str) -> Result<f64> {
    match value.parse::<f64>() {
        Ok(amount) if amount.is_finite() && amount >= 0.0 => Ok(amount),
        _ => bail!("takes a number, 0 or more, such as 1.5"),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse_words(words: &str) -> Result<Command, clap::Error> {
        Xtask::try_parse_from(std::iter::once("cargo xtask").chain(words.split_whitespace()))
            .map(|flags| flags.command)
    }

    fn message(words: &str) -> String {
        parse_words(words).expect_err(words).to_string()
    }

    #[test]
    fn the_definitions_are_consistent() {
        Xtask::command().debug_assert();
    }

    #[test]
    fn parses_commands_and_flags_with_their_declared_defaults() {
        let Ok(Command::Bench(bench)) = parse_words("bench --duration 3 --connections=8") else {
            panic!("bench parses");
        };
        assert_eq!(
            (bench.duration_secs, bench.connections, bench.threads),
            (3, 8, 2)
        );
        let Ok(Command::Scan(scan)) =
            parse_words("scan --json scratch --fail-on high --sbom out.json")
        else {
            panic!("scan parses");
        };
        assert_eq!(
            scan.image.source(),
            Source::Engine("app:scratch".to_owned())
        );
        assert_eq!((scan.json, scan.fail_on), (true, Some(Severity::High)));
        assert_eq!(scan.sbom, Some(PathBuf::from("out.json")));
        let Ok(Command::Analyze(analyze)) = parse_words("analyze --archive image.tar --benchmark")
        else {
            panic!("analyze parses");
        };
        assert_eq!(analyze.image.source(), Source::Archive("image.tar".into()));
        let Ok(Command::History(history)) = parse_words("history") else {
            panic!("history parses");
        };
        assert_eq!(history.last, 15);
        let Ok(Command::Build(build)) = parse_words("build distroless scratch distroless") else {
            panic!("build parses");
        };
        assert_eq!(build.variants(), [Variant::Scratch, Variant::Distroless]);
        let Ok(Command::Build(build)) = parse_words("build --no-cache") else {
            panic!("build parses");
        };
        assert_eq!(build.variants(), Variant::ALL);
        let yes = Xtask::try_parse_from(["cargo xtask", "ci", "--yes"]).expect("ci --yes");
        assert!(yes.yes);
        let Ok(Command::Deploy(deploy)) =
            parse_words("deploy --cluster c --subnets a,b --security-groups g --execution-role r")
        else {
            panic!("deploy parses");
        };
        assert_eq!(deploy.subnets, ["a", "b"]);
        assert_eq!(
            (deploy.cpu, deploy.memory, deploy.target.wait_secs),
            (256, 512, 1800)
        );
        assert_eq!((deploy.min, deploy.max, deploy.cpu_target), (1, 10, 60));
        let shared =
            message("deploy --cluster c --subnets a --execution-role r --shared-listener l");
        assert!(shared.contains("--host <HOST>"), "{shared}");
    }

    #[test]
    fn prices_default_to_the_list_prices_and_refuse_what_is_not_one() {
        let deploy =
            |words: &str| format!("deploy --cluster c --subnets a --execution-role r {words}");
        let prices = |words: &str| {
            let Ok(Command::Deploy(deploy)) = parse_words(&deploy(words)) else {
                panic!("{words} parses");
            };
            deploy.prices
        };
        let (defaults, changed) = (
            prices(""),
            prices("--nat-price 0.059 --azs 3 --log-gb 0.25"),
        );
        // Parsed from the same decimal text as the literals: exactly equal.
        #[allow(clippy::float_cmp)]
        {
            assert_eq!(defaults.fargate_vcpu_price, 0.04048);
            assert_eq!(defaults.fargate_arm_gb_price, 0.00356);
            assert_eq!((changed.nat_price, changed.log_gb), (0.059, 0.25));
        }
        assert_eq!((defaults.azs, changed.azs), (2, 3));
        for (words, wanted) in [
            ("--nat-price=-0.01", "takes a price in US dollars"),
            ("--ipv4-price free", "takes a price in US dollars"),
            ("--alb-price NaN", "takes a price in US dollars"),
            ("--lcus=-1", "takes a number, 0 or more"),
            ("--log-gb lots", "takes a number, 0 or more"),
            ("--egress-gb inf", "takes a number, 0 or more"),
            ("--azs 0", "--azs"),
        ] {
            assert!(message(&deploy(words)).contains(wanted), "{words}");
        }
    }

    #[test]
    fn analyze_and_scan_need_exactly_one_image() {
        assert!(
            message("analyze").contains("required"),
            "{}",
            message("analyze")
        );
        assert!(message("scan a --archive b").contains("cannot be used with"));
        assert!(message("scan a b").contains("unexpected argument"));
        assert!(message("scan a --fail-on severe").contains("invalid value 'severe'"));
        assert!(message("analyze a --sbom x").contains("unexpected argument '--sbom'"));
    }

    #[test]
    fn rejects_what_it_does_not_know_with_a_reason() {
        assert!(message("launch").contains("unrecognized subcommand 'launch'"));
        assert!(
            message("biuld").contains("similar subcommand"),
            "{}",
            message("biuld")
        );
        assert!(message("push").contains("--ecr"), "{}", message("push"));
        assert!(
            message("push --ecr --registry localhost:5000/app").contains("cannot be used with")
        );
        assert!(
            message("push --registry h:1/app --variant single").contains("scratch or distroless")
        );
        assert!(message("push --registry h:1/app --region eu-west-1").contains("--ecr"));
        let deploy = message("deploy --cluster c");
        for missing in ["--subnets", "--execution-role"] {
            assert!(deploy.contains(missing), "{deploy}");
        }
        assert!(message("deploy --wait soon").contains("invalid value 'soon'"));
        assert!(message("bench --fast").contains("unexpected argument '--fast'"));
        assert!(message("bench --duration").contains("a value is required"));
        assert!(message("bench --duration 0").contains("0 is not in 1.."));
        assert!(message("test-image app:scratch --max-size 4XB").contains("such as 4MB"));
    }

    #[test]
    fn a_non_utf8_argument_is_a_clear_error() {
        use std::os::unix::ffi::OsStringExt;
        let bad = std::ffi::OsString::from_vec(vec![b'a', 0xff]);
        let error = Xtask::try_parse_from([
            std::ffi::OsString::from("cargo xtask"),
            "test-image".into(),
            bad,
        ])
        .expect_err("not UTF-8");
        assert!(error.to_string().contains("invalid UTF-8"), "{error}");
    }
}
