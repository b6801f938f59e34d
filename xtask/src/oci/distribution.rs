//! The OCI distribution API, spoken directly: what `docker push` does, without an engine.
//! Blobs the registry has are found with `HEAD` and skipped; the others are uploaded in one
//! `POST` + `PUT` each; the manifest goes last, so a registry never names an image whose blobs
//! it lacks. Authentication follows the registry's `WWW-Authenticate` challenge: none, Basic,
//! or a Bearer token from the realm it names (the distribution spec's token flow, which Docker
//! Hub, GHCR and ECR's token endpoint use). Transient failures (a refused or reset connection,
//! 429, 5xx) are retried with backoff. Reading works the same way: a manifest by tag or digest
//! (an index of platforms among them) and blobs, each checked against its digest.

use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use serde::Deserialize;

use super::curl::{self, Response};
use super::documents::{Index, MediaType};
use super::{Blob, INDEX_MEDIA_TYPE, Image, sha256};

/// Attempts per request: the first and three retries, 1, 2 and 4 s apart.
const ATTEMPTS: u32 = 4;
/// What a manifest read asks for: an image, or an index of images by platform (which a
/// multi-platform base such as distroless is tagged with).
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
                               application/vnd.docker.distribution.manifest.v2+json, \
                               application/vnd.oci.image.index.v1+json, \
                               application/vnd.docker.distribution.manifest.list.v2+json";

/// A user name and password (or, for ECR, `AWS` and the login password).
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) username: String,
    pub(crate) password: String,
}

impl Credentials {
    /// The user name and password for `host`: from the environment, else from docker's
    /// `config.json` (what `docker login` stored, when it stored it there rather than in a
    /// credential helper), else none (the registry's challenge then says what it wants).
    pub(crate) fn for_host(host: &str) -> Result<Option<Self>> {
        let variable = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        match (variable(USERNAME_VARIABLE), variable(PASSWORD_VARIABLE)) {
            (Some(username), Some(password)) => return Ok(Some(Self { username, password })),
            (None, None) => {}
            _ => bail!("set both {USERNAME_VARIABLE} and {PASSWORD_VARIABLE}, or neither"),
        }
        let config = std::env::var_os("DOCKER_CONFIG")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".docker"))
            })
            .map(|folder| folder.join("config.json"));
        let Some(text) = config.and_then(|path| std::fs::read_to_string(path).ok()) else {
            return Ok(None);
        };
        let config: DockerConfig = serde_json::from_str(&text).unwrap_or_default();
        let Some(auth) = config
            .auths
            .get(host)
            .and_then(|login| login.auth.as_deref())
        else {
            return Ok(None);
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .with_context(|| {
                format!("docker's config.json holds an unreadable login for {host}")
            })?;
        let (username, password) = decoded.split_once(':').with_context(|| {
            format!("docker's config.json holds an unreadable login for {host}")
        })?;
        Ok(Some(Self {
            username: username.to_owned(),
            password: password.to_owned(),
        }))
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

/// One repository of one registry, and what authenticates to it.
pub(crate) struct Repository {
    /// `https://HOST` (`http://` for a registry on loopback, as Docker allows).
    base: String,
    name: String,
    credentials: Option<Credentials>,
    /// The `Authorization` header the last challenge called for.
    authorization: Option<String>,
    /// What a token is asked for: `pull,push`, or `pull` for a repository only read.
    actions: &'static str,
    /// Requests made, for the summary (and the tests).
    pub(crate) requests: u32,
}

/// An image manifest read for one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlatformManifest {
    pub(crate) manifest: Blob,
    /// The digest of the index it was chosen from, when the reference named an index.
    pub(crate) index: Option<String>,
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pushed {
    pub(crate) digest: String,
    pub(crate) uploaded: Vec<String>,
    pub(crate) present: Vec<String>,
}

impl Repository {
    pub(crate) fn new(host: &str, name: &str, credentials: Option<Credentials>) -> Self {
        let loopback = ["localhost", "127.0.0.1", "[::1]"]
            .iter()
            .any(|local| host == *local || host.starts_with(&format!("{local}:")));
        let scheme = if loopback { "http" } else { "https" };
        Self {
            base: format!("{scheme}://{host}"),
            name: name.to_owned(),
            credentials,
            authorization: None,
            actions: "pull,push",
            requests: 0,
        }
    }

    /// The same repository, only read: a token is asked for `pull` alone, which a public
    /// registry grants anyone.
    pub(crate) fn read_only(mut self) -> Self {
        self.actions = "pull";
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.base, self.name)
    }

    /// Pushes every blob the registry lacks, then the manifest under each of `tags`; reads the
    /// manifest back and checks its digest.
    pub(crate) fn push(&mut self, image: &Image, tags: &[String]) -> Result<Pushed> {
        let mut uploaded = Vec::new();
        let mut present = Vec::new();
        for blob in std::iter::once(&image.config).chain(&image.layers) {
            let digest = blob.digest();
            if self.has_blob(&digest)? {
                present.push(digest);
            } else {
                self.upload(blob)?;
                uploaded.push(digest);
            }
        }
        let digest = image.digest();
        for tag in tags {
            self.put_manifest(tag, &image.manifest)?;
            let served = self.manifest(tag)?.with_context(|| {
                format!(
                    "the registry does not serve {}:{tag} after the push",
                    self.name
                )
            })?;
            if served.digest() != digest {
                bail!(
                    "the registry serves {} for {}:{tag}, but {digest} was pushed",
                    served.digest(),
                    self.name
                );
            }
        }
        Ok(Pushed {
            digest,
            uploaded,
            present,
        })
    }

    pub(crate) fn has_blob(&mut self, digest: &str) -> Result<bool> {
        let response = self.send("HEAD", &self.url(&format!("blobs/{digest}")), &[], None)?;
        match response.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => bail!("HEAD blob {digest}: {}", describe(&response)),
        }
    }

    fn upload(&mut self, blob: &Blob) -> Result<()> {
        let started = self.send("POST", &self.url("blobs/uploads/"), &[], Some(&[]))?;
        if started.status != 202 {
            bail!(
                "starting an upload to {}: {}",
                self.name,
                describe(&started)
            );
        }
        let location = started
            .header("location")
            .context("the registry started an upload but gave no Location to send it to")?;
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={}", blob.digest());
        let done = self.send(
            "PUT",
            &url,
            &[("Content-Type", "application/octet-stream")],
            Some(&blob.bytes),
        )?;
        match done.status {
            201 => Ok(()),
            _ => bail!("uploading {}: {}", blob.digest(), describe(&done)),
        }
    }

    fn put_manifest(&mut self, reference: &str, manifest: &Blob) -> Result<()> {
        let response = self.send(
            "PUT",
            &self.url(&format!("manifests/{reference}")),
            &[("Content-Type", manifest.media_type.as_str())],
            Some(&manifest.bytes),
        )?;
        match response.status {
            201 => Ok(()),
            _ => bail!(
                "putting the manifest {}:{reference}: {}",
                self.name,
                describe(&response)
            ),
        }
    }

    /// The manifest the registry serves for `reference` (a tag or a digest, which it is
    /// checked against), if any.
    pub(crate) fn manifest(&mut self, reference: &str) -> Result<Option<Blob>> {
        let response = self.send(
            "GET",
            &self.url(&format!("manifests/{reference}")),
            &[("Accept", MANIFEST_ACCEPT)],
            None,
        )?;
        match response.status {
            200 => {
                let media_type = response.header("content-type").unwrap_or_default();
                let manifest = Blob::new(&media_type, response.body);
                if reference.starts_with("sha256:") && manifest.digest() != reference {
                    bail!(
                        "the registry served {}@{reference} as a manifest of another digest, {}",
                        self.name,
                        manifest.digest()
                    );
                }
                Ok(Some(manifest))
            }
            404 => Ok(None),
            _ => bail!("GET manifest {reference}: {}", describe(&response)),
        }
    }

    /// The image manifest of `platform` (`linux/amd64`) under `reference`: the manifest the
    /// registry serves, or, when that is an index of platforms, the platform's own, by digest.
    pub(crate) fn image_manifest(
        &mut self,
        reference: &str,
        platform: &str,
    ) -> Result<Option<PlatformManifest>> {
        let Some(served) = self.manifest(reference)? else {
            return Ok(None);
        };
        let declared: MediaType = serde_json::from_slice(&served.bytes).with_context(|| {
            format!(
                "the registry's manifest {}:{reference} is not JSON",
                self.name
            )
        })?;
        let index: Option<Index> = serde_json::from_slice(&served.bytes).ok();
        if !is_index(&served, &declared.media_type, index.is_some()) {
            return Ok(Some(PlatformManifest {
                manifest: served,
                index: None,
            }));
        }
        let index = index.with_context(|| {
            format!(
                "the registry's manifest {}:{reference} is an index that lists no manifests",
                self.name
            )
        })?;
        let digest = platform_digest(&index, platform).with_context(|| {
            format!(
                "{}:{reference} is an index of platforms without {platform}",
                self.name
            )
        })?;
        let manifest = self.manifest(&digest)?.with_context(|| {
            format!(
                "{}:{reference} names {digest} for {platform}, which the registry does not serve",
                self.name
            )
        })?;
        Ok(Some(PlatformManifest {
            manifest,
            index: Some(served.digest()),
        }))
    }

    /// A blob, checked against its digest.
    pub(crate) fn blob(&mut self, digest: &str) -> Result<Vec<u8>> {
        let response = self.send("GET", &self.url(&format!("blobs/{digest}")), &[], None)?;
        if response.status != 200 {
            bail!("GET blob {digest}: {}", describe(&response));
        }
        let bytes = response.body;
        if sha256(&bytes) != digest {
            bail!("the registry served a blob that does not match its digest {digest}");
        }
        Ok(bytes)
    }

    /// One request, authenticated as the registry asks and retried when the failure is
    /// transient.
    fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response> {
        let mut challenged = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.requests += 1;
            let result = self.once(method, url, headers, body)?;
            let transient = match &result {
                Ok(response) => matches!(response.status, 429 | 500..=599),
                Err(failure) => failure.transient,
            };
            if let Ok(response) = &result
                && response.status == 401
            {
                if challenged {
                    bail!(
                        "{} refused {}: check {USERNAME_VARIABLE} and {PASSWORD_VARIABLE} and \
                         their rights on {}",
                        self.base,
                        self.credentials.as_ref().map_or_else(
                            || "anonymous access".to_owned(),
                            |c| format!("the credentials of {}", c.username)
                        ),
                        self.name
                    );
                }
                challenged = true;
                let challenge = response.header("www-authenticate").with_context(|| {
                    format!("{method} {url}: 401 without a WWW-Authenticate challenge")
                })?;
                self.authorization = Some(self.answer(&challenge)?);
                continue;
            }
            if transient && attempt < ATTEMPTS {
                let wait = 1 << (attempt - 1);
                eprintln!(
                    "{method} {url}: {}; retrying in {wait} s",
                    match &result {
                        Ok(response) => format!("status {}", response.status),
                        Err(failure) => failure.message.clone(),
                    }
                );
                thread::sleep(Duration::from_secs(wait));
                continue;
            }
            return result.map_err(|failure| {
                anyhow::anyhow!(
                    "{method} {url}: {}{}",
                    failure.message,
                    unreachable_hint(&failure)
                )
            });
        }
    }

    fn once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<std::result::Result<Response, curl::Failure>> {
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(authorization) = &self.authorization {
            all.push(("Authorization", authorization));
        }
        curl::request(method, url, &all, body)
    }

    /// The `Authorization` header that answers a `WWW-Authenticate` challenge.
    fn answer(&mut self, challenge: &str) -> Result<String> {
        let (scheme, parameters) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let parameters = parse_challenge(parameters);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                let credentials = self.credentials.as_ref().with_context(|| {
                    format!(
                        "{} asks for a user name and password: set {USERNAME_VARIABLE} and \
                         {PASSWORD_VARIABLE}",
                        self.base
                    )
                })?;
                Ok(format!("Basic {}", basic(credentials)))
            }
            "bearer" => {
                let realm = parameters
                    .iter()
                    .find(|(key, _)| key == "realm")
                    .map(|(_, value)| value.clone())
                    .context("a Bearer challenge without a realm")?;
                let mut query = Vec::new();
                for (key, value) in &parameters {
                    if key == "service" {
                        query.push(format!("service={}", encode(value)));
                    }
                }
                // The challenge names the scope of the request it refused; a push needs both.
                query.push(format!(
                    "scope={}",
                    encode(&format!("repository:{}:{}", self.name, self.actions))
                ));
                let separator = if realm.contains('?') { '&' } else { '?' };
                let url = format!("{realm}{separator}{}", query.join("&"));
                let basic_header;
                let mut headers = Vec::new();
                if let Some(credentials) = &self.credentials {
                    basic_header = format!("Basic {}", basic(credentials));
                    headers.push(("Authorization", basic_header.as_str()));
                }
                self.requests += 1;
                let response = curl::request("GET", &url, &headers, None)?.map_err(|failure| {
                    anyhow::anyhow!("asking {realm} for a token: {}", failure.message)
                })?;
                let status = response.status;
                if status != 200 {
                    bail!(
                        "the token server {realm} refused ({status}){}",
                        if self.credentials.is_none() {
                            format!(": set {USERNAME_VARIABLE} and {PASSWORD_VARIABLE}")
                        } else {
                            ": check the user name and password".to_owned()
                        }
                    );
                }
                let body: TokenAnswer = serde_json::from_slice(&response.body)
                    .context("the token server's answer is not JSON")?;
                let token = body
                    .token
                    .or(body.access_token)
                    .context("the token server's answer has no token")?;
                Ok(format!("Bearer {token}"))
            }
            other => bail!(
                "{}: an authentication scheme xtask does not speak: {other}",
                self.base
            ),
        }
    }
}

/// Whether a served manifest is an index of platforms (OCI's, or Docker's manifest list): by
/// the `mediaType` the document declares, else the one the registry served it as, else by
/// whether it lists manifests.
fn is_index(served: &Blob, declared: &str, lists_manifests: bool) -> bool {
    let media_type = if declared.is_empty() {
        served.media_type.as_str()
    } else {
        declared
    };
    media_type.starts_with(INDEX_MEDIA_TYPE)
        || media_type.starts_with(DOCKER_MANIFEST_LIST)
        || (media_type.is_empty() && lists_manifests)
}

const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The digest an index names for `platform` (`OS/ARCHITECTURE`).
fn platform_digest(index: &Index, platform: &str) -> Option<String> {
    let (os, architecture) = platform.split_once('/')?;
    index
        .for_platform(os, architecture)
        .map(|descriptor| descriptor.digest.clone())
}

/// An image in a registry: `HOST[:PORT]/NAME[:TAG][@sha256:HEX]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    pub(crate) host: String,
    pub(crate) name: String,
    pub(crate) tag: Option<String>,
    pub(crate) digest: Option<String>,
}

impl Reference {
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                let hex = digest.strip_prefix("sha256:").unwrap_or_default();
                if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    bail!("{text:?}: what follows @ is not sha256: and 64 lowercase hex digits");
                }
                (rest, Some(digest.to_owned()))
            }
            None => (text, None),
        };
        let host = rest
            .split_once('/')
            .map(|(host, _)| host)
            .filter(|host| host.contains('.') || host.contains(':') || *host == "localhost");
        let Some(host) = host.filter(|host| !DOCKER_HUB.contains(host)) else {
            bail!(
                "{text:?} is a Docker Hub image, which xtask reads only through the local engine \
                 (`docker pull` it there); from a registry, name it by its host: \
                 HOST[:PORT]/NAME[:TAG][@sha256:...], such as \
                 gcr.io/distroless/static-debian12:nonroot"
            );
        };
        let path = &rest[host.len() + 1..];
        let (name, tag) = match path.rsplit_once(':') {
            Some((name, tag)) => (name, Some(tag)),
            None => (path, None),
        };
        let name_ok = name.split('/').all(|component| {
            !component.is_empty()
                && component
                    .bytes()
                    .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
        });
        if !name_ok {
            bail!(
                "{text:?}: {name:?} is not a repository name (lowercase letters, digits, . _ - and /)"
            );
        }
        let tag_ok = |tag: &str| {
            (1..=128).contains(&tag.len())
                && !tag.starts_with(['.', '-'])
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        };
        if let Some(tag) = tag.filter(|tag| !tag_ok(tag)) {
            bail!("{text:?}: {tag:?} is not a tag (letters, digits, . _ -, at most 128)");
        }
        Ok(Self {
            host: host.to_owned(),
            name: name.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// What the manifest is read by: the digest when one is pinned, else the tag.
    pub(crate) fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// `HOST/NAME:TAG`, without the digest.
    pub(crate) fn without_digest(&self) -> String {
        let tag = self
            .tag
            .as_ref()
            .map(|tag| format!(":{tag}"))
            .unwrap_or_default();
        format!("{}/{}{tag}", self.host, self.name)
    }
}

/// Docker Hub's names for itself, which its API answers at none of.
const DOCKER_HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// Where `push --daemonless` reads a registry's user name and password.
const USERNAME_VARIABLE: &str = "XTASK_REGISTRY_USERNAME";
const PASSWORD_VARIABLE: &str = "XTASK_REGISTRY_PASSWORD";

fn basic(credentials: &Credentials) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", credentials.username, credentials.password))
}

/// The status and the registry's error message, if it sent one.
fn describe(response: &Response) -> String {
    let status = response.status;
    let body = response.text();
    let message = serde_json::from_str::<ErrorAnswer>(&body)
        .map(|answer| {
            answer
                .errors
                .iter()
                .map(|e| format!("{} {}", e.code, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    let hint = match status {
        401 | 403 => ": not allowed; check the credentials and their rights on the repository",
        _ => "",
    };
    format!("status {status} {message}{hint}").trim().to_owned()
}

/// What to do about a registry that did not answer.
fn unreachable_hint(failure: &curl::Failure) -> &'static str {
    if failure.transient {
        ": the registry did not answer; check the host and port"
    } else {
        ""
    }
}

/// `realm="https://auth",service="registry",scope="repository:a:pull"` as pairs.
fn parse_challenge(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (&quoted[..end], quoted.get(end + 1..).unwrap_or(""))
        } else {
            after.split_once(',').unwrap_or((after, ""))
        };
        pairs.push((key, value.to_owned()));
        rest = after.trim();
    }
    pairs
}

/// Percent-encoding of a query value: everything but the unreserved characters.
fn encode(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// What a token server answers (Docker's token flow: `token`, or OAuth's `access_token`).
#[derive(Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
}

/// The distribution API's error document.
#[derive(Deserialize)]
struct ErrorAnswer {
    errors: Vec<RegistryError>,
}

#[derive(Deserialize)]
struct RegistryError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The logins `docker login` stores in `~/.docker/config.json`.
#[derive(Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, Login>,
}

#[derive(Deserialize)]
struct Login {
    auth: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_with_quoted_commas() {
        assert_eq!(
            parse_challenge(
                r#"realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#
            ),
            [
                ("realm".to_owned(), "https://auth.example/token".to_owned()),
                ("service".to_owned(), "registry.example".to_owned()),
                ("scope".to_owned(), "repository:a/b:pull,push".to_owned()),
            ]
        );
        assert_eq!(
            encode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }

    #[test]
    fn references_parse_with_a_host_and_refuse_docker_hub_names() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let pinned = Reference::parse(&format!(
            "127.0.0.1:5000/distroless/static:nonroot@{digest}"
        ))
        .expect("parses");
        assert_eq!(
            pinned,
            Reference {
                host: "127.0.0.1:5000".to_owned(),
                name: "distroless/static".to_owned(),
                tag: Some("nonroot".to_owned()),
                digest: Some(digest.clone()),
            }
        );
        assert_eq!(pinned.manifest_reference(), digest);
        assert_eq!(
            pinned.without_digest(),
            "127.0.0.1:5000/distroless/static:nonroot"
        );
        let untagged = Reference::parse("gcr.io/distroless/static").expect("parses");
        assert_eq!(untagged.manifest_reference(), "latest");
        assert_eq!(untagged.without_digest(), "gcr.io/distroless/static");
        for (text, says) in [
            ("distroless/static:nonroot", "Docker Hub"),
            ("debian", "Docker Hub"),
            ("docker.io/library/debian:12", "Docker Hub"),
            ("gcr.io/Distroless/static", "not a repository name"),
            ("gcr.io/distroless/static:-x", "not a tag"),
            ("gcr.io/distroless/static@sha256:abc", "64 lowercase hex"),
        ] {
            let error = Reference::parse(text).expect_err(text).to_string();
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn an_index_names_the_platforms_manifest() {
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [
                {"digest": "sha256:arm", "platform": {"os": "linux", "architecture": "arm64"}},
                {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}},
            ],
        });
        let served = Blob::new("", serde_json::to_vec(&index).expect("JSON"));
        let index: Index = serde_json::from_value(index).expect("an index");
        assert_eq!(
            platform_digest(&index, "linux/amd64").as_deref(),
            Some("sha256:amd")
        );
        assert_eq!(platform_digest(&index, "linux/s390x"), None);
        assert!(is_index(&served, "", true), "an index without a mediaType");
        let list = Blob::new(DOCKER_MANIFEST_LIST, b"{}".to_vec());
        assert!(is_index(&list, "", false));
        assert!(
            !is_index(&list, super::super::MANIFEST_MEDIA_TYPE, false),
            "the document's mediaType decides"
        );
    }

    #[test]
    fn loopback_registries_speak_http_and_others_https() {
        assert_eq!(
            Repository::new("127.0.0.1:5000", "app", None).base,
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            Repository::new("localhost", "app", None).base,
            "http://localhost"
        );
        assert_eq!(
            Repository::new("registry.example.com", "app", None).base,
            "https://registry.example.com"
        );
    }
}
