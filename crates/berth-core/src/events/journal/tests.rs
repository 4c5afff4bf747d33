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
