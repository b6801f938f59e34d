//! Cold pull → serving: what an image's size costs each time a new task starts. Fargate bills
//! a task from the start of its image pull, and a scaled-out service pulls on every new task.
//! Each image is pushed once to a registry on loopback (Debian's `docker-registry`, the
//! distribution registry), then pulled and run into a second engine started on an empty data
//! root for each sample: removing a tag from the main engine would not make a pull cold, since
//! its other images share the base layers. Timed from `docker pull` to the first 200 on `/`:
//! the median of three for the small images, whose pulls take a second; once for the
//! single-stage image, whose pull takes a quarter of a minute and shows the gap by itself.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::docker;
use crate::docker::container::RunningContainer;
use crate::docker::second_engine::SecondEngine;
use crate::http;
use crate::measure::median;
use crate::process;
use crate::process::wait;
use crate::tools;

/// Cold pulls of an image under [`LARGE_IMAGE_BYTES`]; the median is reported.
const PULL_SAMPLES: usize = 3;
/// A compressed size from which one cold pull is timed: the 1.3 GB single-stage image (about
/// 500 MB compressed) takes 17 s a pull, the small ones a second.
const LARGE_IMAGE_BYTES: u64 = 100_000_000;

/// How many cold pulls an image of `compressed_bytes` gets.
pub(super) fn samples(compressed_bytes: u64) -> usize {
    if compressed_bytes >= LARGE_IMAGE_BYTES {
        1
    } else {
        PULL_SAMPLES
    }
}
/// Enough for the 1.3 GB single-stage image on a slow disk.
const SERVING_TIMEOUT: Duration = Duration::from_mins(5);

/// A distribution registry on a free loopback port, storing in a scratch folder under the
/// target directory; stopped and removed when dropped.
pub(super) struct LocalRegistry {
    server: Child,
    folder: PathBuf,
    port: u16,
}

impl LocalRegistry {
    pub(super) fn start() -> Result<Self> {
        tools::require(&["docker-registry"])?;
        // A fixed name: what an interrupted run left is cleared, not accumulated.
        let folder = crate::files::target_dir()
            .join("xtask")
            .join("pull-registry");
        if folder.exists() {
            std::fs::remove_dir_all(&folder)
                .with_context(|| format!("cannot clear {}", folder.display()))?;
        }
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        let port = http::free_port()?;
        let config = folder.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    \
                 rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                folder.join("data").display()
            ),
        )?;
        let server = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start docker-registry")?;
        let mut registry = Self {
            server,
            folder,
            port,
        };
        let listening = wait::until(Duration::from_secs(30), Duration::from_millis(50), || {
            if let Some(status) = registry.server.try_wait()? {
                bail!("docker-registry exited with {status} before listening on port {port}");
            }
            Ok(std::net::TcpStream::connect(("127.0.0.1", port))
                .is_ok()
                .then_some(()))
        })?;
        if listening.is_none() {
            bail!("docker-registry did not listen on 127.0.0.1:{port} within 30 s");
        }
        Ok(registry)
    }

    /// Pushes the local image `tag` from the main engine; returns the reference to pull.
    pub(super) fn push(&self, tag: &str) -> Result<String> {
        let reference = format!("127.0.0.1:{}/{tag}", self.port);
        process::capture(docker::docker().args(["tag", tag, &reference]))?;
        let pushed = process::capture(docker::docker().args(["push", &reference]));
        // The registry's name for the image is not kept in the main engine.
        let _ = process::capture(docker::docker().args(["rmi", &reference]));
        pushed.with_context(|| format!("cannot push {tag} to the local registry"))?;
        Ok(reference)
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// The median of `samples` times from `docker pull` of the image `tag`, into an engine that
/// holds none of its layers, to the first 200 from the container it starts.
pub(super) fn cold_pull_to_serving(
    registry: &LocalRegistry,
    tag: &str,
    samples: usize,
) -> Result<f64> {
    eprintln!("  pushing {tag} to the local registry");
    let reference = registry.push(tag)?;
    let mut seconds = Vec::with_capacity(samples);
    for sample in 1..=samples.max(1) {
        let engine = SecondEngine::start()?;
        let port = http::free_port()?;
        let started = Instant::now();
        process::capture(engine.docker().args(["pull", "--quiet", &reference]))
            .with_context(|| format!("the cold engine cannot pull {reference}"))?;
        let container =
            RunningContainer::start_on_host_network(&engine.host(), &reference, port, started)?;
        let elapsed = container.wait_http_ok("/", SERVING_TIMEOUT)?.as_secs_f64();
        eprintln!("  cold pull {sample}: serving after {elapsed:.2} s");
        seconds.push(elapsed);
        drop(container);
        drop(engine);
    }
    Ok(median(&mut seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_large_image_is_pulled_once_the_small_ones_three_times() {
        assert_eq!(samples(512_870_000), 1);
        assert_eq!(samples(1_150_000), 3);
    }
}
