//! `compare`: start each engine on its own temporary root, measure it, stop it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{BenchError, Result};

use crate::engine::{Daemon, EngineSpec, HostLeftovers, TempRoot};
use crate::http::Client;
use crate::procfs;
use crate::report::{names, EngineReport, Figure};
use crate::stats::median;
use crate::suite::{interrupted, Options, Suite};

/// How `compare` treats each engine.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Timed restarts on the same root after the first start on an empty one.
    pub starts: usize,
    /// How long an engine may take to answer its first `/_ping`.
    pub start_timeout: Duration,
    /// Idle time before resident memory is read.
    pub settle: Duration,
    /// Where the temporary roots go (the system temp dir if `None`).
    pub tmp_dir: Option<PathBuf>,
    pub suites: Vec<Suite>,
    pub suite: Options,
}

/// Progress lines go to stderr so that stdout holds only the table or the JSON.
fn progress(engine: &str, msg: &str) {
    eprintln!("[{engine}] {msg}");
}

/// Measures one engine. Never fails: what went wrong is in the report's `error`.
pub fn measure_engine(spec: &EngineSpec, opts: &CompareOptions) -> EngineReport {
    let mut report = EngineReport::named(spec.kind.name());
    report.binary = Some(spec.binary.display().to_string());
    if let Err(e) = measure_into(spec, opts, &mut report) {
        progress(spec.kind.name(), &format!("failed: {e:#}"));
        report.error = Some(format!("{e:#}"));
    }
    report
}

fn measure_into(spec: &EngineSpec, opts: &CompareOptions, report: &mut EngineReport) -> Result<()> {
    let name = spec.kind.name();
    if !spec.binary.is_file() {
        return Err(BenchError::Missing(spec.binary.clone()));
    }
    // Declared first, dropped last: after the engine has stopped and its root is gone.
    let _host = HostLeftovers::watch(spec.kind);
    let root = TempRoot::new(name, opts.tmp_dir.as_deref())?;
    progress(name, &format!("root {}", root.path().display()));

    // The first start initialises an empty data root; the restarts after it are what a user sees.
    let (mut daemon, cold) = Daemon::start(spec, &root, opts.start_timeout)?;
    progress(
        name,
        &format!("first start, empty root: ready in {cold:.1?}"),
    );
    report.figures.push(Figure::micros(names::START_COLD, cold));
    let mut times = Vec::new();
    for i in 0..opts.starts {
        daemon.stop()?;
        drop(daemon);
        let (d, t) = Daemon::start(spec, &root, opts.start_timeout)?;
        progress(
            name,
            &format!("restart {}/{}: ready in {t:.1?}", i + 1, opts.starts),
        );
        daemon = d;
        times.push(t);
    }
    if let Some(m) = median(&times) {
        report.figures.push(Figure::micros(names::START, m));
    }

    let (version, api_version) = version_of(&daemon.socket);
    report.version = version;
    report.api_version = api_version;

    progress(
        name,
        &format!("settling {:?} before reading memory", opts.settle),
    );
    sleep_interruptible(opts.settle)?;
    let idle = procfs::tree_rss(daemon.pid);
    report.figures.push(Figure::bytes(
        names::IDLE_RSS,
        idle.iter().map(|p| p.rss_bytes).sum(),
    ));
    report.idle_processes = idle;

    for suite in &opts.suites {
        progress(name, &format!("suite {suite:?}"));
        let out = suite.run(&daemon.socket, &opts.suite);
        report.figures.extend(out.figures);
        report.failures.extend(out.failures);
        if interrupted() {
            return Err(BenchError::Interrupted);
        }
    }
    let after = procfs::tree_rss(daemon.pid);
    report.figures.push(Figure::bytes(
        names::RSS_AFTER,
        after.iter().map(|p| p.rss_bytes).sum(),
    ));

    progress(name, "stopping");
    daemon.stop()?;
    Ok(())
}

/// Measures an engine that is already running on `socket` (the `api` command).
pub fn measure_socket(socket: &Path, suites: &[Suite], opts: &Options) -> EngineReport {
    let mut report = EngineReport::named(socket.display().to_string());
    let (version, api_version) = version_of(socket);
    report.version = version;
    report.api_version = api_version;
    for suite in suites {
        let out = suite.run(socket, opts);
        report.figures.extend(out.figures);
        report.failures.extend(out.failures);
    }
    report
}

/// `Version` and `ApiVersion` from the engine's `/version`, if it answers.
fn version_of(socket: &Path) -> (Option<String>, Option<String>) {
    let mut c = Client::new(socket, Duration::from_secs(10));
    let Ok(r) = c.get("/version") else {
        return (None, None);
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&r.body) else {
        return (None, None);
    };
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    (s("Version"), s("ApiVersion"))
}

fn sleep_interruptible(d: Duration) -> Result<()> {
    let end = std::time::Instant::now() + d;
    while std::time::Instant::now() < end {
        if interrupted() {
            return Err(BenchError::Interrupted);
        }
        std::thread::sleep(
            Duration::from_millis(20).min(end.saturating_duration_since(std::time::Instant::now())),
        );
    }
    Ok(())
}
