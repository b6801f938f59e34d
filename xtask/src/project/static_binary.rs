//! The release binary as images ship it: statically linked (static-pie glibc), so it runs in an
//! image `FROM scratch`, with the build machine's paths replaced by neutral ones.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::util::process;

/// The only target the toolchain is guaranteed to have; `--target` keeps the static flags off
/// build scripts and proc macros, which must stay dynamic.
pub(crate) const TARGET: &str = "x86_64-unknown-linux-gnu";

/// Builds the static release binary and returns its path.
pub(crate) fn build() -> Result<PathBuf> {
    let root = crate::project::root();
    let cargo_home = std::env::var("CARGO_HOME").ok().or_else(|| {
        std::env::var("HOME")
            .ok()
            .map(|home| format!("{home}/.cargo"))
    });
    let mut rustflags = vec![
        "-C target-feature=+crt-static".to_owned(),
        format!("--remap-path-prefix={}=/build", root.display()),
    ];
    if let Some(cargo_home) = cargo_home {
        rustflags.push(format!("--remap-path-prefix={cargo_home}=/cargo"));
    }
    process::run(
        process::cargo()
            .env("RUSTFLAGS", rustflags.join(" "))
            .args([
                "build",
                "--release",
                "--locked",
                "--package",
                "app",
                "--target",
                TARGET,
            ]),
    )?;
    let binary = crate::project::target_dir()
        .join(TARGET)
        .join("release")
        .join("app");
    std::fs::metadata(&binary)
        .with_context(|| format!("the release build left no binary at {}", binary.display()))?;
    Ok(binary)
}
