//! One entry of a tar stream (an image archive or one of its layers) as the rest of xtask sees
//! it, and the reading of such a stream entry by entry with the `tar` crate. Nothing is
//! unpacked: the caller sees each entry's header and may read its contents, which are skipped
//! otherwise. Readers nest, so a layer inside a `docker save` stream is read while the outer
//! stream flows.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

use anyhow::{Context, Result};
use tar::EntryType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    HardLink,
    Symlink,
    Directory,
    /// Character and block devices, FIFOs.
    Special,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// Without a leading `./` or `/`; directories without their trailing `/`.
    pub(crate) path: String,
    pub(crate) kind: Kind,
    /// Bytes of contents; 0 for anything but a regular file.
    pub(crate) size: u64,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    /// Target of a symbolic or hard link.
    pub(crate) link: String,
}

/// Bytes of headers, GNU long names and PAX records in front of one entry; more is a corrupt
/// or crafted archive. The tar crate reads long names and PAX records whole with no bound of
/// its own (tar 0.4.46), and a gzip layer could inflate one to gigabytes.
const METADATA_LIMIT: u64 = 1 << 20;

/// Calls `each` with every entry of the tar `stream`, in order: its header, and a reader that
/// yields exactly `header.size` bytes of contents (nothing for links, directories and devices).
/// What `each` leaves unread is skipped.
pub(crate) fn for_each(
    stream: impl Read,
    mut each: impl FnMut(Header, &mut dyn Read) -> Result<()>,
) -> Result<()> {
    let budget = Rc::new(Cell::new(METADATA_LIMIT));
    let mut archive = tar::Archive::new(Budgeted {
        inner: stream,
        budget: Rc::clone(&budget),
    });
    let mut entries = archive.entries().context(CORRUPT)?;
    loop {
        budget.set(METADATA_LIMIT);
        let Some(entry) = entries.next() else {
            return Ok(());
        };
        let mut entry = entry.context(CORRUPT)?;
        budget.set(u64::MAX);
        if let Some(header) = header(&entry) {
            if header.kind == Kind::File {
                each(header, &mut entry)?;
            } else {
                each(header, &mut io::empty())?;
            }
        }
        // Skipped here rather than by the tar crate at the next entry, so the budget above
        // counts metadata only.
        io::copy(&mut entry, &mut io::sink()).context(CORRUPT)?;
    }
}

const CORRUPT: &str = "cannot read the next tar entry: the archive is truncated or corrupt (save \
                       the image again)";

/// Our view of an entry; `None` for what describes no file (global PAX records).
fn header<R: Read>(entry: &tar::Entry<'_, R>) -> Option<Header> {
    let raw = entry.header();
    let kind = match raw.entry_type() {
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => Kind::File,
        EntryType::Link => Kind::HardLink,
        EntryType::Symlink => Kind::Symlink,
        EntryType::Directory => Kind::Directory,
        EntryType::XGlobalHeader => return None,
        _ => Kind::Special,
    };
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    Some(Header {
        path: normalize(&text(&entry.path_bytes())),
        kind,
        size: if kind == Kind::File { entry.size() } else { 0 },
        // A damaged number reads as 0: one odd field should not fail the whole image.
        mode: raw.mode().unwrap_or(0),
        uid: raw.uid().unwrap_or(0),
        gid: raw.gid().unwrap_or(0),
        link: entry
            .link_name_bytes()
            .map(|link| text(&link))
            .unwrap_or_default(),
    })
}

fn normalize(path: &str) -> String {
    let path = path.trim_start_matches("./").trim_start_matches('/');
    path.trim_end_matches('/').to_owned()
}

/// Fails a read once `budget` bytes have been read; the budget is shared with [`for_each`],
/// which sets it before each entry's metadata and lifts it for the contents.
struct Budgeted<R> {
    inner: R,
    budget: Rc<Cell<u64>>,
}

impl<R: Read> Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.budget.get();
        if left == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a tar entry's long name or PAX records exceed 1 MiB: corrupt archive",
            ));
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.budget.set(left - n as u64);
        Ok(n)
    }
}

/// A tar archive of regular files, for tests that build synthetic images.
#[cfg(test)]
pub(crate) fn archive_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        builder
            .append_data(&mut header, path, *data)
            .expect("a valid test path");
    }
    builder.into_inner().expect("writing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(archive: &[u8]) -> Result<Vec<Header>> {
        let mut all = Vec::new();
        for_each(archive, |header, _| {
            all.push(header);
            Ok(())
        })?;
        Ok(all)
    }

    /// A header written as given, no path rules applied (as a crafted archive would).
    fn raw(path: &str, kind: EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_ustar();
        header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_cksum();
        header
    }

    #[test]
    fn reads_kinds_modes_links_and_long_names() {
        let pax_path = "usr/share/doc/".to_owned() + &"x".repeat(150);
        let gnu_path = "usr/lib/".to_owned() + &"y".repeat(200);
        let gnu_link = "../".to_owned() + &"z".repeat(120);
        // "<length> path=<value>\n", the length counting its own three digits.
        let pax = format!("{} path={pax_path}\n", pax_path.len() + 10);
        let mut symlink = raw("bin/sh", EntryType::Symlink, 0o777, 0);
        symlink.set_link_name("dash").expect("short link");
        symlink.set_cksum();
        let pax_header = raw("PaxHeaders/x", EntryType::XHeader, 0o644, pax.len() as u64);
        let mut builder = tar::Builder::new(Vec::new());
        for (header, data) in [
            (raw("./bin/", EntryType::Directory, 0o755, 0), &b""[..]),
            (raw("bin/su", EntryType::Regular, 0o4755, 3), b"ELF"),
            (symlink, b""),
            (pax_header, pax.as_bytes()),
            (raw("short", EntryType::Regular, 0o644, 3), b"doc"),
        ] {
            builder.append(&header, data).expect("appends");
        }
        let mut long = tar::Header::new_gnu();
        long.set_entry_type(EntryType::Symlink);
        long.set_size(0);
        builder
            .append_link(&mut long, &gnu_path, &gnu_link)
            .expect("GNU long name and link");
        let archive = builder.into_inner().expect("in memory");

        let all = headers(&archive).expect("valid tar");
        let paths: Vec<&str> = all.iter().map(|h| h.path.as_str()).collect();
        assert_eq!(paths, ["bin", "bin/su", "bin/sh", &pax_path, &gnu_path]);
        assert_eq!(all[0].kind, Kind::Directory);
        assert_eq!(
            (all[1].kind, all[1].mode, all[1].size),
            (Kind::File, 0o4755, 3)
        );
        assert_eq!((all[2].kind, all[2].link.as_str()), (Kind::Symlink, "dash"));
        assert_eq!(
            (all[4].kind, all[4].link.as_str()),
            (Kind::Symlink, &*gnu_link)
        );
    }

    #[test]
    fn contents_are_read_or_skipped() {
        let archive = archive_of(&[("a", &[1_u8; 700]), ("b", b"hello")]);
        let mut seen = Vec::new();
        for_each(archive.as_slice(), |header, contents| {
            if header.path == "b" {
                let mut data = Vec::new();
                contents.read_to_end(&mut data)?;
                seen.push(data);
            }
            Ok(())
        })
        .expect("reads");
        assert_eq!(seen, [b"hello"]);
    }

    #[test]
    fn truncated_crafted_and_foreign_data_are_errors() {
        let mut truncated = archive_of(&[("file", &[1_u8; 2000])]);
        truncated.truncate(700);
        let error = format!("{:#}", headers(&truncated).expect_err("fails"));
        assert!(error.contains("truncated"), "{error}");

        // A PAX record that claims 16 PiB and goes on for more than the limit.
        let mut huge = raw("PaxHeaders/x", EntryType::XHeader, 0o644, 1 << 54)
            .as_bytes()
            .to_vec();
        huge.resize(huge.len() + (2 << 20), b'a');
        let error = format!("{:#}", headers(&huge).expect_err("fails"));
        assert!(error.contains("corrupt archive"), "{error}");

        let mut overflow = raw("PaxHeaders/x", EntryType::XHeader, 0o644, 0);
        overflow.as_old_mut().size = [0xff; 12];
        overflow.set_cksum();
        assert!(
            headers(overflow.as_bytes()).is_err(),
            "a size beyond u64 is refused"
        );

        let error = format!("{:#}", headers(&[b'{'; 1024]).expect_err("fails"));
        assert!(error.contains("corrupt"), "{error}");
    }
}
