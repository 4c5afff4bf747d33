//! The built binary as a separate process: it serves `Plugin.Activate` and
//! refuses `VolumeDriver.Remove` over its unix socket. (Having an
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
