//! Helpers for the system tests: run `cargo xtask`, find out whether Docker is there, and keep
//! tests that share images and containers from running at the same time.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The repository root.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `cargo xtask ARGS`, run from the repository root.
pub fn xtask(args: &[&str]) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(project_root())
        .args(["run", "--quiet", "--package", "xtask", "--"])
        .args(args)
        .stdin(Stdio::null());
    command
}

/// Runs `cargo xtask ARGS` and returns its output, echoing both streams for the test log.
pub fn run_xtask(args: &[&str]) -> Output {
    let output = xtask(args).output().expect("cargo runs");
    eprintln!(
        "$ cargo xtask {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Whether a Docker engine answers. Without one the caller skips, loudly; under `CI=true` that
/// is a failure, because CI starts an engine for these tests.
pub fn docker_available(test: &str) -> bool {
    let answers = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !answers {
        skip(
            &format!("no Docker engine answers, so `{test}` cannot run"),
            "CI must start one",
            " (start Docker, or run `cargo xtask ci --yes` as root)",
        );
    }
    answers
}

/// Serialises the tests that build images or run containers: they share tags and cores.
pub fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A minimal HTTP/1.1 exchange over a plain socket: status, headers (lower-cased names) and
/// body. Enough for the stack tests, without an HTTP client dependency.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub fn http_get(
    address: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<HttpResponse> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.extend([*name, ": ", *value, "\r\n"]);
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {head:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    let body = if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v == "chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// `application/x-www-form-urlencoded`-style escaping for a query parameter value.
pub fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// PATH with the tools `cargo xtask ci` installs under `target/tools` (the AWS CLI, moto,
/// Python) in front.
pub fn tools_path() -> std::ffi::OsString {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| project_root().join("target"), PathBuf::from);
    let bin = target.join("tools").join("python").join("bin");
    std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("a valid PATH")
}

/// Whether a program is on PATH (or among the tools `cargo xtask ci` installs); a test that
/// needs it skips loudly without it (a failure under `CI=true`, where CI installs it).
pub fn tool_available(program: &str, test: &str) -> bool {
    let present = Command::new(program)
        .env("PATH", tools_path())
        .arg(if program == "nginx" {
            "-v"
        } else {
            "--version"
        })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !present {
        skip(
            &format!("`{program}` is not installed, so `{test}` cannot run"),
            "CI must install it",
            "",
        );
    }
    present
}

/// A test that cannot run here says so loudly; under `CI=true`, which provides every tool and an
/// engine, that is a failure instead.
pub fn skip(message: &str, ci_requirement: &str, hint: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message}; {ci_requirement}"
    );
    eprintln!("SKIPPED: {message}{hint}");
}
