//! One server process, counted: started on a free loopback port (under callgrind, or natively
//! for the CPU time), sent keep-alive requests on one connection, stopped with SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::http::{self, KeepAlive};
use crate::process::wait;

/// Settings every count runs with, beside the server's own; each changes only when background
/// work happens, on wall time, which callgrind slows about fifty-fold. A long sampler interval
/// keeps its samples out of the difference between a run with requests and one without. The
/// log writer flushes every 1 s instead of 20 ms: fifty times its default, so that it wakes as
/// often per request under callgrind as it does at full speed. No shutdown delay: it only waits.
pub(crate) const SETTINGS: &[(&str, &str)] = &[
    ("APP_SAMPLER_INTERVAL", "60m"),
    ("APP_LOG_FLUSH_INTERVAL", "1s"),
    ("APP_SHUTDOWN_DELAY", "0s"),
];

/// How long a server under callgrind may take to start, answer or stop.
const PATIENCE: Duration = Duration::from_mins(2);

/// A server binary and how it is started.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub(crate) binary: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(&'static str, &'static str)>,
}

/// What one run sends: `warm_up` once each (so first-request work is in both runs of a
/// difference), then `count` times `GET path`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Requests<'a> {
    pub(crate) warm_up: &'a [&'a str],
    pub(crate) path: &'a str,
    pub(crate) count: u32,
}

/// The instructions the whole process executed, every thread, start-up and shutdown included.
pub(crate) fn instructions(launch: &Launch, requests: Requests<'_>, scratch: &Path) -> Result<u64> {
    let output = scratch.join(format!("callgrind.{}.out", std::process::id()));
    let output = unique(&output);
    let mut command = Command::new("valgrind");
    command
        .arg("--tool=callgrind")
        .arg("--quiet")
        .arg(format!("--callgrind-out-file={}", output.display()))
        .arg(&launch.binary);
    let mut server = Server::start(launch, command)?;
    server.send(requests)?;
    server.stop()?;
    let text = std::fs::read_to_string(&output)
        .with_context(|| format!("callgrind wrote no profile at {}", output.display()))?;
    let _ = std::fs::remove_file(&output);
    totals(&text).with_context(|| format!("no totals in callgrind's {}", output.display()))
}

/// CPU time in user mode the process spent on `requests` (start-up excluded), natively.
pub(crate) fn user_time(launch: &Launch, requests: Requests<'_>) -> Result<Duration> {
    let mut server = Server::start(launch, Command::new(&launch.binary))?;
    server.send(Requests {
        count: 0,
        ..requests
    })?;
    let before = server.user_ticks()?;
    server.send(Requests {
        warm_up: &[],
        ..requests
    })?;
    let after = server.user_ticks()?;
    server.stop()?;
    Ok(Duration::from_secs_f64(
        after.saturating_sub(before) as f64 / CLOCK_TICKS_PER_SECOND,
    ))
}

/// What one `/metrics` scrape sends, in body bytes: as Prometheus asks for it (gzip) and the
/// same text uncompressed.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub(crate) struct Scrape {
    pub(crate) text: usize,
    pub(crate) gzip: usize,
}

/// One `/metrics` scrape with `Accept-Encoding: gzip`, natively, after one request to each of
/// `warm_up` (so that their series are in it); the gzip body, and the text it unpacks to.
pub(crate) fn scrape(launch: &Launch, warm_up: &[&str]) -> Result<Scrape> {
    use std::io::{Read as _, Write as _};
    let mut server = Server::start(launch, Command::new(&launch.binary))?;
    server.send(Requests {
        warm_up,
        path: "/metrics",
        count: 0,
    })?;
    let mut stream = std::net::TcpStream::connect(server.address)
        .with_context(|| format!("cannot connect to {}", server.address))?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.write_all(
        b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    )?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .context("cannot read the /metrics scrape")?;
    server.stop()?;
    let gzip = http_body(&response).context("the /metrics scrape is not an HTTP response")?;
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(&gzip[..])
        .read_to_end(&mut text)
        .context("/metrics did not answer gzip when asked for it")?;
    Ok(Scrape {
        text: text.len(),
        gzip: gzip.len(),
    })
}

/// The body of a whole HTTP/1.1 response, taken out of its chunks if it was sent in chunks.
fn http_body(response: &[u8]) -> Option<Vec<u8>> {
    let head_end = memchr::memmem::find(response, b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&response[..head_end]).ok()?;
    let chunked = head.lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case("transfer-encoding") && value.trim() == "chunked"
        })
    });
    let mut rest = &response[head_end..];
    if !chunked {
        return Some(rest.to_vec());
    }
    let mut body = Vec::new();
    loop {
        let line_end = memchr::memmem::find(rest, b"\r\n")?;
        let size = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// `USER_HZ`, which Linux fixes at 100 for `/proc/PID/stat` on every architecture it runs on.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

struct Server {
    child: Child,
    address: SocketAddr,
    stderr: PathBuf,
}

impl Server {
    fn start(launch: &Launch, mut command: Command) -> Result<Self> {
        let port = http::free_port()?;
        let stderr = unique(&std::env::temp_dir().join(format!("xtask-cost.{port}.log")));
        let log = std::fs::File::create(&stderr)
            .with_context(|| format!("cannot create {}", stderr.display()))?;
        command
            .args(&launch.args)
            .envs(SETTINGS.iter().copied())
            .envs(launch.env.iter().copied())
            .env("APP_HOST", "127.0.0.1")
            .env("APP_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", launch.binary.display()))?;
        Ok(Self {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            stderr,
        })
    }

    /// One connection: the warm-up requests, then the counted ones, then closed.
    fn send(&mut self, requests: Requests<'_>) -> Result<()> {
        let address = self.address;
        let child = &mut self.child;
        let connected = wait::until(PATIENCE, Duration::from_millis(20), || {
            if let Some(status) = child.try_wait()? {
                return Ok(Some(Err(status)));
            }
            Ok(KeepAlive::open(address, PATIENCE).ok().map(Ok))
        })?;
        let mut connection = match connected {
            Some(Ok(connection)) => connection,
            Some(Err(status)) => {
                bail!(
                    "it exited with {status} before listening{}",
                    self.last_words()
                )
            }
            None => bail!("nothing listened on {address} within {PATIENCE:?}"),
        };
        let counted = std::iter::repeat_n(requests.path, requests.count as usize);
        for path in requests.warm_up.iter().copied().chain(counted) {
            let status = connection.get(path)?;
            if status != 200 {
                bail!("GET {path} answered {status}, not 200{}", self.last_words());
            }
        }
        Ok(())
    }

    /// User-mode clock ticks of the whole process so far (`/proc/PID/stat`, field 14).
    fn user_ticks(&self) -> Result<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // The command name in parentheses may hold spaces; fields are counted after it.
        stat.rsplit_once(')')
            .and_then(|(_, fields)| fields.split_whitespace().nth(11)?.parse().ok())
            .context("cannot read the server's CPU time from /proc")
    }

    /// SIGTERM, as an orchestrator stops it, then its exit, which must be clean.
    fn stop(mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .context("cannot run kill")?;
        let child = &mut self.child;
        let exited = wait::until(
            PATIENCE,
            Duration::from_millis(20),
            || Ok(child.try_wait()?),
        )?;
        match exited {
            Some(status) if status.success() => Ok(()),
            Some(status) => bail!("it exited with {status} on SIGTERM{}", self.last_words()),
            None => bail!("it did not exit within {PATIENCE:?} of SIGTERM"),
        }
    }

    fn last_words(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let last = &lines[lines.len().saturating_sub(10)..];
        if last.is_empty() {
            String::new()
        } else {
            format!("; its last words:\n{}", last.join("\n"))
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.stderr);
    }
}

/// A path no other run of this process is using: counts run side by side.
fn unique(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{n}"));
    path.with_file_name(name)
}

/// The `totals:` line of a callgrind profile: instructions, with `--dump-instr` or not.
fn totals(profile: &str) -> Option<u64> {
    profile
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("totals:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_a_chunked_body_out_of_its_chunks() {
        let response = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(http_body(response).as_deref(), Some(&b"abcde"[..]));
        let whole = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        assert_eq!(http_body(whole).as_deref(), Some(&b"ok"[..]));
    }

    #[test]
    fn reads_the_totals_of_a_callgrind_profile() {
        let profile = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 692818\n\nfn=(1) main\n5 10\n\ntotals: 692992\n";
        assert_eq!(totals(profile), Some(692_992));
        assert_eq!(totals("events: Ir\n"), None);
    }
}
