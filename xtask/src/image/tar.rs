//! A streaming reader of tar archives (ustar, GNU long names, PAX): enough for image archives
//! and their layers. Nothing is unpacked: the caller sees each member's header and may read its
//! contents, which are skipped otherwise. Readers nest, so a layer inside a `docker save`
//! stream is read while the outer stream flows.

use std::io::{self, Read};

use anyhow::{Context, Result, bail};

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
    pub(crate) size: u64,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    /// Target of a symbolic or hard link.
    pub(crate) link: String,
}

/// GNU long names and PAX records larger than this are corrupt, not read.
const METADATA_LIMIT: u64 = 1 << 20;

/// Reads members one at a time; between two calls of [`TarReader::next_header`] the reader
/// itself (`Read`) yields the current member's contents.
pub(crate) struct TarReader<R> {
    inner: R,
    /// Content bytes of the current member not yet read, and its padding.
    remaining: u64,
    padding: u64,
    done: bool,
}

impl<R: Read> TarReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            remaining: 0,
            padding: 0,
            done: false,
        }
    }

    /// The next member, skipping what is left of the current one; `None` at the end.
    pub(crate) fn next_header(&mut self) -> Result<Option<Header>> {
        let mut long_name = None;
        let mut long_link = None;
        let mut pax = Pax::default();
        loop {
            self.skip_rest()?;
            if self.done {
                return Ok(None);
            }
            let mut block = [0_u8; 512];
            if !read_block(&mut self.inner, &mut block)? || block.iter().all(|b| *b == 0) {
                self.done = true;
                return Ok(None);
            }
            if !checksum_matches(&block) {
                bail!("this is not a tar archive, or it is corrupt (a header's checksum is wrong)");
            }
            let size = match pax.size.take() {
                Some(size) => size,
                None => number(&block[124..136]).context("a tar header has a bad size")?,
            };
            let padded = size
                .div_ceil(512)
                .checked_mul(512)
                .context("a tar header has an impossible size")?;
            self.remaining = size;
            self.padding = padded - size;
            let kind = block[156];
            if matches!(kind, b'L' | b'K' | b'x') && size > METADATA_LIMIT {
                bail!(
                    "a tar header's long name or PAX record claims {size} bytes: corrupt archive"
                );
            }
            match kind {
                b'L' => long_name = Some(self.read_text()?),
                b'K' => long_link = Some(self.read_text()?),
                b'x' => pax = Pax::parse(&self.read_all()?),
                b'g' => {}
                _ => {
                    let path = long_name.take().or(pax.path.take()).unwrap_or_else(|| {
                        let name = text(&block[0..100]);
                        let prefix = text(&block[345..500]);
                        if prefix.is_empty() {
                            name
                        } else {
                            format!("{prefix}/{name}")
                        }
                    });
                    let link = long_link
                        .take()
                        .or(pax.link.take())
                        .unwrap_or_else(|| text(&block[157..257]));
                    let kind = match kind {
                        b'0' | 0 | b'7' => Kind::File,
                        b'1' => Kind::HardLink,
                        b'2' => Kind::Symlink,
                        b'5' => Kind::Directory,
                        _ => Kind::Special,
                    };
                    if kind != Kind::File {
                        // Links and directories carry no contents a caller should see.
                        self.padding += self.remaining;
                        self.remaining = 0;
                    }
                    return Ok(Some(Header {
                        path: normalize(&path),
                        kind,
                        size: if kind == Kind::File { size } else { 0 },
                        mode: number(&block[100..108]).unwrap_or(0) as u32,
                        uid: pax
                            .uid
                            .unwrap_or_else(|| number(&block[108..116]).unwrap_or(0)),
                        gid: pax
                            .gid
                            .unwrap_or_else(|| number(&block[116..124]).unwrap_or(0)),
                        link,
                    }));
                }
            }
        }
    }

    /// Reads the whole current member, at most `limit` bytes of it; `None` when it is larger.
    pub(crate) fn read_limited(&mut self, limit: u64) -> Result<Option<Vec<u8>>> {
        if self.remaining > limit {
            return Ok(None);
        }
        self.read_all().map(Some)
    }

    fn read_all(&mut self) -> Result<Vec<u8>> {
        let mut data = Vec::with_capacity(usize::try_from(self.remaining).unwrap_or(0));
        self.read_to_end(&mut data)
            .context("the tar stream ends inside a member")?;
        Ok(data)
    }

    fn read_text(&mut self) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.read_all()?)
            .trim_end_matches('\0')
            .to_owned())
    }

    fn skip_rest(&mut self) -> Result<()> {
        let total = self.remaining + self.padding;
        if total > 0 {
            let skipped = io::copy(&mut (&mut self.inner).take(total), &mut io::sink())?;
            if skipped != total {
                bail!("the tar stream ends inside a member (truncated archive)");
            }
        }
        self.remaining = 0;
        self.padding = 0;
        Ok(())
    }
}

impl<R: Read> Read for TarReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the tar stream ends inside a member",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[derive(Default)]
struct Pax {
    path: Option<String>,
    link: Option<String>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
}

impl Pax {
    /// Records are `"<length> <keyword>=<value>\n"`.
    fn parse(data: &[u8]) -> Self {
        let mut pax = Self::default();
        let mut rest = data;
        while let Some(space) = rest.iter().position(|b| *b == b' ') {
            let Some(length) = std::str::from_utf8(&rest[..space])
                .ok()
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n > space && *n <= rest.len())
            else {
                break;
            };
            let record = &rest[space + 1..length];
            let record = record.strip_suffix(b"\n").unwrap_or(record);
            if let Some(eq) = record.iter().position(|b| *b == b'=') {
                let value = String::from_utf8_lossy(&record[eq + 1..]).into_owned();
                match &record[..eq] {
                    b"path" => pax.path = Some(value),
                    b"linkpath" => pax.link = Some(value),
                    b"size" => pax.size = value.parse().ok(),
                    b"uid" => pax.uid = value.parse().ok(),
                    b"gid" => pax.gid = value.parse().ok(),
                    _ => {}
                }
            }
            rest = &rest[length..];
        }
        pax
    }
}

fn normalize(path: &str) -> String {
    let path = path.trim_start_matches("./").trim_start_matches('/');
    path.trim_end_matches('/').to_owned()
}

fn read_block(reader: &mut impl Read, block: &mut [u8; 512]) -> Result<bool> {
    let mut filled = 0;
    while filled < block.len() {
        match reader.read(&mut block[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => bail!("the tar stream ends inside a header (truncated archive)"),
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(true)
}

/// The header checksum: the byte sum with the checksum field read as spaces.
fn checksum_matches(block: &[u8; 512]) -> bool {
    let Some(stored) = number(&block[148..156]) else {
        return false;
    };
    let sum: u64 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(*b)
            }
        })
        .sum();
    sum == stored
}

fn text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// An octal field, or base-256 when its high bit is set (sizes of 8 GiB and more).
fn number(bytes: &[u8]) -> Option<u64> {
    if bytes[0] & 0x80 != 0 {
        return bytes[1..]
            .iter()
            .try_fold(0_u64, |n, b| n.checked_mul(256).map(|n| n | u64::from(*b)));
    }
    let text = text(bytes);
    let text = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

/// Writes tar archives: for the tests, which build synthetic images.
#[cfg(test)]
pub(crate) mod write {
    /// One member: header, contents, padding.
    pub(crate) fn member(path: &str, kind: u8, mode: u32, data: &[u8]) -> Vec<u8> {
        member_with_link(path, kind, mode, "", data)
    }

    pub(crate) fn member_with_link(
        path: &str,
        kind: u8,
        mode: u32,
        link: &str,
        data: &[u8],
    ) -> Vec<u8> {
        let mut block = vec![0_u8; 512];
        block[..path.len()].copy_from_slice(path.as_bytes());
        block[100..108].copy_from_slice(format!("{mode:07o}\0").as_bytes());
        block[108..116].copy_from_slice(b"0000000\0");
        block[116..124].copy_from_slice(b"0000000\0");
        block[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        block[136..148].copy_from_slice(b"00000000000\0");
        block[156] = kind;
        block[157..157 + link.len()].copy_from_slice(link.as_bytes());
        block[257..263].copy_from_slice(b"ustar\0");
        block[263..265].copy_from_slice(b"00");
        block[148..156].copy_from_slice(b"        ");
        let sum: u32 = block.iter().map(|b| u32::from(*b)).sum();
        block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        block.extend_from_slice(data);
        block.resize(block.len() + (512 - data.len() % 512) % 512, 0);
        block
    }

    pub(crate) fn finish(mut archive: Vec<u8>) -> Vec<u8> {
        archive.extend(vec![0_u8; 1024]);
        archive
    }
}

#[cfg(test)]
mod tests {
    use super::write::{finish, member, member_with_link};
    use super::*;

    fn headers(archive: &[u8]) -> Result<Vec<Header>> {
        let mut reader = TarReader::new(archive);
        let mut all = Vec::new();
        while let Some(header) = reader.next_header()? {
            all.push(header);
        }
        Ok(all)
    }

    #[test]
    fn reads_kinds_modes_links_and_long_names() {
        let long = "usr/share/doc/".to_owned() + &"x".repeat(150);
        // "<length> path=<value>\n", the length counting its own three digits.
        let pax = format!("{} path={long}\n", long.len() + 10);
        let mut archive = Vec::new();
        archive.extend(member("./bin/", b'5', 0o755, b""));
        archive.extend(member("bin/su", b'0', 0o4755, b"ELF"));
        archive.extend(member_with_link("bin/sh", b'2', 0o777, "dash", b""));
        archive.extend(member("PaxHeaders/x", b'x', 0o644, pax.as_bytes()));
        archive.extend(member("short", b'0', 0o644, b"doc"));
        let archive = finish(archive);

        let all = headers(&archive).expect("valid tar");
        let paths: Vec<&str> = all.iter().map(|h| h.path.as_str()).collect();
        assert_eq!(paths, ["bin", "bin/su", "bin/sh", long.as_str()]);
        assert_eq!(all[0].kind, Kind::Directory);
        assert_eq!(
            (all[1].kind, all[1].mode, all[1].size),
            (Kind::File, 0o4755, 3)
        );
        assert_eq!((all[2].kind, all[2].link.as_str()), (Kind::Symlink, "dash"));
    }

    #[test]
    fn contents_are_read_or_skipped() {
        let mut archive = Vec::new();
        archive.extend(member("a", b'0', 0o644, &[1_u8; 700]));
        archive.extend(member("b", b'0', 0o644, b"hello"));
        let archive = finish(archive);
        let mut reader = TarReader::new(archive.as_slice());
        reader.next_header().expect("present");
        let b = reader.next_header().expect("present").expect("present");
        assert_eq!(b.path, "b");
        assert_eq!(
            reader.read_limited(10).expect("present"),
            Some(b"hello".to_vec())
        );
        assert!(reader.next_header().expect("present").is_none());
    }

    #[test]
    fn truncated_and_foreign_data_are_errors() {
        let mut archive = member("file", b'0', 0o644, &[1_u8; 2000]);
        archive.truncate(700);
        let error = headers(&archive).expect_err("fails").to_string();
        assert!(error.contains("truncated"), "{error}");
        let mut huge = member("PaxHeaders/x", b'x', 0o644, b"");
        huge[124..136].copy_from_slice(&[0x80, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0]);
        huge[148..156].copy_from_slice(b"        ");
        let sum: u32 = huge[..512].iter().map(|b| u32::from(*b)).sum();
        huge[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let error = headers(&huge).expect_err("fails").to_string();
        assert!(error.contains("corrupt archive"), "{error}");
        let mut overflow = huge.clone();
        overflow[124..136].copy_from_slice(&[0xff; 12]);
        overflow[148..156].copy_from_slice(b"        ");
        let sum: u32 = overflow[..512].iter().map(|b| u32::from(*b)).sum();
        overflow[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        assert!(headers(&overflow).is_err(), "a size beyond u64 is refused");
        let error = headers(&[b'{'; 1024]).expect_err("fails").to_string();
        assert!(error.contains("not a tar archive"), "{error}");
    }
}
