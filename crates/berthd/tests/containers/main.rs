//! Containers through a real berthd, driven by the docker CLI and bollard:
//! run, exit codes, stdin, logs, lifecycle verbs, events, errors, custom
//! runtimes, TTY and daemon crashes. One test binary (one shared daemon),
//! one module per subject.

use berth_testkit::TestDaemon;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berthd");

/// One daemon for the tests that don't disturb each other, with runc as
/// the default runtime (the embedded one has its own test below).
fn daemon() -> &'static TestDaemon {
    static D: OnceLock<TestDaemon> = OnceLock::new();
    D.get_or_init(|| {
        let d = TestDaemon::start(BIN, &["--default-runtime", "runc"]);
        d.load_busybox();
        d
    })
}

fn out(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

mod api;
mod lifecycle;
mod run;
mod runtimes;
