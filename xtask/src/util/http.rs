//! A minimal HTTP/1.1 GET over a plain socket: enough to poll a health endpoint without
//! pulling an HTTP client into xtask.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A loopback port nothing listens on now, for a server about to start.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    use anyhow::Context as _;
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .context("cannot bind a loopback port")?
        .local_addr()?
        .port())
}

/// The status code `GET path` answers with, or `None` if nothing answers.
pub(crate) fn status(address: SocketAddr, path: &str, timeout: Duration) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&address, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    stream.set_nodelay(true).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0_u8; 16];
    let mut filled = 0;
    while filled < 12 {
        match stream.read(&mut head[filled..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    std::str::from_utf8(&head[..filled])
        .ok()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
