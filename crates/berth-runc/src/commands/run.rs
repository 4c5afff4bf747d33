//! `run`: create and start a container; unless detached, wait for it, forward signals to
//! it, delete it and exit with its status.

use liboci_cli::Run;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::create::{build_init, InitArgs};
use super::exit_code;
use crate::cli::Globals;
use crate::error::{Result, RuncError};

pub fn run(args: Run, g: &Globals) -> Result<i32> {
    let id = args.container_id.as_str();
    let mut c = build_init(
        &InitArgs {
            id,
            bundle: &args.bundle,
            pid_file: args.pid_file.as_deref(),
            console_socket: args.console_socket.as_deref(),
            preserve_fds: args.preserve_fds,
            no_pivot: args.no_pivot,
            detach: args.detach,
        },
        g,
    )?;
    if !args.detach && !args.no_subreaper {
        // Orphans of the container (outside its own pid namespace, if it has none) come to us.
        // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) takes an integer flag and touches no memory.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    if let Err(e) = c.start() {
        let err = RuncError::container(format!("cannot start container {id}"), e);
        // Do not leave a half-made container behind.
        let _ = c.delete(true);
        return Err(err);
    }
    if args.detach {
        return Ok(0);
    }
    let Some(pid) = c.pid() else {
        return Err(RuncError::Other(format!("container {id} has no init pid")));
    };
    let result = wait_foreground(pid);
    if !args.keep {
        c.delete(true)
            .map_err(|e| RuncError::container(format!("cannot delete container {id}"), e))?;
    }
    result
}

/// Waits for `pid` (a child of ours) to end, forwarding the signals we receive to it, and
/// returns its exit code. Other children (libcontainer's intermediate process, reparented
/// orphans) are reaped along the way.
pub fn wait_foreground(pid: Pid) -> Result<i32> {
    let all = SigSet::all();
    all.thread_block()
        .map_err(|e| RuncError::sys("cannot block signals", e))?;
    loop {
        // Reap first: the process may have ended before the signals were blocked, in
        // which case its SIGCHLD is gone and only waitpid can tell.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => break,
                Ok(st) => {
                    if st.pid() == Some(pid) {
                        if let Some(code) = exit_code(st) {
                            let _ = all.thread_unblock();
                            return Ok(code);
                        }
                    }
                }
                Err(nix::errno::Errno::ECHILD) => {
                    let _ = all.thread_unblock();
                    return Err(RuncError::Other(format!("process {pid} is not our child")));
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(RuncError::sys("waitpid", e)),
            }
        }
        let sig = all.wait().map_err(|e| RuncError::sys("sigwait", e))?;
        match sig {
            Signal::SIGCHLD | Signal::SIGURG | Signal::SIGWINCH => {}
            other => {
                tracing::debug!(signal = ?other, %pid, "forwarding signal");
                // The process may be gone already; the next waitpid will tell.
                let _ = kill(pid, other);
            }
        }
    }
}
