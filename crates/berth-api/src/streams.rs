//! Attach and logs streams: their content type and the detach-key sequence.
//! (The multiplex framing itself is done where the bytes are produced, in
//! the shim and the log reader.)

use berth_types::{Error, Result};

/// The Content-Type of an attach or logs stream.
pub fn stream_content_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

/// The default detach sequence, ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[16, 17];

/// Parses `detachKeys` as dockerd does: comma-separated keys, each a single
/// character or `ctrl-X`.
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>> {
    if s.is_empty() {
        return Ok(DEFAULT_DETACH_KEYS.to_vec());
    }
    let mut out = Vec::new();
    for key in s.split(',') {
        let bad = || Error::invalid(format!("Invalid detach keys ({s}) provided"));
        if let Some(c) = key.strip_prefix("ctrl-") {
            let mut chars = c.chars();
            let ch = chars.next().ok_or_else(bad)?;
            if chars.next().is_some() {
                return Err(bad());
            }
            let code = match ch {
                'a'..='z' => ch as u8 - b'a' + 1,
                '@' => 0,
                '[' => 27,
                '\\' => 28,
                ']' => 29,
                '^' => 30,
                '_' => 31,
                _ => return Err(bad()),
            };
            out.push(code);
        } else {
            let mut chars = key.chars();
            let ch = chars.next().ok_or_else(bad)?;
            if chars.next().is_some() || !ch.is_ascii() {
                return Err(bad());
            }
            out.push(ch as u8);
        }
    }
    Ok(out)
}

/// Watches stdin for the detach sequence. Bytes that might start the
/// sequence are held back until it is clear they do not.
pub struct DetachScanner {
    keys: Vec<u8>,
    matched: usize,
}

pub enum Scan {
    /// Pass these bytes on to the container.
    Forward(Vec<u8>),
    /// The sequence was typed: forward these bytes, then detach.
    Detach(Vec<u8>),
}

impl DetachScanner {
    pub fn new(keys: Vec<u8>) -> Self {
        DetachScanner { keys, matched: 0 }
    }

    pub fn feed(&mut self, data: &[u8]) -> Scan {
        let mut out = Vec::with_capacity(data.len());
        for &b in data {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return Scan::Detach(out);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                    if self.keys.len() == 1 {
                        self.matched = 0;
                        return Scan::Detach(out);
                    }
                } else {
                    out.push(b);
                }
            }
        }
        Scan::Forward(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse() {
        assert_eq!(parse_detach_keys("").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(parse_detach_keys("ctrl-[").unwrap(), vec![27]);
        assert!(parse_detach_keys("ctrl-").is_err());
        assert!(parse_detach_keys("ab").is_err());
        assert!(parse_detach_keys("ctrl-1").is_err());
    }

    #[test]
    fn scanner_detaches_across_chunks_and_passes_partial_matches() {
        let mut s = DetachScanner::new(vec![16, 17]);
        match s.feed(b"ab\x10") {
            Scan::Forward(v) => assert_eq!(v, b"ab"),
            Scan::Detach(_) => panic!(),
        }
        match s.feed(b"c") {
            Scan::Forward(v) => assert_eq!(v, b"\x10c"),
            Scan::Detach(_) => panic!(),
        }
        s.feed(b"\x10");
        match s.feed(b"\x11rest") {
            Scan::Detach(v) => assert!(v.is_empty()),
            Scan::Forward(_) => panic!("should detach"),
        }
        let mut s = DetachScanner::new(vec![16, 17]);
        match s.feed(b"\x10\x10\x11") {
            Scan::Detach(v) => assert_eq!(v, b"\x10"),
            Scan::Forward(_) => panic!("should detach"),
        }
    }
}
