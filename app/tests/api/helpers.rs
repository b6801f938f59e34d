//! `spawn_app()` for in-process tests and `Binary` for tests that need the real executable.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use app::config::Config;
use app::startup::Application;
use app::telemetry::log_writer::{self, FlushGuard};
use app::telemetry::{self, Telemetry};
use tokio::sync::oneshot;

pub(crate) struct TestApp {
    pub(crate) address: SocketAddr,
    pub(crate) client: reqwest::Client,
    pub(crate) state: app::state::AppState,
    stop: Option<oneshot::Sender<()>>,
    _logs: FlushGuard,
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request reaches the server")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub(crate) fn test_config() -> Config {
    Config {
        host: "127.0.0.1".parse().expect("loopback"),
        port: 0,
        debug_endpoints: true,
        ..Config::default()
    }
}

/// Starts the app in-process on 127.0.0.1 port 0, its logs silenced.
///
/// To see them while debugging a test, set `TEST_LOG`:
/// `TEST_LOG=1 cargo test -p app --test api -- request_id`. They are written to stdout as the
/// binary writes them, so `APP_LOG_FORMAT=pretty` and `APP_LOG_LEVEL=debug` apply as they do in
/// production. Tests run in parallel, so with more than one test the lines interleave.
pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(test_config()).await
}

/// [`spawn_app`] with a configuration of the test's own.
pub(crate) async fn spawn_app_with(config: Config) -> TestApp {
    init_test_log();
    // A real (discarding) log writer, so that every metric family is exported as in production.
    let (_, dropped, logs) =
        log_writer::spawn(std::io::sink(), Duration::from_millis(20)).expect("log writer starts");
    let application = Application::build(&config, Some(dropped))
        .await
        .expect("the app binds 127.0.0.1:0");
    let address = application.address();
    let state = application.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(application.run_until_stopped(
        async move {
            let _ = stopped.await;
        },
        std::future::pending(),
    ));
    TestApp {
        address,
        client: reqwest::Client::new(),
        state,
        stop: Some(stop),
        _logs: logs,
    }
}

/// With `TEST_LOG` set, installs the app's own subscriber once for the whole test binary;
/// without it none is installed, and every event is dropped where it is raised.
fn init_test_log() {
    // Kept for the life of the process: dropping it would stop the writer thread.
    static TELEMETRY: OnceLock<Option<Telemetry>> = OnceLock::new();
    TELEMETRY.get_or_init(|| {
        std::env::var_os("TEST_LOG")?;
        // Only the log variables: cargo sets others for the test run (APP_BUILD_EPOCH), which
        // the binary's strict reading would refuse.
        let config = Config::from_lookup(|name| {
            ["APP_LOG_FORMAT", "APP_LOG_LEVEL"]
                .contains(&name)
                .then(|| std::env::var(name).ok())
                .flatten()
        })
        .unwrap_or_else(|e| panic!("TEST_LOG: {e}"));
        let telemetry = telemetry::init(
            config.log_format,
            &config.log_level,
            config.log_flush_interval,
        )
        .expect("the log writer starts");
        Some(telemetry)
    });
}

/// The real `app` executable, its stdout collected line by line.
pub(crate) struct Binary {
    pub(crate) child: Child,
    pub(crate) address: SocketAddr,
    lines: Receiver<String>,
    seen: Vec<String>,
}

pub(crate) fn app_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_app"));
    command.env_clear();
    command
}

impl Binary {
    /// Starts the binary on 127.0.0.1 port 0 and waits for its "listening" line.
    pub(crate) fn start(env: &[(&str, &str)]) -> Self {
        let mut command = app_command();
        command
            .env("APP_HOST", "127.0.0.1")
            .env("APP_PORT", "0")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("the app binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        let mut binary = Self {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
            seen: Vec::new(),
        };
        let listening = binary.wait_for_log(Duration::from_secs(10), |line| {
            line["message"] == "listening"
        });
        binary.address = listening["address"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("the listening line carries the bound address");
        binary
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Every stdout line must be a JSON object: that is the log contract.
    pub(crate) fn wait_for_log(
        &mut self,
        timeout: Duration,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        let parse = |line: &str| -> serde_json::Value {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"))
        };
        if let Some(found) = self.seen.iter().map(|l| parse(l)).find(|v| matches(v)) {
            return found;
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "no matching log line within {timeout:?}; saw:\n{}",
                    self.seen.join("\n")
                )
            });
            let value = parse(&line);
            self.seen.push(line);
            if matches(&value) {
                return value;
            }
        }
    }

    /// A line already received that matches, if any.
    pub(crate) fn find_log(
        &self,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        self.seen
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .find(|value| matches(value))
    }

    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait on the child") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the app did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a tool is on PATH. Without it, a test skips loudly; under `CI=true` it fails,
/// because CI installs every tool the tests use.
pub(crate) fn require_tool(tool: &str, purpose: &str) -> bool {
    let present = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !present {
        let message = format!(
            "`{tool}` is not installed, so {purpose} cannot run (Debian: apt-get install prometheus)"
        );
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{message}; CI must install it"
        );
        eprintln!("SKIPPED: {message}");
    }
    present
}
