//! The binary as images ship it: statically linked (static-pie glibc), so it runs in an image
//! `FROM scratch`, with the build machine's paths replaced by neutral ones. The same flags as the
//! multi-stage Dockerfile's builder stage, so that a host build is the image's compile, minus
//! the builder.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::process;
use crate::project::profile::CargoProfile;

/// The only target the toolchain is guaranteed to have; `--target` keeps the static flags off
/// build scripts and proc macros, which must stay dynamic.
pub(crate) const TARGET: &str = "x86_64-unknown-linux-gnu";

/// Builds the static release binary of this checkout and returns its path.
pub(crate) fn build() -> Result<PathBuf> {
    let target_dir = crate::files::target_dir();
    let profile = CargoProfile::shipped()?;
    process::run(&mut command(&crate::files::root(), &target_dir, &profile))?;
    binary(&target_dir, &profile)
}

/// As [`build`], with the app's `examples` built the same way; their paths follow the
/// binary's, in the order asked.
pub(crate) fn build_with_examples(examples: &[&str]) -> Result<(PathBuf, Vec<PathBuf>)> {
    let target_dir = crate::files::target_dir();
    let profile = CargoProfile::shipped()?;
    let mut build = command(&crate::files::root(), &target_dir, &profile);
    build.args(["--bin", "app"]);
    for example in examples {
        build.args(["--example", example]);
    }
    process::run(&mut build)?;
    let folder = target_dir.join(TARGET).join(profile.output_folder());
    let examples = examples
        .iter()
        .map(|name| {
            let path = folder.join("examples").join(name);
            std::fs::metadata(&path)
                .with_context(|| format!("the build left no example at {}", path.display()))?;
            Ok(path)
        })
        .collect::<Result<_>>()?;
    Ok((binary(&target_dir, &profile)?, examples))
}

/// `cargo build` of the static binary from the sources at `source` (this checkout or a copy of
/// it) into `target_dir`, with `profile`.
pub(crate) fn command(source: &Path, target_dir: &Path, profile: &CargoProfile) -> Command {
    let cargo_home = std::env::var("CARGO_HOME").ok().or_else(|| {
        std::env::var("HOME")
            .ok()
            .map(|home| format!("{home}/.cargo"))
    });
    let mut rustflags = vec![
        "-C target-feature=+crt-static".to_owned(),
        format!("--remap-path-prefix={}=/app-src", source.display()),
    ];
    if let Some(cargo_home) = cargo_home {
        rustflags.push(format!("--remap-path-prefix={cargo_home}=/cargo"));
    }
    let mut command = process::cargo();
    command
        .current_dir(source)
        .env("RUSTFLAGS", rustflags.join(" "))
        .env("CARGO_TARGET_DIR", target_dir)
        .args(["build", "--profile", &profile.name, "--locked"])
        .args(["--package", "app", "--target", TARGET]);
    command
}

/// Where [`command`] leaves the binary.
pub(crate) fn binary(target_dir: &Path, profile: &CargoProfile) -> Result<PathBuf> {
    let binary = target_dir
        .join(TARGET)
        .join(profile.output_folder())
        .join("app");
    std::fs::metadata(&binary).with_context(|| {
        format!(
            "the {} build left no binary at {}",
            profile.name,
            binary.display()
        )
    })?;
    Ok(binary)
}
