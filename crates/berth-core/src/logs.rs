//! The log driver trait. The built-in `json-file` and `none` drivers (in
//! berth-runtime) and, later, every log plugin proxy implement it, and all
//! pass one shared conformance suite (berth-testkit `suites::log`).
//!
//! A driver describes rather than acts: for a container it says what the
//! shim does with the output ([`LogSink`]) and how `docker logs` reads it
//! back ([`LogSource`]); the shim and the daemon carry that out. The two
//! calls of Docker's LogDriver protocol that are acts of their own
//! (`StartLogging` with a FIFO, `StopLogging`) are [`LogDriver::start`] and
//! [`LogDriver::stop`], no-ops for the built-ins; `Capabilities` is
//! [`LogDriver::capabilities`] and `ReadLogs` a [`LogSource::Reader`].

use async_trait::async_trait;
use berth_types::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

/// What a driver is told about one container (a subset of Docker's
/// `logger.Info`, which a plugin's `StartLogging` receives as `Info`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogContext {
    pub container_id: String,
    /// The image the container was created from, as given.
    pub image: String,
    /// `HostConfig.LogConfig.Config`: the `--log-opt`s.
    pub config: BTreeMap<String, String>,
    /// Where a driver that writes a file puts it:
    /// `<data-root>/containers/<id>/<id>-json.log`, as dockerd names it.
    pub log_path: PathBuf,
}

/// What the shim does with a container's output, as a driver describes it.
/// It is stored in the shim's configuration, so it is plain data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogSink {
    /// The output goes nowhere (attached clients still get it).
    Discard,
    /// json-file lines at `path`, rotated at `max_size` bytes (None:
    /// never) keeping `max_file` files, the live one included.
    JsonFile {
        path: PathBuf,
        max_size: Option<u64>,
        max_file: u32,
    },
}

/// What a driver can do besides taking output (a plugin answers
/// `LogDriver.Capabilities` once, when it is activated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogCapabilities {
    /// Its logs can be read back (`docker logs`, `attach --logs`).
    pub read_logs: bool,
}

/// How `docker logs` reads a container's log, as its driver describes it.
#[derive(Clone)]
pub enum LogSource {
    /// The json-file lines at `path` and its rotated files.
    JsonFile { path: PathBuf },
    /// Entries the driver streams itself (a plugin's `LogDriver.ReadLogs`).
    Reader(Arc<dyn LogReader>),
}

impl std::fmt::Debug for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogSource::JsonFile { path } => f.debug_struct("JsonFile").field("path", path).finish(),
            LogSource::Reader(_) => f.write_str("Reader(..)"),
        }
    }
}

/// A stream of one container's log entries kept by a driver itself.
pub trait LogReader: Send + Sync {
    /// The entries `opts` selects, oldest first; with `opts.follow`, new
    /// ones as they come until the driver ends the stream or the receiver
    /// is dropped.
    fn read(&self, opts: LogOptions) -> mpsc::Receiver<std::io::Result<LogEntry>>;
}

/// A log driver, built in or a plugin.
#[async_trait]
pub trait LogDriver: Send + Sync {
    /// The name users pass as `--log-driver`.
    fn name(&self) -> &str;

    /// Refuses `--log-opt`s this driver does not take or whose values are
    /// bad (dockerd's `ValidateLogOpts`, at create).
    fn validate(&self, config: &BTreeMap<String, String>) -> Result<()>;

    /// What the shim does with the output of the container `ctx` describes.
    /// Validates `ctx.config` as [`validate`](Self::validate) does.
    fn sink(&self, ctx: &LogContext) -> Result<LogSink>;

    /// What this driver can do besides taking output.
    fn capabilities(&self) -> LogCapabilities;

    /// How to read the container's log back. A driver whose capabilities
    /// lack `read_logs` refuses with [`not_readable`].
    fn source(&self, ctx: &LogContext) -> Result<LogSource>;

    /// Before the container's output starts flowing into the sink
    /// (a plugin's `StartLogging`). Nothing for the built-ins.
    async fn start(&self, _ctx: &LogContext) -> Result<()> {
        Ok(())
    }

    /// After the container's output has ended (a plugin's `StopLogging`).
    /// Nothing for the built-ins.
    async fn stop(&self, _ctx: &LogContext) -> Result<()> {
        Ok(())
    }
}

/// dockerd's answer to reading the log of a driver that cannot be read.
pub fn not_readable() -> Error {
    Error::invalid("configured logging driver does not support reading")
}

/// One log entry as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// `stdout` or `stderr`.
    pub stream: String,
    pub log: Vec<u8>,
    /// Nanoseconds since the epoch.
    pub time: i128,
}

/// What `GET /containers/{id}/logs` asks for. Times are nanoseconds since the epoch.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub since: Option<i128>,
    pub until: Option<i128>,
    /// Only the last N entries (after the stream and time filters).
    pub tail: Option<usize>,
    pub follow: bool,
    pub timestamps: bool,
}

impl LogOptions {
    pub fn wants(&self, e: &LogEntry) -> bool {
        let stream_ok = match e.stream.as_str() {
            "stdout" => self.stdout,
            "stderr" => self.stderr,
            _ => false,
        };
        stream_ok
            && self.since.is_none_or(|s| e.time >= s)
            && self.until.is_none_or(|u| e.time <= u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_select_by_stream_and_time() {
        let e = |stream: &str, time| LogEntry {
            stream: stream.into(),
            log: b"x\n".to_vec(),
            time,
        };
        let o = LogOptions {
            stdout: true,
            since: Some(10),
            until: Some(20),
            ..Default::default()
        };
        assert!(o.wants(&e("stdout", 10)) && o.wants(&e("stdout", 20)));
        assert!(!o.wants(&e("stdout", 9)) && !o.wants(&e("stdout", 21)));
        assert!(!o.wants(&e("stderr", 15)) && !o.wants(&e("other", 15)));
    }

    #[test]
    fn sinks_round_trip_as_data() {
        let s = LogSink::JsonFile {
            path: "/x/y-json.log".into(),
            max_size: Some(10),
            max_file: 3,
        };
        let back: LogSink = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert_eq!(
            not_readable().message,
            "configured logging driver does not support reading"
        );
    }
}
