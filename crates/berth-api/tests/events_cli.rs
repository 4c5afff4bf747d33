//! The real docker CLI reads berth's `/events` over a unix socket.

use axum::Router;
use berth_api::events::routes;
use berth_core::events::{now_nanos, EventBus, JournalLimits};
use berth_types::EventType;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const DOCKER: &str = "/usr/local/bin/docker";

async fn serve(sock: &Path, bus: Arc<EventBus>) {
    let app = Router::new()
        .route("/_ping", axum::routing::get(|| async { "OK" }))
        .merge(routes(bus.clone()))
        .nest("/v1.47", routes(bus));
    let listener = tokio::net::UnixListener::bind(sock).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

fn docker(sock: &Path) -> Command {
    let mut c = Command::new(DOCKER);
    c.env("DOCKER_API_VERSION", "1.47")
        .env("DOCKER_CONFIG", sock.parent().unwrap())
        .arg("-H")
        .arg(format!("unix://{}", sock.display()));
    c
}

fn container_attrs(name: &str) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    a.insert("name".to_string(), name.to_string());
    a.insert("image".to_string(), "busybox".to_string());
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_events_replays_after_restart_and_streams_live() {
    if !Path::new(DOCKER).exists() {
        eprintln!("skipping: {DOCKER} not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("events");
    let start = now_nanos();
    {
        let bus = EventBus::open(&journal, JournalLimits::default()).unwrap();
        bus.publish(
            EventType::Container,
            "create",
            "aaaa1111",
            container_attrs("web"),
        );
        bus.publish(EventType::Volume, "create", "data", BTreeMap::new());
    }
    // A "restart": a new bus on the same journal.
    let bus = EventBus::open(&journal, JournalLimits::default()).unwrap();
    bus.publish(
        EventType::Container,
        "start",
        "aaaa1111",
        container_attrs("web"),
    );
    let sock = dir.path().join("berth.sock");
    serve(&sock, bus.clone()).await;

    let since = format!("{}", start / 1_000_000_000);
    let until = format!("{}", now_nanos() / 1_000_000_000 + 1);
    let mut cmd = docker(&sock);
    cmd.args(["events", "--since", &since, "--until", &until])
        .args([
            "--filter",
            "type=container",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "create web\nstart web\n"
    );

    // Live, with a duration for --since, and a filter on the container name.
    let mut cmd = docker(&sock);
    cmd.args(["events", "--since", "1h", "--filter", "container=web"])
        .args(["--format", "{{json .}}"])
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        (0..3)
            .map(|_| lines.next().unwrap().unwrap())
            .collect::<Vec<_>>()
    });
    // Wait for the CLI to subscribe.
    for _ in 0..100 {
        if bus.listener_count() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(bus.listener_count(), 1);
    bus.publish(EventType::Network, "create", "net1", BTreeMap::new());
    bus.publish(
        EventType::Container,
        "die",
        "aaaa1111",
        container_attrs("web"),
    );
    let lines = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("docker events printed nothing live")
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let actions: Vec<String> = lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!(
                "{} {}",
                v["Action"].as_str().unwrap(),
                v["id"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        actions,
        ["create aaaa1111", "start aaaa1111", "die aaaa1111"]
    );
}

/// Clients wait for the response head before they show anything; it must
/// arrive before the first event does.
#[tokio::test]
async fn response_head_is_sent_before_any_event() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::open(&dir.path().join("events"), JournalLimits::default()).unwrap();
    let sock = dir.path().join("berth.sock");
    serve(&sock, bus.clone()).await;
    let mut conn = tokio::net::UnixStream::connect(&sock).await.unwrap();
    conn.write_all(b"GET /v1.47/events HTTP/1.1\r\nHost: docker\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
            .await
            .expect("no response head while no event was published")
            .unwrap();
        assert!(n > 0, "connection closed");
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(text.contains("content-type: application/json"), "{text}");
    assert!(text.contains("transfer-encoding: chunked"), "{text}");
    bus.publish(EventType::Daemon, "reload", "d1", BTreeMap::new());
    let mut rest = Vec::new();
    while !rest.windows(8).any(|w| w == b"\"reload\"") {
        let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
            .await
            .expect("event not flushed")
            .unwrap();
        assert!(n > 0);
        rest.extend_from_slice(&buf[..n]);
    }
}
