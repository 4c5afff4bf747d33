//! The end of a container: reaping its init, the exit record (with the OOM
//! verdict read from its cgroup), deleting the runtime's state and the
//! cgroups it left, and answering waiters.

use super::logging::log_line;
use super::runtime::run_runtime;
use super::{
    ClientKind, Shim, ShimConfig, CONSOLE_SOCKET_FILE, INIT_PID_FILE, SHIM_PID_FILE, SOCKET_FILE,
};
use berth_types::timestamp;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The exit record the shim leaves behind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExitRecord {
    pub exit_code: i32,
    /// RFC 3339 with nanoseconds.
    pub finished_at: String,
    pub oom_killed: bool,
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
pub(super) fn cgroups_path(bundle: &Path) -> Option<String> {
    let data = fs::read(bundle.join("config.json")).ok()?;
    let v = serde_json::from_slice::<serde_json::Value>(&data).ok()?;
    v["linux"]["cgroupsPath"].as_str().map(String::from)
}

/// Removes the container's (empty) cgroup directories that the runtime's
/// delete left behind: it gives up with EBUSY when the last processes of
/// the container are still being torn down.
pub(super) fn remove_leftover_cgroups(cgroups_path: Option<&str>) {
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

pub(super) fn cleanup_files(cfg: &ShimConfig) {
    for f in [
        SOCKET_FILE,
        SHIM_PID_FILE,
        INIT_PID_FILE,
        CONSOLE_SOCKET_FILE,
    ] {
        let _ = fs::remove_file(cfg.state_dir.join(f));
    }
}

impl Shim {
    pub(super) fn reap(&mut self) {
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
                    finished_at: timestamp::format_nanos(timestamp::now_nanos()),
                    oom_killed: false,
                });
            }
        }
    }

    /// The container is gone: flush logs, record the exit, delete the runtime state.
    pub(super) fn finish(&mut self) {
        let now = timestamp::now_nanos();
        if let Err(e) = self.log.close(now) {
            log_line(&format!("log write: {e}"));
        }
        if let Some(rec) = self.exit.as_mut() {
            rec.oom_killed = oom_killed(self.cgroups_path.as_deref());
        }
        let rec = self.exit.clone().unwrap_or(ExitRecord {
            exit_code: 255,
            finished_at: timestamp::format_nanos(now),
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
