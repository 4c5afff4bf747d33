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
//! 3. copies the container's output into the json-file log (rotated) and
//!    to attached clients;
//! 4. reaps the container's init, writes the exit record atomically, runs
//!    `RUNTIME delete ID`, answers waiters and exits.

use crate::logs::{JsonFileWriter, LineSplitter};
use crate::registry::RuntimeEntry;
use crate::timefmt;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    /// The json-file log; None = no log.
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

/// The exit record the shim leaves behind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExitRecord {
    pub exit_code: i32,
    /// RFC 3339 with nanoseconds.
    pub finished_at: String,
    pub oom_killed: bool,
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
    /// ConsoleSize, LogConfig `max-size` / `max-file`).
    pub fn for_container(
        id: &str,
        runtime: RuntimeEntry,
        paths: &ContainerPaths,
        config: &berth_types::container::ContainerConfig,
        host_config: &berth_types::container::HostConfig,
    ) -> Result<ShimConfig, crate::RuntimeError> {
        let lc = &host_config.log_config;
        let log_path = match lc.typ.as_str() {
            "" | "json-file" => Some(paths.log_path.clone()),
            "none" => None,
            other => {
                return Err(crate::RuntimeError::InvalidParameter(format!(
                    "logging driver {other:?} is not supported (json-file or none)"
                )))
            }
        };
        let log_max_size = match lc.config.get("max-size") {
            Some(s) => Some(crate::logs::parse_size(s).ok_or_else(|| {
                crate::RuntimeError::InvalidParameter(format!("invalid max-size {s:?}"))
            })?),
            None => None,
        };
        let log_max_file = match lc.config.get("max-file") {
            Some(s) => s.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                crate::RuntimeError::InvalidParameter(format!("invalid max-file {s:?}"))
            })?,
            None => 1,
        };
        let cs = &host_config.console_size;
        Ok(ShimConfig {
            id: id.to_string(),
            bundle: paths.bundle.clone(),
            runtime,
            runtime_root: paths.runtime_root.clone(),
            state_dir: paths.state_dir.clone(),
            log_path,
            log_max_size,
            log_max_file,
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
        })
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

/// Writes one answer line to stdout (the daemon), ignoring a closed pipe.
macro_rules! say {
    ($($t:tt)*) => {{
        let _ = writeln!(io::stdout(), $($t)*);
    }};
}

/// Entry point of `berthd shim STATE_DIR`. `args` are the arguments after
/// `shim` (a leading "shim" is skipped too). Must run before any thread is
/// started. Returns the process exit code.
pub fn main_from_args(args: Vec<OsString>) -> i32 {
    let mut it = args.into_iter().peekable();
    if it.peek().is_some_and(|a| a == "shim") {
        it.next();
    }
    let Some(state_dir) = it.next().map(PathBuf::from) else {
        let _ = writeln!(io::stderr(), "usage: berthd shim STATE_DIR");
        return 2;
    };
    let cfg = match ShimConfig::load(&state_dir) {
        Ok(c) => c,
        Err(e) => {
            say!(
                "ERR cannot read shim config in {}: {e}",
                state_dir.display()
            );
            return 1;
        }
    };
    let (status_r, status_w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            say!("ERR pipe: {e}");
            return 1;
        }
    };
    // SAFETY: the shim entry point runs before any other thread exists, so
    // the child may run arbitrary code after fork.
    match unsafe { nix::unistd::fork() } {
        Err(e) => {
            say!("ERR fork: {e}");
            1
        }
        Ok(nix::unistd::ForkResult::Parent { .. }) => {
            drop(status_w);
            let mut msg = String::new();
            let _ = File::from(status_r).read_to_string(&mut msg);
            if msg.is_empty() {
                msg = "ERR shim exited before reporting a status".into();
            }
            // The daemon may be gone (killed mid-create): never panic on EPIPE.
            let mut out = io::stdout();
            let _ = out.write_all(msg.as_bytes());
            let _ = out.flush();
            if msg.starts_with("OK") {
                0
            } else {
                1
            }
        }
        Ok(nix::unistd::ForkResult::Child) => {
            drop(status_r);
            let code = match daemonize(&cfg) {
                Ok(()) => run(cfg, File::from(status_w)),
                Err(e) => {
                    let _ = writeln!(File::from(status_w), "ERR shim setup: {e}");
                    1
                }
            };
            // Do not run the parent's atexit handlers / destructors twice.
            std::process::exit(code)
        }
    }
}

/// New session, stdio away from the daemon's pipes, subreaper.
fn daemonize(cfg: &ShimConfig) -> io::Result<()> {
    nix::unistd::setsid().map_err(io::Error::from)?;
    std::env::set_current_dir("/")?;
    let devnull = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(cfg.state_dir.join(SHIM_LOG_FILE))?;
    nix::unistd::dup2(devnull.as_raw_fd(), 0)?;
    nix::unistd::dup2(devnull.as_raw_fd(), 1)?;
    nix::unistd::dup2(log.as_raw_fd(), 2)?;
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer argument and
    // touches no memory of ours.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: setting SIGPIPE to ignore is async-signal-safe and we are single-threaded.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    fs::write(
        cfg.state_dir.join(SHIM_PID_FILE),
        std::process::id().to_string(),
    )?;
    Ok(())
}

fn set_nonblocking(fd: RawFd, on: bool) {
    // SAFETY: fcntl on a descriptor we own; F_GETFL/F_SETFL touch no memory.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl >= 0 {
            let nfl = if on {
                fl | libc::O_NONBLOCK
            } else {
                fl & !libc::O_NONBLOCK
            };
            libc::fcntl(fd, libc::F_SETFL, nfl);
        }
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// Runs a short runtime subcommand with stdio detached, returning its
/// stderr as the error on failure.
pub fn run_runtime(cfg: &ShimConfig, sub: &[&str]) -> Result<(), String> {
    let out = cfg
        .runtime_command(sub)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{}: {e}", cfg.runtime.path.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(runtime_failure(&out.stderr, out.status))
    }
}

fn runtime_failure(stderr: &[u8], status: std::process::ExitStatus) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    if text.is_empty() {
        format!("runtime exited with {status}")
    } else {
        text.to_string()
    }
}

/// Receives one fd sent with SCM_RIGHTS on `sock`.
fn recv_fd(sock: &UnixStream) -> io::Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 256];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor for us; we take ownership.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "no fd on console socket",
    ))
}

fn set_winsize(fd: RawFd, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct that lives for the call.
    if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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
    log: Option<JsonFileWriter>,
    split_out: LineSplitter,
    split_err: LineSplitter,
    clients: Vec<Client>,
    stdin_pending: Vec<u8>,
    exit: Option<ExitRecord>,
    buf: Vec<u8>,
    /// Read at start: the bundle may be gone by the time the container exits.
    cgroups_path: Option<String>,
}

fn log_line(msg: &str) {
    let _ = writeln!(
        io::stderr(),
        "{} {msg}",
        timefmt::format_nanos(timefmt::now_nanos())
    );
}

/// The shim proper (in the daemonized child). Reports the create outcome on `status`.
fn run(cfg: ShimConfig, mut status: File) -> i32 {
    match create(&cfg) {
        Err(msg) => {
            log_line(&format!("create failed: {msg}"));
            let _ = run_runtime(&cfg, &["delete", "--force", &cfg.id]);
            remove_leftover_cgroups(cgroups_path(&cfg.bundle).as_deref());
            cleanup_files(&cfg);
            let _ = write!(status, "ERR {msg}");
            1
        }
        Ok((init_pid, io, listener, sigfd)) => {
            let log = match &cfg.log_path {
                Some(p) => match JsonFileWriter::open(p, cfg.log_max_size, cfg.log_max_file) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        let _ = run_runtime(&cfg, &["delete", "--force", &cfg.id]);
                        remove_leftover_cgroups(cgroups_path(&cfg.bundle).as_deref());
                        cleanup_files(&cfg);
                        let _ = write!(status, "ERR cannot open log {}: {e}", p.display());
                        return 1;
                    }
                },
                None => None,
            };
            let _ = write!(status, "OK {init_pid}");
            let cfg_bundle = cfg.bundle.clone();
            drop(status);
            let mut shim = Shim {
                cfg,
                init_pid,
                phase: Phase::Created,
                io,
                log,
                split_out: LineSplitter::default(),
                split_err: LineSplitter::default(),
                clients: Vec::new(),
                stdin_pending: Vec::new(),
                exit: None,
                buf: vec![0u8; 32 * 1024],
                cgroups_path: cgroups_path(&cfg_bundle),
            };
            shim.serve(listener, sigfd);
            0
        }
    }
}

/// Whether the kernel's OOM killer struck in the container's cgroup (read
/// before `runtime delete` removes it): `oom_kill` in cgroup v2's
/// memory.events or v1's memory.oom_control.
fn oom_killed(cgroups_path: Option<&str>) -> bool {
    let Some(cg) = cgroups_path else {
        return false;
    };
    let cg = cg.trim_start_matches('/');
    let candidates = [
        (format!("/sys/fs/cgroup/{cg}/memory.events"), "oom_kill "),
        (
            format!("/sys/fs/cgroup/memory/{cg}/memory.oom_control"),
            "oom_kill ",
        ),
    ];
    candidates.iter().any(|(file, key)| {
        fs::read_to_string(file).is_ok_and(|text| {
            text.lines().any(|l| {
                l.strip_prefix(key)
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            })
        })
    })
}

/// `linux.cgroupsPath` of the bundle's spec.
fn cgroups_path(bundle: &Path) -> Option<String> {
    let data = fs::read(bundle.join("config.json")).ok()?;
    let v = serde_json::from_slice::<serde_json::Value>(&data).ok()?;
    v["linux"]["cgroupsPath"].as_str().map(String::from)
}

/// Removes the container's (empty) cgroup directories that the runtime's
/// delete left behind: it gives up with EBUSY when the last processes of
/// the container are still being torn down.
fn remove_leftover_cgroups(cgroups_path: Option<&str>) {
    let Some(cg) = cgroups_path else {
        return;
    };
    let cg = cg.trim_start_matches('/');
    if cg.is_empty() || cg.contains("..") || cg.contains(':') {
        return; // a systemd-style path is not ours to touch
    }
    let mut dirs: Vec<PathBuf> = vec![Path::new("/sys/fs/cgroup").join(cg)];
    if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            dirs.push(e.path().join(cg));
        }
    }
    for attempt in 0..20 {
        dirs.retain(|d| d.is_dir() && fs::remove_dir(d).is_err());
        if dirs.is_empty() {
            return;
        }
        if attempt < 19 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    log_line(&format!("cgroups left behind: {dirs:?}"));
}

fn cleanup_files(cfg: &ShimConfig) {
    for f in [
        SOCKET_FILE,
        SHIM_PID_FILE,
        INIT_PID_FILE,
        CONSOLE_SOCKET_FILE,
    ] {
        let _ = fs::remove_file(cfg.state_dir.join(f));
    }
}

type Created = (i32, Io, UnixListener, nix::sys::signalfd::SignalFd);

/// Sets up stdio, the control socket and SIGCHLD delivery, and runs `create`.
fn create(cfg: &ShimConfig) -> Result<Created, String> {
    use nix::sys::signal::{SigSet, Signal};
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.thread_block()
        .map_err(|e| format!("sigprocmask: {e}"))?;
    let sigfd = nix::sys::signalfd::SignalFd::with_flags(
        &mask,
        nix::sys::signalfd::SfdFlags::SFD_NONBLOCK | nix::sys::signalfd::SfdFlags::SFD_CLOEXEC,
    )
    .map_err(|e| format!("signalfd: {e}"))?;

    let sock_path = cfg.socket_path();
    let _ = fs::remove_file(&sock_path);
    let listener = UnixListener::bind(&sock_path)
        .map_err(|e| format!("listen on {}: {e}", sock_path.display()))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let pid_file = cfg.state_dir.join(INIT_PID_FILE);
    let _ = fs::remove_file(&pid_file);
    let bundle = cfg.bundle.to_string_lossy().into_owned();
    let pid_file_s = pid_file.to_string_lossy().into_owned();
    let err = |e: io::Error| e.to_string();

    // The fds whose bytes, while create runs, are the runtime's own output.
    let mut capture: Vec<OwnedFd> = Vec::new();
    let io;
    let mut cmd;
    let console_listener;
    if cfg.tty {
        let cs = cfg.state_dir.join(CONSOLE_SOCKET_FILE);
        let _ = fs::remove_file(&cs);
        console_listener =
            Some(UnixListener::bind(&cs).map_err(|e| format!("console socket: {e}"))?);
        let cs_s = cs.to_string_lossy().into_owned();
        cmd = cfg.runtime_command(&[
            "create",
            "--bundle",
            &bundle,
            "--pid-file",
            &pid_file_s,
            "--console-socket",
            &cs_s,
            &cfg.id,
        ]);
        let (r, w) = pipe().map_err(err)?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(w.try_clone().map_err(err)?))
            .stderr(Stdio::from(w));
        capture.push(r);
        io = Io {
            stdin: None,
            stdout: None,
            stderr: None,
        };
    } else {
        console_listener = None;
        cmd = cfg.runtime_command(&[
            "create",
            "--bundle",
            &bundle,
            "--pid-file",
            &pid_file_s,
            &cfg.id,
        ]);
        let (out_r, out_w) = pipe().map_err(err)?;
        let (err_r, err_w) = pipe().map_err(err)?;
        let stdin_w = if cfg.open_stdin {
            let (in_r, in_w) = pipe().map_err(err)?;
            cmd.stdin(Stdio::from(in_r));
            Some(in_w)
        } else {
            cmd.stdin(Stdio::null());
            None
        };
        cmd.stdout(Stdio::from(out_w)).stderr(Stdio::from(err_w));
        // Dup the read ends: we keep the originals for the container's life.
        capture.push(out_r.try_clone().map_err(err)?);
        capture.push(err_r.try_clone().map_err(err)?);
        io = Io {
            stdin: stdin_w,
            stdout: Some(out_r),
            stderr: Some(err_r),
        };
    }
    for fd in &capture {
        set_nonblocking(fd.as_raw_fd(), true);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run runtime {}: {e}", cfg.runtime.path.display()))?;
    drop(cmd); // closes our copies of the child's ends
    let mut captured: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    let drain = |captured: &mut Vec<u8>, chunk: &mut [u8]| {
        for fd in &capture {
            loop {
                match nix::unistd::read(fd.as_raw_fd(), chunk) {
                    Ok(n) if n > 0 => {
                        if captured.len() < 64 * 1024 {
                            captured.extend_from_slice(&chunk[..n]);
                        }
                    }
                    _ => break,
                }
            }
        }
    };
    let deadline = Instant::now() + CREATE_TIMEOUT;
    let status = loop {
        drain(&mut captured, &mut chunk);
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                drain(&mut captured, &mut chunk);
                return Err(format!(
                    "runtime create did not finish within {}s: {}",
                    CREATE_TIMEOUT.as_secs(),
                    String::from_utf8_lossy(&captured).trim()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for runtime: {e}")),
        }
    };
    drain(&mut captured, &mut chunk);
    if !status.success() {
        return Err(runtime_failure(&captured, status));
    }
    if !captured.is_empty() {
        log_line(&format!(
            "runtime create said: {}",
            String::from_utf8_lossy(&captured).trim()
        ));
    }
    for fd in io.stdout.iter().chain(io.stderr.iter()) {
        set_nonblocking(fd.as_raw_fd(), false);
    }
    drop(capture);
    let pid: i32 = fs::read_to_string(&pid_file)
        .map_err(|e| format!("runtime wrote no pid file: {e}"))?
        .trim()
        .parse()
        .map_err(|e| format!("bad pid file: {e}"))?;
    let mut io = io;
    if let Some(cl) = console_listener {
        cl.set_nonblocking(true).map_err(err)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let conn = loop {
            match cl.accept() {
                Ok((c, _)) => break c,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => return Err(format!("runtime sent no console: {e}")),
            }
        };
        conn.set_nonblocking(false).map_err(err)?;
        let master = recv_fd(&conn).map_err(|e| format!("console socket: {e}"))?;
        let _ = fs::remove_file(cfg.state_dir.join(CONSOLE_SOCKET_FILE));
        if let Some((rows, cols)) = cfg.console_size {
            let _ = set_winsize(master.as_raw_fd(), rows, cols);
        }
        set_nonblocking(master.as_raw_fd(), false);
        io.stdin = if cfg.open_stdin {
            Some(master.try_clone().map_err(err)?)
        } else {
            None
        };
        io.stdout = Some(master);
    }
    if let Some(w) = &io.stdin {
        set_nonblocking(w.as_raw_fd(), true);
    }
    Ok((pid, io, listener, sigfd))
}

impl Shim {
    fn serve(&mut self, listener: UnixListener, sigfd: nix::sys::signalfd::SignalFd) {
        let exit_deadline: Option<Instant> = None;
        let mut exit_deadline = exit_deadline;
        loop {
            // After the init has exited, wait for the output to drain (EOF) a little.
            if self.exit.is_some() {
                let drained = self.io.stdout.is_none() && self.io.stderr.is_none();
                let late = exit_deadline.is_some_and(|d| Instant::now() >= d);
                if drained || late {
                    break;
                }
            }
            let mut fds: Vec<libc::pollfd> = Vec::with_capacity(8 + self.clients.len());
            let pfd = |fd: RawFd, events: i16| libc::pollfd {
                fd,
                events,
                revents: 0,
            };
            fds.push(pfd(listener.as_raw_fd(), libc::POLLIN));
            fds.push(pfd(sigfd.as_raw_fd(), libc::POLLIN));
            let out_fd = self.io.stdout.as_ref().map_or(-1, |f| f.as_raw_fd());
            let err_fd = self.io.stderr.as_ref().map_or(-1, |f| f.as_raw_fd());
            fds.push(pfd(out_fd, libc::POLLIN));
            fds.push(pfd(err_fd, libc::POLLIN));
            let stdin_fd = if self.stdin_pending.is_empty() {
                -1
            } else {
                self.io.stdin.as_ref().map_or(-1, |f| f.as_raw_fd())
            };
            fds.push(pfd(stdin_fd, libc::POLLOUT));
            let accept_input = self.stdin_pending.is_empty();
            for c in &self.clients {
                let want = match c.kind {
                    ClientKind::Pending => libc::POLLIN,
                    ClientKind::Attach {
                        stdin: true,
                        stdin_done: false,
                        ..
                    } if accept_input => libc::POLLIN,
                    // Watch for hang-up only.
                    _ => 0,
                };
                fds.push(pfd(c.sock.as_raw_fd(), want));
            }
            let timeout = if self.exit.is_some() { 100 } else { -1 };
            // SAFETY: `fds` is a valid, exclusively borrowed array of pollfd for the call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log_line(&format!("poll: {e}"));
                break;
            }
            let ready = |i: usize| fds[i].revents != 0;
            if ready(1) {
                while let Ok(Some(_)) = sigfd.read_signal() {}
                self.reap();
                if self.exit.is_some() && exit_deadline.is_none() {
                    exit_deadline = Some(Instant::now() + Duration::from_secs(2));
                }
            }
            if ready(2) {
                self.pump_output(false);
            }
            if ready(3) {
                self.pump_output(true);
            }
            if ready(4) {
                self.flush_stdin();
            }
            // Clients (iterate over a snapshot of indices; handlers may drop some).
            let mut drop_idx: Vec<usize> = Vec::new();
            for i in 0..self.clients.len() {
                let rev = fds[5 + i].revents;
                if rev == 0 {
                    continue;
                }
                if !self.client_event(i, rev) {
                    drop_idx.push(i);
                }
            }
            for i in drop_idx.into_iter().rev() {
                self.clients.remove(i);
            }
            if ready(0) {
                while let Ok((sock, _)) = listener.accept() {
                    let _ = sock.set_nonblocking(false);
                    let _ = sock.set_write_timeout(Some(Duration::from_secs(5)));
                    self.clients.push(Client {
                        sock,
                        line: Vec::new(),
                        kind: ClientKind::Pending,
                    });
                }
            }
        }
        self.finish();
    }

    fn reap(&mut self) {
        loop {
            let mut st: libc::c_int = 0;
            // SAFETY: waitpid writes the status into a local integer.
            let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if pid == self.init_pid && self.exit.is_none() {
                let code = if libc::WIFEXITED(st) {
                    libc::WEXITSTATUS(st)
                } else if libc::WIFSIGNALED(st) {
                    128 + libc::WTERMSIG(st)
                } else {
                    255
                };
                self.exit = Some(ExitRecord {
                    exit_code: code,
                    finished_at: timefmt::format_nanos(timefmt::now_nanos()),
                    oom_killed: false,
                });
            }
        }
    }

    /// Reads one chunk of container output and fans it out.
    fn pump_output(&mut self, is_err: bool) {
        let slot = if is_err {
            &mut self.io.stderr
        } else {
            &mut self.io.stdout
        };
        let Some(fd) = slot.as_ref() else { return };
        let n = match nix::unistd::read(fd.as_raw_fd(), &mut self.buf) {
            Ok(0) | Err(nix::errno::Errno::EIO) => {
                // EOF (EIO: pty with no slave left).
                *slot = None;
                if self.cfg.tty {
                    self.io.stdin = None;
                }
                let stream = if is_err { "stderr" } else { "stdout" };
                let splitter = if is_err {
                    &mut self.split_err
                } else {
                    &mut self.split_out
                };
                if let Some(log) = self.log.as_mut() {
                    let now = timefmt::now_nanos();
                    splitter.flush(|l| {
                        let _ = log.write_entry(stream, l, now);
                    });
                }
                return;
            }
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => return,
            Err(e) => {
                log_line(&format!("read output: {e}"));
                *slot = None;
                return;
            }
        };
        let data = &self.buf[..n];
        let stream = if is_err { "stderr" } else { "stdout" };
        if let Some(log) = self.log.as_mut() {
            let now = timefmt::now_nanos();
            let splitter = if is_err {
                &mut self.split_err
            } else {
                &mut self.split_out
            };
            splitter.push(data, |l| {
                if let Err(e) = log.write_entry(stream, l, now) {
                    log_line(&format!("log write: {e}"));
                }
            });
        }
        let tty = self.cfg.tty;
        let mut header = [0u8; 8];
        header[0] = if is_err { 2 } else { 1 };
        header[4..].copy_from_slice(&(n as u32).to_be_bytes());
        self.clients.retain_mut(|c| {
            let ClientKind::Attach { stdout, stderr, .. } = c.kind else {
                return true;
            };
            if (is_err && !stderr) || (!is_err && !stdout) {
                return true;
            }
            let r = if tty {
                c.sock.write_all(data)
            } else {
                c.sock
                    .write_all(&header)
                    .and_then(|_| c.sock.write_all(data))
            };
            r.is_ok()
        });
    }

    fn flush_stdin(&mut self) {
        let Some(fd) = self.io.stdin.as_ref() else {
            self.stdin_pending.clear();
            return;
        };
        match nix::unistd::write(fd, &self.stdin_pending) {
            Ok(n) => {
                self.stdin_pending.drain(..n);
            }
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => {
                // The container closed its stdin.
                self.io.stdin = None;
                self.stdin_pending.clear();
            }
        }
        if self.stdin_pending.capacity() > 64 * 1024 && self.stdin_pending.is_empty() {
            self.stdin_pending.shrink_to(4096);
        }
    }

    fn write_stdin(&mut self, data: &[u8]) {
        if self.io.stdin.is_none() {
            return;
        }
        self.stdin_pending.extend_from_slice(data);
        self.flush_stdin();
    }

    /// Handles poll events on client `i`; false drops it.
    fn client_event(&mut self, i: usize, revents: i16) -> bool {
        match self.clients[i].kind {
            ClientKind::Pending => {
                let mut buf = [0u8; 512];
                let n = match self.clients[i].sock.read(&mut buf) {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => n,
                };
                let c = &mut self.clients[i];
                c.line.extend_from_slice(&buf[..n]);
                let Some(pos) = c.line.iter().position(|&b| b == b'\n') else {
                    return c.line.len() < 512;
                };
                let rest = c.line.split_off(pos + 1);
                let line = String::from_utf8_lossy(&c.line).trim().to_string();
                c.line = Vec::new();
                self.command(i, &line, &rest)
            }
            ClientKind::Attach {
                stdin: true,
                stdin_done: false,
                ..
            } if revents & libc::POLLIN != 0 => {
                let n = {
                    let c = &mut self.clients[i];
                    let mut b = std::mem::take(&mut self.buf);
                    let r = c.sock.read(&mut b);
                    let n = r.unwrap_or_default();
                    if n > 0 {
                        self.stdin_pending.extend_from_slice(&b[..n]);
                    }
                    self.buf = b;
                    n
                };
                if n == 0 {
                    // The client closed its stdin.
                    if let ClientKind::Attach { stdin_done, .. } = &mut self.clients[i].kind {
                        *stdin_done = true;
                    }
                    if self.cfg.stdin_once && !self.cfg.tty {
                        self.io.stdin = None;
                        self.stdin_pending.clear();
                    }
                    let wants_output = matches!(
                        self.clients[i].kind,
                        ClientKind::Attach { stdout: true, .. }
                            | ClientKind::Attach { stderr: true, .. }
                    );
                    return wants_output && revents & libc::POLLHUP == 0;
                }
                self.flush_stdin();
                true
            }
            // Hang-up or error on a client that only receives.
            _ => revents & (libc::POLLHUP | libc::POLLERR) == 0,
        }
    }

    fn reply(&mut self, i: usize, msg: &str) -> bool {
        self.clients[i].sock.write_all(msg.as_bytes()).is_ok()
    }

    /// Runs one control command; false drops the client afterwards.
    fn command(&mut self, i: usize, line: &str, rest: &[u8]) -> bool {
        let mut words = line.split_whitespace();
        match words.next().unwrap_or("") {
            "START" => {
                if !matches!(self.phase, Phase::Created) || self.exit.is_some() {
                    self.reply(i, "ERR container is not in the created state\n");
                    return false;
                }
                match run_runtime(&self.cfg, &["start", &self.cfg.id]) {
                    Ok(()) => {
                        self.phase = Phase::Running;
                        self.reply(i, "OK\n");
                    }
                    Err(e) => {
                        // Leave nothing half-started: end the created init so
                        // the usual exit path records it and deletes the state.
                        // SAFETY: kill(2) on the pid of our own (reparented) child.
                        unsafe { libc::kill(self.init_pid, libc::SIGKILL) };
                        let msg = e.replace('\n', " ");
                        self.reply(i, &format!("ERR {msg}\n"));
                    }
                }
                false
            }
            "ATTACH" => {
                let flag = |w: Option<&str>| w == Some("1");
                let (stdin, stdout, stderr) =
                    (flag(words.next()), flag(words.next()), flag(words.next()));
                if !self.reply(i, "OK\n") {
                    return false;
                }
                if self.exit.is_some() && self.io.stdout.is_none() && self.io.stderr.is_none() {
                    return false;
                }
                self.clients[i].kind = ClientKind::Attach {
                    stdin,
                    stdout,
                    stderr,
                    stdin_done: !stdin,
                };
                if stdin && !rest.is_empty() {
                    self.write_stdin(rest);
                }
                true
            }
            "RESIZE" => {
                let rows = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                let cols = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                let r = match (&self.io.stdout, self.cfg.tty) {
                    (Some(m), true) => {
                        set_winsize(m.as_raw_fd(), rows, cols).map_err(|e| e.to_string())
                    }
                    _ => Err("container has no tty".to_string()),
                };
                let msg = match r {
                    Ok(()) => "OK\n".to_string(),
                    Err(e) => format!("ERR {e}\n"),
                };
                self.reply(i, &msg);
                false
            }
            "CLOSESTDIN" => {
                self.io.stdin = None;
                self.stdin_pending.clear();
                self.reply(i, "OK\n");
                false
            }
            "STATUS" => {
                let msg = match (&self.exit, &self.phase) {
                    (Some(e), _) => format!("EXITED {} {}\n", e.exit_code, e.finished_at),
                    (None, Phase::Created) => format!("CREATED {}\n", self.init_pid),
                    (None, Phase::Running) => format!("RUNNING {}\n", self.init_pid),
                };
                self.reply(i, &msg);
                false
            }
            "WAIT" => {
                // Answered in finish(), after the exit record is on disk.
                self.clients[i].kind = ClientKind::Waiter;
                true
            }
            other => {
                let msg = format!("ERR unknown command {other:?}\n");
                self.reply(i, &msg);
                false
            }
        }
    }

    /// The container is gone: flush logs, record the exit, delete the runtime state.
    fn finish(&mut self) {
        let now = timefmt::now_nanos();
        if let Some(log) = self.log.as_mut() {
            self.split_out.flush(|l| {
                let _ = log.write_entry("stdout", l, now);
            });
            self.split_err.flush(|l| {
                let _ = log.write_entry("stderr", l, now);
            });
        }
        self.log = None;
        if let Some(rec) = self.exit.as_mut() {
            rec.oom_killed = oom_killed(self.cgroups_path.as_deref());
        }
        let rec = self.exit.clone().unwrap_or(ExitRecord {
            exit_code: 255,
            finished_at: timefmt::format_nanos(now),
            oom_killed: false,
        });
        match serde_json::to_vec(&rec) {
            Ok(data) => {
                if let Err(e) = berth_core::atomic::write_atomic(&self.cfg.exit_file, &data) {
                    log_line(&format!("writing exit record: {e}"));
                }
            }
            Err(e) => log_line(&format!("encoding exit record: {e}")),
        }
        if let Err(e) = run_runtime(&self.cfg, &["delete", "--force", &self.cfg.id]) {
            log_line(&format!("runtime delete: {e}"));
        }
        remove_leftover_cgroups(self.cgroups_path.as_deref());
        cleanup_files(&self.cfg);
        let msg = format!("EXIT {} {}\n", rec.exit_code, rec.finished_at);
        for c in &mut self.clients {
            if matches!(c.kind, ClientKind::Waiter) {
                let _ = c.sock.write_all(msg.as_bytes());
            }
            let _ = c.sock.shutdown(std::net::Shutdown::Both);
        }
        self.clients.clear();
    }
}
