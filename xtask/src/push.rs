//! `cargo xtask push`: the image to ECR (creating the repository when missing) or to any
//! registry, tagged with the version and the git revision, then read back from the registry to
//! prove it holds exactly what was pushed.
//!
//! No `latest`: ECR repositories created here have immutable tags, which a moving tag cannot
//! be, and a deployment should name a digest anyway. The version tag marks a release, the
//! revision tag a commit; `deploy` uses the digest printed here.

mod ecr;
mod registry;
mod registry_api;

use anyhow::{Context, Result, bail};

use crate::aws::Aws;
use crate::docker;
use crate::docker::build;
use crate::flags::{Destination, Push};
use crate::git;
use crate::measure::time;
use crate::process;
use crate::project::profile::CargoProfile;
use crate::project::variant::Variant;
use crate::records::LastPush;
use registry::Repository;

impl Push {
    pub(crate) fn run(self) -> Result<()> {
        let destination = self.destination();
        let (version, revision) = tags()?;
        // Names, credentials, endpoints and the registry are checked before anything is built
        // or created, so a mistake costs one line and changes nothing.
        if let Destination::Ecr { repository, .. } = &destination {
            registry::validate_name(repository)?;
        }
        let named = match &destination {
            Destination::Registry(text) => Some(Repository::parse(text)?),
            Destination::Ecr { .. } => None,
        };
        if !self.daemonless {
            crate::docker::engine::require()?;
        }
        let (repository, create_with, ecr_password) = match (named, &destination) {
            (Some(repository), _) => (repository, None, None),
            (None, Destination::Ecr { region, repository }) => {
                let aws = Aws::new(region.as_deref())?;
                let exists = ecr::exists(&aws, repository)?;
                let (host, password) = ecr::credentials(&aws)?;
                if !self.daemonless {
                    registry::login(&host, "AWS", &password)?;
                }
                let repository = Repository {
                    host,
                    name: repository.clone(),
                };
                (repository, (!exists).then_some(aws), Some(password))
            }
            (None, Destination::Registry(_)) => unreachable!("a registry destination is parsed"),
        };
        if self.daemonless {
            return registry_api::push(
                self.variant,
                &repository,
                create_with,
                ecr_password,
                [revision, version],
            );
        }
        // What the registry holds under both tags; asking also proves it answers and lets in.
        let mut existing = Vec::new();
        for tag in [revision, version.clone()] {
            let remote = registry::remote(&repository.reference(&tag))?;
            existing.push((tag, remote));
        }
        // Built (from cache when nothing changed) so that what is pushed is this checkout.
        eprintln!(
            "{}",
            build::build_and_record(
                self.variant,
                &crate::files::root(),
                &CargoProfile::shipped()?,
                false
            )?
        );
        if let Some(aws) = create_with {
            ecr::create(&aws, &repository.name)?;
        }
        let image = self.variant.tag();
        let image_id = process::capture(
            docker::docker().args(["image", "inspect", "--format", "{{.Id}}", &image]),
        )?;
        let mut tags = Vec::new();
        for (tag, action) in plan(&repository, existing, &image_id, &version)? {
            if action == Action::Push {
                let reference = repository.reference(&tag);
                process::capture(docker::docker().args(["tag", &image, &reference]))?;
                eprintln!("pushing {reference}");
                registry::push(&reference)?;
            }
            tags.push(tag);
        }
        let digest = verify(&image, &repository, &tags)?;
        record(&repository, &digest, self.variant, tags)
    }
}

/// What `push` does with a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Push,
    /// The tag already names this image.
    Keep,
}

/// Tags never move (ECR's are immutable). The revision tag names this commit's image: if it
/// holds another, nothing is pushed. The version tag marks the first image pushed for that
/// version: a later commit keeps it where it is and says so. `existing` is what the registry
/// serves for each tag; an image is known by its config's digest (the engine's image ID).
fn plan(
    repository: &Repository,
    existing: Vec<(String, Option<registry::Remote>)>,
    config_digest: &str,
    version: &str,
) -> Result<Vec<(String, Action)>> {
    let mut plan = Vec::new();
    for (tag, remote) in existing {
        let reference = repository.reference(&tag);
        match remote {
            Some(remote) if remote.config == config_digest => {
                eprintln!("{reference} already holds this image");
                plan.push((tag, Action::Keep));
            }
            Some(remote) if tag == version => eprintln!(
                "{reference} already names an earlier image ({}) and stays; bump the version \
                 in Cargo.toml to tag a new release",
                remote.manifest
            ),
            Some(remote) => bail!(
                "{reference} already names another image ({}); tags never move: commit your \
                 changes, then push",
                remote.manifest
            ),
            None => plan.push((tag, Action::Push)),
        }
    }
    Ok(plan)
}

/// Records the push for `deploy` and prints the pinned reference, the command's one line of
/// standard output.
fn record(
    repository: &Repository,
    digest: &str,
    variant: Variant,
    tags: Vec<String>,
) -> Result<()> {
    let pinned = format!("{}@{digest}", repository.uri());
    LastPush {
        image: pinned.clone(),
        variant: variant.name().to_owned(),
        tags,
        date: time::rfc3339(time::now_unix()),
    }
    .write()?;
    println!("{pinned}");
    Ok(())
}

/// The version of the workspace and the git revision (`-dirty` with uncommitted changes).
fn tags() -> Result<(String, String)> {
    let version = env!("CARGO_PKG_VERSION").to_owned();
    let revision = git::revision();
    if revision == "unknown" {
        bail!("push tags images with the git revision: run it in a git checkout");
    }
    let revision = if git::is_dirty() {
        format!("git-{revision}-dirty")
    } else {
        format!("git-{revision}")
    };
    Ok((version, revision))
}

/// Reads every tag back from the registry: each must serve the manifest the engine pushed.
fn verify(image: &str, repository: &Repository, tags: &[String]) -> Result<String> {
    let local = registry::local_digest(image, repository)?;
    for tag in tags {
        let reference = repository.reference(tag);
        let remote = registry::remote(&reference)?
            .with_context(|| format!("the registry does not serve {reference} after the push"))?;
        if remote.manifest != local {
            bail!(
                "the registry serves {} for {reference}, but the engine pushed {local}",
                remote.manifest
            );
        }
    }
    eprintln!(
        "verified: the registry serves {local} for {}",
        tags.join(" and ")
    );
    Ok(local)
}
