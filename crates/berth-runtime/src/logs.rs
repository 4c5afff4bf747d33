//! The json-file log format: one JSON object per line,
//! `{"log":"hi\n","stream":"stdout","time":"2024-01-01T00:00:00.123456789Z"}`,
//! with dockerd's `max-size` / `max-file` rotation (`ID-json.log`,
//! `ID-json.log.1`, ... oldest last). The writer is synchronous (the shim has
//! no async runtime); the reader is used by the daemon.

pub use berth_core::logs::{LogEntry, LogOptions};
use berth_types::timestamp;
use serde::Deserialize;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// A partial line is flushed as its own entry once it reaches this size, as dockerd does.
pub const MAX_PARTIAL: usize = 16 * 1024;

/// Parses dockerd's size syntax for `max-size`: `10k`, `10m`, `1g`, plain bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let lower = s.to_ascii_lowercase();
    let lower = lower.trim_end_matches('b').trim_end_matches('i');
    let (num, mult) = match lower.chars().last()? {
        'k' => (&lower[..lower.len() - 1], 1u64 << 10),
        'm' => (&lower[..lower.len() - 1], 1 << 20),
        'g' => (&lower[..lower.len() - 1], 1 << 30),
        't' => (&lower[..lower.len() - 1], 1 << 40),
        _ => (lower, 1),
    };
    let v: f64 = num.trim().parse().ok()?;
    if v < 0.0 {
        return None;
    }
    Some((v * mult as f64) as u64)
}

/// Appends `s` JSON-escaped the way Go's encoding/json does (HTML-safe).
fn escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                use std::fmt::Write;
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Renders one log line (with the trailing newline).
pub fn render_entry(stream: &str, data: &[u8], nanos: i128, out: &mut String) {
    out.clear();
    out.push_str("{\"log\":\"");
    escape_into(&String::from_utf8_lossy(data), out);
    out.push_str("\",\"stream\":\"");
    out.push_str(stream);
    out.push_str("\",\"time\":\"");
    timestamp::format_nanos_into(nanos, out);
    out.push_str("\"}\n");
}

/// Writes json-file entries with rotation.
pub struct JsonFileWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: Option<u64>,
    max_file: u32,
    line: String,
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl JsonFileWriter {
    /// `max_size` None = unlimited; `max_file` ≥ 1 counts the live file.
    pub fn open(path: &Path, max_size: Option<u64>, max_file: u32) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(JsonFileWriter {
            path: path.to_path_buf(),
            file,
            size,
            max_size: max_size.filter(|&m| m > 0),
            max_file: max_file.max(1),
            line: String::with_capacity(256),
        })
    }

    pub fn write_entry(&mut self, stream: &str, data: &[u8], nanos: i128) -> io::Result<()> {
        let mut line = std::mem::take(&mut self.line);
        render_entry(stream, data, nanos, &mut line);
        let r = self.write_line(line.as_bytes());
        self.line = line;
        r
    }

    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        if let Some(max) = self.max_size {
            if self.size > 0 && self.size + line.len() as u64 > max {
                self.rotate()?;
            }
        }
        self.file.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.max_file > 1 {
            let last = rotated(&self.path, self.max_file - 1);
            let _ = fs::remove_file(&last);
            for n in (1..self.max_file - 1).rev() {
                let from = rotated(&self.path, n);
                if from.exists() {
                    fs::rename(&from, rotated(&self.path, n + 1))?;
                }
            }
            fs::rename(&self.path, rotated(&self.path, 1))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        } else {
            self.file.set_len(0)?;
        }
        self.size = 0;
        Ok(())
    }
}

/// Splits one stream's bytes into log entries: one per line, a partial line
/// kept until its newline, [`MAX_PARTIAL`] bytes, or [`LineSplitter::flush`].
#[derive(Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    pub fn push(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8])) {
        while let Some(pos) = data.iter().position(|&b| b == b'\n') {
            let (line, rest) = data.split_at(pos + 1);
            if self.pending.is_empty() {
                emit_cut(line, &mut emit);
            } else {
                self.pending.extend_from_slice(line);
                emit_cut(&self.pending, &mut emit);
                self.pending.clear();
            }
            data = rest;
        }
        self.pending.extend_from_slice(data);
        while self.pending.len() >= MAX_PARTIAL {
            let chunk: Vec<u8> = self.pending.drain(..MAX_PARTIAL).collect();
            emit(&chunk);
        }
        if self.pending.is_empty() && self.pending.capacity() > 4096 {
            self.pending.shrink_to(1024);
        }
    }

    pub fn flush(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            emit(&self.pending);
            self.pending.clear();
        }
    }
}

/// A line longer than [`MAX_PARTIAL`] is cut into entries of that size,
/// the rest with the newline, whether it came in one read or many (dockerd
/// never holds more than that of a line).
fn emit_cut(mut line: &[u8], emit: &mut impl FnMut(&[u8])) {
    while line.len() > MAX_PARTIAL {
        let (chunk, rest) = line.split_at(MAX_PARTIAL);
        emit(chunk);
        line = rest;
    }
    emit(line);
}

#[derive(Deserialize)]
struct RawEntry {
    log: String,
    stream: String,
    time: String,
}

/// Decodes one json-file line; None for a torn or foreign line.
pub fn parse_line(line: &[u8]) -> Option<LogEntry> {
    let raw: RawEntry = serde_json::from_slice(line).ok()?;
    Some(LogEntry {
        stream: raw.stream,
        log: raw.log.into_bytes(),
        time: timestamp::parse_nanos(&raw.time)?,
    })
}

/// Parses the API's `since`/`until` value: Unix seconds with an optional
/// fraction (`1700000000.5`), or an RFC 3339 timestamp. `0` / "" = unset.
pub fn parse_api_time(s: &str) -> Option<Option<i128>> {
    let s = s.trim();
    if s.is_empty() || s == "0" {
        return Some(None);
    }
    if let Some(n) = timestamp::parse_nanos(s) {
        return Some(Some(n));
    }
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i128 = secs.parse().ok()?;
    if !frac.chars().all(|c| c.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    let mut f: i128 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..9 {
        f *= 10;
    }
    Some(Some(secs * 1_000_000_000 + f))
}

/// The log files of `path`, oldest first.
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut rotated_files: Vec<(u32, PathBuf)> = Vec::new();
    if let (Some(dir), Some(name)) = (path.parent(), path.file_name()) {
        let prefix = format!("{}.", name.to_string_lossy());
        if let Ok(rd) = fs::read_dir(dir) {
            for e in rd.flatten() {
                let n = e.file_name();
                let n = n.to_string_lossy();
                if let Some(num) = n.strip_prefix(&prefix).and_then(|s| s.parse::<u32>().ok()) {
                    rotated_files.push((num, e.path()));
                }
            }
        }
    }
    rotated_files.sort_by_key(|f| std::cmp::Reverse(f.0));
    let mut out: Vec<PathBuf> = rotated_files.into_iter().map(|(_, p)| p).collect();
    if path.exists() {
        out.push(path.to_path_buf());
    }
    out
}

/// Reads every entry currently on disk that `opts` selects (tail applied).
pub fn read_entries(path: &Path, opts: &LogOptions) -> io::Result<Vec<LogEntry>> {
    read_entries_limited(path, opts, None)
}

/// Like [`read_entries`], reading the live file only up to `live_limit` bytes.
pub fn read_entries_limited(
    path: &Path,
    opts: &LogOptions,
    live_limit: Option<u64>,
) -> io::Result<Vec<LogEntry>> {
    use std::io::Read;
    let mut out = Vec::new();
    for f in log_files(path) {
        let file = match File::open(&f) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let limit = if f == path {
            live_limit.unwrap_or(u64::MAX)
        } else {
            u64::MAX
        };
        for line in BufReader::new(file.take(limit)).split(b'\n') {
            if let Some(e) = parse_line(&line?) {
                if opts.wants(&e) {
                    out.push(e);
                }
            }
        }
    }
    if let Some(n) = opts.tail {
        let skip = out.len().saturating_sub(n);
        out.drain(..skip);
    }
    Ok(out)
}

/// The bytes of one entry on the `/logs` stream: the docker 8-byte
/// multiplexing header unless the container has a TTY, then an optional
/// RFC3339Nano timestamp and a space, then the payload.
pub fn frame_entry(e: &LogEntry, timestamps: bool, tty: bool) -> Vec<u8> {
    let mut payload = Vec::with_capacity(e.log.len() + 40);
    if timestamps {
        payload.extend_from_slice(timestamp::format_nanos(e.time).as_bytes());
        payload.push(b' ');
    }
    payload.extend_from_slice(&e.log);
    if tty {
        return payload;
    }
    let stream_id = if e.stream == "stderr" { 2 } else { 1 };
    frame(stream_id, &payload)
}

/// One docker multiplexed-stream frame: [stream, 0, 0, 0, len(u32 BE)] + data.
pub fn frame(stream_id: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    out.push(stream_id);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_dockerd_shape() {
        let mut s = String::new();
        render_entry(
            "stdout",
            b"a\"b<c>\x01\n",
            1_700_000_000_000_000_001,
            &mut s,
        );
        assert_eq!(
            s,
            "{\"log\":\"a\\\"b\\u003cc\\u003e\\u0001\\n\",\"stream\":\"stdout\",\"time\":\"2023-11-14T22:13:20.000000001Z\"}\n"
        );
        let e = parse_line(s.trim_end().as_bytes()).unwrap();
        assert_eq!(e.log, b"a\"b<c>\x01\n");
        assert_eq!(e.time, 1_700_000_000_000_000_001);
    }

    #[test]
    fn splits_lines_and_keeps_partials() {
        let mut sp = LineSplitter::default();
        let mut got: Vec<Vec<u8>> = Vec::new();
        sp.push(b"one\ntw", |l| got.push(l.to_vec()));
        sp.push(b"o\nthree", |l| got.push(l.to_vec()));
        sp.flush(|l| got.push(l.to_vec()));
        assert_eq!(
            got,
            vec![b"one\n".to_vec(), b"two\n".to_vec(), b"three".to_vec()]
        );
        let mut big = 0;
        sp.push(&vec![b'x'; MAX_PARTIAL + 10], |l| {
            big += 1;
            assert_eq!(l.len(), MAX_PARTIAL)
        });
        assert_eq!(big, 1);
        // A long complete line is cut the same, in one read or two.
        let mut line = vec![b'y'; MAX_PARTIAL - 10];
        line.extend_from_slice(&vec![b'z'; MAX_PARTIAL + 24]);
        line.push(b'\n');
        for split in [line.len(), 7] {
            let mut sp = LineSplitter::default();
            let mut got: Vec<Vec<u8>> = Vec::new();
            sp.push(&line[..split], |l| got.push(l.to_vec()));
            sp.push(&line[split..], |l| got.push(l.to_vec()));
            let lens: Vec<usize> = got.iter().map(Vec::len).collect();
            assert_eq!(lens, vec![MAX_PARTIAL, MAX_PARTIAL, 15], "split at {split}");
            assert_eq!(got.concat(), line);
        }
    }

    #[test]
    fn rotates_and_reads_oldest_first_with_filters() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut w = JsonFileWriter::open(&p, Some(200), 3).unwrap();
        for i in 0..20 {
            let stream = if i % 2 == 0 { "stdout" } else { "stderr" };
            w.write_entry(
                stream,
                format!("line {i}\n").as_bytes(),
                i as i128 * 1_000_000_000,
            )
            .unwrap();
        }
        let files = log_files(&p);
        assert_eq!(files.len(), 3, "{files:?}");
        assert!(files[0].ends_with("c-json.log.2"));
        for f in &files {
            assert!(fs::metadata(f).unwrap().len() <= 200);
        }
        let all = LogOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let got = read_entries(&p, &all).unwrap();
        // Oldest entries were rotated away; what is left is contiguous and ends at 19.
        assert!(got.len() < 20 && got.len() >= 6);
        assert_eq!(got.last().unwrap().log, b"line 19\n");
        for pair in got.windows(2) {
            assert_eq!(pair[1].time - pair[0].time, 1_000_000_000);
        }
        let opts = LogOptions {
            stdout: true,
            stderr: false,
            since: Some(14_000_000_000),
            until: Some(18_000_000_000),
            tail: Some(2),
            ..Default::default()
        };
        let got: Vec<_> = read_entries(&p, &opts)
            .unwrap()
            .into_iter()
            .map(|e| e.log)
            .collect();
        assert_eq!(got, vec![b"line 16\n".to_vec(), b"line 18\n".to_vec()]);
    }

    #[test]
    fn sizes_times_and_frames() {
        assert_eq!(parse_size("10k"), Some(10240));
        assert_eq!(parse_size("1m"), Some(1 << 20));
        assert_eq!(parse_size("1MB"), Some(1 << 20));
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_api_time("0"), Some(None));
        assert_eq!(parse_api_time("12.5"), Some(Some(12_500_000_000)));
        assert_eq!(
            parse_api_time("1970-01-01T00:00:01Z"),
            Some(Some(1_000_000_000))
        );
        assert_eq!(parse_api_time("abc"), None);
        let e = LogEntry {
            stream: "stderr".into(),
            log: b"hi\n".to_vec(),
            time: 0,
        };
        assert_eq!(frame_entry(&e, false, false), b"\x02\0\0\0\0\0\0\x03hi\n");
        assert_eq!(
            frame_entry(&e, true, true),
            b"1970-01-01T00:00:00Z hi\n".to_vec()
        );
    }
}
