//! The `api` suite against a tiny HTTP/1.1 server on a temporary unix socket: every timed request
//! must be a real round trip on one kept-alive connection, and a slow endpoint must measure slow.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_bench::suite::{api, Options};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

/// How long the fake engine takes to answer `/info`.
const INFO_DELAY: Duration = Duration::from_millis(3);

#[derive(Default)]
struct Counts {
    connections: AtomicUsize,
    requests: AtomicUsize,
}

/// Serves `/_ping` (Content-Length), `/version` and `/info` (chunked, `/info` after a delay),
/// `/containers/json`, and 404 for anything else, keeping every connection alive.
async fn serve(listener: UnixListener, counts: Arc<Counts>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        counts.connections.fetch_add(1, Ordering::SeqCst);
        let counts = counts.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut r = BufReader::new(r);
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let path = line.split(' ').nth(1).unwrap_or("").to_owned();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                counts.requests.fetch_add(1, Ordering::SeqCst);
                let resp: String = match path.as_str() {
                    "/_ping" => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK".into(),
                    "/version" => chunked(r#"{"Version":"fake-1.0","ApiVersion":"1.41"}"#),
                    "/info" => {
                        tokio::time::sleep(INFO_DELAY).await;
                        chunked(r#"{"Containers":0}"#)
                    }
                    "/containers/json" => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]".into(),
                    _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".into(),
                };
                if w.write_all(resp.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// A chunked 200 response, split in two chunks like a streaming encoder would.
fn chunked(body: &str) -> String {
    let (a, b) = body.split_at(body.len() / 2);
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    )
}

fn start_server(dir: &Path) -> (PathBuf, Arc<Counts>) {
    let socket = dir.join("fake.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let counts = Arc::new(Counts::default());
    tokio::spawn(serve(listener, counts.clone()));
    (socket, counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_suite_times_real_round_trips_on_one_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, counts) = start_server(dir.path());
    let opts = Options {
        requests: 50,
        warmup: 5,
        timeout: Duration::from_secs(10),
        ..Options::default()
    };

    let out = tokio::task::spawn_blocking({
        let socket = socket.clone();
        let opts = opts.clone();
        move || api(&socket, &opts)
    })
    .await
    .unwrap();

    assert!(out.failures.is_empty(), "{:?}", out.failures);
    // Four endpoints, each warmed up and timed, all over a single kept-alive connection.
    assert_eq!(counts.requests.load(Ordering::SeqCst), 4 * (50 + 5));
    assert_eq!(counts.connections.load(Ordering::SeqCst), 1);

    let value = |name: &str| {
        out.figures
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name}"))
            .value
    };
    let delay_us = INFO_DELAY.as_secs_f64() * 1e6;
    // The slow endpoint measures at least its delay; the fast ones well below it.
    assert!(
        value("api /info p50") >= delay_us,
        "{}",
        value("api /info p50")
    );
    assert!(
        value("api /_ping p50") < delay_us,
        "{}",
        value("api /_ping p50")
    );
    assert!(value("api /_ping p99") >= value("api /_ping p50"));
    // 50 requests of at least 3 ms cannot go faster than 1/3 ms each.
    assert!(
        value("api /info req/s") <= 1e6 / delay_us,
        "{}",
        value("api /info req/s")
    );
    assert!(value("api /_ping req/s") > value("api /info req/s"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_fails_is_reported_not_timed() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, _counts) = start_server(dir.path());
    let out = tokio::task::spawn_blocking(move || {
        let mut c = berth_bench::http::Client::new(&socket, Duration::from_secs(5));
        let opts = Options {
            requests: 3,
            warmup: 0,
            timeout: Duration::from_secs(5),
            ..Options::default()
        };
        berth_bench::suite::measure_endpoint(&mut c, "/nope", &opts)
    })
    .await
    .unwrap();
    assert_eq!(out.unwrap_err(), "status 404: ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_json_with_the_engine_version() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, counts) = start_server(dir.path());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_berth-bench"))
        .args(["api", "--socket"])
        .arg(&socket)
        .args(["--requests", "20", "--warmup", "2", "--json"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], "fake-1.0");
    assert_eq!(v["api_version"], "1.41");
    let figures = v["figures"].as_array().unwrap();
    assert_eq!(figures.len(), 12);
    assert!(figures.iter().all(|f| f["value"].as_f64().unwrap() > 0.0));
    // One /version for the title, then 4 × (20 + 2).
    assert_eq!(counts.requests.load(Ordering::SeqCst), 1 + 4 * 22);
}
