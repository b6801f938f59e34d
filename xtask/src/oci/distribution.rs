//! The OCI distribution API, spoken directly: what `docker push` does, without an engine.
//! Blobs the registry has are found with `HEAD` and skipped; the others are uploaded in one
//! `POST` + `PUT` each; the manifest goes last, so a registry never names an image whose blobs
//! it lacks. Authentication follows the registry's `WWW-Authenticate` challenge: none, Basic,
//! or a Bearer token from the realm it names (the distribution spec's token flow, which Docker
//! Hub, GHCR and ECR's token endpoint use). Transient failures (a refused or reset connection,
//! 429, 5xx) are retried with backoff.

use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use serde_json::Value;

use super::curl::{self, Response};
use super::{Blob, Image, sha256};

/// Attempts per request: the first and three retries, 1, 2 and 4 s apart.
const ATTEMPTS: u32 = 4;
/// What a manifest read asks for: the image formats, never a list of platforms.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
                               application/vnd.docker.distribution.manifest.v2+json";

/// A user name and password (or, for ECR, `AWS` and the login password).
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) username: String,
    pub(crate) password: String,
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
    /// Requests made, for the summary (and the tests).
    pub(crate) requests: u32,
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
            requests: 0,
        }
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
            status => bail!("HEAD blob {digest}: {}", describe(status, response)),
        }
    }

    fn upload(&mut self, blob: &Blob) -> Result<()> {
        let started = self.send("POST", &self.url("blobs/uploads/"), &[], Some(&[]))?;
        if started.status != 202 {
            bail!(
                "starting an upload to {}: {}",
                self.name,
                describe(started.status, started)
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
            status => bail!("uploading {}: {}", blob.digest(), describe(status, done)),
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
            status => bail!(
                "putting the manifest {}:{reference}: {}",
                self.name,
                describe(status, response)
            ),
        }
    }

    /// The manifest the registry serves for `reference` (a tag or a digest), if any.
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
                Ok(Some(Blob::new(&media_type, response.body)))
            }
            404 => Ok(None),
            status => bail!("GET manifest {reference}: {}", describe(status, response)),
        }
    }

    /// A blob, checked against its digest.
    pub(crate) fn blob(&mut self, digest: &str) -> Result<Vec<u8>> {
        let response = self.send("GET", &self.url(&format!("blobs/{digest}")), &[], None)?;
        if response.status != 200 {
            bail!("GET blob {digest}: {}", describe(response.status, response));
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
                    encode(&format!("repository:{}:pull,push", self.name))
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
                let body: Value = serde_json::from_slice(&response.body)
                    .context("the token server's answer is not JSON")?;
                let token = body["token"]
                    .as_str()
                    .or_else(|| body["access_token"].as_str())
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

/// Where `push --daemonless` reads a registry's user name and password.
pub(crate) const USERNAME_VARIABLE: &str = "XTASK_REGISTRY_USERNAME";
pub(crate) const PASSWORD_VARIABLE: &str = "XTASK_REGISTRY_PASSWORD";

fn basic(credentials: &Credentials) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", credentials.username, credentials.password))
}

/// The status and the registry's error message, if it sent one.
fn describe(status: u16, response: Response) -> String {
    let body = response.text();
    let message = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|errors| {
            errors["errors"].as_array().map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        format!(
                            "{} {}",
                            e["code"].as_str().unwrap_or_default(),
                            e["message"].as_str().unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
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
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
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
