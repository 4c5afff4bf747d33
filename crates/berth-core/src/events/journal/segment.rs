//! The segment files: their `.idx` summaries, scanning one, reading its lines.

use super::*;

pub(super) fn index_path(segment: &Path) -> PathBuf {
    segment.with_extension(&INDEX_SUFFIX[1..])
}

/// Records a closed segment's summary beside it. Best effort: without it
/// the next open scans the segment.
pub(super) fn write_index(seg: &Segment) {
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
pub(super) fn read_index(segment: &Path) -> Option<Segment> {
    let data = fs::read(index_path(segment)).ok()?;
    let mut seg: Segment = serde_json::from_slice(&data).ok()?;
    let len = fs::metadata(segment).ok()?.len();
    if len != seg.bytes || seg.count == 0 || seg.last_seq < seg.first_seq {
        return None;
    }
    seg.path = segment.to_path_buf();
    Some(seg)
}

pub(super) fn remove_segment(path: &Path) {
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
pub(super) fn scan_segment(path: &Path) -> io::Result<Option<Segment>> {
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
pub(super) fn line_seq(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(br#"{"seq":"#)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if rest.get(digits) != Some(&b',') {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}
