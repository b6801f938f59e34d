//! A CycloneDX 1.5 JSON SBOM of a scanned image: its OS packages and the crates of every Rust
//! binary that carries a dependency list, with package URLs and the crates' dependency graph.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::rust_deps::Crate;
use crate::scan::Report;

fn crate_purl(c: &Crate) -> String {
    format!("pkg:cargo/{}@{}", c.name, c.version)
}

/// A bom-ref unique within the document: crates.io crates by purl, others by name and path.
fn crate_ref(c: &Crate, binary: &str) -> String {
    if c.source == "crates.io" {
        crate_purl(c)
    } else {
        format!("{}@{}:{binary}", c.name, c.version)
    }
}

/// A random version-4 UUID, for `serialNumber`.
fn uuid_v4() -> String {
    use std::io::Read;
    let mut bytes = [0_u8; 16];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_err()
    {
        // No /dev/urandom: the time still makes the number unique enough for a document.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = nanos.to_le_bytes();
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().fold(String::new(), |mut hex, b| {
        use std::fmt::Write;
        let _ = write!(hex, "{b:02x}");
        hex
    });
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

pub(crate) fn cyclonedx(report: &Report) -> Value {
    let mut components = Vec::new();
    let mut dependencies = Vec::new();
    let mut seen = BTreeSet::new();
    for package in &report.packages {
        let purl = match package.manager {
            "apk" => format!(
                "pkg:apk/alpine/{}@{}?arch={}",
                package.name, package.version, package.architecture
            ),
            _ => format!(
                "pkg:deb/debian/{}@{}?arch={}",
                package.name, package.version, package.architecture
            ),
        };
        if seen.insert(purl.clone()) {
            components.push(json!({
                "type": "library", "bom-ref": purl, "name": package.name,
                "version": package.version, "purl": purl,
            }));
        }
    }
    for binary in &report.binaries {
        for c in &binary.crates {
            let reference = crate_ref(c, &binary.path);
            if !seen.insert(reference.clone()) {
                continue;
            }
            let mut component = json!({
                "type": if c.root { "application" } else { "library" },
                "bom-ref": reference, "name": c.name, "version": c.version,
                "properties": [
                    {"name": "cdx:cargo:source", "value": c.source},
                    {"name": "cdx:cargo:kind", "value": c.kind},
                    {"name": "path", "value": binary.path},
                ],
            });
            if c.source == "crates.io" {
                component["purl"] = json!(crate_purl(c));
            }
            components.push(component);
            dependencies.push(json!({
                "ref": reference,
                "dependsOn": c.dependencies.iter()
                    .filter_map(|i| binary.crates.get(*i))
                    .map(|d| crate_ref(d, &binary.path))
                    .collect::<Vec<_>>(),
            }));
        }
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", uuid_v4()),
        "version": 1,
        "metadata": {
            "timestamp": crate::clock::rfc3339(crate::clock::now_unix()),
            "tools": {"components": [{"type": "application", "name": "cargo xtask scan"}]},
            "component": {"type": "container", "bom-ref": "image", "name": report.image},
        },
        "components": components,
        "dependencies": dependencies,
    })
}
