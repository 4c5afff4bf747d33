//! Hostile requests: malformed and oversized bodies, bad query strings,
//! broken HTTP. The answer is always a 4xx JSON error (or a closed
//! connection for bytes that are not HTTP), never a crash or a hang.

use berth_testkit::{request, TestDaemon};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Every route the daemon serves, with the method it takes. New subsystems
/// add theirs here so they are covered too.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/_ping"),
    ("GET", "/version"),
    ("GET", "/info"),
    ("GET", "/events"),
    ("POST", "/containers/create"),
    ("GET", "/containers/json"),
    ("GET", "/containers/nosuch/json"),
    ("POST", "/containers/nosuch/start"),
    ("POST", "/containers/nosuch/wait"),
    ("GET", "/containers/nosuch/logs"),
    ("GET", "/images/json"),
    ("POST", "/images/load"),
    ("POST", "/images/create"),
    ("GET", "/images/nosuch/json"),
    ("GET", "/system/df"),
];

fn garbage(seed: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed & 0xff) as u8
        })
        .collect()
}

fn assert_json_error(r: &berth_testkit::Response, what: &str) {
    assert!(
        (400..500).contains(&r.status) || r.status == 200,
        "{what}: status {} body {}",
        r.status,
        r.text()
    );
    if r.status >= 400 {
        assert_eq!(r.header("Content-Type"), Some("application/json"), "{what}");
        assert!(r.json()["message"].is_string(), "{what}: {}", r.text());
    }
}

#[test]
fn malformed_input_never_crashes_or_hangs() {
    let mut d = TestDaemon::start(env!("CARGO_BIN_EXE_berthd"), &[]);
    let mut seed = 0x9e3779b97f4a7c15u64;
    let bad_queries = [
        "?filters=%7B",
        "?filters=not-json",
        "?filters=%5B1%2C2%5D",
        "?filters=%7B%22type%22%3A3%7D",
        "?since=yesterday",
        "?until=-",
        "?since=1.2.3",
        "?%%%=%%",
        "?a=%ZZ",
        "?since=99999999999999999999999",
    ];
    for (m, p) in ROUTES {
        for q in bad_queries {
            // /events with only unknown keys is a valid live stream.
            if *p == "/events"
                && !q.contains("filters")
                && !q.contains("since")
                && !q.contains("until")
            {
                continue;
            }
            let path = format!("{p}{q}");
            let t = Instant::now();
            // None of these is a valid query, so even /events answers at once.
            let r = request(&d.socket, m, &path, &[], b"").unwrap();
            assert!(t.elapsed() < Duration::from_secs(5), "{m} {path} was slow");
            assert_json_error(&r, &format!("{m} {path}"));
        }
        for len in [1usize, 100, 10_000] {
            let body = garbage(&mut seed, len);
            for meth in ["POST", "PUT", "DELETE"] {
                let r = request(
                    &d.socket,
                    meth,
                    p,
                    &[("Content-Type", "application/json")],
                    &body,
                )
                .unwrap();
                assert_json_error(&r, &format!("{meth} {p} with {len} garbage bytes"));
            }
        }
    }
    // Unknown paths with garbage and very long paths.
    let long = format!("/{}", "a".repeat(60_000));
    let r = request(&d.socket, "GET", &long, &[], b"");
    if let Ok(r) = r {
        assert!(r.status >= 400 && r.status < 500, "{}", r.status);
    }
    // Bytes that are not HTTP at all: the connection is answered with an
    // error or closed, never left hanging.
    for junk in [
        &b"\x00\x01\x02\x03garbage\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"POST / HTTP/9.9\r\n\r\n",
    ] {
        let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(junk).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        if !buf.is_empty() {
            assert!(
                buf.starts_with(b"HTTP/1.1 4"),
                "{}",
                String::from_utf8_lossy(&buf)
            );
        }
    }
    // A client that sends a huge Content-Length and then stops does not
    // block anyone else.
    let mut stuck = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    stuck
        .write_all(b"POST /info HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\nabc")
        .unwrap();
    let t = Instant::now();
    assert_eq!(d.get("/_ping").status, 200);
    assert!(t.elapsed() < Duration::from_secs(2));
    drop(stuck);
    assert!(d.is_running(), "berthd died:\n{}", d.log_text());
    assert_eq!(d.get("/version").status, 200);
}
