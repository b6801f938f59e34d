//! Which docker CLI builds images, and whether with BuildKit or the legacy builder.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The docker CLI that builds images, and with which builder.
#[derive(Debug, Clone)]
pub(crate) struct Builder {
    program: PathBuf,
    pub(crate) buildkit: bool,
    /// Whether that CLI has the buildx plugin (needed for `--load` and cache export).
    pub(crate) buildx: bool,
}

impl Builder {
    /// `docker` of this builder, with `DOCKER_BUILDKIT` set to match.
    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.env("DOCKER_BUILDKIT", if self.buildkit { "1" } else { "0" });
        command
    }
}

/// How images are built, chosen once: BuildKit whenever some `docker` on PATH can use it (a
/// buildx plugin, or a CLI older than 23, which has BuildKit built in), since BuildKit skips
/// unused stages and costs far less per step; otherwise the legacy builder. `DOCKER_BUILDKIT=0`
/// asks for the legacy builder, `DOCKER_BUILDKIT=1` for BuildKit even where none is found.
/// Only builds use the chosen CLI; every other command runs the first `docker` on PATH, which
/// talks to the same engine unless the two CLIs are set to different contexts.
pub(crate) fn builder() -> &'static Builder {
    static BUILDER: OnceLock<Builder> = OnceLock::new();
    BUILDER.get_or_init(|| {
        let first = Builder {
            program: PathBuf::from("docker"),
            buildkit: false,
            buildx: false,
        };
        let requested = std::env::var("DOCKER_BUILDKIT").ok();
        if requested.as_deref() == Some("0") {
            return first;
        }
        let chosen = crate::process::find_all_on_path("docker").into_iter().enumerate().find_map(|(index, cli)| {
            let buildx = has_buildx(&cli);
            (buildx || has_built_in_buildkit(&client_version(&cli))).then_some((index, cli, buildx))
        });
        match chosen {
            Some((index, program, buildx)) => {
                if index > 0 {
                    eprintln!(
                        "the first docker on PATH cannot build with BuildKit (no buildx plugin); building with {}, which can",
                        program.display()
                    );
                }
                Builder {
                    program,
                    buildkit: true,
                    buildx,
                }
            }
            // `DOCKER_BUILDKIT=1` with no CLI that can: let docker say what is missing.
            None => Builder {
                buildkit: requested.as_deref() == Some("1"),
                ..first
            },
        }
    })
}

fn has_buildx(cli: &Path) -> bool {
    Command::new(cli)
        .args(["buildx", "version"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The CLI's own version from `docker --version` (`Docker version 20.10.24+dfsg1, build …`),
/// which, unlike `docker version`, needs no engine.
fn client_version(cli: &Path) -> String {
    Command::new(cli)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|output| {
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            let version = text.trim().strip_prefix("Docker version ")?;
            Some(
                version
                    .split(',')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            )
        })
        .unwrap_or_default()
}

/// Whether a CLI of this version builds with BuildKit without the buildx plugin (18.09–22.x).
fn has_built_in_buildkit(version: &str) -> bool {
    let mut parts = version.split(['.', '-', '+']);
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
    match (major, minor) {
        (Some(18), Some(minor)) => minor >= 9,
        (Some(major), Some(_)) => (19..23).contains(&major),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::has_built_in_buildkit;

    #[test]
    fn knows_which_cli_versions_carry_buildkit_themselves() {
        for version in ["18.09.1", "19.03.15", "20.10.24+dfsg1", "22.06.0-beta.0"] {
            assert!(has_built_in_buildkit(version), "{version}");
        }
        for version in ["18.06.3-ce", "23.0.0", "28.2.2", "", "unknown"] {
            assert!(!has_built_in_buildkit(version), "{version}");
        }
    }
}
