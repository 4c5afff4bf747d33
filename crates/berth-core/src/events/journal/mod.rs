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

mod segment;
#[cfg(test)]
mod tests;

#[cfg(test)]
use segment::line_seq;
pub(crate) use segment::read_segment;
use segment::{read_index, remove_segment, scan_segment, write_index};

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
