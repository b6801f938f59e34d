//! A CycloneDX 1.5 JSON SBOM of a scanned image: its OS packages and the crates of every Rust
//! binary that carries a dependency list, with package URLs and the crates' dependency graph.
//!
//! Written with `serde_json`, not the `cyclonedx-bom` crate, which models the whole specification
//! for the score of fields filled here; CI validates the output against CycloneDX's own strict
//! 1.5 schema instead.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::image::surface::Package;
use crate::scan::Report;
use crate::scan::rust_deps::Crate;

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

/// Percent-encodes what a package URL may not carry bare in a version (`1:2.3+dfsg`).
fn purl_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12`: the namespace and distro from
/// os-release (Debian or Alpine when the image has none), empty qualifiers left out.
fn os_purl(package: &Package, os: Option<&(String, String)>) -> String {
    let (kind, fallback) = match package.manager {
        "apk" => ("apk", "alpine"),
        _ => ("deb", "debian"),
    };
    let namespace = os.map_or(fallback, |(id, _)| id.as_str());
    let mut qualifiers = Vec::new();
    if !package.architecture.is_empty() {
        qualifiers.push(format!("arch={}", purl_escape(&package.architecture)));
    }
    if let Some((id, version)) = os.filter(|(_, v)| !v.is_empty()) {
        qualifiers.push(format!(
            "distro={}",
            purl_escape(&format!("{id}-{version}"))
        ));
    }
    let mut purl = format!(
        "pkg:{kind}/{}/{}@{}",
        purl_escape(namespace),
        purl_escape(&package.name),
        purl_escape(&package.version)
    );
    if !qualifiers.is_empty() {
        purl = format!("{purl}?{}", qualifiers.join("&"));
    }
    purl
}

pub(crate) fn cyclonedx(report: &Report) -> Value {
    let mut components = Vec::new();
    let mut dependencies = Vec::new();
    let mut seen = BTreeSet::new();
    for package in &report.packages {
        let purl = os_purl(package, report.os.as_ref());
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
            let purl = (c.source == "crates.io").then(|| crate_purl(c));
            let mut component = json!({
                "type": if c.root { "application" } else { "library" },
                "bom-ref": reference, "name": c.name, "version": c.version,
                "properties": [
                    {"name": "cdx:cargo:source", "value": c.source},
                    {"name": "cdx:cargo:kind", "value": c.kind},
                    {"name": "path", "value": binary.path},
                ],
            });
            if let (Some(purl), Some(fields)) = (purl, component.as_object_mut()) {
                fields.insert("purl".to_owned(), json!(purl));
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
            "timestamp": crate::measure::time::rfc3339(crate::measure::time::now_unix()),
            "tools": {"components": [{"type": "application", "name": "cargo xtask scan"}]},
            "component": {"type": "container", "bom-ref": "image", "name": report.image},
        },
        "components": components,
        "dependencies": dependencies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_package_urls_follow_the_image_distribution() {
        let package = Package {
            name: "libc6".to_owned(),
            version: "1:2.36-9+deb12u4".to_owned(),
            architecture: "amd64".to_owned(),
            manager: "dpkg",
        };
        assert_eq!(
            os_purl(&package, Some(&("ubuntu".to_owned(), "24.04".to_owned()))),
            "pkg:deb/ubuntu/libc6@1%3A2.36-9%2Bdeb12u4?arch=amd64&distro=ubuntu-24.04"
        );
        let bare = Package {
            architecture: String::new(),
            ..package
        };
        assert_eq!(
            os_purl(&bare, None),
            "pkg:deb/debian/libc6@1%3A2.36-9%2Bdeb12u4"
        );
    }
}
