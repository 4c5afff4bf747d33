//! The built binary as a separate process: it serves `Plugin.Activate` and
//! refuses `VolumeDriver.Remove` over its unix socket, and stops on
//! SIGTERM or SIGINT, taking its socket with it. (Having an
//! integration test also makes `cargo test --workspace` build the binary,
//! which berthd's end-to-end tests run as a real plugin.)

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn call(sock: &std::path::Path, method: &str, body: &str) -> String {
    let mut s = UnixStream::connect(sock).unwrap();
    write!(
        s,
        "POST /{method} HTTP/1.1\r\nHost: plugin\r\nContent-Type: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn activates_and_refuses_remove() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("nr.sock");
    let _p = Kill(
        Command::new(env!("CARGO_BIN_EXE_no-remove"))
            .args(["--socket", sock.to_str().unwrap()])
            .args(["--root", dir.path().join("root").to_str().unwrap()])
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    while !sock.exists() {
        assert!(t.elapsed() < Duration::from_secs(10), "no socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    let a = call(&sock, "Plugin.Activate", "{}");
    assert!(a.starts_with("HTTP/1.1 200"), "{a}");
    assert!(a.contains("\"VolumeDriver\""), "{a}");
    let c = call(&sock, "VolumeDriver.Create", r#"{"Name":"v1","Opts":{}}"#);
    let body = c.split("\r\n\r\n").nth(1).unwrap_or("");
    assert!(
        !body.contains("\"Err\":\"") || body.contains("\"Err\":\"\""),
        "{c}"
    );
    assert!(dir.path().join("root/v1").is_dir(), "{c}");
    let r = call(&sock, "VolumeDriver.Remove", r#"{"Name":"v1"}"#);
    assert!(r.contains("protected"), "{r}");
    assert!(dir.path().join("root/v1").is_dir());
}

/// Starts the plugin on `sock` and waits until it answers.
fn start(dir: &std::path::Path, sock: &std::path::Path) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_no-remove"))
        .args(["--socket", sock.to_str().unwrap()])
        .args(["--root", dir.join("root").to_str().unwrap()])
        .spawn()
        .unwrap();
    let t = Instant::now();
    while UnixStream::connect(sock).is_err() {
        assert!(t.elapsed() < Duration::from_secs(10), "no socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn a_signal_stops_it_and_its_socket_goes_with_it() {
    use nix::sys::signal::{kill, Signal};
    let dir = tempfile::tempdir().unwrap();
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        let sock = dir.path().join(format!("{sig}.sock"));
        let mut p = Kill(start(dir.path(), &sock));
        // A kept-alive connection with a call done must not hold it up.
        let mut idle = UnixStream::connect(&sock).unwrap();
        write!(
            idle,
            "POST /Plugin.Activate HTTP/1.1\r\nHost: plugin\r\nContent-Length: 2\r\n\r\n{{}}"
        )
        .unwrap();
        let mut buf = [0u8; 512];
        assert!(idle.read(&mut buf).unwrap() > 0);
        let t = Instant::now();
        kill(nix::unistd::Pid::from_raw(p.0.id() as i32), sig).unwrap();
        let st = loop {
            if let Some(st) = p.0.try_wait().unwrap() {
                break st;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "still running 10s after {sig}"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        eprintln!("{sig}: exited ({st}) after {:?}", t.elapsed());
        assert!(st.success(), "{sig}: {st}");
        assert!(!sock.exists(), "{sig}: {} left behind", sock.display());
    }
}

#[test]
fn a_socket_replaced_by_a_newer_instance_is_left_alone() {
    use nix::sys::signal::{kill, Signal};
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("nr.sock");
    let mut old = Kill(start(dir.path(), &sock));
    // A second instance on the same path replaces the first one's socket.
    std::fs::remove_file(&sock).unwrap();
    let _new = Kill(start(dir.path(), &sock));
    kill(
        nix::unistd::Pid::from_raw(old.0.id() as i32),
        Signal::SIGTERM,
    )
    .unwrap();
    let st = old.0.wait().unwrap();
    assert!(st.success(), "{st}");
    // The old one removed nothing of the new one's.
    let a = call(&sock, "Plugin.Activate", "{}");
    assert!(a.starts_with("HTTP/1.1 200"), "{a}");
}
