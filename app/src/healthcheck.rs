//! `app healthcheck`: asks the local server's `/health` over plain TCP and exits 0 or 1.
//!
//! Scratch and distroless images have no shell and no curl, so the container's HEALTHCHECK runs
//! the binary itself. It reads the same `APP_HOST`/`APP_PORT` as the server and needs no runtime.
//! One GET over a plain socket, not an HTTP client crate: the check ships inside every image, so
//! it must add almost nothing to the binary.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use crate::config::Config;

const TIMEOUT: Duration = Duration::from_secs(2);

pub fn run() -> ExitCode {
    let target = match Config::from_env() {
        Ok(config) => target(config.host, config.port),
        Err(error) => {
            eprintln!("unhealthy: {error}");
            return ExitCode::FAILURE;
        }
    };
    match check(target) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("unhealthy: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// A server listening on every address is asked on loopback.
pub fn target(host: IpAddr, port: u16) -> SocketAddr {
    let host = match host {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    SocketAddr::new(host, port)
}

/// `Ok` when `GET /health` answers 200 within the timeout.
pub fn check(target: SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&target, TIMEOUT)
        .map_err(|e| format!("cannot connect to {target}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| format!("cannot set socket timeouts: {e}"))?;
    let request = format!(
        "GET /health HTTP/1.1\r\nHost: {target}\r\nUser-Agent: app-healthcheck\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send the request to {target}: {e}"))?;
    let mut head = [0_u8; 32];
    let mut filled = 0;
    while filled < 12 {
        match stream.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return Err(format!("no answer from {target}: {e}")),
        }
    }
    let status_line = String::from_utf8_lossy(&head[..filled]);
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        Some(status) => Err(format!("{target}/health answered {status}")),
        None => Err(format!("{target} did not answer HTTP")),
    }
}
