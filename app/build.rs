//! Bakes into the binary what it is and what it is made of.
//!
//! - Build metadata: git revision, build time, rustc version, profile. Container builds exclude
//!   `.git` from the context, so `GIT_REVISION` (a build arg) wins over asking git.
//!   `SOURCE_DATE_EPOCH` pins the build time for reproducible builds.
//! - The dependency list, in cargo-auditable's format, for `src/dependencies.rs` to embed.
//!
//! Not `vergen` or `cargo auditable`: the metadata is four values, and cargo-auditable is a
//! cargo subcommand every builder (the images' builder stage included) would have to install;
//! the section written here is byte-identical to its output (checked with `rust-audit-info`).

use std::process::{Command, ExitCode};
use std::time::{SystemTime, UNIX_EPOCH};

fn main() -> ExitCode {
    println!("cargo:rerun-if-changed=build.rs");
    emit_build_info();
    match dependency_list::write() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: cannot embed the dependency list (.dep-v0): {error}");
            ExitCode::FAILURE
        }
    }
}

fn emit_build_info() {
    println!("cargo:rerun-if-env-changed=GIT_REVISION");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    let revision = std::env::var("GIT_REVISION")
        .ok()
        .filter(|value| !value.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    watch_git_head();

    let build_epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|value| value.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(0))
        });

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map_or_else(|| "unknown".to_owned(), |text| text.trim().to_owned());

    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".to_owned());

    println!("cargo:rustc-env=APP_GIT_REVISION={revision}");
    println!("cargo:rustc-env=APP_BUILD_EPOCH={build_epoch}");
    println!("cargo:rustc-env=APP_RUSTC_VERSION={rustc_version}");
    println!("cargo:rustc-env=APP_BUILD_PROFILE={profile}");
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// Re-run when HEAD moves, so the revision never goes stale in incremental builds. Only files
/// that exist are watched: cargo re-runs the script on every build for a missing one.
fn watch_git_head() {
    let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) else {
        return;
    };
    let mut watched = vec![format!("{git_dir}/HEAD"), format!("{git_dir}/packed-refs")];
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(format!("{git_dir}/{reference}"));
    }
    for path in watched
        .iter()
        .filter(|path| std::path::Path::new(path).exists())
    {
        println!("cargo:rerun-if-changed={path}");
    }
}

/// Writes `$OUT_DIR/dep-v0.bin`: this package's dependency graph as cargo-auditable 0.7 records
/// it (auditable-serde's JSON, format 1, zlib-compressed), so scanners that read `.dep-v0`
/// (Trivy, syft, rust-audit-info) see the crates without `cargo auditable` wrapping the build.
///
/// The graph is `cargo metadata`'s, walked from this package along normal and build edges.
/// Like cargo-auditable it inherits that command's known over-reporting: features are unified
/// across the whole workspace, so a crate only another member enables may be listed.
mod dependency_list {
    use std::collections::{HashMap, HashSet};
    use std::path::PathBuf;
    use std::process::Command;

    use serde::{Deserialize, Serialize};

    /// auditable-serde's format revision 1: `cargo metadata` as the source, proc macros and
    /// their dependencies recorded as build dependencies.
    const FORMAT: u32 = 1;
    /// cargo-auditable's level: a few milliseconds, and its exact bytes.
    const COMPRESSION_LEVEL: u8 = 7;
    const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";

    pub(super) fn write() -> Result<(), String> {
        let out_dir = env("OUT_DIR")?;
        let metadata = cargo_metadata()?;
        watch_inputs(&metadata);
        let json = serde_json::to_string(&encode(&metadata)?)
            .map_err(|error| format!("cannot serialize the dependency list: {error}"))?;
        let compressed =
            miniz_oxide::deflate::compress_to_vec_zlib(json.as_bytes(), COMPRESSION_LEVEL);
        let path = PathBuf::from(out_dir).join("dep-v0.bin");
        std::fs::write(&path, compressed)
            .map_err(|error| format!("cannot write {}: {error}", path.display()))
    }

    fn env(name: &str) -> Result<String, String> {
        std::env::var(name).map_err(|_| format!("cargo did not set {name} for the build script"))
    }

    /// Runs `cargo metadata` as cargo-auditable does: the `cargo` running this build, from this
    /// package's directory (it loads the whole workspace, and the resolve's root is this
    /// package), this package's features, dependencies for the target platform only.
    ///
    /// cargo-auditable also forwards `--offline`, `--frozen` and `--config` from its command
    /// line, which a build script cannot see. `--locked` is always right here: cargo has settled
    /// the lock file before any build script runs, and a build script must never rewrite it.
    /// `cargo metadata` reads the manifest of every package in the workspace's resolve, so a
    /// cold build (`docker build`) also downloads the few crates the build itself skips:
    /// dev-dependencies and other members' dependencies. `CARGO_NET_OFFLINE` and cargo's config
    /// files reach this nested cargo as they reached the outer one.
    fn cargo_metadata() -> Result<Metadata, String> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut command = Command::new(&cargo);
        command
            .current_dir(env("CARGO_MANIFEST_DIR")?)
            .args(["metadata", "--format-version", "1", "--locked"])
            .args(["--filter-platform", &env("TARGET")?]);
        let features = std::env::var("CARGO_CFG_FEATURE").unwrap_or_default();
        let mut features: Vec<&str> = features.split(',').filter(|f| !f.is_empty()).collect();
        if let Some(default) = features.iter().position(|feature| *feature == "default") {
            features.remove(default);
        } else {
            command.arg("--no-default-features");
        }
        if !features.is_empty() {
            command.args(["--features", &features.join(",")]);
        }

        let output = command
            .output()
            .map_err(|error| format!("cannot run `{cargo} metadata`: {error}"))?;
        if !output.status.success() {
            return Err(format!(
                "`cargo metadata` failed ({}); fix what it reports and build again:\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim_end()
            ));
        }
        serde_json::from_slice(&output.stdout)
            .map_err(|error| format!("cannot parse the output of `cargo metadata`: {error}"))
    }

    /// The graph changes only with the lock file or a local manifest: the workspace's own and
    /// every path package's (all members, so a feature another member turns on is noticed).
    fn watch_inputs(metadata: &Metadata) {
        let root = &metadata.workspace_root;
        for path in [root.join("Cargo.lock"), root.join("Cargo.toml")] {
            println!("cargo:rerun-if-changed={}", path.display());
        }
        for package in metadata.packages.iter().filter(|p| p.source.is_none()) {
            println!("cargo:rerun-if-changed={}", package.manifest_path.display());
        }
    }

    /// How a package is needed; ordered weakest first, as in cargo-auditable.
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Kind {
        Development,
        Build,
        Runtime,
    }

    fn encode(metadata: &Metadata) -> Result<VersionInfo<'_>, String> {
        let resolve = metadata
            .resolve
            .as_ref()
            .ok_or("`cargo metadata` returned no dependency graph")?;
        let root = resolve
            .root
            .as_deref()
            .ok_or("`cargo metadata` named no root package")?;
        let nodes: HashMap<&str, &Node> = resolve.nodes.iter().map(|n| (&*n.id, n)).collect();
        let kinds = dependency_kinds(root, &nodes, &proc_macros(metadata))?;

        // Dev-only and unreachable packages (other members' dependencies) are left out. The
        // order is cargo-auditable's, by name then package id, so the bytes are reproducible.
        let mut packages: Vec<&MetaPackage> = metadata
            .packages
            .iter()
            .filter(|p| kinds.get(&*p.id).is_some_and(|k| *k != Kind::Development))
            .collect();
        packages.sort_unstable_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        let index: HashMap<&str, usize> = packages
            .iter()
            .enumerate()
            .map(|(i, p)| (&*p.id, i))
            .collect();

        let packages = packages
            .into_iter()
            .map(|package| {
                let node = nodes
                    .get(&*package.id)
                    .ok_or_else(|| format!("{} is missing from the graph", package.id))?;
                let mut dependencies = Vec::new();
                for dep in &node.deps {
                    if strongest_kind(&dep.dep_kinds)? != Kind::Development {
                        let position = index.get(&*dep.pkg).ok_or_else(|| {
                            format!("{} depends on {}, which was left out", package.id, dep.pkg)
                        })?;
                        dependencies.push(*position);
                    }
                }
                dependencies.sort_unstable();
                Ok(Package {
                    name: &package.name,
                    version: &package.version,
                    source: package.source.as_deref().map_or("local", source_name),
                    kind: if kinds[&*package.id] == Kind::Build {
                        Some("build")
                    } else {
                        None
                    },
                    dependencies,
                    root: package.id == root,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(VersionInfo {
            packages,
            format: FORMAT,
        })
    }

    /// A package is needed as strongly as its strongest path from the root, a path being as
    /// strong as its weakest edge: a runtime dependency of a build dependency is needed at
    /// build time only. A proc macro edge counts as a build edge, though cargo calls it normal.
    fn dependency_kinds<'a>(
        root: &'a str,
        nodes: &HashMap<&'a str, &'a Node>,
        proc_macros: &HashSet<&str>,
    ) -> Result<HashMap<&'a str, Kind>, String> {
        let mut kinds = HashMap::from([(root, Kind::Runtime)]);
        let mut pending = vec![root];
        while let Some(parent) = pending.pop() {
            let parent_kind = kinds[parent];
            let node = nodes
                .get(parent)
                .ok_or_else(|| format!("{parent} is missing from the graph"))?;
            for dep in &node.deps {
                let mut kind = strongest_kind(&dep.dep_kinds)?.min(parent_kind);
                if proc_macros.contains(&*dep.pkg) {
                    kind = kind.min(Kind::Build);
                }
                if kinds.get(&*dep.pkg).is_none_or(|seen| kind > *seen) {
                    kinds.insert(&dep.pkg, kind);
                    pending.push(&dep.pkg);
                }
            }
        }
        Ok(kinds)
    }

    /// cargo-auditable's test, kept as is so the output matches it byte for byte: a package
    /// whose only target is a proc macro. A proc-macro crate that also ships tests or examples
    /// (tracing-attributes, displaydoc) is therefore recorded as runtime, as cargo-auditable does.
    fn proc_macros(metadata: &Metadata) -> HashSet<&str> {
        metadata
            .packages
            .iter()
            .filter(|p| matches!(&*p.targets, [target] if target.kind == ["proc-macro"]))
            .map(|p| &*p.id)
            .collect()
    }

    fn strongest_kind(dep_kinds: &[DepKindInfo]) -> Result<Kind, String> {
        let mut strongest = None;
        for info in dep_kinds {
            let kind = match info.kind.as_deref() {
                None => Kind::Runtime,
                Some("build") => Kind::Build,
                Some("dev") => Kind::Development,
                Some(other) => return Err(format!("unknown dependency kind {other:?}")),
            };
            strongest = strongest.max(Some(kind));
        }
        // No kinds at all only comes from cargo older than 1.41; cargo-auditable reads it so.
        Ok(strongest.unwrap_or(Kind::Runtime))
    }

    /// `registry+https://github.com/rust-lang/crates.io-index` is "crates.io"; any other source
    /// is named by its scheme: "registry", "git", "sparse", ...
    fn source_name(source: &str) -> &str {
        if source == CRATES_IO {
            "crates.io"
        } else {
            source.split('+').next().unwrap_or(source)
        }
    }

    // What is read from `cargo metadata --format-version 1`.

    #[derive(Deserialize)]
    struct Metadata {
        packages: Vec<MetaPackage>,
        resolve: Option<Resolve>,
        workspace_root: PathBuf,
    }

    #[derive(Deserialize)]
    struct MetaPackage {
        id: String,
        name: String,
        version: String,
        source: Option<String>,
        manifest_path: PathBuf,
        targets: Vec<Target>,
    }

    #[derive(Deserialize)]
    struct Target {
        kind: Vec<String>,
    }

    #[derive(Deserialize)]
    struct Resolve {
        nodes: Vec<Node>,
        root: Option<String>,
    }

    #[derive(Deserialize)]
    struct Node {
        id: String,
        deps: Vec<NodeDep>,
    }

    #[derive(Deserialize)]
    struct NodeDep {
        pkg: String,
        #[serde(default)]
        dep_kinds: Vec<DepKindInfo>,
    }

    #[derive(Deserialize)]
    struct DepKindInfo {
        kind: Option<String>,
    }

    // What is written: auditable-serde's `VersionInfo`, field for field and in its order.

    #[derive(Serialize)]
    struct VersionInfo<'a> {
        packages: Vec<Package<'a>>,
        format: u32,
    }

    #[derive(Serialize)]
    struct Package<'a> {
        name: &'a str,
        version: &'a str,
        source: &'a str,
        /// "build", or absent for "runtime".
        #[serde(skip_serializing_if = "Option::is_none")]
        kind: Option<&'static str>,
        /// Indices into `packages`.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        dependencies: Vec<usize>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        root: bool,
    }
}
