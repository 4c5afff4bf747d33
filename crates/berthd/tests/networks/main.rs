//! Networking through a real berthd, driven by the docker CLI: addresses on
//! the bridge, published ports really serving bytes to the host, user
//! networks with static addresses, aliases and the embedded DNS,
//! `--internal`, the host/none/container modes, events, teardown counted
//! in the kernel, and containers keeping their networking across a daemon
//! restart. Only loopback and the daemon's own bridges are ever addressed.
//!
//! One daemon for the whole file. Tests that count kernel objects or
//! restart the daemon take it alone (the write side of the lock); the
//! others share it. One module per subject, one test binary.

use berth_testkit::TestDaemon;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berthd");

fn shared() -> &'static RwLock<TestDaemon> {
    static D: OnceLock<RwLock<TestDaemon>> = OnceLock::new();
    D.get_or_init(|| {
        let d = TestDaemon::start(BIN, &["--default-runtime", "runc"]);
        d.load_busybox();
        RwLock::new(d)
    })
}

fn daemon() -> RwLockReadGuard<'static, TestDaemon> {
    shared().read().unwrap_or_else(|e| e.into_inner())
}

fn daemon_alone() -> RwLockWriteGuard<'static, TestDaemon> {
    shared().write().unwrap_or_else(|e| e.into_inner())
}

use berth_testkit::Cleanup;

fn out(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `10.a.b.1/24` → `10.a.b.1`.
fn gateway_of(d: &TestDaemon) -> String {
    d.bip.split('/').next().unwrap().to_string()
}

/// `10.a.b` of the daemon's bridge.
fn prefix_of(d: &TestDaemon) -> String {
    let gw = gateway_of(d);
    gw.rsplit_once('.').unwrap().0.to_string()
}

/// A /24 (`10.x.y.0/24`) no other test daemon uses, with its first three
/// octets.
fn unique_subnet() -> (String, String) {
    let (_, bip) = berth_testkit::daemon::unique_bridge();
    let p = bip.rsplit_once('.').unwrap().0.to_string();
    (format!("{p}.0/24"), p)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A detached busybox httpd serving `body` on port 80, with `extra` flags.
fn httpd(d: &TestDaemon, name: &str, extra: &[&str], body: &str) -> String {
    let script =
        format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www");
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    d.docker_ok(&args).trim().to_string()
}

use berth_testkit::http_get_local as http_get;

fn inspect(d: &TestDaemon, what: &str, fmt: &str) -> String {
    d.docker_ok(&["inspect", "-f", fmt, what])
        .trim()
        .to_string()
}

mod addressing;
mod ports;
mod restart;
mod teardown;
