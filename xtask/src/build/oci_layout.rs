//! `build --daemonless`: the image written as an OCI layout (and, if asked, an archive for
//! `docker load`, or loaded), or, with `--verify`, built twice from clean copies of the commit
//! and compared, the first difference named when the digests differ.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::flags;
use crate::oci::Image;
use crate::oci::builder::{self, Source};
use crate::project::variant::Variant;
use crate::{git, output};

pub(super) fn run(flags: &flags::Build) -> Result<()> {
    let variant = flags.variant;
    if flags.verify {
        return verify(variant);
    }
    if flags.load {
        // Asked before the compile, so a missing engine costs a line, not a build.
        crate::docker::engine::require()
            .context("--load puts the image in the local engine, and none answers")?;
    }
    let started = Instant::now();
    let source = Source::checkout()?;
    let built = builder::build(variant, &source, &crate::files::target_dir())?;
    let name = builder::image_name(variant);
    let out = flags.out.clone().unwrap_or_else(|| default_layout(variant));
    built.image.write_layout(&out, &name)?;
    if let Some(tar) = &flags.tar {
        built.image.write_tar(tar, &name)?;
        eprintln!("wrote {} (docker load -i reads it)", tar.display());
    }
    if flags.load {
        eprintln!("{}", builder::load(&built.image, &name)?);
    }
    let size: usize = built
        .image
        .layers
        .iter()
        .map(|layer| layer.bytes.len())
        .sum();
    println!(
        "{name}: {} in {:.1} s, {:.2} MB compressed, OCI layout {}{}",
        built.image.digest(),
        started.elapsed().as_secs_f64(),
        output::megabytes(size as u64),
        out.display(),
        built
            .base
            .map(|base| format!(", base {base}"))
            .unwrap_or_default()
    );
    Ok(())
}

/// `target/xtask/oci/VARIANT`.
pub(super) fn default_layout(variant: Variant) -> PathBuf {
    crate::files::target_dir()
        .join("xtask")
        .join("oci")
        .join(variant.name())
}

/// Two builds of the last commit, in clean copies at different paths with different target
/// directories: the same digest, or the first difference.
fn verify(variant: Variant) -> Result<()> {
    let original = Source::checkout()?;
    if git::is_dirty() {
        eprintln!("verify builds the last commit: uncommitted changes are not in either build");
    }
    let root = crate::files::target_dir().join("xtask").join("reproduce");
    let mut builds = Vec::new();
    // Different depths and names, so that a path that leaks into the image shows.
    for (copy, target) in [("a", "target"), ("second-copy/b", "other-target")] {
        let dir = root.join(copy);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        git::export_head(&dir)?;
        eprintln!("building in {}", dir.display());
        let source = Source {
            dir: dir.clone(),
            ..original.clone()
        };
        builds.push(builder::build(variant, &source, &dir.join(target))?);
    }
    let (first, second) = (&builds[0], &builds[1]);
    if first.image.digest() == second.image.digest() {
        let _ = std::fs::remove_dir_all(&root);
        println!(
            "reproducible: two clean builds of {} give {}",
            original.revision,
            first.image.digest()
        );
        return Ok(());
    }
    let difference = first_difference(
        &first.image,
        &second.image,
        &std::fs::read(&first.binary)?,
        &std::fs::read(&second.binary)?,
    )?;
    bail!(
        "not reproducible: {} and {} from the same commit; {difference} (the builds are kept in {})",
        first.image.digest(),
        second.image.digest(),
        root.display()
    )
}

/// The first thing that differs between two images of the same commit: a config field, a layer
/// entry, or the binary's bytes (with the offset and the text nearest to it).
pub(super) fn first_difference(
    first: &Image,
    second: &Image,
    first_binary: &[u8],
    second_binary: &[u8],
) -> Result<String> {
    if first.config != second.config {
        let (a, b) = (
            flatten(&first.config_json()?),
            flatten(&second.config_json()?),
        );
        for key in a.keys().chain(b.keys()) {
            if a.get(key) != b.get(key) {
                return Ok(format!(
                    "the config's {key} differs: {} vs {}",
                    a.get(key).map_or("absent".to_owned(), ToString::to_string),
                    b.get(key).map_or("absent".to_owned(), ToString::to_string)
                ));
            }
        }
    }
    if let Some(offset) = first_binary
        .iter()
        .zip(second_binary)
        .position(|(a, b)| a != b)
        .or_else(|| {
            (first_binary.len() != second_binary.len())
                .then(|| first_binary.len().min(second_binary.len()))
        })
    {
        return Ok(format!(
            "the binary differs at byte {offset} of {} (sizes {} and {}), near {:?} vs {:?}",
            first_binary.len(),
            first_binary.len(),
            second_binary.len(),
            nearest_text(first_binary, offset),
            nearest_text(second_binary, offset)
        ));
    }
    for (index, (a, b)) in first.layers.iter().zip(&second.layers).enumerate() {
        if a != b {
            return Ok(format!(
                "layer {index} differs ({} vs {}) though the binaries are equal: its tar or gzip \
                 is not deterministic",
                a.digest(),
                b.digest()
            ));
        }
    }
    Ok("the manifests differ (their annotations)".to_owned())
}

/// The printable text (six characters or more) nearest to `offset`: often a path or a
/// version string, which says what put the difference there.
fn nearest_text(bytes: &[u8], offset: usize) -> String {
    let printable = |b: u8| b.is_ascii_graphic() || b == b' ';
    let window = offset.saturating_sub(4096)..(offset + 4096).min(bytes.len());
    let mut best: Option<(usize, &[u8])> = None;
    let mut start = None;
    for at in window.clone().chain(std::iter::once(window.end)) {
        let inside = at < window.end && printable(bytes[at]);
        match (inside, start) {
            (true, None) => start = Some(at),
            (false, Some(from)) => {
                if at - from >= 6 {
                    let distance = if offset < from {
                        from - offset
                    } else {
                        offset.saturating_sub(at)
                    };
                    if best.is_none_or(|(d, _)| distance < d) {
                        best = Some((distance, &bytes[from..at.min(from + 80)]));
                    }
                }
                start = None;
            }
            _ => {}
        }
    }
    best.map_or_else(String::new, |(_, text)| {
        String::from_utf8_lossy(text).into_owned()
    })
}

/// `config.User` → `"65532:65532"`, every leaf of a JSON document by its path.
fn flatten(value: &Value) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    walk(&join(prefix, key), value, out);
                }
            }
            Value::Array(items) => {
                for (index, value) in items.iter().enumerate() {
                    walk(&join(prefix, &index.to_string()), value, out);
                }
            }
            leaf => {
                out.insert(prefix.to_owned(), leaf.clone());
            }
        }
    }
    fn join(prefix: &str, key: &str) -> String {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        }
    }
    let mut out = BTreeMap::new();
    walk("", value, &mut out);
    out
}

/// Not a test of the whole: the parts of [`first_difference`] that need no build.
#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::oci::{Blob, LAYER_MEDIA_TYPE};

    fn image(user: &str) -> Image {
        Image::new(
            &json!({"config": {"User": user}}),
            vec![Blob::new(LAYER_MEDIA_TYPE, b"layer".to_vec())],
            &json!({}),
        )
    }

    #[test]
    fn the_first_difference_is_named() {
        let same = b"\0\0/app-src/app/src/main.rs\0\x01\x02".to_vec();
        let mut other = same.clone();
        other[27] = 9;
        let binary = first_difference(&image("1"), &image("1"), &same, &other).expect("compared");
        assert!(
            binary.contains("byte 27") && binary.contains("/app-src/app/src/main.rs"),
            "{binary}"
        );
        let config = first_difference(&image("1"), &image("2"), &same, &same).expect("compared");
        assert_eq!(config, "the config's config.User differs: \"1\" vs \"2\"");
    }

    #[test]
    fn layouts_go_under_the_target_directory() {
        assert!(default_layout(Variant::Scratch).ends_with("xtask/oci/scratch"));
    }
}
