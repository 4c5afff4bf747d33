//! A reader that watches the tar headers streaming through it and fails on
//! extension headers (PAX, GNU long names) larger than a bound, before the
//! tar parser reads them into memory.

use std::io::{self, Read};

/// The largest PAX or GNU long-name/long-link payload accepted.
pub const MAX_EXTENSION_HEADER: u64 = 1 << 20;

const BLOCK: u64 = 512;

pub struct BoundedHeaders<R> {
    inner: R,
    hdr: [u8; 512],
    hdr_fill: usize,
    /// Bytes of entry data and padding before the next header.
    skip: u64,
    /// PAX data still to capture (the data part, without padding).
    pax_left: u64,
    pax: Vec<u8>,
    /// A PAX `size` that overrides the size of the next real entry.
    size_override: Option<u64>,
}

impl<R: Read> BoundedHeaders<R> {
    pub fn new(inner: R) -> Self {
        BoundedHeaders {
            inner,
            hdr: [0; 512],
            hdr_fill: 0,
            skip: 0,
            pax_left: 0,
            pax: Vec::new(),
            size_override: None,
        }
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    fn on_header(&mut self) -> io::Result<()> {
        if self.hdr.iter().all(|b| *b == 0) {
            return Ok(());
        }
        let typ = self.hdr[156];
        let mut size = parse_size(&self.hdr[124..136])?;
        let is_ext = matches!(typ, b'x' | b'g' | b'L' | b'K');
        if is_ext {
            if size > MAX_EXTENSION_HEADER {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("tar extension header of {size} bytes exceeds the limit"),
                ));
            }
            if typ == b'x' {
                self.pax_left = size;
                self.pax.clear();
            }
        } else if let Some(s) = self.size_override.take() {
            size = s;
        }
        self.skip = size.div_ceil(BLOCK) * BLOCK;
        if typ == b'x' && size == 0 {
            self.finish_pax();
        }
        Ok(())
    }

    fn finish_pax(&mut self) {
        self.size_override = pax_size(&self.pax);
        self.pax.clear();
    }

    fn track(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.skip > 0 {
                let n = (self.skip.min(data.len() as u64)) as usize;
                if self.pax_left > 0 {
                    let p = (self.pax_left.min(n as u64)) as usize;
                    self.pax.extend_from_slice(&data[..p]);
                    self.pax_left -= p as u64;
                    if self.pax_left == 0 {
                        self.finish_pax();
                    }
                }
                self.skip -= n as u64;
                data = &data[n..];
            } else {
                let n = (512 - self.hdr_fill).min(data.len());
                self.hdr[self.hdr_fill..self.hdr_fill + n].copy_from_slice(&data[..n]);
                self.hdr_fill += n;
                data = &data[n..];
                if self.hdr_fill == 512 {
                    self.hdr_fill = 0;
                    self.on_header()?;
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for BoundedHeaders<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.track(&buf[..n])?;
        Ok(n)
    }
}

fn parse_size(field: &[u8]) -> io::Result<u64> {
    if field[0] & 0x80 != 0 {
        // base-256: big-endian, the top bit of the first byte is the marker.
        let mut v: u64 = 0;
        for (i, b) in field.iter().enumerate() {
            let b = if i == 0 { b & 0x7f } else { *b };
            if v > (u64::MAX >> 8) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "tar size overflow",
                ));
            }
            v = (v << 8) | u64::from(b);
        }
        return Ok(v);
    }
    let s: Vec<u8> = field
        .iter()
        .copied()
        .filter(|b| *b != 0 && *b != b' ')
        .collect();
    if s.is_empty() {
        return Ok(0);
    }
    let s = std::str::from_utf8(&s)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad tar size"))?;
    u64::from_str_radix(s, 8)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad tar size"))
}

/// The `size` record of a PAX extended header, if any.
fn pax_size(data: &[u8]) -> Option<u64> {
    let mut rest = data;
    let mut found = None;
    while !rest.is_empty() {
        let sp = rest.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
        if len <= sp || len > rest.len() {
            return found;
        }
        let rec = &rest[sp + 1..len];
        let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
        if let Some(v) = rec.strip_prefix(b"size=") {
            found = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok());
        }
        rest = &rest[len..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_normal_archives_and_tracks_pax_size() {
        let mut b = tar::Builder::new(Vec::new());
        let long = "d/".repeat(80) + "file";
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(2);
        b.append_data(&mut h, "x", &b"xy"[..]).unwrap();
        let data = b.into_inner().unwrap();
        let mut r = BoundedHeaders::new(&data[..]);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        assert_eq!(pax_size(b"11 size=42\n"), Some(42));
        assert_eq!(pax_size(b"12 path=abc\n"), None);
    }

    #[test]
    fn refuses_a_huge_long_name() {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(10 << 30);
        h.set_path("././@LongLink").unwrap();
        h.set_cksum();
        let mut data = h.as_bytes().to_vec();
        data.extend_from_slice(&[b'a'; 4096]);
        let mut r = BoundedHeaders::new(&data[..]);
        let err = r.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
