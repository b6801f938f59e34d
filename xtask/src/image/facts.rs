//! What an image is made of, read through the docker CLI: its configuration (`docker image
//! inspect`), and from one `docker save` stream its filesystem (its layers) and its compressed
//! size (gzipped, counted, never written).

use std::io;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::docker;
use crate::image::archive::{self, LayoutOnly};
use crate::image::entry::Kind;
use crate::image::surface;
use crate::image::tree;
use crate::oci::documents::RuntimeConfig;
use crate::process;

#[derive(Debug, Clone, Default)]
pub(crate) struct ImageConfig {
    pub(crate) id: String,
    pub(crate) size_bytes: u64,
    pub(crate) layers: usize,
    /// Empty means root.
    pub(crate) user: String,
    pub(crate) exposed_ports: Vec<String>,
    pub(crate) healthcheck: Option<Vec<String>>,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) entrypoint: Vec<String>,
    pub(crate) cmd: Vec<String>,
    pub(crate) stop_signal: String,
    pub(crate) working_dir: String,
    /// `NAME=value` entries.
    pub(crate) env: Vec<String>,
}

impl ImageConfig {
    /// Where the program the image runs (the entrypoint's, else the command's first word) may
    /// be, as paths inside the image without the leading `/`, most likely first: a path is taken
    /// from the working directory, a bare name is looked up on the image's `PATH`, as the
    /// runtime does.
    pub(crate) fn program_paths(&self) -> Vec<String> {
        let Some(program) = self.entrypoint.first().or_else(|| self.cmd.first()) else {
            return Vec::new();
        };
        if program.contains('/') {
            return vec![inside_image(&self.working_dir, program)];
        }
        let path = self
            .env
            .iter()
            .find_map(|entry| entry.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        path.split(':')
            .map(|dir| inside_image(dir, program))
            .collect()
    }
}

/// `path` taken from `dir` (unless absolute), `.` and `..` resolved, without the leading `/`.
fn inside_image(dir: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{dir}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

/// `docker image inspect`'s answer, the fields xtask reads. Docker writes `null` for an unset
/// list or map, hence the options.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspected {
    id: String,
    size: u64,
    #[serde(rename = "RootFS")]
    root_fs: RootFs,
    config: RuntimeConfig,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RootFs {
    #[serde(default)]
    layers: Vec<String>,
}

pub(crate) fn config(reference: &str) -> Result<ImageConfig> {
    let text = process::capture(docker::docker().args(["image", "inspect", reference]))?;
    let inspected: Vec<Inspected> = serde_json::from_str(&text)
        .context("docker image inspect printed no image description it knows")?;
    let image = inspected
        .into_iter()
        .next()
        .context("docker image inspect printed an empty list")?;
    let config = image.config;
    Ok(ImageConfig {
        id: image.id,
        size_bytes: image.size,
        layers: image.root_fs.layers.len(),
        user: config.user,
        exposed_ports: config
            .exposed_ports
            .unwrap_or_default()
            .into_keys()
            .collect(),
        healthcheck: config.healthcheck.and_then(|check| check.test),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        entrypoint: config.entrypoint.unwrap_or_default(),
        cmd: config.cmd.unwrap_or_default(),
        stop_signal: config.stop_signal,
        working_dir: config.working_dir,
        env: config.env.unwrap_or_default(),
    })
}

/// What the image's filesystem holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Filesystem {
    pub(crate) files: u64,
    pub(crate) shells: Vec<String>,
    pub(crate) os_packages: u64,
    /// Size of the program the image runs (see [`ImageConfig::program_paths`]), where it is a
    /// regular file of the image.
    pub(crate) app_binary_bytes: Option<u64>,
    /// Bytes `docker save | gzip -6` produces.
    pub(crate) compressed_bytes: u64,
}

/// Reads the image's own layers from `docker save` (not a container's export, which would add
/// the files Docker injects), stacked as the engine stacks them; the same save, piped through
/// `gzip -6` and counted, gives the compressed size: close to what a registry push transfers
/// and stores.
pub(crate) fn filesystem(reference: &str, program_paths: &[String]) -> Result<Filesystem> {
    let mut gzip = Command::new("gzip")
        .arg("-6")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run gzip")?;
    let mut compressed = gzip.stdout.take().context("gzip has no stdout")?;
    // Drained on its own thread, or gzip would stop reading once its output pipe is full.
    let counter = std::thread::spawn(move || io::copy(&mut compressed, &mut io::sink()));
    let mut input = gzip.stdin.take().context("gzip has no stdin")?;
    let image = archive::read_engine(reference, &mut LayoutOnly, Some(&mut input));
    drop(input);
    let compressed_bytes = counter
        .join()
        .map_err(|_| anyhow::anyhow!("counting gzip's output failed"))??;
    let gzip_ok = gzip.wait()?.success();
    let image = image?;
    if !gzip_ok {
        bail!("gzip failed while measuring the compressed size of {reference}");
    }
    let tree = tree::stack(&image);
    let mut shells: Vec<String> = surface::shells(&tree)
        .into_iter()
        .map(|(path, _)| format!("/{path}"))
        .collect();
    shells.sort();
    Ok(Filesystem {
        files: tree.file_count(),
        shells,
        os_packages: surface::os_packages(&tree).len() as u64,
        app_binary_bytes: program_paths
            .iter()
            .filter_map(|path| tree.nodes.get(path))
            .find(|node| node.header.kind == Kind::File)
            .map(|node| node.header.size),
        compressed_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::ImageConfig;

    #[test]
    fn finds_the_program_from_the_entrypoint_or_the_command() {
        let image = |entrypoint: &[&str], cmd: &[&str], working_dir: &str| ImageConfig {
            entrypoint: entrypoint.iter().map(|s| (*s).to_owned()).collect(),
            cmd: cmd.iter().map(|s| (*s).to_owned()).collect(),
            working_dir: working_dir.to_owned(),
            env: vec!["PATH=/usr/local/bin:/bin".to_owned()],
            ..ImageConfig::default()
        };
        assert_eq!(image(&["/app"], &[], "").program_paths(), ["app"]);
        assert_eq!(
            image(&[], &["./target/release/app"], "/usr/src/app").program_paths(),
            ["usr/src/app/target/release/app"]
        );
        assert_eq!(
            image(&["bin/../run"], &["ignored"], "/srv/").program_paths(),
            ["srv/run"]
        );
        assert_eq!(
            image(&["app"], &[], "/srv").program_paths(),
            ["usr/local/bin/app", "bin/app"]
        );
        assert!(image(&[], &[], "/srv").program_paths().is_empty());
    }
}
