//! The suites: what is measured against an engine once it is up.
//!
//! To add a suite (the `load`/`save`, `run` and `net` figures of later issues): add a variant to
//! [`Suite`], a module that measures it and returns a [`SuiteOutput`], and a line in
//! [`Suite::run`]. `compare` runs every selected suite against each engine it started, and the
//! tables pick the new figures up by name. Options a suite needs go into [`Options`].

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::http::Client;
use crate::report::{Failure, Figure};
use crate::stats::Latency;

/// Set by the signal handler of the binary: loops stop and guards clean up.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether the bench was asked to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// Knobs shared by the suites.
#[derive(Debug, Clone)]
pub struct Options {
    /// Timed requests per endpoint.
    pub requests: usize,
    /// Untimed requests per endpoint before the timed ones.
    pub warmup: usize,
    /// Read/write timeout of one request.
    pub timeout: Duration,
    /// `docker run`s in a row for the `run` suite.
    pub runs: usize,
    /// MiB piped container to container by the `network` suite.
    pub net_mib: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            requests: 1000,
            warmup: 100,
            timeout: Duration::from_secs(30),
            runs: 10,
            net_mib: 512,
        }
    }
}

/// What one suite produced.
#[derive(Debug, Default, Clone)]
pub struct SuiteOutput {
    pub figures: Vec<Figure>,
    pub failures: Vec<Failure>,
}

/// A group of figures measured against a ready engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// Keep-alive latency of the read-only endpoints every client calls.
    Api,
    /// `docker load` / `docker save` throughput of a ~100 MB multi-layer image.
    Images,
    /// `docker run --rm busybox true`: in a row and 20 at once, per runtime.
    Run,
    /// Container-to-container throughput over the bridge and connect latency to a port
    /// published on 127.0.0.1. `compare` then gives both engines a bridge of their own.
    Network,
}

impl Suite {
    pub const ALL: &'static [Suite] = &[Suite::Api, Suite::Images, Suite::Run];

    /// Measures this suite against the engine listening on `socket`.
    pub fn run(self, socket: &Path, opts: &Options) -> SuiteOutput {
        match self {
            Suite::Api => api(socket, opts),
            Suite::Images => crate::docker_suites::images(socket),
            Suite::Run => crate::docker_suites::run(socket, opts.runs),
            Suite::Network => {
                crate::network_suite::network(socket, opts.net_mib, opts.requests.min(1000))
            }
        }
    }
}

/// The endpoints of the `api` suite.
pub const API_ENDPOINTS: &[&str] = &["/_ping", "/version", "/info", "/containers/json"];

/// The `api` suite: for each endpoint, p50, p99 and requests per second over one kept-alive
/// connection.
pub fn api(socket: &Path, opts: &Options) -> SuiteOutput {
    let mut out = SuiteOutput::default();
    let mut client = Client::new(socket, opts.timeout);
    for path in API_ENDPOINTS {
        let name = format!("api {path}");
        match measure_endpoint(&mut client, path, opts) {
            Ok(l) => {
                out.figures
                    .push(Figure::micros(format!("{name} p50"), l.p50));
                out.figures
                    .push(Figure::micros(format!("{name} p99"), l.p99));
                out.figures
                    .push(Figure::per_sec(format!("{name} req/s"), l.per_sec));
            }
            Err(reason) => out.failures.push(Failure {
                name: format!("{name} p50"),
                reason,
            }),
        }
    }
    if client.reconnects > 0 {
        out.failures.push(Failure {
            name: "api keep-alive".into(),
            reason: format!(
                "the engine closed the connection; {} reconnects were timed",
                client.reconnects
            ),
        });
    }
    out
}

/// Sends `opts.warmup` then `opts.requests` `GET path` over `client`, timing each round trip
/// (request written to last body byte read). Any non-2xx answer fails the endpoint.
pub fn measure_endpoint(
    client: &mut Client,
    path: &str,
    opts: &Options,
) -> Result<Latency, String> {
    let one = |client: &mut Client| -> Result<(), String> {
        let r = client.get(path).map_err(|e| e.to_string())?;
        if !(200..300).contains(&r.status) {
            let body = String::from_utf8_lossy(&r.body);
            return Err(format!("status {}: {}", r.status, body.trim()));
        }
        Ok(())
    };
    client.connect().map_err(|e| e.to_string())?;
    for _ in 0..opts.warmup {
        one(client)?;
    }
    let mut samples = Vec::with_capacity(opts.requests);
    let start = Instant::now();
    for _ in 0..opts.requests {
        if interrupted() {
            return Err("interrupted".into());
        }
        let t = Instant::now();
        one(client)?;
        samples.push(t.elapsed());
    }
    let wall = start.elapsed();
    Latency::from_samples(samples, wall).ok_or_else(|| "no requests were timed".into())
}
