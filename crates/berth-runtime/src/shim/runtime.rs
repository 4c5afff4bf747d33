//! Driving the runtime CLI: `create` with the container's stdio (and, with a
//! TTY, the console socket), and the short subcommands (`start`, `delete`).

use super::fds::{pipe, recv_fd, set_nonblocking, set_winsize};
use super::logging::log_line;
use super::{Io, ShimConfig, CONSOLE_SOCKET_FILE, CREATE_TIMEOUT, INIT_PID_FILE};
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

pub(super) type Created = (i32, Io, UnixListener, nix::sys::signalfd::SignalFd);

/// Sets up stdio, the control socket and SIGCHLD delivery, and runs `create`.
pub(super) fn create(cfg: &ShimConfig) -> Result<Created, String> {
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

    let CreateCommand {
        mut cmd,
        io,
        capture,
        console_listener,
    } = create_command(cfg, &pid_file)?;
    for fd in &capture {
        set_nonblocking(fd.as_raw_fd(), true);
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run runtime {}: {e}", cfg.runtime.path.display()))?;
    drop(cmd); // closes our copies of the child's ends
    wait_for_create(child, &capture)?;
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
        receive_console(cfg, cl, &mut io)?;
    }
    if let Some(w) = &io.stdin {
        set_nonblocking(w.as_raw_fd(), true);
    }
    Ok((pid, io, listener, sigfd))
}

/// `runtime create` with the container's stdio wired up, before it runs.
struct CreateCommand {
    cmd: Command,
    io: Io,
    /// The fds whose bytes, while create runs, are the runtime's own output.
    capture: Vec<OwnedFd>,
    /// With a TTY: where the runtime sends the pty master.
    console_listener: Option<UnixListener>,
}

fn create_command(cfg: &ShimConfig, pid_file: &Path) -> Result<CreateCommand, String> {
    let bundle = cfg.bundle.to_string_lossy().into_owned();
    let pid_file_s = pid_file.to_string_lossy().into_owned();
    if cfg.tty {
        tty_create_command(cfg, &bundle, &pid_file_s)
    } else {
        pipe_create_command(cfg, &bundle, &pid_file_s)
    }
}

/// With a TTY the runtime makes the pty and sends its master on the console
/// socket; its stdout and stderr until then are its own messages.
fn tty_create_command(
    cfg: &ShimConfig,
    bundle: &str,
    pid_file_s: &str,
) -> Result<CreateCommand, String> {
    let err = |e: io::Error| e.to_string();
    let mut capture: Vec<OwnedFd> = Vec::new();
    let cs = cfg.state_dir.join(CONSOLE_SOCKET_FILE);
    let _ = fs::remove_file(&cs);
    let console_listener =
        Some(UnixListener::bind(&cs).map_err(|e| format!("console socket: {e}"))?);
    let cs_s = cs.to_string_lossy().into_owned();
    let mut cmd = cfg.runtime_command(&[
        "create",
        "--bundle",
        bundle,
        "--pid-file",
        pid_file_s,
        "--console-socket",
        &cs_s,
        &cfg.id,
    ]);
    let (r, w) = pipe().map_err(err)?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(w.try_clone().map_err(err)?))
        .stderr(Stdio::from(w));
    capture.push(r);
    let io = Io {
        stdin: None,
        stdout: None,
        stderr: None,
    };
    Ok(CreateCommand {
        cmd,
        io,
        capture,
        console_listener,
    })
}

/// Without a TTY the container's stdio are pipes the shim keeps; while
/// create runs, what comes out of them is the runtime's.
fn pipe_create_command(
    cfg: &ShimConfig,
    bundle: &str,
    pid_file_s: &str,
) -> Result<CreateCommand, String> {
    let err = |e: io::Error| e.to_string();
    let mut capture: Vec<OwnedFd> = Vec::new();
    let mut cmd = cfg.runtime_command(&[
        "create",
        "--bundle",
        bundle,
        "--pid-file",
        pid_file_s,
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
    let io = Io {
        stdin: stdin_w,
        stdout: Some(out_r),
        stderr: Some(err_r),
    };
    Ok(CreateCommand {
        cmd,
        io,
        capture,
        console_listener: None,
    })
}

/// Waits (up to [`CREATE_TIMEOUT`]) for `runtime create` to finish,
/// collecting what it writes on `capture`; its failure is that output.
fn wait_for_create(mut child: Child, capture: &[OwnedFd]) -> Result<(), String> {
    let mut captured: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    let drain = |captured: &mut Vec<u8>, chunk: &mut [u8]| {
        for fd in capture {
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
    Ok(())
}

/// Takes the pty master the runtime sends on the console socket: it becomes
/// the container's stdout (and stdin, when open).
fn receive_console(cfg: &ShimConfig, cl: UnixListener, io: &mut Io) -> Result<(), String> {
    let err = |e: io::Error| e.to_string();
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
    Ok(())
}
