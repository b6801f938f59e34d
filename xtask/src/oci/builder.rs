//! The multi-stage Dockerfile's images, made without Docker, as ko and Jib make theirs: the
//! static binary built on the host with the builder stage's flags, put at the path the final
//! stage copies it to in one layer, under a config that carries what the final stage declares
//! (read from the Dockerfile, not restated). The same commit makes the same bytes: every time
//! in the image is the commit's, the layer's entries and the JSON keys are sorted, and the
//! binary's paths are remapped as in the builder stage. The distroless variant's base layers come
//! from the local engine when it holds the base image, else from the base's registry, by digest.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use crate::docker;
use crate::docker::base_images::BaseImage;
use crate::measure::time;
use crate::oci::distribution::{self, Reference};
use crate::oci::documents::{ArchiveManifest, ImageConfig, Manifest};
use crate::oci::{self, Blob, Image, LAYER_MEDIA_TYPE, layer};
use crate::process;
use crate::project::final_stage::FinalStage;
use crate::project::profile::CargoProfile;
use crate::project::static_binary;
use crate::project::variant::Variant;

/// What a build is of: the commit it is labelled with and the time every file carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    /// The checkout (or a copy of it) to build.
    pub(crate) dir: PathBuf,
    pub(crate) revision: String,
    /// `SOURCE_DATE_EPOCH`: the commit's time.
    pub(crate) epoch: u64,
}

impl Source {
    /// This checkout at its last commit's revision, dated `SOURCE_DATE_EPOCH` when set (the
    /// reproducible-builds convention), else by the last commit's time. Sources without git
    /// (a release tarball) and without `SOURCE_DATE_EPOCH` are dated now, and said to be.
    pub(crate) fn checkout() -> Result<Self> {
        let from_environment = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(text) if !text.trim().is_empty() => {
                Some(text.trim().parse().with_context(|| {
                    format!("SOURCE_DATE_EPOCH={text:?} is not a number of seconds since 1970")
                })?)
            }
            _ => None,
        };
        let epoch = from_environment
            .or_else(crate::git::commit_time)
            .unwrap_or_else(|| {
                eprintln!(
                    "not a git checkout and no SOURCE_DATE_EPOCH: the image is dated now, so \
                     two builds of these sources differ"
                );
                time::now_unix()
            });
        Ok(Self {
            dir: crate::files::root(),
            revision: crate::git::revision(),
            epoch,
        })
    }
}

/// What a daemonless build made.
#[derive(Debug, Clone)]
pub(crate) struct Built {
    pub(crate) image: Image,
    pub(crate) binary: PathBuf,
    /// The base image's layers came from (distroless), as `REFERENCE@DIGEST`.
    pub(crate) base: Option<String>,
}

/// The name a daemonless image of `variant` is loaded and annotated under.
pub(crate) fn image_name(variant: Variant) -> String {
    format!("{}-daemonless", variant.tag())
}

/// Puts `image` in the local engine as `name` (`docker load` of its archive); what the engine
/// said.
pub(crate) fn load(image: &Image, name: &str) -> Result<String> {
    let archive = crate::files::target_dir()
        .join("xtask")
        .join(format!("load-{}.tar", std::process::id()));
    image.write_tar(&archive, name)?;
    let loaded = process::capture(
        docker::docker()
            .args(["load", "--quiet", "--input"])
            .arg(&archive),
    );
    let _ = std::fs::remove_file(&archive);
    loaded
}

/// Builds `variant` from `source` with cargo output in `target_dir`.
pub(crate) fn build(variant: Variant, source: &Source, target_dir: &Path) -> Result<Built> {
    let Some(stage_name) = variant.stage() else {
        bail!(
            "the single-stage image is the Dockerfile baseline and has no daemonless build: \
             choose scratch or distroless"
        );
    };
    let dockerfile_path = source.dir.join("docker").join(variant.dockerfile());
    let dockerfile = std::fs::read_to_string(&dockerfile_path)
        .with_context(|| format!("cannot read {}", dockerfile_path.display()))?;
    let args = crate::project::final_stage::build_args(&source.revision, Some(source.epoch));
    let stage = FinalStage::parse(&dockerfile, stage_name, &args)?;
    // Read before the compile, so a missing base costs seconds, not a build.
    let base = match variant {
        Variant::Distroless => Some(Base::distroless()?),
        _ => None,
    };

    let profile = CargoProfile::shipped()?;
    let mut cargo = static_binary::command(&source.dir, target_dir, &profile);
    // Quiet: a line per crate compiled would bury the steps of `compare` that runs this; errors
    // and warnings still show.
    cargo
        .arg("--quiet")
        .env("GIT_REVISION", &source.revision)
        .env("SOURCE_DATE_EPOCH", source.epoch.to_string());
    process::run(&mut cargo)?;
    let binary = static_binary::binary(target_dir, &profile)?;
    let bytes =
        std::fs::read(&binary).with_context(|| format!("cannot read {}", binary.display()))?;

    let path = stage.copy.1.trim_start_matches('/').to_owned();
    let (app_layer, app_diff_id) = layer::build(
        vec![layer::File {
            path,
            mode: 0o755,
            uid: 0,
            gid: 0,
            bytes,
        }],
        source.epoch,
    )?;
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut history = Vec::new();
    let mut config = Map::new();
    let mut annotations = Map::new();
    if let Some(base) = &base {
        for blob in &base.layers {
            layers.push(blob.clone());
        }
        diff_ids.extend(base.diff_ids.iter().cloned().map(Value::String));
        // The base's history and settings are copied whole, fields xtask never reads included,
        // so they stay JSON here: a struct would drop what it does not name.
        history.extend(
            base.config
                .get("history")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        );
        if let Some(inherited) = base.config.get("config").and_then(Value::as_object) {
            config.clone_from(inherited);
        }
        annotations.insert(
            "org.opencontainers.image.base.name".to_owned(),
            json!(base.reference),
        );
        annotations.insert(
            "org.opencontainers.image.base.digest".to_owned(),
            json!(base.digest),
        );
    }
    layers.push(app_layer);
    diff_ids.push(json!(app_diff_id));
    let created = time::rfc3339(source.epoch);
    history.push(json!({
        "created": created,
        "created_by": format!("COPY {} {} # cargo xtask build --daemonless", stage.copy.0, stage.copy.1),
    }));
    apply(&mut config, &stage);
    for (key, value) in &stage.labels {
        annotations.insert(key.clone(), json!(value));
    }
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    Ok(Built {
        image: Image::new(&config, layers, &Value::Object(annotations)),
        binary,
        base: base.map(|base| format!("{}@{}", base.reference, base.digest)),
    })
}

/// The final stage's declarations over the base's config, as `docker build` applies them.
fn apply(config: &mut Map<String, Value>, stage: &FinalStage) {
    if !config.contains_key("Env") {
        // What Docker gives an image built `FROM scratch`.
        config.insert(
            "Env".to_owned(),
            json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]),
        );
    }
    if let Some(user) = &stage.user {
        config.insert("User".to_owned(), json!(user));
    }
    if !stage.exposed.is_empty() {
        let ports = config
            .entry("ExposedPorts")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        let mut ports = ports;
        for port in &stage.exposed {
            ports.insert(port.clone(), json!({}));
        }
        config.insert("ExposedPorts".to_owned(), Value::Object(ports));
    }
    if let Some(entrypoint) = &stage.entrypoint {
        config.insert("Entrypoint".to_owned(), json!(entrypoint));
        config.remove("Cmd");
    }
    if let Some(cmd) = &stage.cmd {
        config.insert("Cmd".to_owned(), json!(cmd));
    }
    if let Some(signal) = &stage.stop_signal {
        config.insert("StopSignal".to_owned(), json!(signal));
    }
    if let Some(check) = &stage.healthcheck {
        config.insert("Healthcheck".to_owned(), check.to_json());
    }
    if !stage.labels.is_empty() {
        let mut labels = config
            .get("Labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (key, value) in &stage.labels {
            labels.insert(key.clone(), json!(value));
        }
        config.insert("Labels".to_owned(), Value::Object(labels));
    }
}

/// A base image's config and layers, read from the local engine or from a registry.
struct Base {
    reference: String,
    /// The manifest's digest: the registry's, or, from an engine that knows none, the image ID.
    digest: String,
    config: Value,
    diff_ids: Vec<String>,
    layers: Vec<Blob>,
}

/// A layer's media types that say gzipped tar: OCI's, and Docker's, which `docker push` writes.
const GZIPPED_LAYERS: [&str; 2] = [
    LAYER_MEDIA_TYPE,
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
];

/// The platform every daemonless image is built for.
const PLATFORM: &str = "linux/amd64";

impl Base {
    /// The distroless base: `DISTROLESS_IMAGE`, else what `stand_ins::resolve` picks (which asks
    /// the engine), else, with no engine, the Dockerfile's default. Read from the local engine
    /// when it holds the image, else from the image's registry.
    fn distroless() -> Result<Self> {
        let base = BaseImage::distroless();
        let engine = docker::engine::answers();
        let chosen = std::env::var(base.variable)
            .ok()
            .filter(|value| !value.trim().is_empty());
        let reference = match chosen {
            Some(reference) => reference,
            None if engine => crate::docker::stand_ins::resolve(&base)?.0,
            None => base
                .default_reference()?
                .context("the distroless base has no declared default")?,
        };
        if engine && docker::image_exists(&reference) {
            eprintln!("base {reference}: from the local engine");
            return Self::from_engine(&reference);
        }
        let why = if engine {
            "the local engine does not hold it"
        } else {
            "no engine answers"
        };
        eprintln!("base {reference}: from its registry ({why})");
        Self::from_registry(&reference).with_context(|| {
            format!(
                "the distroless base {reference} is read from its registry as {why}, and that \
                 failed: start an engine that holds it, or set {} to an image a registry this \
                 machine reaches serves",
                base.variable
            )
        })
    }

    /// The base's linux/amd64 image from its registry, its layers as the registry serves them
    /// (gzipped), each checked against the diff ID its config lists.
    fn from_registry(text: &str) -> Result<Self> {
        let reference = Reference::parse(text)?;
        let mut registry =
            distribution::Repository::new(&reference.host, &reference.name, None).read_only();
        let served = registry
            .image_manifest(reference.manifest_reference(), PLATFORM)?
            .with_context(|| format!("{} serves no {text}", reference.host))?;
        let manifest: Manifest = serde_json::from_slice(&served.manifest.bytes)
            .with_context(|| format!("the manifest of {text} is not an image manifest"))?;
        let digest = served.manifest.digest();
        let config_bytes = registry.blob(&manifest.config.digest)?;
        let settings: ImageConfig = serde_json::from_slice(&config_bytes)
            .with_context(|| format!("the config of {text} is not an image configuration"))?;
        let platform = format!("{}/{}", settings.os, settings.architecture);
        if platform != PLATFORM {
            bail!("{text} is an image for {platform}; the daemonless build makes {PLATFORM}");
        }
        let config: Value = serde_json::from_slice(&config_bytes)
            .with_context(|| format!("the config of {text} is not JSON"))?;
        let diff_ids = settings.rootfs.diff_ids;
        let descriptors = manifest.layers;
        if descriptors.len() != diff_ids.len() {
            bail!(
                "{text}: the manifest names {} layers, its config {}",
                descriptors.len(),
                diff_ids.len()
            );
        }
        let mut layers = Vec::new();
        for (descriptor, diff_id) in descriptors.iter().zip(&diff_ids) {
            let layer_digest = descriptor.digest.as_str();
            let media_type = descriptor.media_type.as_str();
            if !GZIPPED_LAYERS.contains(&media_type) {
                bail!(
                    "{text}: the layer {layer_digest} is {media_type:?}; the daemonless build \
                     takes gzipped tar layers only"
                );
            }
            let bytes = registry.blob(layer_digest)?;
            if layer::diff_id(&bytes)
                .with_context(|| format!("{text}: the layer {layer_digest} does not gunzip"))?
                != *diff_id
            {
                bail!(
                    "{text}: the layer {layer_digest} is not the one its config lists ({diff_id})"
                );
            }
            // The same bytes under OCI's name for them, as the image's manifest is OCI's.
            layers.push(Blob::new(LAYER_MEDIA_TYPE, bytes));
        }
        eprintln!(
            "base {}@{digest}: {} layer(s) from {}{} ({} requests)",
            reference.without_digest(),
            layers.len(),
            reference.host,
            served
                .index
                .map(|index| format!(", {PLATFORM} of the index {index}"))
                .unwrap_or_default(),
            registry.requests
        );
        Ok(Self {
            reference: reference.without_digest(),
            digest,
            config,
            diff_ids,
            layers,
        })
    }

    fn from_engine(reference: &str) -> Result<Self> {
        crate::docker::engine::require().context(
            "the distroless variant takes its base image's layers from the local engine; \
             the scratch variant needs no engine",
        )?;
        let digest = process::capture(docker::docker().args([
            "image",
            "inspect",
            "--format",
            "{{if .RepoDigests}}{{index .RepoDigests 0}}{{else}}{{.Id}}{{end}}",
            reference,
        ]))
        .with_context(|| format!("the base image {reference} is not in the local engine"))?;
        let digest = digest.rsplit('@').next().unwrap_or(&digest).to_owned();
        let mut save = docker::docker()
            .args(["save", reference])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .context("cannot run docker save")?;
        let mut files = std::collections::HashMap::new();
        {
            let stdout = save.stdout.take().context("docker save's output")?;
            let mut archive = tar::Archive::new(stdout);
            for entry in archive.entries()? {
                let mut entry = entry?;
                if !entry.header().entry_type().is_file() {
                    continue;
                }
                let path = entry.path()?.display().to_string();
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes)?;
                files.insert(path, bytes);
            }
        }
        let status = save.wait()?;
        if !status.success() {
            bail!("docker save {reference} failed with {status}");
        }
        let manifest: Vec<ArchiveManifest> = serde_json::from_slice(
            files
                .get("manifest.json")
                .context("docker save wrote no manifest.json")?,
        )
        .context("docker save's manifest.json is not the list of images it writes")?;
        let entry = manifest
            .into_iter()
            .next()
            .context("docker save's manifest.json lists no image")?;
        let file = |path: &str| -> Result<&Vec<u8>> {
            files
                .get(path)
                .with_context(|| format!("docker save's archive has no {path}"))
        };
        let config_bytes = file(&entry.config)?;
        let settings: ImageConfig = serde_json::from_slice(config_bytes)
            .with_context(|| format!("{reference}: its config is not an image configuration"))?;
        let config: Value = serde_json::from_slice(config_bytes)?;
        let diff_ids = settings.rootfs.diff_ids;
        let mut layers = Vec::new();
        for (path, diff_id) in entry.layers.iter().zip(&diff_ids) {
            let tar = file(path)?;
            if oci::sha256(tar) != *diff_id {
                bail!(
                    "{reference}: a layer of docker save's archive is not the one its config lists"
                );
            }
            layers.push(layer::gzip(tar)?);
        }
        Ok(Self {
            reference: reference.to_owned(),
            digest,
            config,
            diff_ids,
            layers,
        })
    }
}
