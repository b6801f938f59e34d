//! Which base images the Dockerfiles build from. Defaults are the real public images, read from
//! the Dockerfiles' own `ARG` lines (one source of truth); an environment variable of the same
//! name overrides one; and where a default is not available locally but the equivalent that
//! `cargo xtask bases` builds is, that one is used.

use std::path::Path;

use anyhow::{Context, Result};

use crate::docker;

/// One `ARG` that names a base image.
#[derive(Debug, Clone)]
pub(crate) struct BaseImage {
    /// The build argument, e.g. `BUILDER_IMAGE`.
    pub(crate) arg: &'static str,
    /// The Dockerfile (under `docker/`) that declares it.
    pub(crate) dockerfile: &'static str,
    /// The local stand-in `cargo xtask bases` tags.
    pub(crate) local: String,
}

pub(crate) const LOCAL_REPOSITORY: &str = "local";

/// The Rust version of the local toolchain image: the host's `major.minor`.
pub(crate) fn rust_minor_version() -> Result<String> {
    let version = crate::util::process::capture(std::process::Command::new("rustc").arg("--version"))?;
    let number = version
        .split_whitespace()
        .nth(1)
        .context("unexpected `rustc --version` output")?;
    Ok(number.splitn(3, '.').take(2).collect::<Vec<_>>().join("."))
}

pub(crate) fn all() -> Result<Vec<BaseImage>> {
    let rust = rust_minor_version()?;
    Ok(vec![
        BaseImage {
            arg: "RUST_IMAGE",
            dockerfile: "Dockerfile.single-stage",
            local: format!("{LOCAL_REPOSITORY}/rust:{rust}-bookworm"),
        },
        BaseImage {
            arg: "BUILDER_IMAGE",
            dockerfile: "Dockerfile.multi-stage",
            local: format!("{LOCAL_REPOSITORY}/rust:{rust}-slim-bookworm"),
        },
        BaseImage {
            arg: "DISTROLESS_IMAGE",
            dockerfile: "Dockerfile.multi-stage",
            local: format!("{LOCAL_REPOSITORY}/distroless-static:nonroot"),
        },
    ])
}

impl BaseImage {
    /// The default the Dockerfile declares.
    pub(crate) fn default_reference(&self) -> Result<String> {
        let path = crate::project::root().join("docker").join(self.dockerfile);
        arg_default(&path, self.arg)
    }

    /// The reference to build with, and why it was chosen.
    pub(crate) fn resolve(&self) -> Result<(String, &'static str)> {
        if let Ok(value) = std::env::var(self.arg)
            && !value.trim().is_empty()
        {
            return Ok((value, "from the environment"));
        }
        let default = self.default_reference()?;
        if docker::image_exists(&default) {
            return Ok((default, "the public image, present locally"));
        }
        if docker::image_exists(&self.local) {
            return Ok((
                self.local.clone(),
                "the local equivalent `cargo xtask bases` built",
            ));
        }
        if docker::pull(&default) {
            return Ok((default, "the public image, just pulled"));
        }
        eprintln!(
            "no registry serves {default}: building local equivalents with `cargo xtask bases`"
        );
        crate::bases::run()?;
        Ok((
            self.local.clone(),
            "the local equivalent `cargo xtask bases` just built",
        ))
    }
}

/// `ARG NAME=value` in a Dockerfile.
pub(crate) fn arg_default(dockerfile: &Path, name: &str) -> Result<String> {
    let text = std::fs::read_to_string(dockerfile)
        .with_context(|| format!("cannot read {}", dockerfile.display()))?;
    text.lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("ARG ")?
                .strip_prefix(name)?
                .strip_prefix('=')
        })
        .map(|value| value.trim().to_owned())
        .with_context(|| format!("{} declares no `ARG {name}=...`", dockerfile.display()))
}

/// Prints `line` unless this process printed it already: a command that builds several images
/// says which base it uses once, not before every build.
fn say_once(line: String) {
    static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut said = SAID
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !said.contains(&line) {
        eprintln!("{line}");
        said.push(line);
    }
}

/// The `--build-arg`s that select the resolved base images for `dockerfile`.
pub(crate) fn build_args(dockerfile: &str) -> Result<Vec<String>> {
    let mut args = Vec::new();
    for base in all()?.into_iter().filter(|b| b.dockerfile == dockerfile) {
        let (reference, why) = base.resolve()?;
        say_once(format!("  {} = {reference} ({why})", base.arg));
        args.push("--build-arg".to_owned());
        args.push(format!("{}={reference}", base.arg));
    }
    Ok(args)
}
