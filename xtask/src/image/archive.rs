//! An image read from its saved archive: `docker save` (the docker-archive layout, and the OCI
//! image layout Docker 25 and later write) or an archive file. The archive is streamed once;
//! layers are read as they pass, never unpacked to disk, so this works whatever storage the
//! engine uses. Layer order comes from `manifest.json` or `index.json`, which may come last, so
//! each layer is recorded under its path in the archive and put in order at the end.
//!
//! The `tar` crate reads the archive and its layers; what is written here is the image on top
//! of it (the two layouts, layer order, whiteouts, duplicate layers stored as links), which no
//! crate reads from a stream without unpacking it first.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use flate2::read::GzDecoder;
use serde::de::DeserializeOwned;

use crate::docker;
use crate::image::entry::{self, Header, Kind};
use crate::oci::documents::{ArchiveManifest, Descriptor, ImageConfig, IndexOrManifest};

/// Files kept whole wherever they are: package databases and the OS release.
const CAPTURED: &[&str] = &[
    "var/lib/dpkg/status",
    "lib/apk/db/installed",
    "etc/os-release",
    "usr/lib/os-release",
];
/// distroless keeps one status file per package here.
const DPKG_STATUS_DIR: &str = "var/lib/dpkg/status.d/";
const CAPTURE_LIMIT: u64 = 64 << 20;
const JSON_LIMIT: u64 = 64 << 20;
/// The largest member that does not look like JSON kept to be named by a manifest: a config or
/// manifest that is not JSON is reported as such, and nothing large is held in memory.
const DOCUMENT_LIMIT: u64 = 1 << 20;

/// Where the archive comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// An image in the local engine, streamed from `docker save`.
    Engine(String),
    /// A file written by `docker save` (optionally gzipped) or an OCI image layout as a tar.
    Archive(std::path::PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Engine(reference) => f.write_str(reference),
            Self::Archive(path) => write!(f, "{}", path.display()),
        }
    }
}

/// What one layer changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Add(Header),
    /// A whiteout: the path and everything under it is gone from lower layers.
    Remove(String),
    /// An opaque whiteout: everything under this directory from lower layers is gone.
    Opaque(String),
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Layer {
    /// The layer's path in the archive.
    pub(crate) key: String,
    /// Bytes of the layer blob as stored (compressed when the archive compresses it).
    pub(crate) stored_bytes: u64,
    /// The instruction that created it, from the image history.
    pub(crate) created_by: String,
    pub(crate) changes: Vec<Change>,
    /// Package databases and the like, whole: (path, contents).
    pub(crate) captured: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Image {
    pub(crate) name: String,
    /// The image configuration: its settings, layers and history.
    pub(crate) config: ImageConfig,
    pub(crate) layers: Vec<Layer>,
    /// Bytes read from the archive, and how long reading took.
    pub(crate) archive_bytes: u64,
    pub(crate) elapsed: Duration,
}

/// Looks into regular files as the layers stream by (secrets, embedded dependency lists).
pub(crate) trait Inspector {
    fn wants(&self, header: &Header) -> bool;
    /// `layer` is the layer's key; `contents` yields exactly `header.size` bytes.
    fn inspect(&mut self, layer: &str, header: &Header, contents: &mut dyn Read) -> Result<()>;
}

/// Inspects nothing: the layout alone.
pub(crate) struct LayoutOnly;

impl Inspector for LayoutOnly {
    fn wants(&self, _: &Header) -> bool {
        false
    }
    fn inspect(&mut self, _: &str, _: &Header, _: &mut dyn Read) -> Result<()> {
        Ok(())
    }
}

/// Reads the image from `source`, showing every regular file `inspector` wants to it.
pub(crate) fn read(source: &Source, inspector: &mut dyn Inspector) -> Result<Image> {
    match source {
        Source::Engine(reference) => read_engine(reference, inspector, None),
        Source::Archive(path) if path.is_dir() => {
            // An OCI image layout as a folder: read as the tar of itself, streamed through a
            // pipe so that a large layout is never held in memory.
            let started = Instant::now();
            let (reader, writer) = io::pipe().context("cannot create a pipe")?;
            let folder = path.clone();
            let writing = std::thread::spawn(move || -> io::Result<()> {
                let mut builder = tar::Builder::new(writer);
                builder.append_dir_all(".", &folder)?;
                builder.into_inner().map(drop)
            });
            let read = read_stream(reader, inspector);
            let written = writing
                .join()
                .map_err(|_| anyhow::anyhow!("the layout reader panicked"))?;
            let mut image = read
                .with_context(|| format!("cannot read the OCI image layout {}", path.display()))?;
            written.with_context(|| format!("cannot read the folder {}", path.display()))?;
            if image.name.is_empty() {
                image.name = path.display().to_string();
            }
            image.elapsed = started.elapsed();
            Ok(image)
        }
        Source::Archive(path) => {
            let started = Instant::now();
            let file = File::open(path).with_context(|| {
                format!(
                    "cannot open {}: give a file written by `docker save IMAGE -o FILE`",
                    path.display()
                )
            })?;
            let mut image = read_stream(file, inspector)
                .with_context(|| format!("cannot read the image archive {}", path.display()))?;
            if image.name.is_empty() {
                image.name = path.display().to_string();
            }
            image.elapsed = started.elapsed();
            Ok(image)
        }
    }
}

/// Streams `docker save REFERENCE`; `copy`, when given, receives every byte of the archive as
/// it passes (so one save can also be measured, compressed, ...).
pub(crate) fn read_engine(
    reference: &str,
    inspector: &mut dyn Inspector,
    copy: Option<&mut dyn Write>,
) -> Result<Image> {
    let started = Instant::now();
    docker::engine::require()?;
    let mut child = docker::docker()
        .args(["save", reference])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run docker save")?;
    let stdout = child.stdout.take().context("docker save has no stdout")?;
    let result = match copy {
        Some(copy) => read_stream(
            Tee {
                inner: stdout,
                copy,
            },
            inspector,
        ),
        None => read_stream(stdout, inspector),
    };
    let mut image = finish_save(child, reference, result)?;
    if image.name.is_empty() {
        reference.clone_into(&mut image.name);
    }
    image.elapsed = started.elapsed();
    Ok(image)
}

/// A reader that also writes what it reads to `copy`.
struct Tee<'a, R> {
    inner: R,
    copy: &'a mut dyn Write,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

fn finish_save(mut child: Child, reference: &str, result: Result<Image>) -> Result<Image> {
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let status = child.wait()?;
    let stderr = stderr.trim();
    if !status.success()
        && (stderr.contains("No such image") || stderr.contains("reference does not exist"))
    {
        bail!(
            "no image {reference} in the local engine: build it (`cargo xtask build`) or pull it \
             first"
        );
    }
    // A reading error closes the pipe early and docker save then fails too: the reading error
    // is the one that says what is wrong.
    let image =
        result.with_context(|| format!("cannot read what docker save wrote for {reference}"))?;
    if !status.success() {
        bail!("docker save {reference} failed with {status}: {stderr}");
    }
    Ok(image)
}

/// Counts the bytes that pass through.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// What a member of the archive turned out to be, from its first bytes.
enum Sniffed {
    Tar,
    Gzip,
    Json,
    Other,
}

fn sniff(head: &[u8]) -> Sniffed {
    if head.starts_with(&[0x1f, 0x8b]) {
        Sniffed::Gzip
    } else if head.len() >= 262 && &head[257..262] == b"ustar"
        || head.len() == 512 && head.iter().all(|b| *b == 0)
    {
        Sniffed::Tar
    } else if head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
        || head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
    {
        Sniffed::Json
    } else {
        Sniffed::Other
    }
}

/// Up to 512 bytes from the start of `reader`.
fn head(reader: impl Read) -> Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    reader.take(512).read_to_end(&mut head)?;
    Ok(head)
}

pub(crate) fn read_stream(stream: impl Read, inspector: &mut dyn Inspector) -> Result<Image> {
    let mut counting = Counting {
        inner: BufReader::with_capacity(1 << 20, stream),
        count: 0,
    };
    let start = head(&mut counting)?;
    let image = match sniff(&start) {
        Sniffed::Gzip => read_outer(
            GzDecoder::new(Cursor::new(start).chain(&mut counting)),
            inspector,
        )?,
        Sniffed::Tar => read_outer(Cursor::new(start).chain(&mut counting), inspector)?,
        _ if start.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) => {
            bail!("zstd-compressed archives are not supported: decompress it first (`zstd -d`)")
        }
        _ => bail!("this is not an image archive: expected a tar written by `docker save`"),
    };
    // The padding after the end-of-archive marker: read it all, so the writer (docker save)
    // finishes instead of meeting a closed pipe.
    io::copy(&mut counting, &mut io::sink())?;
    Ok(Image {
        archive_bytes: counting.count,
        ..image
    })
}

fn read_outer(stream: impl Read, inspector: &mut dyn Inspector) -> Result<Image> {
    let mut layers: HashMap<String, Layer> = HashMap::new();
    let mut documents = Documents::default();
    // docker-archive stores a layer that repeats an earlier one as a symlink to it.
    let mut aliases: Vec<(String, String)> = Vec::new();
    entry::for_each(stream, |header, contents| {
        if header.kind == Kind::Symlink {
            aliases.push((
                header.path.clone(),
                resolve_link(&header.path, &header.link),
            ));
        }
        if header.kind != Kind::File {
            return Ok(());
        }
        let start = head(&mut *contents)?;
        match sniff(&start) {
            kind @ (Sniffed::Tar | Sniffed::Gzip) => {
                let raw = Cursor::new(start).chain(contents);
                let stream: Box<dyn Read + '_> = if matches!(kind, Sniffed::Gzip) {
                    Box::new(GzDecoder::new(raw))
                } else {
                    Box::new(raw)
                };
                let layer = read_layer(&header.path, stream, inspector)?;
                layers.insert(
                    header.path,
                    Layer {
                        stored_bytes: header.size,
                        ..layer
                    },
                );
            }
            _ if start.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) => {
                bail!(
                    "{} is a zstd-compressed layer, which is not supported; save the image with \
                     a Docker that stores gzip or plain layers",
                    header.path
                );
            }
            // Kept as bytes, to be parsed when the manifest names them: a manifest or config
            // that is not JSON is then reported as such, with the line and column.
            Sniffed::Json if header.size <= JSON_LIMIT => {
                let mut text = start;
                contents.read_to_end(&mut text)?;
                documents.0.insert(header.path, text);
            }
            Sniffed::Other if header.size <= DOCUMENT_LIMIT => {
                let mut text = start;
                contents.read_to_end(&mut text)?;
                documents.0.insert(header.path, text);
            }
            Sniffed::Json | Sniffed::Other => {}
        }
        Ok(())
    })?;
    for (alias, target) in aliases {
        if let Some(layer) = layers.get(&target).cloned() {
            layers.insert(alias, layer);
        }
    }
    assemble(layers, &documents)
}

/// The archive path a symlink at `path` pointing to `target` names.
fn resolve_link(path: &str, target: &str) -> String {
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// The small files of an archive, by path: manifests, indexes, configs, and whatever else is
/// not a layer.
#[derive(Default)]
struct Documents(HashMap<String, Vec<u8>>);

impl Documents {
    /// The document at `path` read as `T`; `None` when the archive has no such file, an error
    /// naming `what` and the fault (with its line and column) when it is not that JSON.
    fn parse<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<Option<T>> {
        self.0
            .get(path)
            .map(|text| {
                serde_json::from_slice(text)
                    .with_context(|| format!("{what} {path} in the archive is not valid JSON"))
            })
            .transpose()
    }

    /// The document at `path`, which the manifest names and so must be there.
    fn require<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T> {
        self.parse(path, what)?
            .with_context(|| format!("the archive lacks {what} {path} that its manifest names"))
    }
}

/// Puts the layers in the order the manifest gives and attaches the configuration.
fn assemble(mut layers: HashMap<String, Layer>, documents: &Documents) -> Result<Image> {
    let (name, config_path, layer_paths) = if let Some(manifest) =
        documents.parse::<Vec<ArchiveManifest>>("manifest.json", "the manifest")?
    {
        let entry = manifest
            .into_iter()
            .next()
            .context("manifest.json lists no image")?;
        let name = entry
            .repo_tags
            .and_then(|tags| tags.into_iter().next())
            .unwrap_or_default();
        (name, entry.config, entry.layers)
    } else if let Some(index) = documents.parse::<IndexOrManifest>("index.json", "the index")? {
        oci_manifest(index, documents)?
    } else {
        bail!(
            "the archive has neither manifest.json nor index.json: is it from `docker save`, or \
             an OCI image layout?"
        );
    };
    let config: ImageConfig = documents.require(&config_path, "the image configuration")?;
    let history = config
        .history
        .iter()
        .filter(|entry| !entry.empty_layer)
        .map(|entry| instruction(&entry.created_by))
        .collect::<Vec<_>>();
    let mut ordered = Vec::with_capacity(layer_paths.len());
    for (index, path) in layer_paths.iter().enumerate() {
        // The same blob may serve twice (identical layers); the second use gets a copy.
        let mut layer = match layers.get(path) {
            Some(layer) if layer_paths[index + 1..].contains(path) => layer.clone(),
            Some(_) => layers.remove(path).unwrap_or_default(),
            None => bail!("the archive lacks layer {path} that its manifest lists"),
        };
        layer.created_by = history.get(index).cloned().unwrap_or_default();
        ordered.push(layer);
    }
    Ok(Image {
        name,
        config,
        layers: ordered,
        archive_bytes: 0,
        elapsed: Duration::ZERO,
    })
}

/// OCI layout: index → (nested index →) manifest → config and layers, as blob paths.
fn oci_manifest(
    index: IndexOrManifest,
    documents: &Documents,
) -> Result<(String, String, Vec<String>)> {
    let mut current = index;
    let mut name = String::new();
    for _ in 0..4 {
        match current {
            IndexOrManifest::Index(index) => {
                let chosen = index
                    .for_platform("linux", "amd64")
                    .or_else(|| index.manifests.first())
                    .context("index.json lists no manifest")?;
                if name.is_empty() {
                    let annotations = &chosen.annotations;
                    annotations
                        .get("io.containerd.image.name")
                        .or_else(|| annotations.get(crate::oci::REF_NAME))
                        .cloned()
                        .unwrap_or_default()
                        .clone_into(&mut name);
                }
                current = documents.require(&chosen.blob_path(), "the manifest")?;
            }
            IndexOrManifest::Manifest(manifest) => {
                let layers = manifest.layers.iter().map(Descriptor::blob_path).collect();
                return Ok((name, manifest.config.blob_path(), layers));
            }
        }
    }
    bail!("index.json nests indexes too deeply")
}

/// `/bin/sh -c #(nop)  EXPOSE 8080` → `EXPOSE 8080`; `/bin/sh -c apt-get ...` → `RUN apt-get ...`.
fn instruction(created_by: &str) -> String {
    let text = created_by.trim();
    let text = text.strip_suffix("# buildkit").unwrap_or(text).trim();
    if let Some(rest) = text.strip_prefix("/bin/sh -c #(nop)") {
        return rest.trim().to_owned();
    }
    if let Some(rest) = text.strip_prefix("/bin/sh -c ") {
        return format!("RUN {}", rest.trim());
    }
    text.to_owned()
}

fn read_layer(key: &str, stream: impl Read, inspector: &mut dyn Inspector) -> Result<Layer> {
    let mut layer = Layer {
        key: key.to_owned(),
        ..Layer::default()
    };
    entry::for_each(stream, |header, contents| {
        let (dir, name) = header
            .path
            .rsplit_once('/')
            .map_or(("", header.path.as_str()), |(d, n)| (d, n));
        if name == ".wh..wh..opq" {
            layer.changes.push(Change::Opaque(dir.to_owned()));
            return Ok(());
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            let path = if dir.is_empty() {
                hidden.to_owned()
            } else {
                format!("{dir}/{hidden}")
            };
            layer.changes.push(Change::Remove(path));
            return Ok(());
        }
        if header.kind == Kind::File {
            let captured = CAPTURED.contains(&header.path.as_str())
                || header.path.starts_with(DPKG_STATUS_DIR);
            if captured {
                if header.size <= CAPTURE_LIMIT {
                    let mut data = Vec::new();
                    contents.read_to_end(&mut data)?;
                    layer.captured.push((header.path.clone(), data));
                }
            } else if inspector.wants(&header) {
                inspector
                    .inspect(key, &header, contents)
                    .with_context(|| format!("inspecting /{} in layer {key}", header.path))?;
            }
        }
        layer.changes.push(Change::Add(header));
        Ok(())
    })
    .with_context(|| format!("in layer {key}"))?;
    Ok(layer)
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::Value;

    use super::*;
    use crate::image::entry::archive_of;

    /// A docker-archive with the given layers (each a finished tar) and configuration.
    pub(crate) fn docker_archive(layers: &[Vec<u8>], config: &Value) -> Vec<u8> {
        let paths: Vec<String> = (0..layers.len())
            .map(|i| format!("layer{i}/layer.tar"))
            .collect();
        let config = config.to_string();
        let manifest = serde_json::json!([{
            "Config": "config.json", "RepoTags": ["synthetic:test"], "Layers": paths
        }])
        .to_string();
        let mut files: Vec<(&str, &[u8])> = paths
            .iter()
            .map(String::as_str)
            .zip(layers.iter().map(Vec::as_slice))
            .collect();
        files.push(("config.json", config.as_bytes()));
        files.push(("manifest.json", manifest.as_bytes()));
        archive_of(&files)
    }

    #[test]
    fn reads_a_docker_archive_in_manifest_order() {
        let lower = archive_of(&[("etc/a", b"one")]);
        let upper = archive_of(&[("etc/.wh.a", b""), ("var/lib/dpkg/status", b"Package: x\n")]);
        let config = serde_json::json!({"config": {"User": "1:1"}, "history": [
            {"created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
            {"created_by": "ENV X=1", "empty_layer": true},
            {"created_by": "/bin/sh -c rm /etc/a"}
        ]});
        let archive = docker_archive(&[lower, upper], &config);
        let image = read_stream(archive.as_slice(), &mut LayoutOnly).expect("reads");
        assert_eq!(image.name, "synthetic:test");
        assert_eq!(image.layers.len(), 2);
        assert_eq!(image.layers[0].created_by, "ADD file:abc in /");
        assert_eq!(image.layers[1].created_by, "RUN rm /etc/a");
        assert_eq!(
            image.layers[1].changes[0],
            Change::Remove("etc/a".to_owned())
        );
        assert_eq!(
            image.layers[1].captured,
            vec![("var/lib/dpkg/status".to_owned(), b"Package: x\n".to_vec())]
        );
        assert_eq!(image.archive_bytes, archive.len() as u64);
    }

    #[test]
    fn reads_an_oci_layout_with_gzipped_layers() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let layer = archive_of(&[("app", b"binary")]);
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&layer).expect("present");
        let layer_gz = gz.finish().expect("present");
        let config = serde_json::json!({"config": {}, "history": [{"created_by": "COPY /app /app # buildkit"}]});
        let manifest = serde_json::json!({
            "config": {"digest": "sha256:c0"}, "layers": [{"digest": "sha256:l0"}]
        });
        let index = serde_json::json!({"manifests": [{"digest": "sha256:m0",
            "annotations": {"io.containerd.image.name": "docker.io/library/x:1"}}]});
        let (config, manifest, index) =
            (config.to_string(), manifest.to_string(), index.to_string());
        let archive = archive_of(&[
            ("blobs/sha256/l0", &layer_gz),
            ("blobs/sha256/c0", config.as_bytes()),
            ("blobs/sha256/m0", manifest.as_bytes()),
            ("index.json", index.as_bytes()),
            ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
        ]);
        let image = read_stream(archive.as_slice(), &mut LayoutOnly).expect("reads");
        assert_eq!(image.name, "docker.io/library/x:1");
        assert_eq!(image.layers[0].created_by, "COPY /app /app");
        assert_eq!(image.layers[0].stored_bytes, layer_gz.len() as u64);
        assert!(
            matches!(&image.layers[0].changes[0], Change::Add(h) if h.path == "app" && h.size == 6)
        );
    }

    #[test]
    fn foreign_input_is_refused_clearly() {
        let error = read_stream(&b"hello, world"[..], &mut LayoutOnly)
            .expect_err("fails")
            .to_string();
        assert!(error.contains("not an image archive"), "{error}");
        let no_manifest = archive_of(&[("x", b"x")]);
        let error = read_stream(no_manifest.as_slice(), &mut LayoutOnly)
            .expect_err("fails")
            .to_string();
        assert!(
            error.contains("neither manifest.json nor index.json"),
            "{error}"
        );
    }

    #[test]
    fn documents_that_are_not_json_are_named_with_their_fault() {
        let error = format!(
            "{:#}",
            read_stream(
                archive_of(&[("manifest.json", b"[{\"Config\": oops}]")]).as_slice(),
                &mut LayoutOnly
            )
            .expect_err("fails")
        );
        assert!(
            error.contains("the manifest manifest.json in the archive is not valid JSON")
                && error.contains("line 1 column"),
            "{error}"
        );
        let manifest = br#"[{"Config": "c.json", "RepoTags": ["x:1"], "Layers": []}]"#;
        let error = format!(
            "{:#}",
            read_stream(
                archive_of(&[("manifest.json", manifest), ("c.json", b"not json at all")])
                    .as_slice(),
                &mut LayoutOnly
            )
            .expect_err("fails")
        );
        assert!(
            error.contains("the image configuration c.json in the archive is not valid JSON")
                && error.contains("line 1 column"),
            "{error}"
        );
        let error = format!(
            "{:#}",
            read_stream(
                archive_of(&[("manifest.json", manifest)]).as_slice(),
                &mut LayoutOnly
            )
            .expect_err("fails")
        );
        assert!(
            error.contains("lacks the image configuration c.json"),
            "{error}"
        );
    }
}
