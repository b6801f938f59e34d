//! What an image is made of, read through the docker CLI: its configuration (`docker image
//! inspect`), its filesystem (`docker export` of a created, never started container, read as a
//! tar stream) and its compressed size (`docker save`, gzipped, counted, never written).

use std::io::{self, Read};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{docker, process};

#[derive(Debug, Clone, Default)]
pub(crate) struct ImageConfig {
    pub(crate) id: String,
    pub(crate) size_bytes: u64,
    pub(crate) layers: usize,
    /// Empty means root.
    pub(crate) user: String,
    pub(crate) exposed_ports: Vec<String>,
    pub(crate) healthcheck: Option<Vec<String>>,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) entrypoint: Vec<String>,
    pub(crate) cmd: Vec<String>,
    pub(crate) stop_signal: String,
}

pub(crate) fn config(reference: &str) -> Result<ImageConfig> {
    let text = process::capture(docker::docker().args(["image", "inspect", reference]))?;
    let parsed: Value =
        serde_json::from_str(&text).context("docker image inspect printed no JSON")?;
    let image = parsed
        .get(0)
        .context("docker image inspect printed an empty list")?;
    let config = &image["Config"];
    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut exposed_ports: Vec<String> = config["ExposedPorts"]
        .as_object()
        .map(|ports| ports.keys().cloned().collect())
        .unwrap_or_default();
    exposed_ports.sort();
    let mut labels: Vec<(String, String)> = config["Labels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    Ok(ImageConfig {
        id: image["Id"].as_str().unwrap_or_default().to_owned(),
        size_bytes: image["Size"].as_u64().unwrap_or(0),
        layers: image["RootFS"]["Layers"].as_array().map_or(0, Vec::len),
        user: config["User"].as_str().unwrap_or_default().to_owned(),
        exposed_ports,
        healthcheck: config["Healthcheck"]["Test"]
            .as_array()
            .map(|_| strings(&config["Healthcheck"]["Test"])),
        labels,
        entrypoint: strings(&config["Entrypoint"]),
        cmd: strings(&config["Cmd"]),
        stop_signal: config["StopSignal"].as_str().unwrap_or_default().to_owned(),
    })
}

/// What the image's filesystem holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Filesystem {
    pub(crate) files: u64,
    pub(crate) shells: Vec<String>,
    pub(crate) os_packages: u64,
    /// Size of `/app`, the service binary, where the image has it at the root.
    pub(crate) app_binary_bytes: Option<u64>,
}

const SHELLS: &[&str] = &[
    "bin/sh",
    "bin/bash",
    "bin/dash",
    "bin/ash",
    "bin/zsh",
    "bin/busybox",
    "usr/bin/sh",
    "usr/bin/bash",
    "usr/bin/dash",
];

/// Empty files Docker adds to every container (mount points for its own files); an export
/// shows them, the image does not hold them.
const CONTAINER_INJECTED: &[&str] = &[
    ".dockerenv",
    "dev/console",
    "etc/hostname",
    "etc/hosts",
    "etc/resolv.conf",
];

pub(crate) fn filesystem(reference: &str) -> Result<Filesystem> {
    // A created container has the image's filesystem and never runs.
    let container = process::capture(docker::docker().args(["create", reference, "inspect-only"]))?;
    let result = (|| {
        let mut export = docker::docker()
            .args(["export", &container])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot run docker export")?;
        let stdout = export
            .stdout
            .take()
            .context("docker export has no stdout")?;
        let facts = read_filesystem(stdout)?;
        let status = export.wait()?;
        if !status.success() {
            bail!("docker export of {reference} failed with {status}");
        }
        Ok(facts)
    })();
    let _ = process::capture(docker::docker().args(["rm", "-f", &container]));
    result
}

/// Walks a tar stream: counts regular files, finds shells and package databases.
pub(crate) fn read_filesystem(stream: impl Read) -> Result<Filesystem> {
    let mut facts = Filesystem::default();
    for entry in TarEntries::new(stream) {
        let entry = entry?;
        let path = entry
            .path
            .trim_start_matches("./")
            .trim_start_matches('/')
            .to_owned();
        if (entry.kind == b'0' || entry.kind == 0) && !CONTAINER_INJECTED.contains(&path.as_str()) {
            facts.files += 1;
            if path == "app" {
                facts.app_binary_bytes = Some(entry.size);
            }
        }
        if SHELLS.contains(&path.as_str()) && matches!(entry.kind, b'0' | 0 | b'1' | b'2') {
            facts.shells.push(format!("/{path}"));
        }
        if path == "var/lib/dpkg/status" {
            facts.os_packages += count_lines(&entry.data, |l| l == "Status: install ok installed");
        } else if path.starts_with("var/lib/dpkg/status.d/") && !entry.data.is_empty() {
            // distroless keeps one small status file per package.
            facts.os_packages += count_lines(&entry.data, |l| l.starts_with("Package:"));
        } else if path == "lib/apk/db/installed" {
            facts.os_packages += count_lines(&entry.data, |l| l.starts_with("P:"));
        }
    }
    facts.shells.sort();
    Ok(facts)
}

fn count_lines(data: &[u8], matches: impl Fn(&str) -> bool) -> u64 {
    String::from_utf8_lossy(data)
        .lines()
        .filter(|l| matches(l.trim_end()))
        .count() as u64
}

/// One tar member. Only package databases keep their data; other contents are skipped.
pub(crate) struct TarEntry {
    pub(crate) path: String,
    pub(crate) kind: u8,
    pub(crate) size: u64,
    pub(crate) data: Vec<u8>,
}

/// A minimal reader of ustar/GNU/PAX tar streams, enough for image filesystems.
pub(crate) struct TarEntries<R> {
    reader: R,
    long_name: Option<String>,
    done: bool,
}

impl<R: Read> TarEntries<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            reader,
            long_name: None,
            done: false,
        }
    }

    fn next_entry(&mut self) -> Result<Option<TarEntry>> {
        loop {
            let mut header = [0_u8; 512];
            if !read_block(&mut self.reader, &mut header)? || header.iter().all(|b| *b == 0) {
                return Ok(None);
            }
            let size = parse_octal(&header[124..136]).context("tar header has a bad size")?;
            let kind = header[156];
            let name = field(&header[0..100]);
            let prefix = field(&header[345..500]);
            let path = self.long_name.take().unwrap_or_else(|| {
                if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                }
            });
            let keep = matches!(kind, b'L' | b'x')
                || path
                    .trim_start_matches("./")
                    .starts_with("var/lib/dpkg/status")
                || path.trim_start_matches("./") == "lib/apk/db/installed";
            let data = read_data(&mut self.reader, size, keep)?;
            match kind {
                b'L' => {
                    self.long_name = Some(
                        String::from_utf8_lossy(&data)
                            .trim_end_matches('\0')
                            .to_owned(),
                    );
                }
                b'x' => self.long_name = pax_path(&data),
                b'g' => {}
                _ => {
                    return Ok(Some(TarEntry {
                        path,
                        kind,
                        size,
                        data,
                    }));
                }
            }
        }
    }
}

impl<R: Read> Iterator for TarEntries<R> {
    type Item = Result<TarEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_entry() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(error) => {
                self.done = true;
                Some(Err(error))
            }
        }
    }
}

fn read_block(reader: &mut impl Read, block: &mut [u8; 512]) -> Result<bool> {
    let mut filled = 0;
    while filled < block.len() {
        match reader.read(&mut block[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => bail!("tar stream ends inside a header"),
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(true)
}

fn read_data(reader: &mut impl Read, size: u64, keep: bool) -> Result<Vec<u8>> {
    let padded = size.div_ceil(512) * 512;
    let mut data = Vec::new();
    if keep {
        reader.take(size).read_to_end(&mut data)?;
        io::copy(&mut reader.take(padded - size), &mut io::sink())?;
    } else {
        let skipped = io::copy(&mut reader.take(padded), &mut io::sink())?;
        if skipped != padded {
            bail!("tar stream ends inside a member");
        }
    }
    Ok(data)
}

fn field(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn parse_octal(bytes: &[u8]) -> Option<u64> {
    // Base-256 (high bit set) encodes sizes of 8 GiB and more.
    if bytes[0] & 0x80 != 0 {
        return Some(
            bytes[1..]
                .iter()
                .fold(0_u64, |n, b| (n << 8) | u64::from(*b)),
        );
    }
    let text = field(bytes);
    let text = text.trim();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

/// The `path` record of a PAX extended header: `"<len> path=<value>\n"` records.
fn pax_path(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    text.lines().find_map(|record| {
        let (_, keyword_value) = record.split_once(' ')?;
        keyword_value.strip_prefix("path=").map(str::to_owned)
    })
}

/// Bytes `docker save | gzip` produces: close to what a registry push transfers and stores.
pub(crate) fn compressed_size(reference: &str) -> Result<u64> {
    let mut save = docker::docker()
        .args(["save", reference])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot run docker save")?;
    let saved = save.stdout.take().context("docker save has no stdout")?;
    let mut gzip = Command::new("gzip")
        .arg("-6")
        .stdin(saved)
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run gzip")?;
    let mut compressed = gzip.stdout.take().context("gzip has no stdout")?;
    let bytes = io::copy(&mut compressed, &mut io::sink())?;
    let (saved_ok, gzip_ok) = (save.wait()?.success(), gzip.wait()?.success());
    if !saved_ok || !gzip_ok {
        bail!("measuring the compressed size of {reference} failed (docker save or gzip)");
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(path: &str, kind: u8, size: usize) -> Vec<u8> {
        let mut block = vec![0_u8; 512];
        block[..path.len()].copy_from_slice(path.as_bytes());
        let size = format!("{size:011o}\0");
        block[124..136].copy_from_slice(size.as_bytes());
        block[156] = kind;
        block
    }

    fn member(path: &str, kind: u8, data: &[u8]) -> Vec<u8> {
        let mut bytes = header(path, kind, data.len());
        bytes.extend_from_slice(data);
        bytes.resize(bytes.len() + (512 - data.len() % 512) % 512, 0);
        bytes
    }

    #[test]
    fn reads_files_shells_and_packages_from_a_tar_stream() {
        let status = b"Package: a\nStatus: install ok installed\n\nPackage: b\nStatus: install ok installed\n\nPackage: c\nStatus: deinstall ok config-files\n";
        let long = "usr/share/doc/".to_owned() + &"x".repeat(150);
        let pax = format!("{} path={long}\n", long.len() + 11);
        let mut archive = Vec::new();
        archive.extend(member("bin/", b'5', b""));
        archive.extend(member("bin/bash", b'0', b"ELF"));
        archive.extend(member("bin/sh", b'2', b""));
        archive.extend(member("var/lib/dpkg/status", b'0', status));
        archive.extend(member("PaxHeaders/x", b'x', pax.as_bytes()));
        archive.extend(member("short-name", b'0', b"doc"));
        archive.extend(member("app", b'0', &[7_u8; 700]));
        archive.extend(member(".dockerenv", b'0', b""));
        archive.extend(member("etc/hosts", b'0', b""));
        archive.extend(member(
            "lib/apk/db/installed",
            b'0',
            b"P:musl\nV:1\n\nP:busybox\n",
        ));
        archive.extend(vec![0_u8; 1024]);

        let facts = read_filesystem(archive.as_slice()).expect("valid tar");
        assert_eq!(
            facts,
            Filesystem {
                files: 5,
                shells: vec!["/bin/bash".to_owned(), "/bin/sh".to_owned()],
                os_packages: 4,
                app_binary_bytes: Some(700),
            }
        );
        let paths: Vec<String> = TarEntries::new(archive.as_slice())
            .map(|e| e.expect("entry").path)
            .collect();
        assert!(paths.contains(&long), "PAX path applied: {paths:?}");
    }

    #[test]
    fn a_truncated_stream_is_an_error() {
        let mut archive = member("file", b'0', &[1_u8; 2000]);
        archive.truncate(700);
        assert!(read_filesystem(archive.as_slice()).is_err());
    }
}
