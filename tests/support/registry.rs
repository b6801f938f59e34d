//! A real registry on loopback (Debian's `docker-registry`, the distribution registry) with
//! the three ways registries let clients in: anonymously, with a password (htpasswd, bcrypt),
//! or with a bearer token from a token server. The token server is the test's own, speaking
//! the distribution spec's flow: Basic credentials in, a JWT out, signed RS256 by `openssl`
//! with a key and certificate generated for the run (never committed), the certificate sent as
//! the token's `x5c` and trusted by the registry through `rootcertbundle`.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::files::scratch_path;
use crate::support::http::{free_port, wait_until};
use crate::support::process::{Running, succeeds};

/// The one user every protected registry here knows.
pub(crate) const USER: &str = "user";

/// Starts `command` and waits until it listens on `port`; a server that exits first fails the
/// test at once rather than at the timeout.
pub(crate) fn listening(command: &mut Command, port: u16, what: &str) -> Running {
    let mut server = Running(
        command
            .spawn()
            .unwrap_or_else(|e| panic!("{what} starts: {e}")),
    );
    wait_until(
        &format!("{what} listening on 127.0.0.1:{port}"),
        Duration::from_secs(30),
        || {
            if let Ok(Some(status)) = server.0.try_wait() {
                panic!("{what} exited with {status} before listening");
            }
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        },
    );
    server
}

/// How a registry lets clients in.
pub(crate) enum Auth<'a> {
    Anonymous,
    /// [`USER`] with this password.
    Password(&'a str),
    /// Tokens from this server.
    Token(&'a TokenServer),
}

/// A distribution registry on a free loopback port, storing under a temporary directory.
pub(crate) struct Registry {
    server: Running,
    pub(crate) port: u16,
    dir: PathBuf,
}

impl Registry {
    /// Anonymous, or with `password` for [`USER`].
    pub(crate) fn start(password: Option<&str>) -> Self {
        Self::with(&password.map_or(Auth::Anonymous, Auth::Password))
    }

    pub(crate) fn with(auth: &Auth) -> Self {
        let port = free_port();
        let dir = scratch_path("registry");
        std::fs::create_dir_all(&dir).expect("registry dir");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        );
        match auth {
            Auth::Anonymous => {}
            Auth::Password(password) => {
                let htpasswd = succeeds(Command::new("htpasswd").args(["-Bbn", USER, password]));
                std::fs::write(dir.join("htpasswd"), htpasswd.stdout).expect("htpasswd file");
                let _ = write!(
                    config,
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    dir.join("htpasswd").display()
                );
            }
            Auth::Token(tokens) => {
                let _ = write!(
                    config,
                    "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    \
                     rootcertbundle: {}\n",
                    tokens.realm(),
                    tokens.certificate.display()
                );
            }
        }
        std::fs::write(dir.join("config.yml"), config).expect("registry config");
        let server = listening(
            Command::new("docker-registry")
                .arg("serve")
                .arg(dir.join("config.yml"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            port,
            "docker-registry",
        );
        Self { server, port, dir }
    }

    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Repositories that hold anything, from the registry's own storage.
    pub(crate) fn stored_repositories(&self) -> Vec<String> {
        let root = self.dir.join("data/docker/registry/v2/repositories");
        let mut found = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.file_name().is_some_and(|n| n == "_manifests") {
                    found.push(
                        dir.strip_prefix(&root)
                            .expect("under root")
                            .display()
                            .to_string(),
                    );
                } else if path.is_dir()
                    && !path
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('_'))
                {
                    stack.push(path);
                }
            }
        }
        found.sort();
        found
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.server.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const SERVICE: &str = "test-registry";
const ISSUER: &str = "test-token-server";

/// A token server: `GET /token?service=...&scope=...` with [`USER`]'s Basic credentials answers
/// a signed token for the scope; anything else is refused with 401.
pub(crate) struct TokenServer {
    port: u16,
    dir: PathBuf,
    certificate: PathBuf,
    stop: Arc<AtomicBool>,
    /// Tokens issued, and requests refused.
    pub(crate) issued: Arc<AtomicU32>,
    pub(crate) refused: Arc<AtomicU32>,
    thread: Option<JoinHandle<()>>,
}

impl TokenServer {
    pub(crate) fn start(password: &str) -> Self {
        let dir = scratch_path("token-server");
        std::fs::create_dir_all(&dir).expect("token server dir");
        let key = dir.join("key.pem");
        let certificate = dir.join("certificate.pem");
        succeeds(
            Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                ])
                .args(["-subj", "/CN=test-token-server", "-keyout"])
                .arg(&key)
                .arg("-out")
                .arg(&certificate)
                .stderr(Stdio::null()),
        );
        let der = succeeds(
            Command::new("openssl")
                .args(["x509", "-outform", "DER", "-in"])
                .arg(&certificate),
        )
        .stdout;
        let header = format!(
            r#"{{"typ":"JWT","alg":"RS256","x5c":["{}"]}}"#,
            base64(&der, STANDARD)
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("an address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let issued = Arc::new(AtomicU32::new(0));
        let refused = Arc::new(AtomicU32::new(0));
        let expected = format!(
            "Basic {}",
            base64(format!("{USER}:{password}").as_bytes(), STANDARD)
        );
        let thread = {
            let (stop, issued, refused) = (stop.clone(), issued.clone(), refused.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let granted = answer(stream, &expected, &header, &key);
                            let counter = if granted { &issued } else { &refused };
                            counter.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Self {
            port,
            dir,
            certificate,
            stop,
            issued,
            refused,
            thread: Some(thread),
        }
    }

    fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Answers one request; whether a token was issued.
fn answer(mut stream: TcpStream, expected: &str, header: &str, key: &Path) -> bool {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream.try_clone().expect("a second handle"));
    let mut request_line = String::new();
    let _ = reader.read_line(&mut request_line);
    let mut authorization = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            value.trim().clone_into(&mut authorization);
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or_default();
    let scope = target
        .split_once('?')
        .map(|(_, query)| query)
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("scope="))
        .map(percent_decode);
    let granted = authorization == expected && target.starts_with("/token");
    let (status, body) = if granted {
        let access = scope
            .and_then(|scope| {
                let mut parts = scope.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(format!(
                    r#"[{{"type":"{kind}","name":"{name}","actions":[{}]}}]"#,
                    actions
                        .split(',')
                        .map(|a| format!("\"{a}\""))
                        .collect::<Vec<_>>()
                        .join(",")
                ))
            })
            .unwrap_or_else(|| "[]".to_owned());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let claims = format!(
            r#"{{"iss":"{ISSUER}","sub":"{USER}","aud":"{SERVICE}","exp":{},"nbf":{},"iat":{now},"jti":"{now}-{}","access":{access}}}"#,
            now + 300,
            now - 10,
            std::process::id()
        );
        let token = sign(header, &claims, key);
        (
            "200 OK",
            format!(r#"{{"token":"{token}","access_token":"{token}","expires_in":300}}"#),
        )
    } else {
        (
            "401 Unauthorized",
            r#"{"details":"wrong credentials"}"#.to_owned(),
        )
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    granted
}

/// A compact JWS, RS256, signed by `openssl dgst`.
fn sign(header: &str, claims: &str, key: &Path) -> String {
    let input = format!(
        "{}.{}",
        base64(header.as_bytes(), URL),
        base64(claims.as_bytes(), URL)
    );
    let mut openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    openssl
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("the signing input is written");
    let output = openssl.wait_with_output().expect("openssl signs");
    assert!(output.status.success(), "openssl dgst -sign failed");
    format!("{input}.{}", base64(&output.stdout, URL))
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 with `alphabet`: padded for the standard one, unpadded for the URL one (JWS).
fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[(n >> (18 - 6 * i) & 63) as usize]));
        }
        if alphabet == STANDARD {
            out.push_str(&"=".repeat(3 - chunk.len()));
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn base64_matches_the_rfc_examples() {
    assert_eq!(base64(b"foobar", STANDARD), "Zm9vYmFy");
    assert_eq!(base64(b"fooba", STANDARD), "Zm9vYmE=");
    assert_eq!(base64(b"foob", STANDARD), "Zm9vYg==");
    assert_eq!(base64(b"fo", URL), "Zm8");
    assert_eq!(base64(&[0xfb, 0xff], URL), "-_8");
    assert_eq!(
        percent_decode("repository%3Aa%2Fb%3Apull%2Cpush"),
        "repository:a/b:pull,push"
    );
}
