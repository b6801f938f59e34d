//! The base images each build and the stack use, as declared: the public defaults, read from
//! where they are declared (the Dockerfiles' `ARG` lines, compose.yaml's `${VAR:-default}`), an
//! environment variable of the same name that overrides one, and the local stand-in's name.
//! [`BaseImage::find`] says which of them is here; `stand_ins.rs` builds the stand-ins and
//! chooses between the public image and its stand-in.
use std::path::Path;

use anyhow::{Context, Result};

use crate::docker;

/// The Debian release every stand-in but nginx's is built from.
pub(crate) const SUITE: &str = "bookworm";
/// nginx's: the stack needs `server ... resolve` in an upstream (nginx >= 1.27.3); bookworm has
/// nginx 1.22 and trixie 1.26, forky a current release.
pub(crate) const NGINX_SUITE: &str = "forky";
/// The repository prefix of every stand-in, so they never shadow a real public image.
const LOCAL_REPOSITORY: &str = "local";

/// Where a base image's default is declared.
#[derive(Debug, Clone, Copy)]
enum Declared {
    /// `ARG NAME=default` in this Dockerfile under `docker/`.
    Dockerfile(&'static str),
    /// `${NAME:-default}` in compose.yaml.
    Compose,
    /// Nowhere: only the stand-ins build from it.
    StandInsOnly,
}

/// One base image, named by the variable that selects it.
#[derive(Debug, Clone)]
pub(crate) struct BaseImage {
    /// The build argument or compose variable, e.g. `BUILDER_IMAGE`.
    pub(crate) variable: &'static str,
    declared: Declared,
    /// The local stand-in `cargo xtask bases` tags.
    pub(crate) local: String,
}

impl BaseImage {
    /// The full Rust toolchain image the single-stage baseline builds on.
    pub(crate) fn rust() -> Result<Self> {
        Ok(Self {
            variable: "RUST_IMAGE",
            declared: Declared::Dockerfile("Dockerfile.single-stage"),
            local: format!("{LOCAL_REPOSITORY}/rust:{}-{SUITE}", rust_minor_version()?),
        })
    }

    /// The multi-stage build's builder stage.
    pub(crate) fn builder() -> Result<Self> {
        Ok(Self {
            variable: "BUILDER_IMAGE",
            declared: Declared::Dockerfile("Dockerfile.multi-stage"),
            local: format!(
                "{LOCAL_REPOSITORY}/rust:{}-slim-{SUITE}",
                rust_minor_version()?
            ),
        })
    }

    /// The distroless runtime of the `distroless` target.
    pub(crate) fn distroless() -> Self {
        Self {
            variable: "DISTROLESS_IMAGE",
            declared: Declared::Dockerfile("Dockerfile.multi-stage"),
            local: format!("{LOCAL_REPOSITORY}/distroless-static:nonroot"),
        }
    }

    /// The stack's reverse proxy.
    pub(crate) fn nginx() -> Self {
        Self {
            variable: "NGINX_IMAGE",
            declared: Declared::Compose,
            local: format!("{LOCAL_REPOSITORY}/nginx:{NGINX_SUITE}"),
        }
    }

    /// The stack's metrics server.
    pub(crate) fn prometheus() -> Self {
        Self {
            variable: "PROMETHEUS_IMAGE",
            declared: Declared::Compose,
            local: format!("{LOCAL_REPOSITORY}/prometheus:{SUITE}"),
        }
    }

    /// Plain Debian, which the other stand-ins start from.
    pub(crate) fn debian() -> Self {
        Self {
            variable: "DEBIAN_IMAGE",
            declared: Declared::StandInsOnly,
            local: format!("{LOCAL_REPOSITORY}/debian:{SUITE}"),
        }
    }

    /// What the Dockerfiles build from.
    pub(crate) fn for_images() -> Result<Vec<Self>> {
        Ok(vec![Self::rust()?, Self::builder()?, Self::distroless()])
    }

    /// What compose.yaml runs besides the app.
    pub(crate) fn for_stack() -> Vec<Self> {
        vec![Self::nginx(), Self::prometheus()]
    }

    /// Every base image, stand-ins' own included.
    pub(crate) fn all() -> Result<Vec<Self>> {
        let mut all = Self::for_images()?;
        all.extend(Self::for_stack());
        all.push(Self::debian());
        Ok(all)
    }

    /// The public default where it is declared (`None` for the stand-ins' own Debian).
    pub(crate) fn default_reference(&self) -> Result<Option<String>> {
        let root = crate::files::root();
        match self.declared {
            Declared::Dockerfile(file) => {
                arg_default(&root.join("docker").join(file), self.variable).map(Some)
            }
            Declared::Compose => {
                compose_default(&root.join("compose.yaml"), self.variable).map(Some)
            }
            Declared::StandInsOnly => Ok(None),
        }
    }

    /// The reference to use, and why it was chosen; `None` when neither the public image nor
    /// the stand-in is here and no registry serves the public one.
    pub(crate) fn find(&self) -> Result<Option<(String, &'static str)>> {
        if let Ok(value) = std::env::var(self.variable)
            && !value.trim().is_empty()
        {
            return Ok(Some((value, "from the environment")));
        }
        let Some(default) = self.default_reference()? else {
            return Ok(Some((self.local.clone(), "a local stand-in only")));
        };
        if docker::image_exists(&default) {
            return Ok(Some((default, "the public image, present locally")));
        }
        if docker::image_exists(&self.local) {
            let why = "the local equivalent `cargo xtask bases` built";
            return Ok(Some((self.local.clone(), why)));
        }
        if docker::pull(&default) {
            return Ok(Some((default, "the public image, just pulled")));
        }
        Ok(None)
    }

    /// Whether `dockerfile` declares it.
    pub(crate) fn declared_in(&self, dockerfile: &str) -> bool {
        matches!(self.declared, Declared::Dockerfile(file) if file == dockerfile)
    }

    /// Whether the public default is here or can be pulled.
    pub(crate) fn public_available(&self) -> Result<bool> {
        Ok(self
            .default_reference()?
            .is_some_and(|reference| docker::image_exists(&reference) || docker::pull(&reference)))
    }
}

/// The Rust version of the local toolchain image: the host's `major.minor`.
pub(crate) fn rust_minor_version() -> Result<String> {
    let version = crate::process::capture(std::process::Command::new("rustc").arg("--version"))?;
    let number = version
        .split_whitespace()
        .nth(1)
        .context("unexpected `rustc --version` output")?;
    Ok(number.splitn(3, '.').take(2).collect::<Vec<_>>().join("."))
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

/// `${NAME:-default}` in compose.yaml: the default a variable falls back to.
pub(crate) fn compose_default(compose_file: &Path, name: &str) -> Result<String> {
    let text = std::fs::read_to_string(compose_file)
        .with_context(|| format!("cannot read {}", compose_file.display()))?;
    let pattern = format!("${{{name}:-");
    let start = text
        .find(&pattern)
        .with_context(|| format!("{} has no ${{{name}:-...}}", compose_file.display()))?
        + pattern.len();
    let end = text[start..]
        .find('}')
        .with_context(|| format!("unterminated variable in {}", compose_file.display()))?;
    Ok(text[start..start + end].to_owned())
}
