//! The client against fake plugins on unix sockets: small listen
//! backlogs, servers that close after each answer or keep connections
//! alive, dead and hanging ones.

use super::*;
use crate::discovery::Addr;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream as StdStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// HTTP/1.0: one answer per connection, then close (Python's default).
    Close,
    /// HTTP/1.1: answers on the connection until the client closes it.
    KeepAlive,
    /// HTTP/1.1 framing, no `Connection: close`, yet closes after one answer.
    Rude,
    /// Reads the request, never answers.
    Hang,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicUsize,
    answered: AtomicUsize,
    busy: AtomicUsize,
    most_busy: AtomicUsize,
}

/// A plugin on `path` with listen backlog `backlog`, serving one
/// connection at a time (like a single-threaded Python server) unless
/// `threaded`, taking `work` per request.
fn fake(path: &Path, backlog: u32, threaded: bool, mode: Mode, work: Duration) -> Arc<Counters> {
    let l = bind(path, backlog);
    let c = Arc::new(Counters::default());
    let c2 = c.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { return };
            c2.accepted.fetch_add(1, SeqCst);
            let c3 = c2.clone();
            let serve = move || serve(s, mode, work, &c3);
            if threaded {
                std::thread::spawn(serve);
            } else {
                serve();
            }
        }
    });
    c
}

/// A listener whose backlog is `backlog` (std's is 128), for a plain
/// thread to serve. Called within the test's runtime.
fn bind(path: &Path, backlog: u32) -> std::os::unix::net::UnixListener {
    let s = tokio::net::UnixSocket::new_stream().unwrap();
    s.bind(path).unwrap();
    let l = s.listen(backlog).unwrap().into_std().unwrap();
    l.set_nonblocking(false).unwrap();
    l
}

fn serve(s: StdStream, mode: Mode, work: Duration, c: &Counters) {
    serve_on(s.try_clone().unwrap(), s, mode, work, c)
}

/// Answers requests read from `r` on `w`, as `mode` says.
fn serve_on(r: impl Read, mut w: impl Write, mode: Mode, work: Duration, c: &Counters) {
    let mut r = BufReader::new(r);
    loop {
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let now = c.busy.fetch_add(1, SeqCst) + 1;
        c.most_busy.fetch_max(now, SeqCst);
        if mode == Mode::Hang {
            std::thread::sleep(Duration::from_secs(3600));
        }
        std::thread::sleep(work);
        c.busy.fetch_sub(1, SeqCst);
        let answer = br#"{"Err":""}"#;
        let head = match mode {
            Mode::Close => "HTTP/1.0 200 OK\r\n",
            _ => "HTTP/1.1 200 OK\r\n",
        };
        let _ = write!(w, "{head}Content-Length: {}\r\n\r\n", answer.len());
        let _ = w.write_all(answer);
        let _ = w.flush();
        c.answered.fetch_add(1, SeqCst);
        if mode != Mode::KeepAlive {
            return;
        }
    }
}

fn client(path: &Path, opts: ClientOptions) -> Arc<Client> {
    Arc::new(Client::new(
        Endpoint {
            name: "fake".into(),
            addr: Addr::Unix(path.to_path_buf()),
            tls: None,
            source: path.to_path_buf(),
        },
        opts,
    ))
}

async fn call(c: &Client) -> Result<serde_json::Value> {
    c.call("Fake.Call", &serde_json::json!({})).await
}

/// `n` calls at once; how many succeeded, and the first error.
async fn flood(c: &Arc<Client>, n: usize) -> (usize, Option<String>) {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { call(&c).await })
        })
        .collect();
    let (mut ok, mut first) = (0, None);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => {
                first.get_or_insert(e.to_string());
            }
        }
    }
    (ok, first)
}

fn sock(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(format!("{name}.sock"))
}

/// Fills the listen queue of `path` with connections nobody accepts,
/// until the next one would get `EAGAIN`.
fn fill_backlog(path: &Path) -> Vec<StdStream> {
    use std::os::fd::AsRawFd;
    let mut held = Vec::new();
    loop {
        let probe = nix::sys::socket::socket(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::Stream,
            nix::sys::socket::SockFlag::SOCK_NONBLOCK,
            None,
        )
        .unwrap();
        let addr = nix::sys::socket::UnixAddr::new(path).unwrap();
        match nix::sys::socket::connect(probe.as_raw_fd(), &addr) {
            Ok(()) => held.push(StdStream::from(probe)),
            Err(nix::errno::Errno::EAGAIN) => return held,
            Err(e) => panic!("filling the backlog: {e}"),
        }
        assert!(held.len() < 64, "the backlog never filled");
    }
}

#[tokio::test]
async fn a_full_backlog_is_waited_out_not_failed() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir, "full");
    let l = bind(&path, 1);
    let held = fill_backlog(&path);
    let c = client(
        &path,
        ClientOptions {
            breaker_threshold: 1,
            ..Default::default()
        },
    );
    // Nobody accepts for a while: every dial gets EAGAIN meanwhile.
    let c2 = c.clone();
    let pending = tokio::spawn(async move { call(&c2).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished(), "the call gave up on a full backlog");
    // Then the plugin catches up: it drops the queued connections and
    // serves the rest.
    let counters = Arc::new(Counters::default());
    let c3 = counters.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            serve(s, Mode::Close, Duration::ZERO, &c3);
        }
    });
    drop(held);
    pending.await.unwrap().unwrap();
    assert!(counters.answered.load(SeqCst) >= 1);
    // A call retried into success is not a failure: the breaker, which
    // one failure would open, stays closed.
    assert!(!c.breaker_open());
    call(&c).await.unwrap();
}

#[tokio::test]
async fn a_single_threaded_plugin_with_backlog_one_takes_a_crowd() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir, "close");
    let counters = fake(&path, 1, false, Mode::Close, Duration::from_millis(1));
    let c = client(&path, ClientOptions::default());
    let (ok, err) = flood(&c, 100).await;
    assert_eq!(ok, 100, "first error: {err:?}");
    assert_eq!(counters.answered.load(SeqCst), 100);
    // One connection per answer: nothing was kept that the plugin closed.
    assert_eq!(counters.accepted.load(SeqCst), 100);
    assert!(!c.breaker_open());
}

#[tokio::test]
async fn connections_closed_without_notice_are_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir, "rude");
    let counters = fake(&path, 1, true, Mode::Rude, Duration::ZERO);
    let c = client(&path, ClientOptions::default());
    // One after the other: each finds the last connection in the pool,
    // already closed by the plugin.
    for i in 0..30 {
        call(&c).await.unwrap_or_else(|e| panic!("call {i}: {e}"));
    }
    let (ok, err) = flood(&c, 60).await;
    assert_eq!(ok, 60, "first error: {err:?}");
    assert_eq!(counters.answered.load(SeqCst), 90);
}

#[tokio::test]
async fn kept_alive_connections_are_reused_and_calls_in_flight_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir, "keep");
    let counters = fake(&path, 1, true, Mode::KeepAlive, Duration::from_millis(5));
    let c = client(
        &path,
        ClientOptions {
            max_in_flight: 4,
            ..Default::default()
        },
    );
    for _ in 0..20 {
        call(&c).await.unwrap();
    }
    assert_eq!(
        counters.accepted.load(SeqCst),
        1,
        "one call at a time, one connection"
    );
    let (ok, err) = flood(&c, 60).await;
    assert_eq!(ok, 60, "first error: {err:?}");
    assert_eq!(counters.answered.load(SeqCst), 80);
    let most = counters.most_busy.load(SeqCst);
    assert!(most <= 4, "{most} calls at once, bound 4");
    let conns = counters.accepted.load(SeqCst);
    assert!(conns <= 8, "{conns} connections for 80 calls, 4 at a time");
}

#[tokio::test]
async fn a_dead_plugin_fails_fast_and_trips_the_breaker() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir, "dead");
    // A socket file nobody listens on, as a crashed plugin leaves.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let c = client(
        &path,
        ClientOptions {
            gone_retry: Duration::from_millis(200),
            ..Default::default()
        },
    );
    let t = Instant::now();
    let e = call(&c).await.unwrap_err();
    let took = t.elapsed();
    assert!(matches!(e, Error::Unavailable { .. }), "{e}");
    assert!(e.to_string().contains("Connection refused"), "{e}");
    assert!(took < Duration::from_secs(5), "took {took:?}, deadline 10s");
    // Refused, tried again within gone_retry, refused again.
    assert!(e.to_string().contains("tried"), "{e}");
    let _ = call(&c).await;
    let _ = call(&c).await;
    assert!(c.breaker_open());
    let t = Instant::now();
    let e = call(&c).await.unwrap_err();
    assert!(t.elapsed() < Duration::from_millis(50));
    assert!(e.to_string().contains("not calling it again"), "{e}");
}

#[tokio::test]
async fn queueing_counts_against_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir, "hang");
    let counters = fake(&path, 16, true, Mode::Hang, Duration::ZERO);
    let c = client(
        &path,
        ClientOptions {
            call_timeout: Duration::from_secs(1),
            max_in_flight: 2,
            breaker_threshold: 100,
            ..Default::default()
        },
    );
    let t = Instant::now();
    let (ok, err) = flood(&c, 6).await;
    assert_eq!(ok, 0);
    assert!(err.unwrap().contains("did not answer within 1.0s"));
    // Two went out and hung; the four queued behind them gave up at their
    // own deadline too (not 1s after their turn came, which would be 3s).
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
    assert!(counters.busy.load(SeqCst) >= 2);
}

#[tokio::test]
async fn half_open_lets_one_trial_call_through() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir, "trial");
    let c = client(
        &path,
        ClientOptions {
            breaker_threshold: 1,
            breaker_cooldown: Duration::from_millis(100),
            gone_retry: Duration::ZERO,
            ..Default::default()
        },
    );
    // Not there at all: one failure opens the breaker.
    let _ = call(&c).await.unwrap_err();
    assert!(c.breaker_open());
    // It comes up, slow to answer.
    fake(&path, 4, true, Mode::KeepAlive, Duration::from_millis(300));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let c2 = c.clone();
    let trial = tokio::spawn(async move { call(&c2).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // While the trial call runs, others are refused at once.
    let e = call(&c).await.unwrap_err();
    assert!(e.to_string().contains("until a trial call answers"), "{e}");
    trial.await.unwrap().unwrap();
    // It answered: closed again.
    call(&c).await.unwrap();
}

#[tokio::test]
async fn tcp_endpoints_are_pooled_too() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let counters = Arc::new(Counters::default());
    let c2 = counters.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            c2.accepted.fetch_add(1, SeqCst);
            let c3 = c2.clone();
            std::thread::spawn(move || {
                serve_on(
                    s.try_clone().unwrap(),
                    s,
                    Mode::KeepAlive,
                    Duration::ZERO,
                    &c3,
                )
            });
        }
    });
    let c = Client::new(
        Endpoint {
            name: "tcp".into(),
            addr: Addr::Tcp(addr),
            tls: None,
            source: "/nonexistent/tcp.spec".into(),
        },
        ClientOptions::default(),
    );
    for _ in 0..10 {
        call(&c).await.unwrap();
    }
    assert_eq!(counters.answered.load(SeqCst), 10);
    assert_eq!(counters.accepted.load(SeqCst), 1);
}
