//! The dependency list a Rust binary carries in its `.dep-v0` section, the format
//! cargo-auditable defined (zlib-compressed JSON), which Trivy and syft also read. This
//! project's app embeds it at build time (`app/build.rs`), so even a `FROM scratch` image says
//! which crates it is made of. Read with the format's own reader, `auditable-info`.

use anyhow::{Context, Result};
use auditable_info::Error;
use auditable_serde::DependencyKind;

/// Bytes of JSON a list may inflate to.
const MAX_JSON: usize = 16 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Crate {
    pub(crate) name: String,
    pub(crate) version: String,
    /// `crates.io`, `local`, `git`, `registry` or another word.
    pub(crate) source: String,
    /// `runtime` or `build`.
    pub(crate) kind: String,
    /// Indices into the same list.
    pub(crate) dependencies: Vec<usize>,
    pub(crate) root: bool,
}

/// The crates listed in `binary` (an executable, whole), or `None` when it carries no list.
pub(crate) fn read(binary: &[u8]) -> Result<Option<Vec<Crate>>> {
    let info = match auditable_info::audit_info_from_slice(binary, MAX_JSON) {
        Ok(info) => info,
        // A damaged executable is not the scan's business; a damaged list in a sound one is.
        Err(Error::NoAuditData | Error::BinaryParsing(_)) => return Ok(None),
        Err(error) => {
            return Err(error).context(
                "its .dep-v0 dependency list is unreadable: rebuild the binary with this \
                 project's app/build.rs or `cargo auditable`",
            );
        }
    };
    let crates = info
        .packages
        .into_iter()
        .map(|package| Crate {
            name: package.name,
            version: package.version.to_string(),
            source: package.source.into(),
            kind: match package.kind {
                DependencyKind::Runtime => "runtime",
                DependencyKind::Build => "build",
            }
            .to_owned(),
            dependencies: package.dependencies,
            root: package.root,
        })
        .collect();
    Ok(Some(crates))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::{Compression, write::ZlibEncoder};
    use serde_json::Value;
    use std::io::Write;

    pub(crate) const SECTION: &str = ".dep-v0";

    /// A minimal ELF64 file with a section header table: a null section, `.shstrtab` and
    /// `name` holding `contents`.
    pub(crate) fn elf_with_section(name: &str, contents: &[u8]) -> Vec<u8> {
        let mut names = vec![0_u8];
        names.extend_from_slice(b".shstrtab\0");
        let name_offset = names.len();
        names.extend_from_slice(name.as_bytes());
        names.push(0);
        let mut file = vec![0_u8; 64];
        file[..4].copy_from_slice(b"\x7fELF");
        file[4] = 2;
        file[5] = 1;
        let names_at = file.len();
        file.extend_from_slice(&names);
        let contents_at = file.len();
        file.extend_from_slice(contents);
        let table = file.len();
        file[0x28..0x30].copy_from_slice(&(table as u64).to_le_bytes());
        file[0x3a..0x3c].copy_from_slice(&64_u16.to_le_bytes());
        file[0x3c..0x3e].copy_from_slice(&3_u16.to_le_bytes());
        file[0x3e..0x40].copy_from_slice(&1_u16.to_le_bytes());
        let section = |name: usize, offset: usize, size: usize| {
            let mut header = vec![0_u8; 64];
            header[..4].copy_from_slice(&(name as u32).to_le_bytes());
            header[24..32].copy_from_slice(&(offset as u64).to_le_bytes());
            header[32..40].copy_from_slice(&(size as u64).to_le_bytes());
            header
        };
        file.extend(section(0, 0, 0));
        file.extend(section(1, names_at, names.len()));
        file.extend(section(name_offset, contents_at, contents.len()));
        file
    }

    pub(crate) fn dep_v0(json: &Value) -> Vec<u8> {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
        encoder
            .write_all(json.to_string().as_bytes())
            .expect("present");
        encoder.finish().expect("present")
    }

    #[test]
    fn reads_the_list_of_an_elf_file() {
        let json = serde_json::json!({"packages": [
            {"name": "app", "version": "0.1.0", "source": "local", "dependencies": [1], "root": true},
            {"name": "itoa", "version": "1.0.15", "source": "crates.io"},
            {"name": "cc", "version": "1.2.0", "source": "crates.io", "kind": "build"}
        ]});
        let elf = elf_with_section(SECTION, &dep_v0(&json));
        let crates = read(&elf).expect("decodes").expect("has a list");
        assert_eq!(crates.len(), 3);
        assert_eq!(crates[0].dependencies, [1]);
        assert!(crates[0].root);
        assert_eq!(crates[0].source, "local");
        assert_eq!(
            (
                crates[1].name.as_str(),
                crates[1].version.as_str(),
                crates[1].source.as_str(),
                crates[1].kind.as_str()
            ),
            ("itoa", "1.0.15", "crates.io", "runtime")
        );
        assert_eq!(crates[2].kind, "build");
    }

    #[test]
    fn no_list_is_none_and_a_damaged_list_an_error() {
        let json = serde_json::json!({"packages": []});
        let other = elf_with_section(".other", &dep_v0(&json));
        assert_eq!(read(&other).expect("no error"), None);
        assert_eq!(read(b"#!/bin/sh\n").expect("no error"), None);
        let elf = elf_with_section(SECTION, &dep_v0(&json));
        assert_eq!(
            read(&elf[..100]).expect("a truncated ELF is no error"),
            None
        );
        let garbage = elf_with_section(SECTION, b"not zlib");
        let error = format!("{:#}", read(&garbage).expect_err("fails"));
        assert!(error.contains("rebuild the binary"), "{error}");
    }
}
