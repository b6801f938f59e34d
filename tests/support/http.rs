//! HTTP to the servers the tests start on loopback, and waiting until one answers.

use std::sync::LazyLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};

/// One client for every test. Never through a proxy: the servers are on 127.0.0.1, and a
/// machine's HTTP(S)_PROXY would otherwise catch the requests.
pub(crate) fn client() -> &'static Client {
    static CLIENT: LazyLock<Client> = LazyLock::new(|| {
        Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client without TLS builds")
    });
    &CLIENT
}

/// `GET url`.
pub(crate) fn get(url: &str) -> reqwest::Result<Response> {
    client().get(url).send()
}

/// A free TCP port on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Asks `ready` every 100 ms until it gives an answer, and returns it; fails the test if none
/// comes within `timeout`. `what` names what is awaited, for that failure.
pub(crate) fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut ready: impl FnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(answer) = ready() {
            return answer;
        }
        assert!(
            started.elapsed() < timeout,
            "{what} not ready within {timeout:?}"
        );
        sleep(Duration::from_millis(100));
    }
}
