//! Running an image briefly to measure it: time from `docker run` to the first successful HTTP
//! response, and the running container's idle memory.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::docker;
use crate::http;
use crate::process;
use crate::process::wait;

/// A container started from an image, removed on drop.
pub(crate) struct RunningContainer {
    pub(crate) id: String,
    pub(crate) address: SocketAddr,
    pub(crate) started: Instant,
    /// The engine it runs in, as `docker --host` takes it; `None`: the default one.
    engine_host: Option<String>,
}

impl RunningContainer {
    /// `docker run -d` with the app's port published on a free 127.0.0.1 port.
    pub(crate) fn start(image: &str, extra_args: &[&str]) -> Result<Self> {
        let started = Instant::now();
        let mut command = docker::docker();
        command
            .args(["run", "-d", "-p", "127.0.0.1::8080"])
            .args(extra_args)
            .arg(image);
        let id = process::capture(&mut command)
            .with_context(|| format!("cannot start a container from {image}"))?;
        // Owned from here on: dropping it removes the container, also on the errors below.
        let mut container = Self {
            id,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            started,
            engine_host: None,
        };
        container.address = docker::published_address(&container.id, "8080/tcp")?;
        Ok(container)
    }

    /// `docker run -d --network host` in the engine at `engine_host` (an engine of its own,
    /// whose containers share the host's network), the app listening on 127.0.0.1:`port`.
    /// `started`: when the clock started, a pull before the run included.
    pub(crate) fn start_on_host_network(
        engine_host: &str,
        image: &str,
        port: u16,
        started: Instant,
    ) -> Result<Self> {
        let mut command = docker::docker_at(Some(engine_host));
        command
            .args(["run", "-d", "--network", "host"])
            .args([
                "-e",
                "APP_HOST=127.0.0.1",
                "-e",
                &format!("APP_PORT={port}"),
            ])
            .arg(image);
        let id = process::capture(&mut command)
            .with_context(|| format!("cannot start a container from {image}"))?;
        Ok(Self {
            id,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            started,
            engine_host: Some(engine_host.to_owned()),
        })
    }

    /// The docker CLI, talking to the engine the container runs in.
    fn docker(&self) -> std::process::Command {
        docker::docker_at(self.engine_host.as_deref())
    }

    /// Waits for `GET path` to answer 200; returns the time since `docker run` was called.
    pub(crate) fn wait_http_ok(&self, path: &str, timeout: Duration) -> Result<Duration> {
        // A short pause: the time to the first 200 is what is measured.
        let left = timeout.saturating_sub(self.started.elapsed());
        let answered = wait::until(left, Duration::from_millis(2), || {
            Ok(
                (http::status(self.address, path, Duration::from_secs(1)) == Some(200))
                    .then(|| self.started.elapsed()),
            )
        })?;
        if let Some(elapsed) = answered {
            return Ok(elapsed);
        }
        let logs = process::capture(self.docker().args(["logs", "--tail", "20", &self.id]))
            .unwrap_or_default();
        bail!(
            "the container answered no 200 on {path} within {timeout:?}; its last log lines:\n{logs}"
        )
    }

    /// Memory the container uses, as `docker stats` reports it, in bytes.
    pub(crate) fn memory_bytes(&self) -> Result<u64> {
        let usage = process::capture(self.docker().args([
            "stats",
            "--no-stream",
            "--format",
            "{{.MemUsage}}",
            &self.id,
        ]))?;
        let used = usage.split('/').next().unwrap_or_default().trim();
        parse_docker_size(used).with_context(|| format!("unexpected docker stats output {usage:?}"))
    }
}

impl Drop for RunningContainer {
    fn drop(&mut self) {
        let _ = process::capture(self.docker().args(["rm", "-f", &self.id]));
    }
}

/// `2.5MiB`, `812KiB`, `1.2GiB`, `3.4MB`, `900B`.
pub(crate) fn parse_docker_size(text: &str) -> Option<u64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.trim().parse().ok()?;
    let factor = match unit.trim() {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        _ => return None,
    };
    Some((value * factor).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_docker_size;

    #[test]
    fn reads_docker_sizes() {
        assert_eq!(parse_docker_size("2.5MiB"), Some(2_621_440));
        assert_eq!(parse_docker_size("812KiB"), Some(831_488));
        assert_eq!(parse_docker_size("900B"), Some(900));
        assert_eq!(parse_docker_size("3.4MB"), Some(3_400_000));
        assert_eq!(parse_docker_size("lots"), None);
    }
}
