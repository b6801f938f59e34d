//! `cargo xtask analyze`: what each layer of an image holds, the space stacking them wastes,
//! the largest files, and recommendations, each with the evidence found in the image.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use serde_json::{Value, json};

use crate::flags::Analyze;
use crate::image::archive::{self, Image, LayoutOnly, Source};
use crate::image::entry::Kind;
use crate::image::surface;
use crate::image::tree::{self, Tree};
use crate::output::{self, Table};

/// More layers than this is worth a look (each is a separate download and unpack).
const MANY_LAYERS: usize = 10;
const LARGEST: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Evidence {
    /// Empty for evidence in the configuration rather than the filesystem.
    pub(crate) path: String,
    pub(crate) layer: Option<usize>,
    pub(crate) bytes: u64,
    pub(crate) detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recommendation {
    pub(crate) id: &'static str,
    pub(crate) finding: &'static str,
    pub(crate) advice: &'static str,
    pub(crate) penalty: u32,
    pub(crate) evidence: Vec<Evidence>,
}

/// (id, finding, advice, penalty). docs/inspect.md's score formula lists the same.
const RULES: &[(&str, &str, &str, u32)] = &[
    (
        "package-manager-caches",
        "package-manager caches in the final image",
        "clean them in the RUN that fills them (`rm -rf /var/lib/apt/lists/*`), or build in an earlier stage",
        10,
    ),
    (
        "build-tools",
        "build tools and compilers in the final image",
        "build in a builder stage and copy only the result into the final one",
        20,
    ),
    (
        "docs",
        "documentation and man pages",
        "start from a slim or distroless base, or delete /usr/share/doc and /usr/share/man",
        5,
    ),
    (
        "root-user",
        "runs as root",
        "add `USER 65532:65532` (or any non-root user) to the final stage",
        15,
    ),
    (
        "no-healthcheck",
        "no HEALTHCHECK",
        "add an exec-form HEALTHCHECK (this project's app has `app healthcheck`)",
        10,
    ),
    (
        "many-layers",
        "many layers",
        "merge related RUN steps, or copy the result of a builder stage in one layer",
        5,
    ),
    (
        "build-leftovers",
        "build leftovers (target/, .git)",
        "list them in .dockerignore and build in a builder stage",
        15,
    ),
];

/// `~/` is any home: `root/` or `home/<user>/`.
const CACHE_DIRS: &[&str] = &[
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "var/cache/apk",
    "var/cache/yum",
    "var/cache/dnf",
    "~/.cache",
    "~/.npm",
    "~/.cargo/registry",
    "~/.cargo/git",
    "usr/local/cargo/registry",
    "usr/local/cargo/git",
];

/// The cache directory `path` is in, as a path of the image (`home/app/.cache`).
fn cache_dir(path: &str) -> Option<String> {
    // The home the path is under, if any: `root` or `home/<user>`.
    let home = if path.starts_with("root/") {
        Some("root".to_owned())
    } else {
        path.strip_prefix("home/")
            .and_then(|rest| rest.split_once('/'))
            .map(|(user, _)| format!("home/{user}"))
    };
    CACHE_DIRS.iter().find_map(|dir| {
        let root = match dir.strip_prefix("~/") {
            Some(rest) => format!("{}/{rest}", home.as_ref()?),
            None => (*dir).to_owned(),
        };
        path.starts_with(&format!("{root}/")).then_some(root)
    })
}

/// One layer as `analyze` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct LayerSummary {
    pub(crate) index: usize,
    /// The instruction that made it (empty: no history).
    pub(crate) instruction: String,
    /// Bytes of the files it writes, and the bytes the archive stores it in.
    pub(crate) bytes: u64,
    pub(crate) stored_bytes: u64,
    pub(crate) added: u64,
    pub(crate) changed: u64,
    pub(crate) removed: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Analysis {
    pub(crate) name: String,
    pub(crate) layers: Vec<LayerSummary>,
    pub(crate) files: u64,
    pub(crate) content_bytes: u64,
    pub(crate) efficiency: f64,
    pub(crate) wasted_bytes: u64,
    pub(crate) waste: Vec<tree::Waste>,
    pub(crate) largest: Vec<Evidence>,
    pub(crate) recommendations: Vec<Recommendation>,
    pub(crate) score: u32,
}

impl Analyze {
    pub(crate) fn run(self) -> Result<()> {
        let save_seconds = match (&self.image.source(), self.benchmark) {
            (Source::Engine(reference), true) => Some(time_docker_save(reference)?),
            _ => None,
        };
        let image = archive::read(&self.image.source(), &mut LayoutOnly)?;
        let tree = tree::stack(&image);
        let analysis = analyze(&image, &tree);
        if self.json {
            let mut value = analysis.to_json();
            if let Some(fields) = value.as_object_mut() {
                fields.insert(
                    "read".to_owned(),
                    json!({
                        "archive_bytes": image.archive_bytes,
                        "seconds": image.elapsed.as_secs_f64(),
                        "docker_save_to_file_seconds": save_seconds,
                    }),
                );
            }
            println!("{}", serde_json::to_string_pretty(&value)?);
        } else {
            analysis.print();
            println!(
                "\nRead {} in {:.2} s, streamed, nothing unpacked.",
                output::bytes(image.archive_bytes),
                image.elapsed.as_secs_f64()
            );
            if let Some(save) = save_seconds {
                let ratio = image.elapsed.as_secs_f64() / save;
                println!(
                    "`docker save` alone writes the archive to a file in {save:.2} s: analyze took \
                     {ratio:.2}× that (target ≤ 2×: {}).",
                    output::target(ratio <= 2.0)
                );
            }
        }
        Ok(())
    }
}

/// Seconds `docker save` takes to write the image to a file (removed afterwards).
fn time_docker_save(reference: &str) -> Result<f64> {
    crate::docker::engine::require()?;
    let file = std::env::temp_dir().join(format!("xtask-save-{}.tar", std::process::id()));
    let started = Instant::now();
    let result = crate::process::capture(crate::docker::docker().args([
        "save",
        "-o",
        &file.to_string_lossy(),
        reference,
    ]));
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&file);
    result.map(|_| seconds)
}

pub(crate) fn analyze(image: &Image, tree: &Tree) -> Analysis {
    let layers = image
        .layers
        .iter()
        .zip(&tree.layers)
        .enumerate()
        .map(|(index, (layer, stats))| LayerSummary {
            index,
            instruction: layer.created_by.clone(),
            bytes: stats.bytes,
            stored_bytes: layer.stored_bytes,
            added: stats.added,
            changed: stats.changed,
            removed: stats.removed,
        })
        .collect();
    let mut largest: Vec<Evidence> = tree
        .entries()
        .filter(|(_, node)| node.header.kind == Kind::File)
        .map(|(path, node)| Evidence {
            path: format!("/{path}"),
            layer: Some(node.layer),
            bytes: node.header.size,
            detail: String::new(),
        })
        .collect();
    largest.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.path.cmp(&b.path)));
    largest.truncate(LARGEST);
    let recommendations = recommendations(image, tree);
    let efficiency = tree.efficiency();
    let penalties: u32 = recommendations.iter().map(|r| r.penalty).sum();
    let score = ((efficiency * 100.0).round() as u32).saturating_sub(penalties);
    Analysis {
        name: image.name.clone(),
        layers,
        files: tree.file_count(),
        content_bytes: tree.entries().map(|(_, node)| node.header.size).sum(),
        efficiency,
        wasted_bytes: tree.wasted_bytes(),
        waste: tree.waste.iter().take(LARGEST).cloned().collect(),
        largest,
        recommendations,
        score,
    }
}

fn rule(id: &str, evidence: Vec<Evidence>) -> Option<Recommendation> {
    if evidence.is_empty() {
        return None;
    }
    let (id, finding, advice, penalty) = *RULES.iter().find(|rule| rule.0 == id)?;
    Some(Recommendation {
        id,
        finding,
        advice,
        penalty,
        evidence,
    })
}

fn config_evidence(detail: String) -> Vec<Evidence> {
    vec![Evidence {
        path: String::new(),
        layer: None,
        bytes: 0,
        detail,
    }]
}

/// Bytes and files under each root, and the layer that wrote most of those bytes.
fn grouped(tree: &Tree, root_of: impl Fn(&str) -> Option<String>) -> Vec<Evidence> {
    let mut groups: BTreeMap<String, (u64, u64, BTreeMap<usize, u64>)> = BTreeMap::new();
    for (path, node) in tree.entries() {
        if let Some(root) = root_of(path) {
            let group = groups.entry(root).or_default();
            group.0 += node.header.size;
            group.1 += 1;
            *group.2.entry(node.layer).or_default() += node.header.size;
        }
    }
    groups
        .into_iter()
        .filter(|(_, (bytes, _, _))| *bytes > 0)
        .map(|(root, (bytes, files, layers))| Evidence {
            path: format!("/{root}/"),
            layer: layers
                .iter()
                .max_by_key(|(layer, bytes)| (**bytes, std::cmp::Reverse(**layer)))
                .map(|(layer, _)| *layer),
            bytes,
            detail: format!("{files} files"),
        })
        .collect()
}

fn recommendations(image: &Image, tree: &Tree) -> Vec<Recommendation> {
    let mut found = Vec::new();
    found.extend(rule(
        "package-manager-caches",
        grouped(tree, |path| {
            cache_dir(path).filter(|_| !path.ends_with("/lock"))
        }),
    ));
    found.extend(rule(
        "build-tools",
        surface::compilers(tree)
            .into_iter()
            .map(|(path, node)| Evidence {
                path: format!("/{path}"),
                layer: Some(node.layer),
                bytes: node.header.size,
                detail: String::new(),
            })
            .collect(),
    ));
    found.extend(rule(
        "docs",
        grouped(tree, |path| {
            ["share/doc/", "share/man/", "share/info/"]
                .iter()
                .find_map(|marker| {
                    path.find(marker)
                        .filter(|at| *at == 0 || path.as_bytes()[at - 1] == b'/')
                        .map(|at| path[..at + marker.len() - 1].to_owned())
                })
        }),
    ));
    let user = image.config.config.user.clone();
    if surface::runs_as_root(&user) {
        found.extend(rule(
            "root-user",
            config_evidence(if user.is_empty() {
                "the configuration sets no User, so it is root".to_owned()
            } else {
                format!("User is {user:?}")
            }),
        ));
    }
    if image.config.config.healthcheck_test().is_none() {
        found.extend(rule(
            "no-healthcheck",
            config_evidence("the configuration has no Healthcheck".to_owned()),
        ));
    }
    if image.layers.len() > MANY_LAYERS {
        found.extend(rule(
            "many-layers",
            config_evidence(format!(
                "{} layers (more than {MANY_LAYERS})",
                image.layers.len()
            )),
        ));
    }
    // cargo writes .rustc_info.json at the top of a target directory (CACHEDIR.TAG alone would
    // also match cargo's registry, a cache rather than a build leftover).
    let target_dirs: Vec<String> = tree
        .entries()
        .filter_map(|(path, _)| path.strip_suffix("/.rustc_info.json").map(str::to_owned))
        .collect();
    found.extend(rule(
        "build-leftovers",
        grouped(tree, |path| {
            if let Some(at) = path
                .find(".git/")
                .filter(|at| *at == 0 || path.as_bytes()[at - 1] == b'/')
            {
                return Some(path[..at + 4].to_owned());
            }
            target_dirs
                .iter()
                .find(|dir| path.starts_with(&format!("{dir}/")))
                .cloned()
        }),
    ));
    found
}

fn evidence_json(evidence: &Evidence) -> Value {
    json!({
        "path": evidence.path,
        "layer": evidence.layer,
        "bytes": evidence.bytes,
        "detail": evidence.detail,
    })
}

impl Analysis {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "image": self.name,
            "layers": self.layers,
            "files": self.files,
            "content_bytes": self.content_bytes,
            "efficiency": self.efficiency,
            "wasted_bytes": self.wasted_bytes,
            "wasted_paths": self.waste.iter().map(|w| json!({
                "path": format!("/{}", w.path), "copies": w.copies,
                "total_bytes": w.total_bytes, "wasted_bytes": w.wasted_bytes,
            })).collect::<Vec<_>>(),
            "largest_files": self.largest.iter().map(evidence_json).collect::<Vec<_>>(),
            "recommendations": self.recommendations.iter().map(|r| json!({
                "id": r.id, "finding": r.finding, "advice": r.advice, "penalty": r.penalty,
                "evidence": r.evidence.iter().map(evidence_json).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "score": self.score,
        })
    }

    fn print(&self) {
        println!(
            "{}: {} layers, {} files, {} of file contents\n",
            self.name,
            self.layers.len(),
            self.files,
            output::bytes(self.content_bytes)
        );
        let mut table = Table::new(["#", "size", "added", "changed", "removed", "instruction"])
            .numeric(&[0, 1, 2, 3, 4]);
        for layer in &self.layers {
            let text = match layer.instruction.as_str() {
                "" => "(no history)",
                text => text,
            };
            table.row([
                layer.index.to_string(),
                output::bytes(layer.bytes),
                layer.added.to_string(),
                layer.changed.to_string(),
                layer.removed.to_string(),
                shorten(text, 70),
            ]);
        }
        print!("{}", table.render());
        println!(
            "\nEfficiency {:.2} % (dive's measure): {} wasted by files overwritten or deleted in \
             later layers",
            self.efficiency * 100.0,
            output::bytes(self.wasted_bytes)
        );
        for waste in &self.waste {
            println!(
                "  {:>10}  {} copies  /{}",
                output::bytes(waste.wasted_bytes),
                waste.copies,
                waste.path
            );
        }
        println!("\nLargest files:");
        for file in &self.largest {
            println!(
                "  {:>10}  layer {:>2}  {}",
                output::bytes(file.bytes),
                file.layer.unwrap_or(0),
                file.path
            );
        }
        if self.recommendations.is_empty() {
            println!("\nRecommendations: none, nothing to improve was found.");
        } else {
            println!("\nRecommendations:");
        }
        for recommendation in &self.recommendations {
            println!(
                "  [-{}] {}: {}",
                recommendation.penalty, recommendation.finding, recommendation.advice
            );
            for evidence in recommendation.evidence.iter().take(5) {
                println!("        {}", describe(evidence));
            }
            if recommendation.evidence.len() > 5 {
                println!("        ... and {} more", recommendation.evidence.len() - 5);
            }
        }
        let penalties: u32 = self.recommendations.iter().map(|r| r.penalty).sum();
        println!(
            "\nOptimization score: {}/100 (efficiency {} minus {} for the recommendations)",
            self.score,
            (self.efficiency * 100.0).round(),
            penalties
        );
    }
}

pub(crate) fn describe(evidence: &Evidence) -> String {
    let mut parts = Vec::new();
    if !evidence.path.is_empty() {
        parts.push(evidence.path.clone());
    }
    if let Some(layer) = evidence.layer {
        parts.push(format!("layer {layer}"));
    }
    if evidence.bytes > 0 {
        parts.push(output::bytes(evidence.bytes));
    }
    if !evidence.detail.is_empty() {
        parts.push(evidence.detail.clone());
    }
    parts.join(", ")
}

fn shorten(text: &str, width: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= width {
        text
    } else {
        text.chars().take(width - 1).collect::<String>() + "…"
    }
}

#[cfg(test)]
mod tests {
    use super::cache_dir;

    #[test]
    fn caches_are_found_in_any_home() {
        assert_eq!(
            cache_dir("home/app/.cache/pip/x").as_deref(),
            Some("home/app/.cache")
        );
        assert_eq!(
            cache_dir("root/.npm/_cacache/y").as_deref(),
            Some("root/.npm")
        );
        assert_eq!(
            cache_dir("var/lib/apt/lists/deb.debian.org_dists").as_deref(),
            Some("var/lib/apt/lists")
        );
        assert_eq!(cache_dir("home/app/src/.cache.rs"), None);
        assert_eq!(cache_dir("usr/share/.cache/x"), None);
    }
}
