//! The log driver conformance suite: every [`LogDriver`], built in or a
//! plugin, passes [`run`].
//!
//! The suite plays the shim and the daemon: it asks the driver for its
//! sink, feeds stdout and stderr through berth-runtime's [`ContainerLog`]
//! (the shim's own writer) with chosen timestamps, then, for a driver that
//! can be read back, reads the log through [`logdriver::read`] (what
//! `docker logs` uses) and checks every entry's order, stream, bytes and
//! time; following a log delivers what is written while the container
//! runs and ends when it stops. A driver that cannot be read must refuse
//! reads with dockerd's error and leave nothing at the json-file path.

use berth_core::logs::{LogContext, LogDriver, LogEntry, LogOptions};
use berth_runtime::logdriver::{self, ContainerLog, Stream};
use berth_types::ErrorKind;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A partial line is cut into entries of this size (dockerd's 16 KiB).
const CHUNK: usize = 16 * 1024;
/// The first timestamp the suite writes with: 2023-11-14T22:13:20Z.
const T0: i128 = 1_700_000_000_000_000_000;

/// One write of the suite: what goes in, and the entries it must yield.
struct Step {
    stream: Stream,
    data: Vec<u8>,
    /// The stream ends after this write (its partial line is flushed).
    end: bool,
}

/// An entry a readable driver must give back: stream, bytes, time.
type Expected = (Stream, Vec<u8>, i128);

fn step(stream: Stream, data: &[u8]) -> Step {
    Step {
        stream,
        data: data.to_vec(),
        end: false,
    }
}

/// The writes, and the entries (stream, bytes, time) a readable driver
/// must give back for them, in order.
fn script() -> (Vec<Step>, Vec<Expected>) {
    let mut long = vec![b'x'; 2 * CHUNK + 100];
    long.push(b'\n');
    let steps = vec![
        step(Stream::Stdout, b"one\n"),
        step(Stream::Stderr, b"err one\n"),
        // Two lines in one read, then a line in two reads.
        step(Stream::Stdout, b"two\nthr"),
        step(Stream::Stdout, b"ee\n"),
        // Lines of both streams interleave without mixing.
        step(Stream::Stderr, b"err two, begun "),
        step(Stream::Stdout, b"four\n"),
        step(Stream::Stderr, b"and ended\n"),
        // Longer than a chunk: cut into 16 KiB entries, the rest with its newline.
        step(Stream::Stdout, &long),
        // Not special in a log: tabs, quotes, markup, non-ASCII, CR.
        step(Stream::Stdout, "a\t\"b\" <c> & é\r\n".as_bytes()),
        Step {
            stream: Stream::Stderr,
            data: b"no newline at the end".to_vec(),
            end: true,
        },
    ];
    let t = |i: i128| T0 + i * 1_000;
    let mut expect = vec![
        (Stream::Stdout, b"one\n".to_vec(), t(0)),
        (Stream::Stderr, b"err one\n".to_vec(), t(1)),
        (Stream::Stdout, b"two\n".to_vec(), t(2)),
        // A line is timed by the read that completed it.
        (Stream::Stdout, b"three\n".to_vec(), t(3)),
        (Stream::Stdout, b"four\n".to_vec(), t(5)),
        (Stream::Stderr, b"err two, begun and ended\n".to_vec(), t(6)),
    ];
    expect.push((Stream::Stdout, long[..CHUNK].to_vec(), t(7)));
    expect.push((Stream::Stdout, long[CHUNK..2 * CHUNK].to_vec(), t(7)));
    expect.push((Stream::Stdout, long[2 * CHUNK..].to_vec(), t(7)));
    expect.push((
        Stream::Stdout,
        "a\t\"b\" <c> & é\r\n".as_bytes().to_vec(),
        t(8),
    ));
    expect.push((Stream::Stderr, b"no newline at the end".to_vec(), t(9)));
    (steps, expect)
}

fn write_all(log: &mut ContainerLog, steps: &[Step], first: i128) {
    for (i, s) in steps.iter().enumerate() {
        let now = T0 + (first + i as i128) * 1_000;
        log.write(s.stream, &s.data, now)
            .unwrap_or_else(|e| panic!("writing step {i}: {e}"));
        if s.end {
            log.end(s.stream, now).unwrap();
        }
    }
}

async fn collect(mut rx: mpsc::Receiver<std::io::Result<LogEntry>>) -> Vec<LogEntry> {
    let mut out = Vec::new();
    while let Some(e) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the log stream ended within 10s")
    {
        out.push(e.expect("reading the log"));
    }
    out
}

fn all() -> LogOptions {
    LogOptions {
        stdout: true,
        stderr: true,
        ..Default::default()
    }
}

fn assert_entries(got: &[LogEntry], want: &[Expected], what: &str) {
    let got: Vec<(&str, &[u8], i128)> = got
        .iter()
        .map(|e| (e.stream.as_str(), e.log.as_slice(), e.time))
        .collect();
    let want: Vec<(&str, &[u8], i128)> = want
        .iter()
        .map(|(s, l, t)| (s.as_str(), l.as_slice(), *t))
        .collect();
    assert_eq!(got.len(), want.len(), "{what}: number of entries");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(
            g,
            w,
            "{what}: entry {i} (as text: {:?} / {:?})",
            String::from_utf8_lossy(g.1),
            String::from_utf8_lossy(w.1)
        );
    }
}

/// Runs the suite against `driver` in a fresh temporary directory.
pub async fn run(driver: Arc<dyn LogDriver>) {
    let name = driver.name().to_string();
    let dir = tempfile::tempdir().unwrap();
    let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let ctx = LogContext {
        container_id: id.into(),
        image: "busybox".into(),
        config: BTreeMap::new(),
        log_path: dir
            .path()
            .join("containers")
            .join(id)
            .join(format!("{id}-json.log")),
    };
    driver
        .validate(&ctx.config)
        .unwrap_or_else(|e| panic!("{name}: no --log-opt at all is valid: {e}"));
    let sink = driver
        .sink(&ctx)
        .unwrap_or_else(|e| panic!("{name}: sink: {e}"));
    // A description is data: asking twice gives the same answer.
    assert_eq!(driver.sink(&ctx).unwrap(), sink, "{name}: sink is stable");
    driver.start(&ctx).await.unwrap();
    let mut log = ContainerLog::open(&sink).unwrap_or_else(|e| panic!("{name}: open: {e}"));
    let (steps, expect) = script();
    write_all(&mut log, &steps, 0);

    if !driver.capabilities().read_logs {
        log.close(T0).unwrap();
        driver.stop(&ctx).await.unwrap();
        let e = driver
            .source(&ctx)
            .err()
            .unwrap_or_else(|| panic!("{name}: cannot read, yet gave a source"));
        assert_eq!(e.kind, ErrorKind::InvalidParameter, "{name}");
        assert_eq!(
            e.message, "configured logging driver does not support reading",
            "{name}"
        );
        assert!(
            !ctx.log_path.exists(),
            "{name}: an unreadable log left a json-file log"
        );
        return;
    }

    let source = driver
        .source(&ctx)
        .unwrap_or_else(|e| panic!("{name}: readable, yet no source: {e}"));
    let stopped = || false;
    let got = collect(logdriver::read(source.clone(), all(), stopped)).await;
    assert_entries(&got, &expect, &format!("{name}: everything"));

    // The stream and tail filters (tail counts after the stream filter).
    let only_err = LogOptions {
        stdout: false,
        tail: Some(2),
        ..all()
    };
    let got = collect(logdriver::read(source.clone(), only_err, stopped)).await;
    let want: Vec<_> = expect
        .iter()
        .filter(|e| e.0 == Stream::Stderr)
        .cloned()
        .collect();
    assert_entries(
        &got,
        &want[want.len() - 2..],
        &format!("{name}: stderr tail 2"),
    );
    // since / until are inclusive, on the entries' times.
    let window = LogOptions {
        since: Some(T0 + 3_000),
        until: Some(T0 + 6_000),
        ..all()
    };
    let got = collect(logdriver::read(source.clone(), window, stopped)).await;
    let want: Vec<_> = expect
        .iter()
        .filter(|e| (T0 + 3_000..=T0 + 6_000).contains(&e.2))
        .cloned()
        .collect();
    assert_entries(&got, &want, &format!("{name}: since/until"));

    // Following: the history, then what is written while the container
    // runs, then the end once it has stopped.
    let running = Arc::new(AtomicBool::new(true));
    let r = running.clone();
    let follow = LogOptions {
        follow: true,
        tail: Some(1),
        ..all()
    };
    let mut rx = logdriver::read(source.clone(), follow, move || r.load(Ordering::SeqCst));
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the history of a followed log")
        .unwrap()
        .unwrap();
    assert_eq!(
        first.log,
        expect.last().unwrap().1,
        "{name}: follow's tail 1"
    );
    let more = [
        step(Stream::Stdout, b"later\n"),
        step(Stream::Stderr, b"later err\n"),
    ];
    write_all(&mut log, &more, 100);
    log.close(T0 + 200_000).unwrap();
    driver.stop(&ctx).await.unwrap();
    running.store(false, Ordering::SeqCst);
    let got = collect(rx).await;
    assert_entries(
        &got,
        &[
            (Stream::Stdout, b"later\n".to_vec(), T0 + 100_000),
            (Stream::Stderr, b"later err\n".to_vec(), T0 + 101_000),
        ],
        &format!("{name}: followed"),
    );
}
