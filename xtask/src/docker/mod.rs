//! The Docker CLI as xtask uses it: one way to run it, one engine check ([`engine::require`]),
//! one choice of builder ([`builder::builder`]), the base images and their stand-ins, one choice
//! between them ([`stand_ins::resolve`]), and a second, throwaway engine (Docker 25 or later)
//! beside the first ([`second_engine`]).

pub(crate) mod base_images;
pub(crate) mod build;
pub(crate) mod builder;
pub(crate) mod container;
pub(crate) mod engine;
pub(crate) mod second_engine;
pub(crate) mod stand_ins;

use std::process::{Command, Stdio};

use anyhow::{Context, Result};

/// `docker`, from PATH.
pub(crate) fn docker() -> Command {
    Command::new("docker")
}

/// The docker CLI, talking to the engine at `host` (`unix://…`, as `docker --host` takes it), or
/// to the default one.
pub(crate) fn docker_at(host: Option<&str>) -> Command {
    let mut command = docker();
    if let Some(host) = host {
        command.args(["--host", host]);
    }
    command
}

/// Whether an image exists locally under `reference`.
pub(crate) fn image_exists(reference: &str) -> bool {
    docker()
        .args(["image", "inspect", "--format", "{{.Id}}", reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Tries to pull `reference`; `false` when no registry serves it.
pub(crate) fn pull(reference: &str) -> bool {
    eprintln!("pulling {reference}");
    docker()
        .args(["pull", "--quiet", reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The 127.0.0.1 address Docker published for a container port (`8080/tcp`).
pub(crate) fn published_address(container: &str, port: &str) -> Result<std::net::SocketAddr> {
    let output = crate::process::capture(docker().args(["port", container, port]))?;
    output
        .lines()
        .find_map(|line| {
            line.trim()
                .parse::<std::net::SocketAddr>()
                .ok()
                .filter(std::net::SocketAddr::is_ipv4)
        })
        .ok_or_else(|| {
            anyhow::anyhow!("docker port printed no IPv4 address for {port}: {output:?}")
        })
}

/// The image's id and size as the engine states them (`image facts` reads the rest).
pub(crate) fn id_and_size(reference: &str) -> Result<(String, u64)> {
    let format = [
        "image",
        "inspect",
        "--format",
        "{{.Id}} {{.Size}}",
        reference,
    ];
    let text = crate::process::capture(docker().args(format))?;
    text.split_once(' ')
        .and_then(|(id, size)| Some((id.to_owned(), size.trim().parse().ok()?)))
        .with_context(|| format!("docker image inspect printed {text:?}, not an id and a size"))
}
