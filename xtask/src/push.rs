//! `cargo xtask push`: the image to ECR (creating the repository when missing) or to any
//! registry, tagged with the version and the git revision, then read back from the registry to
//! prove it holds exactly what was pushed.
//!
//! No `latest`: ECR repositories created here have immutable tags, which a moving tag cannot
//! be, and a deployment should name a digest anyway. The version tag marks a release, the
//! revision tag a commit; `deploy` uses the digest printed here.

mod registry;

use anyhow::{Context, Result, bail};
use base64_decode::decode as base64;
use serde_json::json;

use crate::aws::Aws;
use crate::flags::{Destination, Push};
use registry::Repository;
use crate::util::time;
use crate::docker;
use crate::history;
use crate::docker::build;
use crate::util::process;

/// Where `push` records what it pushed, for `deploy`.
pub(crate) fn last_push_path() -> std::path::PathBuf {
    crate::project::root().join(".xtask/last-push.json")
}

/// For an ECR emulator that serves the API but not the registry (moto, in the tests): the
/// registry to push to instead of the repository URI's host.
const REGISTRY_OVERRIDE: &str = "XTASK_ECR_REGISTRY";

impl Push {
    pub(crate) fn run(self) -> Result<()> {
        let (version, revision) = tags()?;
        // Names, credentials, endpoints and the registry are checked before anything is built
        // or created, so a mistake costs one line and changes nothing.
        if let Destination::Ecr { repository, .. } = &self.destination {
            registry::validate_name(repository)?;
        }
        let named = match &self.destination {
            Destination::Registry(text) => Some(Repository::parse(text)?),
            Destination::Ecr { .. } => None,
        };
        crate::docker::engine::require()?;
        let (repository, create_with) = match (named, &self.destination) {
            (Some(repository), _) => (repository, None),
            (None, Destination::Ecr { region, repository }) => {
                let aws = Aws::new(region.as_deref())?;
                let exists = ecr_exists(&aws, repository)?;
                let host = ecr_login(&aws)?;
                let repository = Repository {
                    host,
                    name: repository.clone(),
                };
                (repository, (!exists).then_some(aws))
            }
            (None, Destination::Registry(_)) => unreachable!("a registry destination is parsed"),
        };
        // What the registry holds under both tags; asking also proves it answers and lets in.
        let mut existing = Vec::new();
        for tag in [revision, version.clone()] {
            let remote = registry::remote(&repository.reference(&tag))?;
            existing.push((tag, remote));
        }
        // Built (from cache when nothing changed) so that what is pushed is this checkout.
        eprintln!(
            "{}",
            build::build_and_record(self.variant, &crate::project::root(), false)?
        );
        if let Some(aws) = create_with {
            ecr_create(&aws, &repository.name)?;
        }
        let image = self.variant.tag();
        let image_id = process::capture(
            docker::docker().args(["image", "inspect", "--format", "{{.Id}}", &image]),
        )?;
        // Tags never move (ECR's are immutable). The revision tag names this commit's image:
        // if it holds another, nothing is pushed. The version tag marks the first image pushed
        // for that version: a later commit keeps it where it is and says so.
        let mut tags = Vec::new();
        for (tag, remote) in existing {
            let reference = repository.reference(&tag);
            match remote {
                Some(remote) if remote.config == image_id => {
                    eprintln!("{reference} already holds this image");
                    tags.push(tag);
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
                None => {
                    process::capture(docker::docker().args(["tag", &image, &reference]))?;
                    eprintln!("pushing {reference}");
                    registry::push(&reference)?;
                    tags.push(tag);
                }
            }
        }
        let digest = verify(&image, &repository, &tags)?;
        let pinned = format!("{}@{digest}", repository.uri());
        history::write_atomically(
            &ensure_parent(&last_push_path())?,
            serde_json::to_string_pretty(&json!({
                "image": pinned,
                "variant": self.variant.name(),
                "tags": tags,
                "date": time::rfc3339(time::now_unix()),
            }))?
            .as_bytes(),
        )?;
        println!("{pinned}");
        Ok(())
    }
}

fn ensure_parent(path: &std::path::Path) -> Result<std::path::PathBuf> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    Ok(path.to_owned())
}

/// The version of the workspace and the git revision (`-dirty` with uncommitted changes).
fn tags() -> Result<(String, String)> {
    let version = env!("CARGO_PKG_VERSION").to_owned();
    let revision = build::git_revision();
    if revision == "unknown" {
        bail!("push tags images with the git revision: run it in a git checkout");
    }
    let dirty = process::capture(
        std::process::Command::new("git")
            .current_dir(crate::project::root())
            .args(["status", "--porcelain", "--untracked-files=no"]),
    )
    .is_ok_and(|status| !status.is_empty());
    let revision = if dirty {
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

/// Whether the ECR repository `name` exists; the first call, so it also checks the
/// credentials and the endpoint.
fn ecr_exists(aws: &Aws, name: &str) -> Result<bool> {
    match aws.call(
        "ecr",
        "describe-repositories",
        &["--repository-names", name],
    )? {
        Ok(_) => Ok(true),
        Err(error) if error.code == "RepositoryNotFoundException" => Ok(false),
        Err(error) => Err(crate::aws::explain(&error)),
    }
}

/// Creates the ECR repository `name`: scan on push, immutable tags, AES-256.
fn ecr_create(aws: &Aws, name: &str) -> Result<()> {
    let created = aws.require(
        "ecr",
        "create-repository",
        &[
            "--repository-name",
            name,
            "--image-scanning-configuration",
            "scanOnPush=true",
            "--image-tag-mutability",
            "IMMUTABLE",
            "--encryption-configuration",
            "encryptionType=AES256",
        ],
    )?;
    eprintln!(
        "created the ECR repository {} (scan on push, immutable tags, AES-256 encryption)",
        created["repository"]["repositoryUri"]
            .as_str()
            .unwrap_or(name)
    );
    Ok(())
}

/// Logs the docker CLI in to the account's ECR registry; returns its host.
fn ecr_login(aws: &Aws) -> Result<String> {
    let token = aws.require("ecr", "get-authorization-token", &[])?;
    let data = &token["authorizationData"][0];
    let encoded = data["authorizationToken"]
        .as_str()
        .context("get-authorization-token returned no token")?;
    let decoded = String::from_utf8(base64(encoded).context("the ECR token is not base64")?)
        .context("the ECR token is not text")?;
    let (user, password) = decoded
        .split_once(':')
        .context("the ECR token is not USER:PASSWORD")?;
    let endpoint = data["proxyEndpoint"]
        .as_str()
        .context("get-authorization-token returned no registry")?;
    let host = endpoint
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned();
    let host = std::env::var(REGISTRY_OVERRIDE).unwrap_or(host);
    registry::login(&host, user, password)?;
    Ok(host)
}

/// Standard base64 (RFC 4648), as ECR encodes its tokens.
mod base64_decode {
    use anyhow::{Result, bail};

    pub(crate) fn decode(text: &str) -> Result<Vec<u8>> {
        let mut bits = 0_u32;
        let mut count = 0;
        let mut out = Vec::with_capacity(text.len() * 3 / 4);
        for byte in text.bytes().filter(|b| !b.is_ascii_whitespace()) {
            let value = match byte {
                b'A'..=b'Z' => byte - b'A',
                b'a'..=b'z' => byte - b'a' + 26,
                b'0'..=b'9' => byte - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' => break,
                _ => bail!("invalid base64 character {:?}", byte as char),
            };
            bits = (bits << 6) | u32::from(value);
            count += 6;
            if count >= 8 {
                count -= 8;
                out.push((bits >> count) as u8);
                bits &= (1 << count) - 1;
            }
        }
        Ok(out)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn decodes_an_ecr_token() {
            assert_eq!(
                super::decode("QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu").expect("valid"),
                b"AWS:123456789012-auth-token"
            );
            assert_eq!(super::decode("YQ==").expect("valid"), b"a");
            assert!(super::decode("a*b").is_err());
        }
    }
}
