//! Layers that are the same bytes for the same files: entries sorted by path, owners, modes and
//! times fixed (every mtime the commit's time), no user or group names, ustar headers, and
//! gzip with no name and no time in its header.

use std::io::{Read as _, Write as _};

use anyhow::Result;
use flate2::Compression;
use flate2::write::GzEncoder;

use super::{Blob, LAYER_MEDIA_TYPE, sha256};

/// A file of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct File {
    /// Relative to the image's root: `app`, not `/app`.
    pub(crate) path: String,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) bytes: Vec<u8>,
}

/// A ustar header for `path`, owned by `owner` (uid and gid), dated `mtime`.
pub(crate) fn header(
    path: &str,
    size: u64,
    mode: u32,
    kind: tar::EntryType,
    mtime: u64,
) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header
        .set_path(path)
        .expect("layer paths are short and relative");
    header.set_size(size);
    header.set_mode(mode);
    header.set_entry_type(kind);
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    header
}

/// A gzipped layer of `files` and its diff ID (the digest of the uncompressed tar, which the
/// image config lists).
pub(crate) fn build(mut files: Vec<File>, mtime: u64) -> Result<(Blob, String)> {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut builder = tar::Builder::new(Vec::new());
    for file in &files {
        let mut header = header(
            &file.path,
            file.bytes.len() as u64,
            file.mode,
            tar::EntryType::Regular,
            mtime,
        );
        header.set_uid(file.uid);
        header.set_gid(file.gid);
        header.set_cksum();
        builder.append(&header, file.bytes.as_slice())?;
    }
    let tar = builder.into_inner()?;
    let diff_id = sha256(&tar);
    Ok((gzip(&tar)?, diff_id))
}

/// A gzipped copy of an uncompressed layer, as the same bytes every time.
pub(crate) fn gzip(tar: &[u8]) -> Result<Blob> {
    // `GzEncoder::new` writes no file name, a zero time and "unknown" as the system.
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(tar)?;
    Ok(Blob::new(LAYER_MEDIA_TYPE, encoder.finish()?))
}

/// The diff ID of a gzipped layer.
pub(crate) fn diff_id(gzipped: &[u8]) -> Result<String> {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(gzipped).read_to_end(&mut tar)?;
    Ok(sha256(&tar))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<File> {
        ["b", "a"]
            .into_iter()
            .map(|path| File {
                path: path.to_owned(),
                mode: 0o755,
                uid: 0,
                gid: 0,
                bytes: path.as_bytes().repeat(1000),
            })
            .collect()
    }

    #[test]
    fn the_same_files_make_the_same_layer_in_any_order() {
        let (first, first_diff) = build(files(), 1_700_000_000).expect("built");
        let mut reversed = files();
        reversed.reverse();
        let (second, second_diff) = build(reversed, 1_700_000_000).expect("built");
        assert_eq!(first, second);
        assert_eq!(first_diff, second_diff);
        assert_eq!(diff_id(&first.bytes).expect("gunzipped"), first_diff);
        let (later, _) = build(files(), 1_700_000_001).expect("built");
        assert_ne!(first.digest(), later.digest(), "the time is in the layer");

        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(first.bytes.as_slice()));
        let entries: Vec<(String, u32, u64, u64)> = archive
            .entries()
            .expect("entries")
            .map(|entry| {
                let entry = entry.expect("an entry");
                let header = entry.header();
                (
                    entry.path().expect("a path").display().to_string(),
                    header.mode().expect("mode"),
                    header.uid().expect("uid"),
                    header.mtime().expect("mtime"),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("a".to_owned(), 0o755, 0, 1_700_000_000),
                ("b".to_owned(), 0o755, 0, 1_700_000_000)
            ]
        );
    }
}
