//! The on-disk event journal: append-only NDJSON segment files under
//! `<data-root>/events`, one `{"seq":N,"ev":{...}}` line per event.
//!
//! * Every event gets a sequence number, one more than the last; a segment
//!   is named after its first sequence number (`00000000000000000042.ndjson`).
//! * A line is written with one `write` of the whole line; a failed write is
//!   cut back off, so the files only ever hold whole lines. Nothing is
//!   fsynced per event: a crash may lose the last few events, and leaves at
//!   worst a torn last line, which [`Journal::open`] truncates.
//! * The journal is split into about [`SEGMENTS_PER_JOURNAL`] segments; once
//!   the active one is full a new one starts and the oldest segments are
//!   deleted until the journal is within both limits again. So the journal
//!   always holds at most `max_events` events and `max_bytes` bytes, and
//!   at least about 7/8 of that once it has filled up.
//! * When a segment is closed its summary (sequence range, count, size,
//!   time range) goes to a `.idx` file beside it, so opening a full journal
//!   reads only the last segment. An index is a cache: one whose size does
//!   not match its segment, or that does not parse, is ignored and the
//!   segment scanned instead; that is why it is not fsynced.

use berth_types::Event;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const SEGMENT_SUFFIX: &str = ".ndjson";
const INDEX_SUFFIX: &str = ".idx";
/// How many segments a full journal is split into.
pub const SEGMENTS_PER_JOURNAL: u64 = 8;

/// How much the journal keeps: the oldest events are dropped once either
/// bound would be exceeded. `max_bytes` counts the event lines; the segment
/// indexes add about 150 bytes per segment on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalLimits {
    pub max_events: usize,
    pub max_bytes: u64,
}

impl Default for JournalLimits {
    fn default() -> Self {
        JournalLimits {
            max_events: 100_000,
            max_bytes: 64 << 20,
        }
    }
}

#[derive(Serialize)]
struct RecordOut<'a> {
    seq: u64,
    ev: &'a Event,
}

#[derive(Deserialize)]
struct Record {
    seq: u64,
    ev: Event,
}

/// Only what recovery needs from a line; serde skips the rest.
#[derive(Deserialize)]
struct RecordHead {
    seq: u64,
    ev: HeadEvent,
}

#[derive(Deserialize)]
struct HeadEvent {
    #[serde(rename = "timeNano")]
    time_nano: i64,
}

/// One segment file and what it holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Segment {
    #[serde(skip)]
    pub path: PathBuf,
    pub first_seq: u64,
    pub last_seq: u64,
    pub count: u64,
    pub bytes: u64,
    pub min_time: i64,
    pub max_time: i64,
}

impl Segment {
    fn add(&mut self, seq: u64, time: i64, bytes: u64) {
        if self.count == 0 {
            self.first_seq = seq;
            self.min_time = time;
            self.max_time = time;
        }
        self.last_seq = seq;
        self.count += 1;
        self.bytes += bytes;
        self.min_time = self.min_time.min(time);
        self.max_time = self.max_time.max(time);
    }
}

pub(crate) struct Journal {
    dir: PathBuf,
    limits: JournalLimits,
    seg_max_events: u64,
    seg_max_bytes: u64,
    /// Oldest first; every segment holds at least one event.
    segments: VecDeque<Segment>,
    /// Open for appending: the last segment, while it still takes events.
    active: Option<File>,
    total_events: u64,
    total_bytes: u64,
    next_seq: u64,
    line: Vec<u8>,
}

impl Journal {
    /// Opens (creating) the journal in `dir`, truncating a torn last line
    /// and dropping segments beyond the limits.
    pub fn open(dir: &Path, limits: JournalLimits) -> io::Result<Journal> {
        fs::create_dir_all(dir)?;
        let mut files = Vec::new();
        let mut indexes = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            if let Some(first) = name
                .strip_suffix(SEGMENT_SUFFIX)
                .and_then(|s| s.parse::<u64>().ok())
            {
                files.push((first, entry.path()));
            } else if name.ends_with(INDEX_SUFFIX) || name.ends_with(".tmp") {
                indexes.push(entry.path());
            }
        }
        // Indexes and temporaries whose segment is gone.
        for idx in indexes {
            let seg = idx.with_extension(&SEGMENT_SUFFIX[1..]);
            if idx.extension().is_some_and(|e| e == "tmp") || !seg.exists() {
                let _ = fs::remove_file(&idx);
            }
        }
        files.sort();
        let n = files.len();
        let mut segments: VecDeque<Segment> = VecDeque::new();
        for (i, (_, path)) in files.into_iter().enumerate() {
            let is_last = i + 1 == n;
            let seg = match read_index(&path).filter(|_| !is_last) {
                Some(seg) => Some(seg),
                None => {
                    let seg = scan_segment(&path)?;
                    if let (Some(seg), false) = (&seg, is_last) {
                        write_index(seg);
                    }
                    seg
                }
            };
            let after_prev = match (segments.back(), seg.as_ref()) {
                (Some(prev), Some(s)) => s.first_seq > prev.last_seq,
                _ => true,
            };
            match seg {
                Some(seg) if after_prev => segments.push_back(seg),
                Some(_) => {
                    tracing::warn!(path = %path.display(), "event journal segment overlaps an earlier one; removing it");
                    remove_segment(&path);
                }
                None => remove_segment(&path),
            }
        }
        let next_seq = segments.back().map_or(1, |s| s.last_seq + 1);
        let max_events = (limits.max_events as u64).max(1);
        let max_bytes = limits.max_bytes.max(1);
        let mut j = Journal {
            dir: dir.to_path_buf(),
            limits,
            seg_max_events: (max_events / SEGMENTS_PER_JOURNAL).max(1),
            seg_max_bytes: (max_bytes / SEGMENTS_PER_JOURNAL).max(1),
            total_events: segments.iter().map(|s| s.count).sum(),
            total_bytes: segments.iter().map(|s| s.bytes).sum(),
            segments,
            active: None,
            next_seq,
            line: Vec::with_capacity(1024),
        };
        if let Some(last) = j.segments.back() {
            if last.count < j.seg_max_events && last.bytes < j.seg_max_bytes {
                j.active = Some(OpenOptions::new().append(true).open(&last.path)?);
            }
        }
        j.trim();
        Ok(j)
    }

    /// The sequence number the next event gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The oldest sequence number still held, if any.
    pub fn oldest_seq(&self) -> Option<u64> {
        self.segments.front().map(|s| s.first_seq)
    }

    /// Copies of the segments that hold sequence numbers `>= from`.
    pub fn segments_from(&self, from: u64) -> Vec<Segment> {
        self.segments
            .iter()
            .filter(|s| s.last_seq >= from)
            .cloned()
            .collect()
    }

    #[cfg(test)]
    pub fn total_events(&self) -> u64 {
        self.total_events
    }

    #[cfg(test)]
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Gives `ev` the next sequence number and appends it. The number is
    /// used up even when the write fails, so readers see the hole.
    pub fn append(&mut self, ev: &Event) -> (u64, io::Result<()>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let res = self.write(seq, ev);
        (seq, res)
    }

    fn write(&mut self, seq: u64, ev: &Event) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, &RecordOut { seq, ev })?;
        self.line.push(b'\n');
        let len = self.line.len() as u64;
        match self.active.as_mut() {
            Some(file) => {
                let seg = self
                    .segments
                    .back_mut()
                    .expect("an active file has a segment");
                if let Err(e) = file.write_all(&self.line) {
                    // Cut a partial line off; if that fails too, leave the
                    // file (the torn tail is cut on the next open).
                    if file.set_len(seg.bytes).is_err() {
                        self.active = None;
                    }
                    return Err(e);
                }
                seg.add(seq, ev.time_nano, len);
            }
            None => {
                let path = self.dir.join(format!("{seq:020}{SEGMENT_SUFFIX}"));
                let mut file = OpenOptions::new()
                    .create(true)
                    .truncate(true)
                    .write(true)
                    .open(&path)?;
                if let Err(e) = file.write_all(&self.line) {
                    drop(file);
                    let _ = fs::remove_file(&path);
                    return Err(e);
                }
                let mut seg = Segment {
                    path,
                    first_seq: seq,
                    last_seq: seq,
                    count: 0,
                    bytes: 0,
                    min_time: 0,
                    max_time: 0,
                };
                seg.add(seq, ev.time_nano, len);
                self.segments.push_back(seg);
                self.active = Some(file);
            }
        }
        self.total_events += 1;
        self.total_bytes += len;
        let seg = self.segments.back().expect("just appended");
        if seg.count >= self.seg_max_events || seg.bytes >= self.seg_max_bytes {
            self.active = None;
            write_index(seg);
        }
        self.trim();
        Ok(())
    }

    /// Deletes the oldest segments until both limits hold. The active
    /// segment is never larger than one segment's share, so deleting the
    /// closed ones always suffices.
    fn trim(&mut self) {
        let max_events = self.limits.max_events as u64;
        while self.total_events > max_events || self.total_bytes > self.limits.max_bytes {
            if self.segments.len() == 1 && self.active.is_some() {
                break;
            }
            let Some(old) = self.segments.pop_front() else {
                break;
            };
            self.total_events -= old.count;
            self.total_bytes -= old.bytes;
            remove_segment(&old.path);
        }
    }

    /// Flushes the active segment to disk.
    pub fn sync(&self) -> io::Result<()> {
        match &self.active {
            Some(f) => f.sync_data(),
            None => Ok(()),
        }
    }
}

fn index_path(segment: &Path) -> PathBuf {
    segment.with_extension(&INDEX_SUFFIX[1..])
}

/// Records a closed segment's summary beside it. Best effort: without it
/// the next open scans the segment.
fn write_index(seg: &Segment) {
    let idx = index_path(&seg.path);
    let tmp = idx.with_extension("idx.tmp");
    let res = serde_json::to_vec(seg)
        .map_err(io::Error::other)
        .and_then(|data| fs::write(&tmp, data))
        .and_then(|()| fs::rename(&tmp, &idx));
    if let Err(e) = res {
        tracing::warn!(path = %idx.display(), error = %e, "cannot write event journal index");
    }
}

/// A segment's summary from its index, if the index matches the file.
fn read_index(segment: &Path) -> Option<Segment> {
    let data = fs::read(index_path(segment)).ok()?;
    let mut seg: Segment = serde_json::from_slice(&data).ok()?;
    let len = fs::metadata(segment).ok()?.len();
    if len != seg.bytes || seg.count == 0 || seg.last_seq < seg.first_seq {
        return None;
    }
    seg.path = segment.to_path_buf();
    Some(seg)
}

fn remove_segment(path: &Path) {
    for p in [path.to_path_buf(), index_path(path)] {
        if let Err(e) = fs::remove_file(&p) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %p.display(), error = %e, "cannot remove old event journal segment");
            }
        }
    }
}

/// Reads a segment, truncating it at the first line that is torn or does
/// not parse. `None` when nothing valid is left.
fn scan_segment(path: &Path) -> io::Result<Option<Segment>> {
    let data = fs::read(path)?;
    let mut seg = Segment {
        path: path.to_path_buf(),
        ..Segment::default()
    };
    let mut pos = 0usize;
    while let Some(nl) = data[pos..].iter().position(|&b| b == b'\n') {
        let line = &data[pos..pos + nl];
        let Ok(head) = serde_json::from_slice::<RecordHead>(line) else {
            break;
        };
        if seg.count > 0 && head.seq <= seg.last_seq {
            break;
        }
        seg.add(head.seq, head.ev.time_nano, nl as u64 + 1);
        pos += nl + 1;
    }
    if pos < data.len() {
        tracing::warn!(
            path = %path.display(),
            dropped_bytes = data.len() - pos,
            "truncating a torn or corrupt tail of the event journal"
        );
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(pos as u64)?;
        f.sync_all()?;
    }
    Ok((seg.count > 0).then_some(seg))
}

/// Visits the whole lines of a segment file whose sequence number lies in
/// `from..=upto`, in order. A trailing partial line (an append in flight)
/// is ignored.
pub(crate) fn read_segment(
    path: &Path,
    from: u64,
    upto: u64,
    mut visit: impl FnMut(u64, Event) -> io::Result<()>,
) -> io::Result<()> {
    let data = fs::read(path)?;
    for line in data.split_inclusive(|&b| b == b'\n') {
        let Some(line) = line.strip_suffix(b"\n") else {
            break;
        };
        // Lines before `from` are skipped without parsing them whole.
        if line_seq(line).is_some_and(|seq| seq < from) {
            continue;
        }
        let rec: Record = serde_json::from_slice(line).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: bad journal line: {e}", path.display()),
            )
        })?;
        if rec.seq < from {
            continue;
        }
        if rec.seq > upto {
            break;
        }
        visit(rec.seq, rec.ev)?;
    }
    Ok(())
}

/// The sequence number of a line as this module writes it
/// (`{"seq":N,...`), without parsing the rest.
fn line_seq(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(br#"{"seq":"#)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if rest.get(digits) != Some(&b',') {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_types::EventType;
    use std::collections::BTreeMap;

    fn event(i: i64) -> Event {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_string(), format!("c{i}"));
        Event::new(EventType::Container, "start", format!("id{i}"), attrs, i)
    }

    fn segment_files(dir: &Path) -> Vec<PathBuf> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "ndjson"))
            .collect()
    }

    fn seqs_on_disk(dir: &Path) -> Vec<u64> {
        let j = Journal::open(dir, JournalLimits::default()).unwrap();
        let mut out = Vec::new();
        for seg in j.segments_from(0) {
            read_segment(&seg.path, 0, u64::MAX, |s, _| {
                out.push(s);
                Ok(())
            })
            .unwrap();
        }
        out
    }

    #[test]
    fn line_seq_reads_the_prefix_we_write() {
        let mut line = Vec::new();
        serde_json::to_writer(
            &mut line,
            &RecordOut {
                seq: 42,
                ev: &event(1),
            },
        )
        .unwrap();
        assert_eq!(line_seq(&line), Some(42));
        assert_eq!(line_seq(br#"{"seq":7}"#), None);
        assert_eq!(line_seq(br#"{"ev":{},"seq":7}"#), None);
    }

    #[test]
    fn rotation_keeps_both_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let limits = JournalLimits {
            max_events: 80,
            max_bytes: 1 << 30,
        };
        let mut j = Journal::open(dir.path(), limits).unwrap();
        for i in 0..1000 {
            let (seq, r) = j.append(&event(i));
            r.unwrap();
            assert_eq!(seq, i as u64 + 1);
            assert!(j.total_events() <= 80, "events bound broken at {i}");
        }
        // Whole segments of 10 events go, so 70..=80 remain.
        assert!(j.total_events() >= 70, "{}", j.total_events());
        let files = segment_files(dir.path()).len();
        assert!(files <= 9, "{files} segment files");
        let on_disk = seqs_on_disk(dir.path());
        assert_eq!(on_disk.len() as u64, j.total_events());
        assert_eq!(*on_disk.last().unwrap(), 1000);
        assert!(on_disk.windows(2).all(|w| w[1] == w[0] + 1));

        // Now the byte bound: each line is well over 100 bytes.
        let dir = tempfile::tempdir().unwrap();
        let limits = JournalLimits {
            max_events: 1_000_000,
            max_bytes: 8 * 1024,
        };
        let mut j = Journal::open(dir.path(), limits).unwrap();
        for i in 0..2000 {
            j.append(&event(i)).1.unwrap();
            assert!(j.total_bytes() <= 8 * 1024);
        }
        let real: u64 = segment_files(dir.path())
            .iter()
            .map(|p| fs::metadata(p).unwrap().len())
            .sum();
        assert_eq!(real, j.total_bytes());
        assert!(real > 6 * 1024, "{real}");
    }

    fn summary(j: &Journal) -> Vec<(u64, u64, u64, u64, i64, i64)> {
        j.segments_from(0)
            .iter()
            .map(|s| {
                (
                    s.first_seq,
                    s.last_seq,
                    s.count,
                    s.bytes,
                    s.min_time,
                    s.max_time,
                )
            })
            .collect()
    }

    #[test]
    fn closed_segments_are_indexed_and_bad_indexes_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let limits = JournalLimits {
            max_events: 80,
            max_bytes: 1 << 30,
        };
        let mut j = Journal::open(dir.path(), limits).unwrap();
        for i in 0..75 {
            j.append(&event(i)).1.unwrap();
        }
        let want = summary(&j);
        drop(j);
        let idx: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "idx"))
            .collect();
        assert_eq!(idx.len(), 7, "one index per closed segment");
        assert_eq!(summary(&Journal::open(dir.path(), limits).unwrap()), want);

        // A stale index (wrong size) and a garbage one are both ignored.
        let mut stale: Segment = serde_json::from_slice(&fs::read(&idx[0]).unwrap()).unwrap();
        stale.count += 5;
        stale.bytes += 1;
        fs::write(&idx[0], serde_json::to_vec(&stale).unwrap()).unwrap();
        fs::write(&idx[1], b"{not json").unwrap();
        assert_eq!(summary(&Journal::open(dir.path(), limits).unwrap()), want);

        // Rotation removes indexes with their segments.
        let mut j = Journal::open(dir.path(), limits).unwrap();
        for i in 75..400 {
            j.append(&event(i)).1.unwrap();
        }
        let segs = j.segments_from(0).len();
        let files = fs::read_dir(dir.path()).unwrap().count();
        assert!(
            files == 2 * segs || files == 2 * segs - 1,
            "{files} files, {segs} segments"
        );
    }

    #[test]
    fn torn_last_line_is_truncated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut j = Journal::open(dir.path(), JournalLimits::default()).unwrap();
            for i in 0..5 {
                j.append(&event(i)).1.unwrap();
            }
        }
        let seg = segment_files(dir.path()).remove(0);
        let whole = fs::metadata(&seg).unwrap().len();
        // A crash in the middle of the sixth line.
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(br#"{"seq":6,"ev":{"Type":"contai"#).unwrap();
        drop(f);

        let mut j = Journal::open(dir.path(), JournalLimits::default()).unwrap();
        assert_eq!(fs::metadata(&seg).unwrap().len(), whole);
        assert_eq!(j.next_seq(), 6);
        assert_eq!(j.append(&event(5)).0, 6);
        drop(j);
        assert_eq!(seqs_on_disk(dir.path()), vec![1, 2, 3, 4, 5, 6]);

        // A complete but corrupt last line goes too.
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"\0\0\0\0\n").unwrap();
        drop(f);
        let j = Journal::open(dir.path(), JournalLimits::default()).unwrap();
        assert_eq!(j.next_seq(), 7);
        assert_eq!(seqs_on_disk(dir.path()), vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn reopen_continues_numbering_and_reader_skips_partial_line() {
        let dir = tempfile::tempdir().unwrap();
        let limits = JournalLimits {
            max_events: 16,
            max_bytes: 1 << 20,
        };
        {
            let mut j = Journal::open(dir.path(), limits).unwrap();
            for i in 0..7 {
                j.append(&event(i)).1.unwrap();
            }
        }
        let mut j = Journal::open(dir.path(), limits).unwrap();
        assert_eq!(j.oldest_seq(), Some(1));
        for i in 7..40 {
            j.append(&event(i)).1.unwrap();
        }
        assert_eq!(j.next_seq(), 41);
        assert!(j.total_events() <= 16);
        let last = j.segments_from(0).pop().unwrap();
        let mut f = OpenOptions::new().append(true).open(&last.path).unwrap();
        f.write_all(br#"{"seq":41,"#).unwrap();
        let mut got = Vec::new();
        read_segment(&last.path, 0, u64::MAX, |s, e| {
            got.push((s, e.time_nano));
            Ok(())
        })
        .unwrap();
        assert_eq!(got.last(), Some(&(40, 39)));
    }
}
