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

/// `GET path` on a fresh connection: the status code and the body, or `None` if nothing
/// answers in time.
pub(crate) fn get(address: SocketAddr, path: &str, timeout: Duration) -> Option<(u16, String)> {
    fetch(address, path, timeout).ok()
}

/// `GET path` on a connection of its own, closed by the server after the answer: the status
/// code and the body, or what went wrong.
pub(crate) fn fetch(
    address: SocketAddr,
    path: &str,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    use std::io::{Error, ErrorKind};
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(|| {
        Error::new(
            ErrorKind::UnexpectedEof,
            "the connection closed before a whole response head",
        )
    })?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| Error::new(ErrorKind::InvalidData, "the response has no status line"))?;
    Ok((status, body.to_owned()))
}

/// One keep-alive HTTP/1.1 connection, for sending many requests one after the other with no
/// client library in the way (`cost` counts what the server does per request).
pub(crate) struct KeepAlive {
    stream: TcpStream,
    /// Bytes read past the last response (none with a well-behaved server).
    pending: Vec<u8>,
}

impl KeepAlive {
    pub(crate) fn open(address: SocketAddr, timeout: Duration) -> std::io::Result<Self> {
        let stream = TcpStream::connect_timeout(&address, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            pending: Vec::new(),
        })
    }

    /// `GET path`; its status code, once the whole response has been read.
    pub(crate) fn get(&mut self, path: &str) -> anyhow::Result<u16> {
        use anyhow::{Context as _, bail};
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        self.stream
            .write_all(request.as_bytes())
            .with_context(|| format!("cannot send GET {path}"))?;
        let head_end = loop {
            if let Some(at) = memchr::memmem::find(&self.pending, b"\r\n\r\n") {
                break at + 4;
            }
            self.fill()
                .with_context(|| format!("no response to GET {path}"))?;
        };
        let head = std::str::from_utf8(&self.pending[..head_end])
            .with_context(|| format!("the response to GET {path} has a non-UTF-8 head"))?;
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .with_context(|| format!("the response to GET {path} has no status line"))?;
        let Some(length) = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        }) else {
            bail!("the response to GET {path} has no Content-Length; cannot keep the connection");
        };
        while self.pending.len() < head_end + length {
            self.fill()
                .with_context(|| format!("the body of GET {path} ended early"))?;
        }
        self.pending.drain(..head_end + length);
        Ok(status)
    }

    fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0_u8; 16 * 1024];
        match self.stream.read(&mut chunk)? {
            0 => Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                self.pending.extend_from_slice(&chunk[..n]);
                Ok(())
            }
        }
    }
}
