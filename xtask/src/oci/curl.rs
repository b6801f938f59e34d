//! HTTP for the registry API through `curl`, the client every machine that pushes images has.
//! Chosen on merit over a Rust client: TLS is the system's own (its trust store, a corporate CA
//! installed there included, and `HTTPS_PROXY`), and xtask's first compile stays as it was; a
//! Rust client with rustls doubled it (16 s → 39 s here, ring and rustls on the critical path).
//! A push makes a dozen requests, so a process each costs nothing that shows.
//!
//! Nothing secret is on a command line or on disk: the URL, method and headers (the
//! `Authorization` one included) reach curl as a config on its standard input; a body is read
//! from a file only xtask can read, removed after the request.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result};

/// A response: its status, its headers (names in lower case), its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request that got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// A refused or reset connection, a timeout: worth another try.
    pub(crate) transient: bool,
    pub(crate) message: String,
}

/// One request. `GET` and `HEAD` follow redirects (registries send blob reads to a store);
/// uploads do not, their `Location` being the registry's next step to take.
pub(crate) fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<std::result::Result<Response, Failure>> {
    let mut config = String::new();
    let mut line = |option: &str, value: Option<&str>| {
        config.push_str(option);
        if let Some(value) = value {
            config.push_str(" = \"");
            for c in value.chars().filter(|c| *c != '\n' && *c != '\r') {
                if c == '"' || c == '\\' {
                    config.push('\\');
                }
                config.push(c);
            }
            config.push('"');
        }
        config.push('\n');
    };
    line("url", Some(url));
    line("dump-header", Some("-"));
    line("connect-timeout", Some("10"));
    line("max-time", Some("600"));
    // No `Expect: 100-continue` pause before a large upload.
    line("header", Some("Expect:"));
    for (name, value) in headers {
        line("header", Some(&format!("{name}: {value}")));
    }
    match method {
        "HEAD" => line("head", None),
        "GET" => line("location", None),
        other => line("request", Some(other)),
    }
    let body_file = match body {
        Some(body) => {
            let path = body_path();
            write_private(&path, body)?;
            line("data-binary", Some(&format!("@{}", path.display())));
            Some(path)
        }
        None => None,
    };
    let result = run(&config);
    if let Some(path) = body_file {
        let _ = std::fs::remove_file(path);
    }
    result
}

fn run(config: &str) -> Result<std::result::Result<Response, Failure>> {
    let mut curl = Command::new("curl")
        .args(["--silent", "--show-error", "--config", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run curl")?;
    curl.stdin
        .take()
        .context("curl's standard input")?
        .write_all(config.as_bytes())
        .context("cannot give curl its request")?;
    let output = curl.wait_with_output().context("curl did not finish")?;
    if !output.status.success() {
        let code = output.status.code().unwrap_or(-1);
        return Ok(Err(Failure {
            // Could not connect, timed out, an empty reply, a send or receive failure.
            transient: matches!(code, 7 | 28 | 52 | 55 | 56),
            message: format!(
                "{} (curl exit {code})",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        }));
    }
    parse(&output.stdout).map(Ok)
}

/// The last header block of `output` (one per redirect followed) and the body after it.
pub(crate) fn parse(output: &[u8]) -> Result<Response> {
    let mut rest = output;
    let mut last = None;
    while rest.starts_with(b"HTTP/") {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("curl printed a header block without its end")?;
        last = Some(&rest[..end]);
        rest = &rest[end + 4..];
    }
    let head = String::from_utf8_lossy(last.context("curl printed no response")?).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .context("curl printed no status")?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: rest.to_vec(),
    })
}

/// A file under the target directory for one request's body.
fn body_path() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    crate::files::target_dir().join("xtask").join(format!(
        "upload-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(bytes))
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_header_block_is_the_response() {
        let output = b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://store/x\r\n\r\n\
                       HTTP/1.1 200 OK\r\nDocker-Content-Digest: sha256:ab\r\nContent-Length: 4\r\n\r\n\x1f\x8b\x00\x01";
        let response = parse(output).expect("parsed");
        assert_eq!(response.status, 200);
        assert_eq!(
            response.header("docker-content-digest").as_deref(),
            Some("sha256:ab")
        );
        assert_eq!(response.body, b"\x1f\x8b\x00\x01");
        let head = parse(b"HTTP/2 404 \r\ncontent-type: application/json\r\n\r\n").expect("parsed");
        assert_eq!((head.status, head.body.len()), (404, 0));
        assert!(parse(b"garbage").is_err());
    }
}
