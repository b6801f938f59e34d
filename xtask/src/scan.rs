//! `cargo xtask scan`: an image's attack surface, configuration checks, secrets in its layers,
//! the Rust crates its binaries carry, trivy's vulnerabilities when trivy is installed, and a
//! 0–100 security score. `--fail-on` turns it into a CI gate; `--sbom` writes CycloneDX.

pub(crate) mod rust_deps;
mod sbom;
mod trivy;

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::findings::secrets;
use crate::findings::severity::Severity;
use crate::flags::Scan;
use crate::image::archive::{self, Image, Inspector};
use crate::image::entry::Header;
use crate::image::surface;
use crate::image::tree::{self, Tree};
use crate::output;
use rust_deps::Crate;
use trivy::Vulnerabilities;

/// Text files up to this size are searched for secrets; larger ones are counted as skipped.
const TEXT_LIMIT: u64 = 8 << 20;
/// ELF files up to this size are read for an embedded dependency list.
const ELF_LIMIT: u64 = 512 << 20;
/// Bytes looked at to tell text from binary (as git does: a NUL byte means binary).
const SNIFF: usize = 8000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecretFinding {
    pub(crate) rule: &'static str,
    pub(crate) severity: Severity,
    pub(crate) path: String,
    pub(crate) layer: String,
    pub(crate) line: usize,
    pub(crate) masked: String,
}

#[derive(Debug, Clone)]
pub(crate) struct RustBinary {
    pub(crate) path: String,
    pub(crate) layer: String,
    pub(crate) crates: Vec<Crate>,
}

/// Reads file contents as the layers stream by.
#[derive(Default)]
pub(crate) struct ContentScan {
    pub(crate) secrets: Vec<SecretFinding>,
    pub(crate) binaries: Vec<RustBinary>,
    pub(crate) skipped_large: u64,
}

fn is_dotenv(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let suffix = name.strip_prefix(".env");
    suffix.is_some_and(|rest| {
        rest.is_empty()
            || rest.starts_with('.')
                && !matches!(rest, ".example" | ".sample" | ".template" | ".dist")
    })
}

impl Inspector for ContentScan {
    fn wants(&self, header: &Header) -> bool {
        header.size > 0
    }

    fn inspect(&mut self, layer: &str, header: &Header, contents: &mut dyn Read) -> Result<()> {
        let mut data = Vec::new();
        contents.take(SNIFF as u64).read_to_end(&mut data)?;
        if data.starts_with(b"\x7fELF") {
            if header.size <= ELF_LIMIT {
                contents.read_to_end(&mut data)?;
                if let Some(crates) =
                    rust_deps::read(&data).with_context(|| format!("reading /{}", header.path))?
                {
                    self.binaries.push(RustBinary {
                        path: format!("/{}", header.path),
                        layer: layer.to_owned(),
                        crates,
                    });
                }
            }
            return Ok(());
        }
        if data.contains(&0) {
            return Ok(());
        }
        if header.size > TEXT_LIMIT {
            self.skipped_large += 1;
            return Ok(());
        }
        contents.read_to_end(&mut data)?;
        for hit in secrets::find(&data) {
            self.secrets.push(SecretFinding {
                rule: hit.rule,
                severity: hit.severity,
                path: format!("/{}", header.path),
                layer: layer.to_owned(),
                line: secrets::line_of(&data, hit.offset),
                masked: hit.masked,
            });
        }
        if is_dotenv(&header.path) {
            let variables = String::from_utf8_lossy(&data)
                .lines()
                .filter(|line| {
                    line.split_once('=').is_some_and(|(name, value)| {
                        !name.trim().starts_with('#') && !value.trim().is_empty()
                    })
                })
                .count();
            if variables > 0 {
                self.secrets.push(SecretFinding {
                    rule: "dotenv-file",
                    severity: Severity::Medium,
                    path: format!("/{}", header.path),
                    layer: layer.to_owned(),
                    line: 1,
                    masked: format!("{variables} variables set, values not shown"),
                });
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Check {
    pub(crate) id: &'static str,
    pub(crate) passed: bool,
    pub(crate) penalty: u32,
    pub(crate) detail: String,
}

pub(crate) struct Report {
    pub(crate) image: String,
    pub(crate) user: String,
    pub(crate) packages: Vec<surface::Package>,
    /// os-release's `ID` and `VERSION_ID`, for the packages' URLs.
    pub(crate) os: Option<(String, String)>,
    pub(crate) shells: Vec<String>,
    pub(crate) package_managers: Vec<String>,
    pub(crate) compilers: Vec<String>,
    pub(crate) setuid: Vec<String>,
    pub(crate) world_writable: Vec<String>,
    pub(crate) checks: Vec<Check>,
    pub(crate) secrets: Vec<SecretFinding>,
    pub(crate) skipped_large: u64,
    pub(crate) binaries: Vec<RustBinary>,
    pub(crate) vulnerabilities: Vulnerabilities,
    pub(crate) score: u32,
}

impl Scan {
    pub(crate) fn run(self) -> Result<()> {
        let mut contents = ContentScan::default();
        let image = archive::read(&self.image.source(), &mut contents)?;
        let tree = tree::stack(&image);
        let vulnerabilities = trivy::scan(&self.image.source());
        let report = report(&image, &tree, contents, vulnerabilities);
        if let Some(path) = &self.sbom {
            let document = sbom::cyclonedx(&report);
            write_new_file(path, &serde_json::to_vec_pretty(&document)?)?;
            eprintln!("wrote the CycloneDX SBOM to {}", path.display());
        }
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report.to_json())?);
        } else {
            report.print();
        }
        if let Some(threshold) = self.fail_on {
            let reasons = report.gate(threshold);
            if !reasons.is_empty() {
                bail!(
                    "scan gate (--fail-on {}) failed: {}",
                    threshold.name(),
                    reasons.join("; ")
                );
            }
            eprintln!("scan gate (--fail-on {}): passed", threshold.name());
        }
        Ok(())
    }
}

fn write_new_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    crate::files::write_atomically(path, bytes)
}

/// trivy's vulnerability findings, when trivy is installed and can run.
fn paths(found: Vec<(&String, &tree::Node)>) -> Vec<String> {
    found
        .into_iter()
        .map(|(path, _)| format!("/{path}"))
        .collect()
}

fn checks(image: &Image) -> Vec<Check> {
    let settings = &image.config.config;
    let user = settings.user.clone();
    let env = settings.env_pairs();
    let labels: Vec<(String, String)> = settings
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let history: Vec<String> = image
        .config
        .history
        .iter()
        .map(|entry| entry.created_by.clone())
        .collect();
    // Build arguments show in the history as `|1 NAME=value /bin/sh -c ...`.
    let history_pairs: Vec<(String, String)> = history
        .iter()
        .flat_map(|line| line.split_whitespace())
        .filter_map(|word| word.split_once('='))
        // Variables (`API_TOKEN=...`), not command-line options (`--with-secret-store=none`).
        .filter(|(k, _)| {
            k.starts_with(|c: char| c.is_ascii_uppercase())
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let mut history_secrets =
        secrets::in_assignments(history_pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for line in &history {
        for hit in secrets::find(line.as_bytes()) {
            let found = format!("{} {}", hit.rule, hit.masked);
            if !history_secrets.iter().any(|s| s.ends_with(&found)) {
                history_secrets.push(found);
            }
        }
    }
    let remote_adds: Vec<String> = history
        .iter()
        .filter(|line| {
            let lower = line.to_ascii_lowercase();
            lower.contains("add http://") || lower.contains("add https://")
        })
        .cloned()
        .collect();
    let listed = |found: Vec<String>, none: &str| {
        if found.is_empty() {
            none.to_owned()
        } else {
            found.join(", ")
        }
    };
    let env_secrets = secrets::in_assignments(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let label_secrets =
        secrets::in_assignments(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    vec![
        Check {
            id: "non-root-user",
            passed: !surface::runs_as_root(&user),
            penalty: 20,
            detail: if user.is_empty() {
                "no User: runs as root".to_owned()
            } else {
                format!("User {user}")
            },
        },
        Check {
            id: "healthcheck",
            passed: settings.healthcheck_test().is_some(),
            penalty: 5,
            detail: settings
                .healthcheck_test()
                .map_or_else(|| "no HEALTHCHECK".to_owned(), |test| test.join(" ")),
        },
        Check {
            id: "no-secrets-in-env",
            passed: env_secrets.is_empty(),
            penalty: 25,
            detail: listed(env_secrets, "none"),
        },
        Check {
            id: "no-secrets-in-labels",
            passed: label_secrets.is_empty(),
            penalty: 25,
            detail: listed(label_secrets, "none"),
        },
        Check {
            id: "no-secrets-in-history",
            passed: history_secrets.is_empty(),
            penalty: 25,
            detail: listed(history_secrets, "none"),
        },
        Check {
            id: "no-add-from-url",
            passed: remote_adds.is_empty(),
            penalty: 5,
            detail: listed(remote_adds, "none"),
        },
    ]
}

pub(crate) fn report(
    image: &Image,
    tree: &Tree,
    contents: ContentScan,
    vulnerabilities: Vulnerabilities,
) -> Report {
    let layer_index = |key: &str| {
        image
            .layers
            .iter()
            .position(|layer| layer.key == key)
            .map_or_else(|| key.to_owned(), |index| index.to_string())
    };
    let mut secrets = contents.secrets;
    for finding in &mut secrets {
        finding.layer = layer_index(&finding.layer);
    }
    secrets.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.path.cmp(&b.path))
            .then(a.line.cmp(&b.line))
    });
    secrets.dedup();
    // A binary replaced or deleted by a later layer is not in the image that runs.
    let mut binaries: Vec<RustBinary> = contents
        .binaries
        .into_iter()
        .map(|binary| RustBinary {
            layer: layer_index(&binary.layer),
            ..binary
        })
        .filter(|binary| {
            tree.nodes
                .get(binary.path.trim_start_matches('/'))
                .is_some_and(|node| node.layer.to_string() == binary.layer)
        })
        .collect();
    binaries.sort_by(|a, b| a.path.cmp(&b.path));
    let mut report = Report {
        image: image.name.clone(),
        user: image.config.config.user.clone(),
        packages: surface::os_packages(tree),
        os: surface::os_release(tree),
        shells: paths(surface::shells(tree)),
        package_managers: paths(surface::package_managers(tree)),
        compilers: paths(surface::compilers(tree)),
        setuid: paths(surface::setuid_setgid(tree)),
        world_writable: paths(surface::world_writable(tree)),
        checks: checks(image),
        secrets,
        skipped_large: contents.skipped_large,
        binaries,
        vulnerabilities,
        score: 0,
    };
    report.score = report.score();
    report
}

impl Report {
    /// docs/inspect.md's formula: 100 minus each deduction, at least 0.
    fn score(&self) -> u32 {
        let mut deductions: u32 = self
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.penalty)
            .sum();
        deductions += self
            .secrets
            .iter()
            .map(|s| match s.severity {
                Severity::Critical => 25,
                Severity::High => 15,
                _ => 5,
            })
            .sum::<u32>();
        if let Vulnerabilities::Checked(found) = &self.vulnerabilities {
            let points: u32 = found
                .iter()
                .map(|v| match v.severity {
                    Severity::Critical => 10,
                    Severity::High => 5,
                    Severity::Medium => 1,
                    _ => 0,
                })
                .sum();
            deductions += points.min(40);
        }
        for present in [&self.shells, &self.package_managers, &self.compilers] {
            if !present.is_empty() {
                deductions += 10;
            }
        }
        deductions += (2 * self.setuid.len() as u32).min(10);
        deductions += (2 * self.world_writable.len() as u32).min(10);
        deductions += (self.packages.len() as u32).div_ceil(25).min(10);
        100_u32.saturating_sub(deductions)
    }

    /// Why the gate fails at `threshold`; empty when it passes.
    pub(crate) fn gate(&self, threshold: Severity) -> Vec<String> {
        let mut reasons = Vec::new();
        match &self.vulnerabilities {
            Vulnerabilities::Checked(found) => {
                let severe = found.iter().filter(|v| v.severity >= threshold).count();
                if severe > 0 {
                    reasons.push(format!(
                        "{severe} vulnerabilities at {} or above",
                        threshold.name()
                    ));
                }
            }
            Vulnerabilities::Failed(reason) => {
                reasons.push(format!("trivy is installed but failed ({reason})"));
            }
            Vulnerabilities::NotChecked(_) => {}
        }
        if !self.secrets.is_empty() {
            reasons.push(format!("{} secrets in the layers", self.secrets.len()));
        }
        for check in self.checks.iter().filter(|c| !c.passed) {
            reasons.push(format!("check {} failed ({})", check.id, check.detail));
        }
        reasons
    }

    pub(crate) fn to_json(&self) -> Value {
        let vulnerabilities = match &self.vulnerabilities {
            Vulnerabilities::Checked(found) => json!({
                "checked": true,
                "findings": found.iter().map(|v| json!({
                    "id": v.id, "package": v.package, "installed": v.installed,
                    "fixed": v.fixed, "severity": v.severity.name(), "title": v.title,
                })).collect::<Vec<_>>(),
            }),
            Vulnerabilities::NotChecked(reason) => json!({"checked": false, "reason": reason}),
            Vulnerabilities::Failed(reason) => {
                json!({"checked": false, "reason": format!("trivy failed: {reason}")})
            }
        };
        json!({
            "image": self.image,
            "user": self.user,
            "attack_surface": {
                "os_packages": self.packages.len(),
                "packages": self.packages.iter().map(|p| json!({
                    "name": p.name, "version": p.version, "architecture": p.architecture,
                    "manager": p.manager,
                })).collect::<Vec<_>>(),
                "shells": self.shells,
                "package_managers": self.package_managers,
                "compilers": self.compilers,
                "setuid_setgid": self.setuid,
                "world_writable": self.world_writable,
            },
            "checks": self.checks.iter().map(|c| json!({
                "id": c.id, "passed": c.passed, "penalty": c.penalty, "detail": c.detail,
            })).collect::<Vec<_>>(),
            "secrets": self.secrets.iter().map(|s| json!({
                "rule": s.rule, "severity": s.severity.name(), "path": s.path,
                "layer": s.layer, "line": s.line, "match": s.masked,
            })).collect::<Vec<_>>(),
            "files_too_large_for_secret_search": self.skipped_large,
            "rust_binaries": self.binaries.iter().map(|b| json!({
                "path": b.path, "layer": b.layer,
                "crates": b.crates.iter().map(|c| json!({
                    "name": c.name, "version": c.version, "source": c.source,
                    "kind": c.kind, "root": c.root,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "vulnerabilities": vulnerabilities,
            "score": self.score,
        })
    }

    fn print_surface(&self) {
        println!("Attack surface:");
        let list = |items: &[String]| {
            if items.is_empty() {
                "none".to_owned()
            } else if items.len() > 6 {
                format!("{} (and {} more)", items[..6].join(", "), items.len() - 6)
            } else {
                items.join(", ")
            }
        };
        let packages: Vec<String> = self
            .packages
            .iter()
            .map(|p| format!("{} {}", p.name, p.version))
            .collect();
        println!(
            "  {:<22} {}{}",
            "OS packages",
            self.packages.len(),
            if packages.is_empty() {
                String::new()
            } else {
                format!(": {}", list(&packages))
            }
        );
        println!("  {:<22} {}", "shells", list(&self.shells));
        println!(
            "  {:<22} {}",
            "package managers",
            list(&self.package_managers)
        );
        println!(
            "  {:<22} {}",
            "compilers, build tools",
            list(&self.compilers)
        );
        println!("  {:<22} {}", "setuid/setgid files", list(&self.setuid));
        println!(
            "  {:<22} {}",
            "world-writable paths",
            list(&self.world_writable)
        );
    }

    fn print(&self) {
        let user = if self.user.is_empty() {
            "root (no User)"
        } else {
            &self.user
        };
        println!("{}: runs as {user}\n", self.image);
        self.print_surface();
        println!("\nConfiguration checks:");
        let checks: Vec<output::Check> = self
            .checks
            .iter()
            .map(|check| output::Check {
                name: check.id.to_owned(),
                passed: check.passed,
                detail: check.detail.clone(),
            })
            .collect();
        print!("{}", output::check_table(&checks, "  "));
        println!("\nSecrets in layer files: {}", self.secrets.len());
        for secret in &self.secrets {
            println!(
                "  {:<8} {:<22} {}:{} (layer {})  {}",
                secret.severity.name(),
                secret.rule,
                secret.path,
                secret.line,
                secret.layer,
                secret.masked
            );
        }
        if self.skipped_large > 0 {
            println!(
                "  ({} text files over {} MiB were not searched)",
                self.skipped_large,
                TEXT_LIMIT >> 20
            );
        }
        println!("\nRust binaries with an embedded dependency list:");
        if self.binaries.is_empty() {
            println!("  none");
        }
        for binary in &self.binaries {
            let root = binary.crates.iter().find(|c| c.root);
            println!(
                "  {} (layer {}): {} {}, {} crates",
                binary.path,
                binary.layer,
                root.map_or("?", |c| c.name.as_str()),
                root.map_or("", |c| c.version.as_str()),
                binary.crates.len()
            );
        }
        println!("\nVulnerabilities:");
        match &self.vulnerabilities {
            Vulnerabilities::NotChecked(reason) => println!("  not checked: {reason}"),
            Vulnerabilities::Failed(reason) => println!("  NOT CHECKED, trivy failed: {reason}"),
            Vulnerabilities::Checked(found) if found.is_empty() => println!("  none (trivy)"),
            Vulnerabilities::Checked(found) => {
                for v in found {
                    println!(
                        "  {:<8} {:<18} {} {} (fixed in {})",
                        v.severity.name(),
                        v.id,
                        v.package,
                        v.installed,
                        if v.fixed.is_empty() { "-" } else { &v.fixed }
                    );
                }
            }
        }
        println!("\nSecurity score: {}/100", self.score);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_files_but_not_their_examples() {
        assert!(is_dotenv("app/.env"));
        assert!(is_dotenv(".env.production"));
        assert!(!is_dotenv("app/.env.example"));
        assert!(!is_dotenv("app/.envrc"));
    }
}
