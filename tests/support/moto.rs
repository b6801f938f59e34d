//! moto's server, the AWS API stand-in the shipping tests call through the real AWS CLI.

use std::process::{Command, Stdio};

use serde_json::Value;

use super::http::free_port;
use super::process::{Running, succeeds, tools_path};
use super::registry::listening;

/// moto's server on a free loopback port; with `authenticate`, it checks credentials as IAM
/// does (every request: no key it issued is valid).
pub(crate) struct Moto {
    _server: Running,
    port: u16,
    /// The access key id and secret the AWS CLI signs with.
    keys: (String, String),
}

impl Moto {
    pub(crate) fn start(authenticate: bool) -> Self {
        Self::enforcing(authenticate.then_some(0))
    }

    /// With IAM enforced after the first `free` requests (none: never).
    pub(crate) fn enforcing(free: Option<u32>) -> Self {
        let port = free_port();
        let mut command = Command::new("moto_server");
        command
            .env("PATH", tools_path())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(free) = free {
            command.env("INITIAL_NO_AUTH_ACTION_COUNT", free.to_string());
        }
        Self {
            _server: listening(&mut command, port, "moto_server"),
            port,
            keys: ("testing".to_owned(), "testing".to_owned()),
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The AWS environment pointing at this server.
    pub(crate) fn env(&self, command: &mut Command) {
        command
            .env("PATH", tools_path())
            .env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_ACCESS_KEY_ID", &self.keys.0)
            .env("AWS_SECRET_ACCESS_KEY", &self.keys.1)
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_DEFAULT_REGION", "eu-west-1")
            .env_remove("AWS_PROFILE");
    }

    pub(crate) fn aws(&self, args: &[&str]) -> Value {
        let mut command = Command::new("aws");
        self.env(&mut command);
        let output = succeeds(command.args(args).args(["--output", "json"]));
        serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
    }
}
