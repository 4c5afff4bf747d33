//! Reading a container's log back the way its driver described
//! ([`LogSource`]): json-file lines from the live file and its rotations,
//! followed while the container runs; or entries a driver streams itself.

use crate::logs::{self, LogEntry, LogOptions};
use berth_core::logs::LogSource;
use berth_types::timestamp;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

/// The entries of `source` that `opts` selects, oldest first. With
/// `opts.follow`, new entries keep coming while `running()` says the
/// writer may still add some, then until the log is drained (or the
/// receiver is dropped, or `until` has passed).
pub fn read(
    source: LogSource,
    opts: LogOptions,
    running: impl Fn() -> bool + Send + Sync + 'static,
) -> mpsc::Receiver<std::io::Result<LogEntry>> {
    match source {
        LogSource::Reader(r) => r.read(opts),
        LogSource::JsonFile { path } => {
            let (tx, rx) = mpsc::channel(64);
            tokio::spawn(async move {
                if let Err(e) = stream_json_file(path, &running, opts, &tx).await {
                    let _ = tx.send(Err(e)).await;
                }
            });
            rx
        }
    }
}

async fn stream_json_file(
    path: PathBuf,
    running: &(dyn Fn() -> bool + Send + Sync),
    opts: LogOptions,
    tx: &mpsc::Sender<std::io::Result<LogEntry>>,
) -> std::io::Result<()> {
    // The history first (tail applies to it), remembering where the live file ended.
    let (entries, mut offset, mut ino) = {
        let p = path.clone();
        let o = opts.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            // Snapshot size/identity first so nothing written afterwards is missed.
            let (size, ino) = std::fs::metadata(&p)
                .map(|m| (m.len(), file_id(&m)))
                .unwrap_or((0, (0, 0)));
            let all = logs::read_entries_limited(&p, &o, Some(size))?;
            Ok((all, size, ino))
        })
        .await
        .map_err(std::io::Error::other)??
    };
    for e in entries {
        if tx.send(Ok(e)).await.is_err() {
            return Ok(());
        }
    }
    if !opts.follow {
        return Ok(());
    }
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let exited = !running();
        // Read whatever was appended.
        let grew = read_appended(&path, &mut offset, &mut ino, &mut pending, &opts, tx).await?;
        if tx.is_closed() {
            return Ok(());
        }
        if let Some(u) = opts.until {
            if timestamp::now_nanos() > u {
                return Ok(());
            }
        }
        if exited && !grew {
            return Ok(());
        }
        if !grew {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Sends the entries appended to the live log since `offset`, following
/// rotations (however many happened since the last look, as long as the
/// file we were reading still exists as `PATH.N`). Returns whether
/// anything was read.
async fn read_appended(
    path: &Path,
    offset: &mut u64,
    ino: &mut (u64, i128),
    pending: &mut Vec<u8>,
    opts: &LogOptions,
    tx: &mpsc::Sender<std::io::Result<LogEntry>>,
) -> std::io::Result<bool> {
    let md = match tokio::fs::metadata(path).await {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    // (file, start offset) to read, oldest first.
    let mut plan: Vec<(PathBuf, u64)> = Vec::new();
    if file_id(&md) == *ino || ino.0 == 0 {
        if md.len() < *offset {
            *offset = 0; // truncated in place (max-file 1)
            pending.clear();
        }
        plan.push((path.to_path_buf(), *offset));
    } else {
        let files = logs::log_files(path);
        let mut found = None;
        for (i, f) in files.iter().enumerate() {
            if let Ok(m) = tokio::fs::metadata(f).await {
                if file_id(&m) == *ino {
                    found = Some(i);
                }
            }
        }
        if let Some(i) = found {
            plan.push((files[i].clone(), *offset));
            for f in &files[i + 1..] {
                plan.push((f.clone(), 0));
            }
        } else {
            pending.clear();
            plan.push((path.to_path_buf(), 0));
        }
        // The live file is the last entry of `files` (or was added above).
        if plan.last().map(|(p, _)| p.as_path()) != Some(path) {
            plan.push((path.to_path_buf(), 0));
        }
    }
    let mut any = false;
    for (p, from) in plan {
        let Ok(mut f) = tokio::fs::File::open(&p).await else {
            continue;
        };
        let fmd = f.metadata().await?;
        f.seek(SeekFrom::Start(from)).await?;
        let mut data = Vec::new();
        f.read_to_end(&mut data).await?;
        if p == path {
            *ino = file_id(&fmd);
            *offset = from + data.len() as u64;
        }
        any |= !data.is_empty();
        pending.extend_from_slice(&data);
        while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            if let Some(e) = logs::parse_line(&line[..line.len() - 1]) {
                if opts.until.is_some_and(|u| e.time > u) {
                    continue;
                }
                if opts.wants(&e) && tx.send(Ok(e)).await.is_err() {
                    return Ok(true);
                }
            }
        }
    }
    Ok(any)
}

/// A log file's identity: inode and birth time (inodes of rotated-away
/// files are reused at once on ext4).
fn file_id(md: &std::fs::Metadata) -> (u64, i128) {
    use std::os::unix::fs::MetadataExt;
    let born = md.created().map(timestamp::system_time_nanos).unwrap_or(0);
    (md.ino(), born)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::logs::LogReader;
    use std::sync::{Arc, Mutex};

    /// A driver that keeps its own entries (as a plugin's ReadLogs does).
    struct Kept(Mutex<Vec<LogOptions>>);
    impl LogReader for Kept {
        fn read(&self, opts: LogOptions) -> mpsc::Receiver<std::io::Result<LogEntry>> {
            self.0.lock().unwrap().push(opts);
            let (tx, rx) = mpsc::channel(4);
            tx.try_send(Ok(LogEntry {
                stream: "stderr".into(),
                log: b"kept\n".to_vec(),
                time: 7,
            }))
            .unwrap();
            rx
        }
    }

    #[tokio::test]
    async fn a_driver_that_streams_is_read_through_with_the_options() {
        let kept = Arc::new(Kept(Mutex::new(Vec::new())));
        let opts = LogOptions {
            stderr: true,
            tail: Some(3),
            ..Default::default()
        };
        let mut rx = read(LogSource::Reader(kept.clone()), opts, || true);
        assert_eq!(rx.recv().await.unwrap().unwrap().log, b"kept\n");
        assert!(rx.recv().await.is_none());
        let asked = kept.0.lock().unwrap();
        assert_eq!(
            (asked.len(), asked[0].tail, asked[0].stdout),
            (1, Some(3), false)
        );
    }

    #[tokio::test]
    async fn a_json_file_not_yet_written_reads_as_empty() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("x-json.log");
        let opts = LogOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let mut rx = read(LogSource::JsonFile { path }, opts, || false);
        assert!(rx.recv().await.is_none());
    }
}
