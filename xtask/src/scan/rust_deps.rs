//! The dependency list a Rust binary carries in its `.dep-v0` ELF section, the format
//! cargo-auditable defined (zlib-compressed JSON), which Trivy and syft also read. This
//! project's app embeds it at build time (`app/build.rs`), so even a `FROM scratch` image says
//! which crates it is made of.

use std::io::Read;

use anyhow::{Context, Result, bail};
use flate2::read::ZlibDecoder;
use serde_json::Value;

pub(crate) const SECTION: &str = ".dep-v0";
const MAX_JSON: u64 = 16 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Crate {
    pub(crate) name: String,
    pub(crate) version: String,
    /// `crates.io`, `local`, `git`, `registry` or `other`.
    pub(crate) source: String,
    /// `runtime` or `build`.
    pub(crate) kind: String,
    /// Indices into the same list.
    pub(crate) dependencies: Vec<usize>,
    pub(crate) root: bool,
}

/// The contents of the ELF section `name`, if `data` is a 64-bit little-endian ELF file that has it.
pub(crate) fn elf_section<'a>(data: &'a [u8], name: &str) -> Option<&'a [u8]> {
    if !data.starts_with(b"\x7fELF") || data.get(4) != Some(&2) || data.get(5) != Some(&1) {
        return None;
    }
    let u16_at = |at: usize| {
        Some(u16::from_le_bytes(
            data.get(at..at.checked_add(2)?)?.try_into().ok()?,
        ))
    };
    let u32_at = |at: usize| {
        Some(u32::from_le_bytes(
            data.get(at..at.checked_add(4)?)?.try_into().ok()?,
        ))
    };
    let u64_at = |at: usize| {
        usize::try_from(u64::from_le_bytes(
            data.get(at..at.checked_add(8)?)?.try_into().ok()?,
        ))
        .ok()
    };
    let table = u64_at(0x28)?;
    let entry_size = usize::from(u16_at(0x3a)?);
    let count = usize::from(u16_at(0x3c)?);
    let names_index = usize::from(u16_at(0x3e)?);
    let header = |index: usize| table.checked_add(index.checked_mul(entry_size)?);
    let field = |index: usize, offset: usize| header(index)?.checked_add(offset);
    let string_table = u64_at(field(names_index, 24)?)?;
    for index in 0..count {
        let name_at = string_table.checked_add(u32_at(header(index)?)? as usize)?;
        let section_name = data.get(name_at..)?;
        let end = section_name.iter().position(|b| *b == 0)?;
        if &section_name[..end] == name.as_bytes() {
            let (offset, size) = (u64_at(field(index, 24)?)?, u64_at(field(index, 32)?)?);
            return data.get(offset..offset.checked_add(size)?);
        }
    }
    None
}

/// Decodes a `.dep-v0` section.
pub(crate) fn decode(section: &[u8]) -> Result<Vec<Crate>> {
    let mut json = Vec::new();
    ZlibDecoder::new(section)
        .take(MAX_JSON)
        .read_to_end(&mut json)
        .context("the .dep-v0 section is not zlib data")?;
    let value: Value = serde_json::from_slice(&json).context("the .dep-v0 section is not JSON")?;
    let Some(packages) = value["packages"].as_array() else {
        bail!("the .dep-v0 section lists no packages");
    };
    packages
        .iter()
        .map(|package| {
            let text = |key: &str| package[key].as_str().unwrap_or_default().to_owned();
            let name = text("name");
            if name.is_empty() {
                bail!("a .dep-v0 package has no name");
            }
            Ok(Crate {
                name,
                version: text("version"),
                source: text("source"),
                kind: package["kind"].as_str().unwrap_or("runtime").to_owned(),
                dependencies: package["dependencies"]
                    .as_array()
                    .map(|deps| {
                        deps.iter()
                            .filter_map(Value::as_u64)
                            .filter_map(|i| usize::try_from(i).ok())
                            .filter(|i| *i < packages.len())
                            .collect()
                    })
                    .unwrap_or_default(),
                root: package["root"].as_bool().unwrap_or(false),
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::{Compression, write::ZlibEncoder};
    use std::io::Write;

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
    fn reads_the_section_of_an_elf_file() {
        let json = serde_json::json!({"packages": [
            {"name": "app", "version": "0.1.0", "source": "local", "dependencies": [1], "root": true},
            {"name": "itoa", "version": "1.0.15", "source": "crates.io"}
        ]});
        let elf = elf_with_section(SECTION, &dep_v0(&json));
        let crates = decode(elf_section(&elf, SECTION).expect("section")).expect("decodes");
        assert_eq!(crates.len(), 2);
        assert_eq!(crates[0].dependencies, [1]);
        assert!(crates[0].root);
        assert_eq!(
            (
                crates[1].name.as_str(),
                crates[1].version.as_str(),
                crates[1].kind.as_str()
            ),
            ("itoa", "1.0.15", "runtime")
        );
        assert_eq!(elf_section(&elf, ".other"), None);
        assert_eq!(elf_section(b"#!/bin/sh\n", SECTION), None);
        assert!(
            elf_section(&elf[..100], SECTION).is_none(),
            "truncated ELF is not an error"
        );
    }
}
