//! The JSON documents of container images that xtask reads, typed: the OCI image index and
//! manifest (Docker's manifest list and v2 manifest have the same shape), their descriptors,
//! the image configuration, and docker-archive's `manifest.json`. A field that is missing where
//! xtask needs it is an error naming the document, not a silent empty string.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// An index of manifests, or one image's manifest: a served manifest or a blob may be either.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum IndexOrManifest {
    Index(Index),
    Manifest(Manifest),
}

/// An image index (`index.json`, an OCI index blob, or Docker's manifest list).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Index {
    pub(crate) manifests: Vec<Descriptor>,
}

impl Index {
    /// The manifest for `os`/`architecture`, if the index names one.
    pub(crate) fn for_platform(&self, os: &str, architecture: &str) -> Option<&Descriptor> {
        self.manifests.iter().find(|descriptor| {
            descriptor
                .platform
                .as_ref()
                .is_some_and(|p| p.os == os && p.architecture == architecture)
        })
    }
}

/// One image's manifest: its configuration and its layers.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) config: Descriptor,
    pub(crate) layers: Vec<Descriptor>,
}

/// What a manifest or an index says of a blob.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub(crate) media_type: String,
    pub(crate) digest: String,
    #[serde(default)]
    pub(crate) platform: Option<Platform>,
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// Where the blob sits in an OCI image layout: `blobs/sha256/HEX`.
    pub(crate) fn blob_path(&self) -> String {
        format!("blobs/{}", self.digest.replacen(':', "/", 1))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Platform {
    pub(crate) os: String,
    pub(crate) architecture: String,
}

/// The `mediaType` a document declares of itself, where it does.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct MediaType {
    #[serde(rename = "mediaType", default)]
    pub(crate) media_type: String,
}

/// One image in docker-archive's `manifest.json` (a list of them).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ArchiveManifest {
    pub(crate) config: String,
    #[serde(default)]
    pub(crate) repo_tags: Option<Vec<String>>,
    pub(crate) layers: Vec<String>,
}

/// An image configuration: the platform, the settings a container starts with, the layers'
/// uncompressed digests and the history.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ImageConfig {
    #[serde(default)]
    pub(crate) architecture: String,
    #[serde(default)]
    pub(crate) os: String,
    #[serde(default)]
    pub(crate) config: RuntimeConfig,
    #[serde(default)]
    pub(crate) rootfs: RootFs,
    #[serde(default)]
    pub(crate) history: Vec<History>,
}

/// The settings a container starts with. Docker writes `null` for an unset list or map, hence
/// the options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct RuntimeConfig {
    /// Empty means root.
    pub(crate) user: String,
    /// Each port maps to an empty object.
    pub(crate) exposed_ports: Option<BTreeMap<String, Value>>,
    pub(crate) healthcheck: Option<Healthcheck>,
    pub(crate) labels: Option<BTreeMap<String, String>>,
    pub(crate) entrypoint: Option<Vec<String>>,
    pub(crate) cmd: Option<Vec<String>>,
    pub(crate) stop_signal: String,
    pub(crate) working_dir: String,
    /// `NAME=value` entries.
    pub(crate) env: Option<Vec<String>>,
}

impl RuntimeConfig {
    /// The health check command, unless there is none or it is disabled (`NONE`).
    pub(crate) fn healthcheck_test(&self) -> Option<Vec<String>> {
        let test = self.healthcheck.as_ref()?.test.clone()?;
        (!test.is_empty() && test[0] != "NONE").then_some(test)
    }

    /// The environment as name and value.
    pub(crate) fn env_pairs(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .flatten()
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct Healthcheck {
    pub(crate) test: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RootFs {
    #[serde(default)]
    pub(crate) diff_ids: Vec<String>,
}

/// One step of an image's history; `empty_layer` steps (ENV, LABEL, ...) made no layer.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct History {
    #[serde(default)]
    pub(crate) created_by: String,
    #[serde(default)]
    pub(crate) empty_layer: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_index_a_manifest_and_a_config() {
        let index: IndexOrManifest = serde_json::from_str(
            r#"{"schemaVersion":2,"manifests":[
                {"digest":"sha256:a","platform":{"os":"linux","architecture":"arm64"}},
                {"digest":"sha256:b","platform":{"os":"linux","architecture":"amd64"}}]}"#,
        )
        .expect("an index");
        let IndexOrManifest::Index(index) = index else {
            panic!("read as a manifest")
        };
        assert_eq!(
            index
                .for_platform("linux", "amd64")
                .map(Descriptor::blob_path),
            Some("blobs/sha256/b".to_owned())
        );
        let manifest: IndexOrManifest = serde_json::from_str(
            r#"{"config":{"digest":"sha256:c"},"layers":[{"digest":"sha256:l","mediaType":"x"}]}"#,
        )
        .expect("a manifest");
        assert!(matches!(manifest, IndexOrManifest::Manifest(m) if m.layers[0].media_type == "x"));
        let config: ImageConfig = serde_json::from_str(
            r#"{"os":"linux","config":{"User":"65532","Env":null,"Healthcheck":{"Test":["NONE"]}},
                "rootfs":{"diff_ids":["sha256:d"]},"history":[{"created_by":"x","empty_layer":true}]}"#,
        )
        .expect("a config");
        assert_eq!(config.config.user, "65532");
        assert!(config.config.env_pairs().is_empty());
        assert_eq!(config.config.healthcheck_test(), None);
        assert_eq!(config.rootfs.diff_ids, ["sha256:d"]);
        assert!(config.history[0].empty_layer);
    }
}
