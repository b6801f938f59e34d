//! Container registries through the docker CLI: repository names, login, push with retries,
//! and reading a pushed manifest back.

use std::process::Stdio;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::docker;

/// Where images go: `HOST[:PORT]/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Repository {
    pub(crate) host: String,
    pub(crate) name: String,
}

impl Repository {
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let Some((host, name)) = text.split_once('/') else {
            bail!(
                "{text:?} names no repository: give HOST[:PORT]/NAME, such as localhost:5000/app"
            );
        };
        let looks_like_host = host.contains('.') || host.contains(':') || host == "localhost";
        if !looks_like_host {
            bail!(
                "{text:?} does not start with a registry host: give HOST[:PORT]/NAME, such as \
                 registry.example.com/{text}"
            );
        }
        validate_name(name)?;
        Ok(Self {
            host: host.to_owned(),
            name: name.to_owned(),
        })
    }

    pub(crate) fn reference(&self, tag: &str) -> String {
        format!("{}/{}:{tag}", self.host, self.name)
    }

    pub(crate) fn uri(&self) -> String {
        format!("{}/{}", self.host, self.name)
    }
}

/// The distribution spec's grammar: lowercase path components of letters and digits joined by
/// `.`, `_`, `__` or runs of `-`, separated by `/`; 2 to 256 characters (ECR's bounds).
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let component_ok = |component: &str| {
        let bytes = component.as_bytes();
        let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if bytes.is_empty() || !alnum(&bytes[0]) || !alnum(&bytes[bytes.len() - 1]) {
            return false;
        }
        let mut previous_separator: Option<u8> = None;
        let mut run = 0;
        for b in bytes {
            if alnum(b) {
                previous_separator = None;
                run = 0;
                continue;
            }
            if !matches!(b, b'.' | b'_' | b'-') {
                return false;
            }
            run += 1;
            let allowed = match (previous_separator, *b) {
                (None, _) | (Some(b'-'), b'-') => true,
                (Some(b'_'), b'_') => run == 2,
                _ => false,
            };
            if !allowed {
                return false;
            }
            previous_separator = Some(*b);
        }
        true
    };
    if !(2..=256).contains(&name.len()) || !name.split('/').all(component_ok) {
        bail!(
            "invalid repository name {name:?}: use 2 to 256 lowercase letters and digits, \
             separated by `.`, `_` or `-`, with `/` between path parts (such as team/app)"
        );
    }
    Ok(())
}

/// Logs the docker CLI in to `host` (the password on stdin, never on the command line).
pub(crate) fn login(host: &str, username: &str, password: &str) -> Result<()> {
    let output = crate::process::feed(
        docker::docker()
            .args(["login", "--username", username, "--password-stdin", host])
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
        password.as_bytes(),
    )?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(failure(&stderr, &format!("docker login {host}")));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    Auth,
    Unreachable,
    Transient,
    Other,
}

/// What kind of failure the docker CLI reported.
pub(crate) fn classify(stderr: &str) -> Failure {
    let text = stderr.to_ascii_lowercase();
    // ECR answers "denied: ... tag invalid" for a tag that exists in an immutable repository.
    if text.contains("tag invalid") || text.contains("already exists") {
        return Failure::Other;
    }
    if [
        "unauthorized",
        "authentication required",
        "denied",
        "no basic auth credentials",
        "incorrect username or password",
    ]
    .iter()
    .any(|s| text.contains(s))
    {
        Failure::Auth
    } else if [
        "connection refused",
        "no such host",
        "server misbehaving",
        "network is unreachable",
    ]
    .iter()
    .any(|s| text.contains(s))
    {
        Failure::Unreachable
    } else if [
        "timeout",
        "connection reset",
        "broken pipe",
        "eof",
        "500 internal server error",
        "502 bad gateway",
        "503 service unavailable",
        "504 gateway",
        "toomanyrequests",
        "too many requests",
    ]
    .iter()
    .any(|s| text.contains(s))
    {
        Failure::Transient
    } else {
        Failure::Other
    }
}

/// One clear line for a docker failure.
fn failure(stderr: &str, what: &str) -> anyhow::Error {
    let last = stderr
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned();
    match classify(stderr) {
        Failure::Auth => anyhow::anyhow!(
            "the registry refused the credentials ({last}): log in first (`docker login HOST`; \
             for ECR, `cargo xtask push --ecr` logs in itself)"
        ),
        Failure::Unreachable => {
            anyhow::anyhow!("the registry is unreachable ({last}): check the host and port")
        }
        Failure::Transient | Failure::Other => anyhow::anyhow!("`{what}` failed: {last}"),
    }
}

/// Pushes `reference`, retrying transient failures with backoff (1, 2, 4 s).
pub(crate) fn push(reference: &str) -> Result<()> {
    let mut delay = Duration::from_secs(1);
    for attempt in 1..=4 {
        let output = docker::docker()
            .args(["push", reference])
            .stdin(Stdio::null())
            .output()
            .context("cannot run docker push")?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        if classify(&stderr) != Failure::Transient || attempt == 4 {
            return Err(failure(&stderr, &format!("docker push {reference}")));
        }
        eprintln!(
            "push of {reference} failed ({}), retrying in {} s",
            stderr.trim().lines().last().unwrap_or(""),
            delay.as_secs()
        );
        thread::sleep(delay);
        delay *= 2;
    }
    unreachable!("the loop returns on its last attempt")
}

/// What a registry serves for a tag: the manifest's digest and the image configuration's
/// (which is the local image's id, so it tells whether the tag already holds this image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Remote {
    pub(crate) manifest: String,
    pub(crate) config: String,
}

/// What the registry serves for `reference`; `None` when it has no such tag.
pub(crate) fn remote(reference: &str) -> Result<Option<Remote>> {
    let output = docker::docker()
        .args(["manifest", "inspect", "--verbose", "--insecure", reference])
        .stdin(Stdio::null())
        .output()
        .context("cannot run docker manifest inspect")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        // No tag yet, or (ECR) no repository yet.
        let lower = stderr.to_ascii_lowercase();
        if [
            "no such manifest",
            "manifest unknown",
            "name unknown",
            "does not exist",
        ]
        .iter()
        .any(|s| lower.contains(s))
        {
            return Ok(None);
        }
        return Err(failure(
            &stderr,
            &format!("docker manifest inspect {reference}"),
        ));
    }
    // One image is an object; a multi-platform index would be a list, which this never pushes.
    let inspected: InspectedManifest = serde_json::from_slice(&output.stdout)
        .context("docker manifest inspect printed no manifest description it knows")?;
    let config = inspected
        .schema_v2_manifest
        .or(inspected.oci_manifest)
        .map(|manifest| manifest.config.digest)
        .unwrap_or_default();
    Ok(Some(Remote {
        manifest: inspected.descriptor.digest,
        config,
    }))
}

/// `docker manifest inspect --verbose`'s answer for one image: the manifest's descriptor, and
/// the manifest itself under the name of its format.
#[derive(serde::Deserialize)]
struct InspectedManifest {
    #[serde(rename = "Descriptor")]
    descriptor: crate::oci::documents::Descriptor,
    #[serde(rename = "SchemaV2Manifest")]
    schema_v2_manifest: Option<crate::oci::documents::Manifest>,
    #[serde(rename = "OCIManifest")]
    oci_manifest: Option<crate::oci::documents::Manifest>,
}

/// The digest the engine recorded when it pushed `image` to `repository`.
pub(crate) fn local_digest(image: &str, repository: &Repository) -> Result<String> {
    let text = crate::process::capture(docker::docker().args([
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        image,
    ]))?;
    let digests: Vec<String> = serde_json::from_str(&text).unwrap_or_default();
    let prefix = format!("{}@", repository.uri());
    digests
        .iter()
        .find_map(|d| d.strip_prefix(&prefix).map(str::to_owned))
        .with_context(|| {
            format!(
                "the engine recorded no digest of {image} in {}",
                repository.uri()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_distribution_grammar() {
        for good in ["app", "team/app", "a.b_c-d", "a__b", "a--b", "ab/cd/ef"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "App", "a", "-app", "app-", "a..b", "a___b", "a/", "a//b", "a b", "a:b",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn repositories_need_a_host() {
        let repo = Repository::parse("127.0.0.1:5000/team/app").expect("valid");
        assert_eq!(repo.host, "127.0.0.1:5000");
        assert_eq!(repo.reference("0.1.0"), "127.0.0.1:5000/team/app:0.1.0");
        assert!(Repository::parse("team/app").is_err());
        assert!(Repository::parse("localhost/Bad!").is_err());
    }

    #[test]
    fn failures_are_classified() {
        assert_eq!(
            classify("unauthorized: authentication required"),
            Failure::Auth
        );
        assert_eq!(
            classify("dial tcp 127.0.0.1:1: connect: connection refused"),
            Failure::Unreachable
        );
        assert_eq!(
            classify("received unexpected HTTP status: 503 Service Unavailable"),
            Failure::Transient
        );
    }
}
