//! An OCI image as what it is: blobs named by their SHA-256, a config (JSON), layers (tars),
//! and a manifest (JSON) naming them; an index names the manifest. Written as an OCI image
//! layout directory, or as one tar that every `docker load` reads: the OCI layout, which Docker
//! 25 and later on the containerd image store read through `index.json`, and a `manifest.json`
//! naming the same blobs, which Docker 20.10 needs and Docker 26 on its classic image store
//! still reads (it refuses a layout without one, even one it saved itself). Pushed and read
//! by `distribution`.

pub(crate) mod builder;
pub(crate) mod curl;
pub(crate) mod distribution;
pub(crate) mod documents;
pub(crate) mod layer;

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub(crate) const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub(crate) const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The annotation that names a manifest in an index (`skopeo`'s `oci:DIR:NAME`).
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// `sha256:` and the hex digest of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut text = String::with_capacity(71);
    text.push_str("sha256:");
    for byte in hash {
        text.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        text.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    text
}

/// Content and its media type; its name is its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Blob {
    pub(crate) media_type: String,
    pub(crate) bytes: Vec<u8>,
}

impl Blob {
    pub(crate) fn new(media_type: &str, bytes: Vec<u8>) -> Self {
        Self {
            media_type: media_type.to_owned(),
            bytes,
        }
    }

    pub(crate) fn json(media_type: &str, value: &Value) -> Self {
        Self::new(
            media_type,
            serde_json::to_vec(value).expect("a JSON value serializes"),
        )
    }

    pub(crate) fn digest(&self) -> String {
        sha256(&self.bytes)
    }

    /// The descriptor that points at this blob.
    pub(crate) fn descriptor(&self) -> Value {
        json!({
            "mediaType": self.media_type,
            "digest": self.digest(),
            "size": self.bytes.len(),
        })
    }

    /// Where the blob lives in a layout: `blobs/sha256/HEX`.
    pub(crate) fn path(&self) -> String {
        blob_path(&self.digest())
    }
}

fn blob_path(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

/// One image: its config, its layers (base first) and the manifest that names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Image {
    pub(crate) config: Blob,
    pub(crate) layers: Vec<Blob>,
    pub(crate) manifest: Blob,
}

impl Image {
    /// The image of `config` and `layers`, its manifest annotated with `annotations`.
    pub(crate) fn new(config: &Value, layers: Vec<Blob>, annotations: &Value) -> Self {
        let config = Blob::json(CONFIG_MEDIA_TYPE, config);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": config.descriptor(),
            "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
            "annotations": annotations,
        });
        Self {
            config,
            manifest: Blob::json(MANIFEST_MEDIA_TYPE, &manifest),
            layers,
        }
    }

    /// The manifest's digest: the image's name by content, what a registry serves it under.
    pub(crate) fn digest(&self) -> String {
        self.manifest.digest()
    }

    pub(crate) fn config_json(&self) -> Result<Value> {
        serde_json::from_slice(&self.config.bytes).context("the image config is not JSON")
    }

    /// Every blob: config, layers, manifest.
    fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config)
            .chain(&self.layers)
            .chain(std::iter::once(&self.manifest))
    }

    fn index(&self, name: &str) -> Value {
        let mut descriptor = self.manifest.descriptor();
        if let Some(fields) = descriptor.as_object_mut() {
            fields.insert(
                "annotations".to_owned(),
                json!({
                    REF_NAME: tag_of(name),
                    // What containerd, and Docker 25 and later on its containerd image store,
                    // name the image by. Fully qualified, as Docker's own save writes it: Docker
                    // looks an image up by that form, and an `app:x` stored as written is listed
                    // but never found.
                    "io.containerd.image.name": qualified(name),
                }),
            );
        }
        json!({
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": [descriptor],
        })
    }

    /// The files of the OCI image layout (and, with `docker_name`, Docker 20.10's
    /// `manifest.json`), sorted by path.
    fn files(&self, name: &str, docker_manifest: bool) -> Vec<(String, Vec<u8>)> {
        let mut files = vec![
            (
                "oci-layout".to_owned(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ),
            (
                "index.json".to_owned(),
                serde_json::to_vec(&self.index(name)).expect("JSON"),
            ),
        ];
        if docker_manifest {
            let manifest = json!([{
                "Config": self.config.path(),
                "RepoTags": [name],
                "Layers": self.layers.iter().map(Blob::path).collect::<Vec<_>>(),
            }]);
            files.push((
                "manifest.json".to_owned(),
                serde_json::to_vec(&manifest).expect("JSON"),
            ));
        }
        for blob in self.blobs() {
            if !files.iter().any(|(path, _)| *path == blob.path()) {
                files.push((blob.path(), blob.bytes.clone()));
            }
        }
        files.sort();
        files
    }

    /// Writes the OCI image layout to `dir`, replacing what was there only once the new one is
    /// complete.
    pub(crate) fn write_layout(&self, dir: &Path, name: &str) -> Result<()> {
        let parent = dir
            .parent()
            .with_context(|| format!("{} has no parent folder", dir.display()))?;
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let staging = dir.with_extension("partial");
        let _ = std::fs::remove_dir_all(&staging);
        for (path, bytes) in self.files(name, false) {
            let path = staging.join(path);
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder)
                    .with_context(|| format!("cannot create {}", folder.display()))?;
            }
            std::fs::write(&path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("cannot replace {}", dir.display()))?;
        }
        std::fs::rename(&staging, dir)
            .with_context(|| format!("cannot move the layout to {}", dir.display()))
    }

    /// Writes one tar holding the OCI layout and Docker's `manifest.json`, atomically.
    pub(crate) fn write_tar(&self, file: &Path, name: &str) -> Result<()> {
        let staging = file.with_extension("partial");
        let mut builder = tar::Builder::new(
            std::fs::File::create(&staging)
                .with_context(|| format!("cannot create {}", staging.display()))?,
        );
        let mut folders = std::collections::BTreeSet::new();
        for (path, bytes) in self.files(name, true) {
            // Folders first, as `docker save` writes them: some readers want them.
            let mut folder = String::new();
            for part in path
                .split('/')
                .rev()
                .skip(1)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                folder.push_str(part);
                folder.push('/');
                if folders.insert(folder.clone()) {
                    let mut header = layer::header(&folder, 0, 0o755, tar::EntryType::Directory, 0);
                    header.set_cksum();
                    builder.append(&header, std::io::empty())?;
                }
            }
            let mut header =
                layer::header(&path, bytes.len() as u64, 0o644, tar::EntryType::Regular, 0);
            header.set_cksum();
            builder.append(&header, bytes.as_slice())?;
        }
        builder
            .into_inner()
            .and_then(|mut out| out.flush().and(out.sync_all()))
            .with_context(|| format!("cannot write {}", staging.display()))?;
        std::fs::rename(&staging, file)
            .with_context(|| format!("cannot move the archive to {}", file.display()))
    }
}

/// A name as Docker qualifies it: `app:x` → `docker.io/library/app:x`, `team/app` →
/// `docker.io/team/app:latest`, `HOST/app:x` as it is.
fn qualified(name: &str) -> String {
    let tagged = if name.contains('@')
        || name
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
    {
        name.to_owned()
    } else {
        format!("{name}:latest")
    };
    match tagged.split_once('/') {
        Some((host, _)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            tagged
        }
        Some(_) => format!("docker.io/{tagged}"),
        None => format!("docker.io/library/{tagged}"),
    }
}

/// `app:scratch-daemonless` → `scratch-daemonless`.
fn tag_of(name: &str) -> &str {
    name.rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map_or("latest", |(_, tag)| tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Image {
        let layer = Blob::new(LAYER_MEDIA_TYPE, b"layer".to_vec());
        Image::new(
            &json!({"architecture": "amd64", "os": "linux"}),
            vec![layer],
            &json!({}),
        )
    }

    #[test]
    fn a_layout_holds_every_blob_under_its_digest() {
        let dir = crate::files::target_dir().join("xtask/test-oci-layout");
        let image = image();
        image.write_layout(&dir, "app:t").expect("written");
        for blob in [&image.config, &image.layers[0], &image.manifest] {
            let stored = std::fs::read(dir.join(blob.path())).expect("a blob");
            assert_eq!(sha256(&stored), blob.digest());
        }
        let index: documents::Index =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("index"))
                .expect("an index");
        let named = &index.manifests[0];
        assert_eq!(named.digest, image.digest());
        assert_eq!(named.annotations[REF_NAME], "t");
        assert_eq!(
            named.annotations["io.containerd.image.name"],
            "docker.io/library/app:t"
        );
        assert!(!dir.with_extension("partial").exists(), "no staging left");
        std::fs::remove_dir_all(&dir).expect("removed");
    }

    #[test]
    fn names_are_qualified_as_docker_looks_them_up() {
        assert_eq!(
            qualified("app:scratch-daemonless"),
            "docker.io/library/app:scratch-daemonless"
        );
        assert_eq!(qualified("team/app"), "docker.io/team/app:latest");
        assert_eq!(qualified("localhost:5000/app:1"), "localhost:5000/app:1");
        assert_eq!(qualified("gcr.io/a/b"), "gcr.io/a/b:latest");
    }

    #[test]
    fn digests_are_sha256_in_hex() {
        assert_eq!(
            sha256(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
