//! `push --daemonless`: the daemonless image sent over the registry API by xtask itself, with
//! the tag rules of `push`; no engine is asked anything.

use crate::oci::documents::Manifest;
use anyhow::{Context, Result, bail};

use super::registry::{Remote, Repository};
use super::{Action, ecr, plan, record};
use crate::aws::Aws;
use crate::oci::builder::{self, Source};
use crate::oci::distribution::{self, Credentials};
use crate::project::variant::Variant;

/// `tags` are the revision's then the version's.
pub(super) fn push(
    variant: Variant,
    repository: &Repository,
    create_with: Option<Aws>,
    ecr_password: Option<String>,
    tags: [String; 2],
) -> Result<()> {
    crate::tools::require(&["curl"])?;
    let credentials = match ecr_password {
        Some(password) => Some(Credentials {
            username: "AWS".to_owned(),
            password,
        }),
        None => Credentials::for_host(&repository.host)?,
    };
    let mut registry =
        distribution::Repository::new(&repository.host, &repository.name, credentials);
    // What the registry holds under both tags; asking also proves it answers and lets in.
    let version = tags[1].clone();
    let mut existing = Vec::new();
    for tag in tags {
        let remote = registry
            .manifest(&tag)?
            .map(|manifest| remote(&manifest))
            .transpose()?;
        existing.push((tag, remote));
    }
    let built = builder::build(variant, &Source::checkout()?, &crate::files::target_dir())?;
    let image = &built.image;
    if let Some(aws) = create_with {
        ecr::create(&aws, &repository.name)?;
    }
    let plan = plan(repository, existing, &image.config.digest(), &version)?;
    let to_push: Vec<String> = plan
        .iter()
        .filter(|(_, action)| *action == Action::Push)
        .map(|(tag, _)| tag.clone())
        .collect();
    if !to_push.is_empty() {
        eprintln!("pushing {} as {}", repository.uri(), to_push.join(" and "));
        let pushed = registry.push(image, &to_push)?;
        eprintln!(
            "uploaded {} blob(s), {} already there ({} requests)",
            pushed.uploaded.len(),
            pushed.present.len(),
            registry.requests
        );
    }
    let tags: Vec<String> = plan.into_iter().map(|(tag, _)| tag).collect();
    for tag in &tags {
        let served = registry
            .manifest(tag)?
            .with_context(|| format!("the registry does not serve {}:{tag}", repository.uri()))?;
        if served.digest() != image.digest() {
            bail!(
                "{}:{tag} serves {}, not this build's {}",
                repository.uri(),
                served.digest(),
                image.digest()
            );
        }
    }
    eprintln!(
        "verified: the registry serves {} for {}",
        image.digest(),
        tags.join(" and ")
    );
    record(repository, &image.digest(), variant, tags)
}

/// A served manifest as `push` compares images: its digest and its config's.
fn remote(manifest: &crate::oci::Blob) -> Result<Remote> {
    let parsed: Manifest = serde_json::from_slice(&manifest.bytes)
        .context("the registry's manifest is not an image manifest")?;
    Ok(Remote {
        manifest: manifest.digest(),
        config: parsed.config.digest,
    })
}
