//! The per-container shim: `berthd shim STATE_DIR`.
//!
//! berthd starts it (a fresh, single-threaded process: no tokio here) once
//! per container. It forks; the first process only relays the outcome of
//! `runtime create` on its stdout and exits; the second calls `setsid`, so
//! it survives the daemon (even `kill -9`), and becomes a child subreaper
//! so the container's init is reparented to it when the runtime's create
//! process exits. It then:
//!
//! 1. runs `RUNTIME [ARGS] --root R create --bundle B --pid-file P
//!    [--console-socket S] ID` with the container's stdio (pipes, or a pty
//!    whose master arrives on the console socket); the runtime's stderr is
//!    captured, and on failure is the error the daemon reports, after
//!    `delete --force` has removed any half-created state;
//! 2. serves `STATE_DIR/shim.sock`: one line-command per connection —
//!    `START`, `ATTACH <stdin> <stdout> <stderr>` (0/1 each; then the
//!    connection carries stdin in and output out, docker-framed without a
//!    TTY, raw with one), `RESIZE <rows> <cols>`, `WAIT`, `STATUS`,
//!    `CLOSESTDIN`;
//! 3. copies the container's output into the log its driver described
//!    ([`ShimConfig::log_sink`]: a rotated json-file log, or nowhere) and
//!    to attached clients;
//! 4. reaps the container's init, writes the exit record atomically, runs
//!    `RUNTIME delete ID`, answers waiters and exits.

mod attach;
mod control;
mod entry;
mod exit;
mod fds;
mod logging;
mod runtime;
mod serve;

pub use entry::main_from_args;
pub use exit::ExitRecord;
pub use runtime::run_runtime;

use crate::logdriver::ContainerLog;
use crate::registry::RuntimeEntry;
use berth_core::logs::{LogSink, LogSource};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Everything the shim needs, written by the daemon to `STATE_DIR/shim.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShimConfig {
    /// The container id, also the runtime's container id.
    pub id: String,
    /// The OCI bundle (holds config.json).
    pub bundle: PathBuf,
    pub runtime: RuntimeEntry,
    /// `--root` for the runtime, e.g. `<exec-root>/runtime-<name>`.
    pub runtime_root: PathBuf,
    /// Sockets and pid files: `<exec-root>/containers/<id>`.
    pub state_dir: PathBuf,
    /// The log sink (see [`ShimConfig::log_sink`]): a json-file log at
    /// this path; None = the output is discarded.
    pub log_path: Option<PathBuf>,
    #[serde(default)]
    pub log_max_size: Option<u64>,
    #[serde(default = "one")]
    pub log_max_file: u32,
    /// The exit record (`<data-root>/containers/<id>/exit.json`).
    pub exit_file: PathBuf,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    /// (rows, cols) of the pty at creation.
    #[serde(default)]
    pub console_size: Option<(u16, u16)>,
}

fn one() -> u32 {
    1
}

/// How long `runtime create` may take before the shim gives up on it.
pub const CREATE_TIMEOUT: Duration = Duration::from_secs(120);

pub const CONFIG_FILE: &str = "shim.json";
pub const SOCKET_FILE: &str = "shim.sock";
pub const SHIM_PID_FILE: &str = "shim.pid";
pub const INIT_PID_FILE: &str = "init.pid";
pub const CONSOLE_SOCKET_FILE: &str = "console.sock";
pub const SHIM_LOG_FILE: &str = "shim.log";

/// Where berthd keeps one container's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPaths {
    /// `<exec-root>/containers/<id[..24]>`: shim socket, pid files, shim.json, shim.log.
    pub state_dir: PathBuf,
    /// `<exec-root>/containers/<id>/bundle`: config.json (regenerated at each start).
    pub bundle: PathBuf,
    /// `<exec-root>/runtime-<runtime name>`: the runtime's `--root`.
    pub runtime_root: PathBuf,
    /// `<data-root>/containers/<id>/<id>-json.log`, as dockerd names it.
    pub log_path: PathBuf,
    /// `<data-root>/containers/<id>/exit.json`.
    pub exit_file: PathBuf,
}

impl ContainerPaths {
    pub fn new(exec_root: &Path, data_root: &Path, id: &str, runtime_name: &str) -> Self {
        // Unix socket paths are limited to 107 bytes, and the shim's and the
        // console's sockets live here: 24 hex digits (96 bits) of the ID keep
        // the path short enough under any reasonable exec root.
        let short = &id[..id.len().min(24)];
        let state_dir = exec_root.join("containers").join(short);
        let data_dir = data_root.join("containers").join(id);
        ContainerPaths {
            bundle: state_dir.join("bundle"),
            state_dir,
            runtime_root: exec_root.join(format!("runtime-{runtime_name}")),
            log_path: data_dir.join(format!("{id}-json.log")),
            exit_file: data_dir.join("exit.json"),
        }
    }
}

/// Writes `spec` as `<bundle>/config.json` (atomically).
pub fn write_bundle(bundle: &Path, spec: &oci_spec::runtime::Spec) -> io::Result<()> {
    let data = serde_json::to_vec_pretty(spec).map_err(io::Error::other)?;
    berth_core::atomic::write_atomic(&bundle.join("config.json"), &data)
}

impl ShimConfig {
    /// A shim config from dockerd-style paths, a registry entry and the
    /// container's Config / HostConfig (Tty, OpenStdin, StdinOnce,
    /// ConsoleSize; the log sink its built-in log driver describes).
    pub fn for_container(
        id: &str,
        runtime: RuntimeEntry,
        paths: &ContainerPaths,
        config: &berth_types::container::ContainerConfig,
        host_config: &berth_types::container::HostConfig,
    ) -> Result<ShimConfig, crate::RuntimeError> {
        let driver = crate::logdriver::builtin_driver(&host_config.log_config.typ)?;
        let ctx = crate::logdriver::context(id, &paths.log_path, config, host_config);
        let sink = driver.sink(&ctx)?;
        Ok(Self::for_container_with_sink(
            id,
            runtime,
            paths,
            config,
            host_config,
            sink,
        ))
    }

    /// Like [`for_container`](Self::for_container), with the log sink
    /// already asked of the container's log driver (a plugin's included).
    pub fn for_container_with_sink(
        id: &str,
        runtime: RuntimeEntry,
        paths: &ContainerPaths,
        config: &berth_types::container::ContainerConfig,
        host_config: &berth_types::container::HostConfig,
        sink: LogSink,
    ) -> ShimConfig {
        let cs = &host_config.console_size;
        let mut cfg = ShimConfig {
            id: id.to_string(),
            bundle: paths.bundle.clone(),
            runtime,
            runtime_root: paths.runtime_root.clone(),
            state_dir: paths.state_dir.clone(),
            log_path: None,
            log_max_size: None,
            log_max_file: 1,
            exit_file: paths.exit_file.clone(),
            tty: config.tty,
            open_stdin: config.open_stdin,
            stdin_once: config.stdin_once,
            console_size: (cs.len() == 2 && cs[0] > 0 && cs[1] > 0).then(|| {
                (
                    cs[0].min(u16::MAX as u32) as u16,
                    cs[1].min(u16::MAX as u32) as u16,
                )
            }),
        };
        cfg.set_log_sink(sink);
        cfg
    }

    /// What the shim does with the container's output, as its log driver
    /// described it. Kept on disk as the three `log_*` fields (a json-file
    /// log when `log_path` is set), as shims started before it read them.
    pub fn log_sink(&self) -> LogSink {
        match &self.log_path {
            Some(path) => LogSink::JsonFile {
                path: path.clone(),
                max_size: self.log_max_size,
                max_file: self.log_max_file,
            },
            None => LogSink::Discard,
        }
    }

    pub fn set_log_sink(&mut self, sink: LogSink) {
        (self.log_path, self.log_max_size, self.log_max_file) = match sink {
            LogSink::Discard => (None, None, 1),
            LogSink::JsonFile {
                path,
                max_size,
                max_file,
            } => (Some(path), max_size, max_file),
        };
    }

    /// Where what the shim wrote can be read back; None when it was discarded.
    pub fn log_source(&self) -> Option<LogSource> {
        match self.log_sink() {
            LogSink::JsonFile { path, .. } => Some(LogSource::JsonFile { path }),
            LogSink::Discard => None,
        }
    }

    pub fn socket_path(&self) -> PathBuf {
        self.state_dir.join(SOCKET_FILE)
    }
    pub fn load(state_dir: &Path) -> io::Result<ShimConfig> {
        let data = fs::read(state_dir.join(CONFIG_FILE))?;
        serde_json::from_slice(&data).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
    /// `RUNTIME [ARGS] --root R <sub...>`.
    pub fn runtime_command(&self, sub: &[&str]) -> Command {
        let mut c = Command::new(&self.runtime.path);
        c.args(&self.runtime.runtime_args)
            .arg("--root")
            .arg(&self.runtime_root)
            .args(sub);
        c
    }
}

/// Container stdio as the shim holds it.
struct Io {
    /// Write end of the container's stdin (pipe or pty master dup).
    stdin: Option<OwnedFd>,
    /// stdout pipe read end, or the pty master.
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
}

enum Phase {
    Created,
    Running,
}

struct Client {
    sock: UnixStream,
    /// Bytes of a command line still being read.
    line: Vec<u8>,
    kind: ClientKind,
}

enum ClientKind {
    /// Waiting for its command line.
    Pending,
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
        stdin_done: bool,
    },
    Waiter,
}

struct Shim {
    cfg: ShimConfig,
    init_pid: i32,
    phase: Phase,
    io: Io,
    log: ContainerLog,
    clients: Vec<Client>,
    stdin_pending: Vec<u8>,
    exit: Option<ExitRecord>,
    buf: Vec<u8>,
    /// Read at start: the bundle may be gone by the time the container exits.
    cgroups_path: Option<String>,
}
