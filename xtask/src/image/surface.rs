//! What in an image's filesystem an attacker could use, and what its configuration says about
//! the user it runs as: shared by `analyze`, `scan` and `compare`.

use crate::image::entry::Kind;
use crate::image::tree::{Node, Tree};

const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "ash", "zsh", "ksh", "csh", "tcsh", "fish", "busybox",
];
const PACKAGE_MANAGERS: &[&str] = &[
    "apt", "apt-get", "dpkg", "apk", "yum", "dnf", "microdnf", "rpm", "pip", "pip3", "npm", "gem",
];
const COMPILERS: &[&str] = &[
    "cc", "c++", "gcc", "g++", "clang", "clang++", "rustc", "cargo", "go", "javac", "tcc", "make",
    "cmake", "ld", "as",
];

/// `usr/bin/gcc-12` → `Some("gcc-12")` when the path is in a `bin` or `sbin` directory.
fn program_name(path: &str) -> Option<&str> {
    let (dir, name) = path.rsplit_once('/')?;
    (dir.ends_with("bin")).then_some(name)
}

/// Strips a version and a target triple: `x86_64-linux-gnu-gcc-12` → `gcc`.
fn base_program(name: &str) -> &str {
    let name = name.strip_prefix("x86_64-linux-gnu-").unwrap_or(name);
    match name.rsplit_once('-') {
        Some((base, version)) if version.chars().all(|c| c.is_ascii_digit() || c == '.') => base,
        _ => name,
    }
}

fn programs<'a>(tree: &'a Tree, names: &[&str]) -> Vec<(&'a String, &'a Node)> {
    tree.entries()
        .filter(|(path, node)| {
            matches!(
                node.header.kind,
                Kind::File | Kind::Symlink | Kind::HardLink
            ) && program_name(path).is_some_and(|name| names.contains(&base_program(name)))
        })
        .collect()
}

pub(crate) fn shells(tree: &Tree) -> Vec<(&String, &Node)> {
    programs(tree, SHELLS)
}

pub(crate) fn package_managers(tree: &Tree) -> Vec<(&String, &Node)> {
    programs(tree, PACKAGE_MANAGERS)
}

pub(crate) fn compilers(tree: &Tree) -> Vec<(&String, &Node)> {
    programs(tree, COMPILERS)
}

/// Regular files with the setuid or setgid bit.
pub(crate) fn setuid_setgid(tree: &Tree) -> Vec<(&String, &Node)> {
    tree.entries()
        .filter(|(_, node)| node.header.kind == Kind::File && node.header.mode & 0o6000 != 0)
        .collect()
}

/// Writable by anyone: files and directories, except sticky directories such as `/tmp`, where
/// only an entry's owner may remove it. Device nodes are left out: the engine mounts its own
/// `/dev` over the image's.
pub(crate) fn world_writable(tree: &Tree) -> Vec<(&String, &Node)> {
    tree.nodes
        .iter()
        .filter(|(_, node)| {
            let mode = node.header.mode;
            match node.header.kind {
                Kind::Directory => mode & 0o002 != 0 && mode & 0o1000 == 0,
                Kind::File => mode & 0o002 != 0,
                Kind::Symlink | Kind::HardLink | Kind::Special => false,
            }
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Package {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) architecture: String,
    /// `dpkg` or `apk`.
    pub(crate) manager: &'static str,
}

/// Installed OS packages, from dpkg's status (or distroless' `status.d/`) and apk's database.
pub(crate) fn os_packages(tree: &Tree) -> Vec<Package> {
    let mut packages = Vec::new();
    for (path, data) in &tree.captured {
        let text = String::from_utf8_lossy(data);
        if path == "var/lib/dpkg/status" || path.starts_with("var/lib/dpkg/status.d/") {
            let whole_status = path == "var/lib/dpkg/status";
            for paragraph in text.split("\n\n") {
                let field = |name: &str| {
                    paragraph.lines().find_map(|line| {
                        line.strip_prefix(name)
                            .and_then(|rest| rest.strip_prefix(':'))
                            .map(|value| value.trim().to_owned())
                    })
                };
                let Some(name) = field("Package") else {
                    continue;
                };
                // status.d files hold installed packages only; status has every state.
                if whole_status && field("Status").as_deref() != Some("install ok installed") {
                    continue;
                }
                packages.push(Package {
                    name,
                    version: field("Version").unwrap_or_default(),
                    architecture: field("Architecture").unwrap_or_default(),
                    manager: "dpkg",
                });
            }
        } else if path == "lib/apk/db/installed" {
            for paragraph in text.split("\n\n") {
                let field = |key: &str| {
                    paragraph
                        .lines()
                        .find_map(|line| line.strip_prefix(key).map(str::to_owned))
                };
                if let Some(name) = field("P:") {
                    packages.push(Package {
                        name,
                        version: field("V:").unwrap_or_default(),
                        architecture: field("A:").unwrap_or_default(),
                        manager: "apk",
                    });
                }
            }
        }
    }
    packages.sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));
    packages.dedup();
    packages
}

/// `ID` and `VERSION_ID` from the image's os-release (`debian`, `12`), when it has one.
pub(crate) fn os_release(tree: &Tree) -> Option<(String, String)> {
    let data = tree
        .captured
        .get("etc/os-release")
        .or_else(|| tree.captured.get("usr/lib/os-release"))?;
    let text = String::from_utf8_lossy(data);
    let field = |key: &str| {
        text.lines().find_map(|line| {
            line.strip_prefix(key)?
                .strip_prefix('=')
                .map(|v| v.trim().trim_matches('"').to_owned())
        })
    };
    Some((field("ID")?, field("VERSION_ID").unwrap_or_default()))
}

pub(crate) fn runs_as_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or_default();
    name.is_empty() || name == "root" || name == "0"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_programs_through_versions_and_triples() {
        assert_eq!(base_program("x86_64-linux-gnu-gcc-12"), "gcc");
        assert_eq!(base_program("python3.11"), "python3.11");
        assert_eq!(base_program("pip3"), "pip3");
        assert_eq!(program_name("usr/local/cargo/bin/rustc"), Some("rustc"));
        assert_eq!(program_name("usr/share/doc/gcc"), None);
    }

    #[test]
    fn root_is_empty_root_or_zero() {
        for user in ["", "root", "0", "0:0", "root:root"] {
            assert!(runs_as_root(user), "{user:?}");
        }
        for user in ["65532:65532", "nonroot", "1000"] {
            assert!(!runs_as_root(user), "{user:?}");
        }
    }
}
