//! The list of crates this binary is built from, carried inside the binary itself.
//!
//! Vulnerability scanners (Trivy, syft, grype, `cargo audit bin`) find what is in an image by
//! reading package databases such as `/var/lib/dpkg/status`. A `FROM scratch` image has none:
//! to them the static binary is an opaque blob, and a vulnerable crate inside it goes unreported.
//! cargo-auditable closes that gap with an ELF section named `.dep-v0` holding the dependency
//! graph as zlib-compressed JSON, and those scanners read it. `build.rs` writes that data in
//! cargo-auditable's exact format; the static below puts it in the section, so a plain
//! `cargo build` gives an auditable binary without wrapping the build in `cargo auditable`.
//!
//! Inspect it with `objcopy --dump-section .dep-v0=deps.zz target/release/app`, then inflate
//! `deps.zz` with any zlib tool (Python: `zlib.decompress`).

/// The compressed list, stored as the bytes themselves (an array, not a `&[u8]`: a reference
/// would put a pointer in the section and the data elsewhere). No code refers to it; `#[used]`
/// keeps it anyway, through LTO and into the linked ELF, where the section is flagged
/// `SHF_GNU_RETAIN` so the linker's `--gc-sections` does not drop it.
// `#[unsafe(link_section)]` is unsafe because some section names change what the program does
// (`.init_array` runs code, others are read by the loader or by other code expecting a type).
// This one is sound: `.dep-v0` means nothing to the linker, loader or any code here; it holds
// immutable bytes with alignment 1, and the service itself never reads them.
#[allow(unsafe_code)]
#[used]
#[unsafe(link_section = ".dep-v0")]
static DEP_V0: [u8; include_bytes!(concat!(env!("OUT_DIR"), "/dep-v0.bin")).len()] =
    *include_bytes!(concat!(env!("OUT_DIR"), "/dep-v0.bin"));

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::DEP_V0;

    fn packages() -> Vec<Value> {
        let json = miniz_oxide::inflate::decompress_to_vec_zlib(&DEP_V0).expect("zlib data");
        let list: Value = serde_json::from_slice(&json).expect("JSON");
        list["packages"].as_array().expect("a package list").clone()
    }

    fn find<'a>(packages: &'a [Value], name: &str) -> Option<&'a Value> {
        packages.iter().find(|package| package["name"] == name)
    }

    #[test]
    fn lists_the_runtime_crates_with_this_package_as_the_one_root() {
        let packages = packages();
        let roots: Vec<&Value> = packages.iter().filter(|p| p["root"] == true).collect();
        assert_eq!(roots.len(), 1);
        assert_eq!(roots[0]["name"], env!("CARGO_PKG_NAME"));
        assert_eq!(roots[0]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(roots[0]["source"], "local");
        for name in ["axum", "tokio", "hyper", "serde_json"] {
            let package = find(&packages, name).unwrap_or_else(|| panic!("{name} is listed"));
            assert_eq!(package["source"], "crates.io");
            assert!(
                package.get("kind").is_none(),
                "{name} is a runtime dependency"
            );
        }
    }

    #[test]
    fn marks_build_only_crates_and_leaves_out_dev_dependencies() {
        let packages = packages();
        let derive = find(&packages, "serde_derive").expect("serde's derive macro is listed");
        assert_eq!(
            derive["kind"], "build",
            "a proc macro runs at build time only"
        );
        assert!(
            find(&packages, "reqwest").is_none(),
            "a dev-dependency is not in the binary"
        );
    }

    #[test]
    fn dependency_indices_point_into_the_list() {
        let packages = packages();
        for package in &packages {
            for index in package["dependencies"].as_array().into_iter().flatten() {
                let index = usize::try_from(index.as_u64().expect("an index")).expect("fits");
                assert!(
                    index < packages.len(),
                    "{} lists index {index}",
                    package["name"]
                );
            }
        }
    }
}
