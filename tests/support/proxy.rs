//! A reverse proxy on loopback, for the tests that stand between a client and its server.
//! [`Proxy`] forwards each HTTP/1.1 request upstream, or answers it itself when its hook says
//! so (a server having a bad moment).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

/// One request as the client sent it.
pub(crate) struct Request {
    /// The request line and the header lines, each ending in CRLF, and the empty line after them.
    pub(crate) head: String,
    /// The body whole, without chunk framing.
    pub(crate) body: Vec<u8>,
}

impl Request {
    /// `GET`, `POST`, ...
    pub(crate) fn method(&self) -> &str {
        self.head.split(' ').next().unwrap_or_default()
    }

    /// The request target as sent: the path and any query.
    pub(crate) fn path(&self) -> &str {
        self.head
            .lines()
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .unwrap_or_default()
    }

    /// The first header called `name`, whatever its case, trimmed.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

/// What decides, request by request, whether the proxy answers itself.
type Hook = dyn Fn(&Request) -> Option<Vec<u8>> + Send + Sync;

/// An HTTP/1.1 proxy on a free loopback port in front of `127.0.0.1:upstream`. Each request is
/// read whole and shown to the hook: bytes from it are the response, written as they are, and
/// the connection closes; otherwise the request goes upstream on a fresh connection that closes
/// after the response, which is relayed as it comes. One thread per client connection; the
/// proxy serves until the test binary exits.
pub(crate) struct Proxy {
    /// The loopback port clients connect to.
    pub(crate) port: u16,
}

impl Proxy {
    /// Listens, and serves in the background, in front of `127.0.0.1:upstream`.
    pub(crate) fn start(
        upstream: u16,
        hook: impl Fn(&Request) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port for the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        let hook: Arc<Hook> = Arc::new(hook);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let hook = Arc::clone(&hook);
                std::thread::spawn(move || {
                    let _ = serve(client, upstream, &*hook);
                });
            }
        });
        Self { port }
    }
}

/// The requests on one client connection, one at a time, until the client closes it.
fn serve(client: TcpStream, upstream: u16, hook: &Hook) -> io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut writer = client;
    // A TLS hello (docker tries HTTPS first): answer in plain HTTP, as a plain HTTP server
    // does, so the client falls back to HTTP.
    if reader.fill_buf()?.first() == Some(&0x16) {
        return writer.write_all(
            b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
        );
    }
    while let Some((request, framed_body)) = read_request(&mut reader)? {
        if let Some(response) = hook(&request) {
            return writer.write_all(&response);
        }
        let mut connection = TcpStream::connect(("127.0.0.1", upstream))?;
        connection.write_all(closing(&request.head).as_bytes())?;
        connection.write_all(&framed_body)?;
        io::copy(&mut connection, &mut writer)?;
    }
    Ok(())
}

/// The next request, and its body as framed on the wire (to forward unchanged); none when the
/// client has closed the connection.
fn read_request(reader: &mut impl BufRead) -> io::Result<Option<(Request, Vec<u8>)>> {
    let mut head = Vec::new();
    loop {
        let start = head.len();
        if reader.read_until(b'\n', &mut head)? == 0 {
            return Ok(None);
        }
        if head[start..] == *b"\r\n" {
            break;
        }
    }
    let mut request = Request {
        head: String::from_utf8_lossy(&head).into_owned(),
        body: Vec::new(),
    };
    let mut framed = Vec::new();
    if let Some(length) = request
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok())
    {
        reader.take(length).read_to_end(&mut request.body)?;
        framed.clone_from(&request.body);
    } else if request
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        loop {
            let mut size_line = Vec::new();
            reader.read_until(b'\n', &mut size_line)?;
            framed.extend_from_slice(&size_line);
            let size = String::from_utf8_lossy(&size_line);
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if size == 0 {
                // Trailers, if any, up to the empty line that ends the body.
                loop {
                    let mut line = Vec::new();
                    let read = reader.read_until(b'\n', &mut line)?;
                    framed.extend_from_slice(&line);
                    if read == 0 || line == b"\r\n" {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            framed.extend_from_slice(&chunk);
            request.body.extend_from_slice(&chunk[..size]);
        }
    }
    Ok(Some((request, framed)))
}

/// `head` asking the server to close the connection after its response, which is how the
/// proxy knows the response has ended.
fn closing(head: &str) -> String {
    let (request_line, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    let mut out = format!("{request_line}\r\nConnection: close\r\n");
    for line in headers.split_inclusive("\r\n") {
        let name = line.split_once(':').map_or("", |(name, _)| name.trim());
        if !name.eq_ignore_ascii_case("connection") && !name.eq_ignore_ascii_case("keep-alive") {
            out.push_str(line);
        }
    }
    out
}

/// The proxy's own tests, run by the harness with the system tests.
pub(crate) mod tests {
    use std::sync::mpsc::{self, Receiver};
    use std::sync::{Mutex, PoisonError};
    use std::time::Duration;

    use super::{
        Arc, BufReader, Proxy, Read, Request, TcpListener, TcpStream, Write, read_request,
    };
    use crate::support::http::client;

    /// A server on loopback that answers every request `200 OK` with the body `upstream`; each
    /// request it got (head and body as sent, as text) comes out of the receiver.
    fn upstream() -> (u16, Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("an address").port();
        let (sender, received) = mpsc::channel();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().expect("a second handle"));
                if let Ok(Some((request, framed))) = read_request(&mut reader) {
                    let _ = sender.send(format!(
                        "{}{}",
                        request.head,
                        String::from_utf8_lossy(&framed)
                    ));
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nupstream",
                    );
                }
            }
        });
        (port, received)
    }

    /// What the server got next.
    fn next(received: &Receiver<String>) -> String {
        received
            .recv_timeout(Duration::from_secs(10))
            .expect("the request reached the server")
    }

    /// `request` written to 127.0.0.1:`port` as it is, and everything that comes back.
    fn exchange(port: u16, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the proxy accepts");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a read timeout");
        stream.write_all(request).expect("the request is sent");
        stream
            .shutdown(std::net::Shutdown::Write)
            .expect("the request is complete");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("the response comes whole");
        response
    }

    pub(crate) fn a_request_reads_its_method_path_and_headers() {
        let request = Request {
            head: "PUT /v2/app/manifests/latest?x=1 HTTP/1.1\r\nHost: here\r\n\
                   X-Amz-Target: Service.Operation\r\n\r\n"
                .to_owned(),
            body: Vec::new(),
        };
        assert_eq!(request.method(), "PUT");
        assert_eq!(request.path(), "/v2/app/manifests/latest?x=1");
        assert_eq!(
            request.header("x-amz-target").as_deref(),
            Some("Service.Operation")
        );
        assert_eq!(request.header("HOST").as_deref(), Some("here"));
        assert_eq!(request.header("content-length"), None);
    }

    pub(crate) fn a_hook_answers_for_the_server() {
        let (port, received) = upstream();
        let proxy = Proxy::start(port, |request| {
            (request.method() == "PUT" && request.path().contains("/manifests/")).then(|| {
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec()
            })
        });
        let url = format!("http://127.0.0.1:{}", proxy.port);
        let put = client()
            .put(format!("{url}/v2/app/manifests/latest"))
            .body("{}")
            .send()
            .expect("the proxy answers");
        assert_eq!(put.status(), 503);
        let get = client()
            .get(format!("{url}/v2/"))
            .send()
            .expect("the proxy answers");
        assert_eq!(get.text().expect("a body"), "upstream");
        assert!(next(&received).starts_with("GET /v2/ "));
        assert!(received.try_recv().is_err(), "the PUT never reached it");
    }

    pub(crate) fn a_chunked_body_reaches_the_hook_whole_and_the_server_as_sent() {
        let (port, received) = upstream();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&seen);
        let proxy = Proxy::start(port, move |request| {
            kept.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone_from(&request.body);
            None
        });
        let chunks = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let response = exchange(
            proxy.port,
            format!(
                "POST /upload HTTP/1.1\r\nHost: here\r\nConnection: keep-alive\r\n\
                 Transfer-Encoding: chunked\r\n\r\n{chunks}"
            )
            .as_bytes(),
        );
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with("upstream"), "{response}");
        assert_eq!(
            *seen.lock().unwrap_or_else(PoisonError::into_inner),
            b"hello world"
        );
        let forwarded = next(&received);
        assert_eq!(
            forwarded,
            format!(
                "POST /upload HTTP/1.1\r\nConnection: close\r\nHost: here\r\n\
                 Transfer-Encoding: chunked\r\n\r\n{chunks}"
            )
        );
    }

    pub(crate) fn a_tls_hello_gets_a_plain_http_refusal() {
        let (port, _received) = upstream();
        let proxy = Proxy::start(port, |_| None);
        let response = exchange(proxy.port, &[0x16, 0x03, 0x01, 0x00, 0x05]);
        assert!(
            response.starts_with("HTTP/1.0 400 Bad Request\r\n"),
            "{response}"
        );
    }
}
