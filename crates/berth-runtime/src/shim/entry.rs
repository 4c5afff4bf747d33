//! The shim's start: `berthd shim STATE_DIR` forks, the parent relays the
//! create outcome to the daemon, the child leaves the daemon's session and
//! becomes the container's subreaper, creates the container and serves it.

use super::exit::{cgroups_path, cleanup_files, remove_leftover_cgroups};
use super::logging::log_line;
use super::runtime::{create, run_runtime};
use super::{Phase, Shim, ShimConfig, SHIM_LOG_FILE, SHIM_PID_FILE};
use crate::logdriver::ContainerLog;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;

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
            let log = match ContainerLog::open(&cfg.log_sink()) {
                Ok(l) => l,
                Err(e) => {
                    let _ = run_runtime(&cfg, &["delete", "--force", &cfg.id]);
                    remove_leftover_cgroups(cgroups_path(&cfg.bundle).as_deref());
                    cleanup_files(&cfg);
                    let _ = write!(status, "ERR cannot open log {e}");
                    return 1;
                }
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
