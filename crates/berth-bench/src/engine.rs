//! Starting and stopping an engine on a private, temporary root.
//!
//! Everything an engine writes goes below one temporary directory: socket, data root, exec root,
//! pidfile, config and log. [`Daemon`] stops the engine when dropped (SIGTERM, then SIGKILL for
//! the process group and any descendant left over) and [`TempRoot`] unmounts whatever the engine
//! left mounted below the directory before removing it, so an error or Ctrl-C cleans up too.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{BenchError, IoContext, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::http::Client;
use crate::procfs;
use crate::suite::interrupted;

/// The engines `compare` knows how to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    Berthd,
    Dockerd,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Berthd => "berthd",
            EngineKind::Dockerd => "dockerd",
        }
    }
}

/// An engine binary and how to start it.
#[derive(Debug, Clone)]
pub struct EngineSpec {
    pub kind: EngineKind,
    pub binary: PathBuf,
    /// Appended to the flags the bench passes.
    pub extra_args: Vec<String>,
    /// Give the engine a default bridge of its own (the `network` suite): dockerd gets
    /// `docker0` on a private /24 instead of `--bridge=none` (still without iptables, so
    /// published ports go through its userland proxy), berthd `berthbench0`.
    pub network: bool,
}

/// The default bridges of the engines under the `network` suite.
pub const DOCKERD_BIP: &str = "10.197.0.1/24";
pub const BERTHD_BRIDGE: &str = "berthbench0";
pub const BERTHD_BIP: &str = "10.196.0.1/24";

/// The paths of one engine's private root.
#[derive(Debug, Clone)]
pub struct Paths {
    pub socket: PathBuf,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub pidfile: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
}

impl Paths {
    fn under(base: &Path) -> Paths {
        Paths {
            socket: base.join("engine.sock"),
            data_root: base.join("data"),
            exec_root: base.join("exec"),
            pidfile: base.join("engine.pid"),
            config: base.join("daemon.json"),
            log: base.join("engine.log"),
        }
    }
}

impl EngineSpec {
    /// The command line: dockerd's flag names for both engines with a private (empty)
    /// daemon.json, plus, for dockerd, what keeps it off the host's network configuration.
    pub fn args(&self, p: &Paths) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut flag = |name: &str, value: &Path| {
            a.push(name.into());
            a.push(value.into());
        };
        flag("-H", Path::new(&format!("unix://{}", p.socket.display())));
        flag("--data-root", &p.data_root);
        flag("--exec-root", &p.exec_root);
        flag("--pidfile", &p.pidfile);
        // Both read a daemon.json from /etc by default; the host's must not change the figures.
        flag("--config-file", &p.config);
        if self.kind == EngineKind::Dockerd {
            for f in ["--iptables=false", "--ip-masq=false", "--ip-forward=false"] {
                a.push(f.into());
            }
            if self.network {
                a.push(format!("--bip={DOCKERD_BIP}").into());
            } else {
                a.push("--bridge=none".into());
            }
        } else if self.network {
            a.push(format!("--bridge={BERTHD_BRIDGE}").into());
            a.push(format!("--bip={BERTHD_BIP}").into());
        }
        a.extend(self.extra_args.iter().map(OsString::from));
        a
    }
}

/// A temporary directory holding one engine's root; unmounts and removes it when dropped.
pub struct TempRoot {
    dir: Option<tempfile::TempDir>,
    pub paths: Paths,
}

impl TempRoot {
    /// Creates `berth-bench-NAME-XXXX` in `parent` (the system temp dir if `None`).
    pub fn new(name: &str, parent: Option<&Path>) -> Result<TempRoot> {
        let prefix = format!("berth-bench-{name}-");
        let mut b = tempfile::Builder::new();
        b.prefix(&prefix);
        let dir = match parent {
            Some(p) => b.tempdir_in(p),
            None => b.tempdir(),
        }
        .at(|| "creating a temporary engine root")?;
        let paths = Paths::under(dir.path());
        // A unix socket path must fit in sockaddr_un.sun_path (108 bytes with the NUL).
        if paths.socket.as_os_str().len() >= 104 {
            return Err(BenchError::SocketPathTooLong(paths.socket));
        }
        fs::write(&paths.config, "{}\n").at(|| "writing the engine config")?;
        Ok(TempRoot {
            dir: Some(dir),
            paths,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir
            .as_ref()
            .map(|d| d.path())
            .unwrap_or(Path::new("/nonexistent"))
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        for m in procfs::mounts_under(&mountinfo, dir.path()) {
            if let Err(e) = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH) {
                eprintln!("berth-bench: unmounting {}: {e}", m.display());
            }
        }
        let path = dir.path().to_owned();
        if let Err(e) = dir.close() {
            eprintln!("berth-bench: removing {}: {e}", path.display());
        }
    }
}

/// Paths outside its roots that dockerd 20.10 creates whatever its flags: its trust key in
/// /etc/docker (no flag moves it) and the plugin socket directory in /run/docker. Those that did
/// not exist when the guard was made are removed when it is dropped (directories only if empty).
/// So is `docker0`, which dockerd leaves behind when it had a bridge (the `network` suite).
pub struct HostLeftovers {
    created: Vec<PathBuf>,
}

const DOCKER0: &str = "/sys/class/net/docker0";

impl HostLeftovers {
    pub fn watch(kind: EngineKind) -> HostLeftovers {
        let candidates: &[&str] = match kind {
            EngineKind::Dockerd => &[
                DOCKER0,
                "/etc/docker/key.json",
                "/etc/docker",
                "/run/docker/plugins",
                "/run/docker",
            ],
            EngineKind::Berthd => &[],
        };
        HostLeftovers {
            created: candidates
                .iter()
                .map(PathBuf::from)
                .filter(|p| fs::symlink_metadata(p).is_err())
                .collect(),
        }
    }
}

impl Drop for HostLeftovers {
    fn drop(&mut self) {
        for p in &self.created {
            if p == Path::new(DOCKER0) {
                if p.exists() {
                    let _ = std::process::Command::new("ip")
                        .args(["link", "del", "docker0"])
                        .status();
                }
                continue;
            }
            match fs::symlink_metadata(p) {
                Ok(m) if m.is_dir() => {
                    let _ = fs::remove_dir(p);
                }
                Ok(_) => {
                    let _ = fs::remove_file(p);
                }
                Err(_) => {}
            }
        }
    }
}

/// A running engine; stopped when dropped.
pub struct Daemon {
    pub name: &'static str,
    child: Option<Child>,
    pub pid: u32,
    pub socket: PathBuf,
    log: PathBuf,
}

/// How often readiness is polled while an engine starts.
const POLL: Duration = Duration::from_micros(200);
/// How long an engine gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(20);

impl Daemon {
    /// Starts `spec` on `root` and waits until `/_ping` answers 200. Returns the engine and the
    /// time from spawn to that first successful ping.
    pub fn start(
        spec: &EngineSpec,
        root: &TempRoot,
        timeout: Duration,
    ) -> Result<(Daemon, Duration)> {
        let p = &root.paths;
        let _ = fs::remove_file(&p.socket);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p.log)
            .at(|| "opening the engine log")?;
        let mut cmd = Command::new(&spec.binary);
        cmd.args(spec.args(p))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: the terminal's Ctrl-C reaches only the bench, which then
            // stops the engine in order; and the group can be killed as a whole.
            .process_group(0);
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of the
        // parent; it makes the kernel kill the engine if the bench dies without cleaning up.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let t0 = Instant::now();
        let child = cmd
            .spawn()
            .at(|| format!("starting {}", spec.binary.display()))?;
        let mut d = Daemon {
            name: spec.kind.name(),
            pid: child.id(),
            child: Some(child),
            socket: p.socket.clone(),
            log: p.log.clone(),
        };
        let mut client = Client::new(&p.socket, Duration::from_secs(5));
        loop {
            if let Some(status) = d.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                d.child = None;
                return Err(BenchError::ExitedDuringStart {
                    name: d.name,
                    status: status.to_string(),
                    log: d.log_tail(2000),
                });
            }
            if socket_exists(&p.socket) {
                if let Ok(r) = client.get("/_ping") {
                    if r.status == 200 {
                        return Ok((d, t0.elapsed()));
                    }
                }
            }
            if interrupted() {
                return Err(BenchError::Interrupted);
            }
            if t0.elapsed() > timeout {
                return Err(BenchError::StartTimeout {
                    name: d.name,
                    timeout,
                    log: d.log_tail(2000),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// The last `max` bytes of the engine's log, or a note that it is empty.
    pub fn log_tail(&self, max: u64) -> String {
        let mut buf = Vec::new();
        if let Ok(mut f) = File::open(&self.log) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(max)));
            let _ = f.read_to_end(&mut buf);
        }
        let s = String::from_utf8_lossy(&buf).trim_end().to_owned();
        if s.is_empty() {
            "(the log is empty)".into()
        } else {
            s
        }
    }

    /// Stops the engine: SIGTERM, up to [`STOP_GRACE`] to exit, then SIGKILL to its process
    /// group; then SIGKILL to any descendant (containerd, shims) that outlived it.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = Pid::from_raw(self.pid as i32);
        let descendants: Vec<procfs::Stat> = procfs::tree(self.pid, &procfs::all_processes())
            .into_iter()
            .filter(|s| s.pid != self.pid)
            .collect();
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        let mut forced = false;
        loop {
            if child.try_wait()?.is_some() {
                break;
            }
            if Instant::now() > deadline {
                // The child is not reaped yet, so its pid (= the group id) cannot be reused.
                let _ = kill(Pid::from_raw(-(self.pid as i32)), Signal::SIGKILL);
                child.wait()?;
                forced = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut leftovers = Vec::new();
        for s in &descendants {
            if procfs::stat(s.pid).is_some_and(|now| now.start_time == s.start_time) {
                let _ = kill(Pid::from_raw(s.pid as i32), Signal::SIGKILL);
                leftovers.push(s.clone());
            }
        }
        // Orphans are re-parented to the bench if it is a subreaper: reap them; otherwise wait
        // for init to.
        let deadline = Instant::now() + Duration::from_secs(5);
        for s in &leftovers {
            let p = Pid::from_raw(s.pid as i32);
            while procfs::stat(s.pid).is_some_and(|now| now.start_time == s.start_time)
                && Instant::now() < deadline
            {
                let _ = nix::sys::wait::waitpid(p, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        if forced {
            return Err(BenchError::StopForced {
                name: self.name,
                grace: STOP_GRACE,
            });
        }
        if !leftovers.is_empty() {
            let left = leftovers
                .iter()
                .map(|s| format!("{} ({})", s.comm, s.pid))
                .collect();
            return Err(BenchError::LeftBehind {
                name: self.name,
                left,
            });
        }
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("berth-bench: stopping {}: {e:#}", self.name);
        }
    }
}

fn socket_exists(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok()
}

/// Makes orphaned descendants of the engines (containerd after a killed dockerd) children of the
/// bench, so that [`Daemon::stop`] can reap them.
pub fn become_subreaper() {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag and changes only a process attribute.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerd_gets_isolation_flags_berthd_does_not() {
        let p = Paths::under(Path::new("/t"));
        let spec = EngineSpec {
            kind: EngineKind::Berthd,
            binary: "berthd".into(),
            extra_args: vec!["--x".into()],
            network: false,
        };
        let a: Vec<String> = spec
            .args(&p)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        assert_eq!(
            a,
            [
                "-H",
                "unix:///t/engine.sock",
                "--data-root",
                "/t/data",
                "--exec-root",
                "/t/exec",
                "--pidfile",
                "/t/engine.pid",
                "--config-file",
                "/t/daemon.json",
                "--x"
            ]
        );
        let spec = EngineSpec {
            kind: EngineKind::Dockerd,
            binary: "dockerd".into(),
            extra_args: vec![],
            network: false,
        };
        let a: Vec<String> = spec
            .args(&p)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        assert!(a
            .windows(2)
            .any(|w| w == ["--config-file", "/t/daemon.json"]));
        assert!(
            a.contains(&"--iptables=false".to_string()) && a.contains(&"--bridge=none".to_string())
        );
    }

    #[test]
    fn temp_root_is_removed_on_drop() {
        let root = TempRoot::new("t", None).unwrap();
        let dir = root.path().to_owned();
        assert!(root.paths.config.exists());
        drop(root);
        assert!(!dir.exists());
    }

    #[test]
    fn a_daemon_that_dies_at_start_is_reported_with_its_log() {
        let root = TempRoot::new("t", None).unwrap();
        let spec = EngineSpec {
            kind: EngineKind::Berthd,
            binary: "/bin/sh".into(),
            extra_args: vec![],
            network: false,
        };
        // sh rejects "-H": the start fails at once with sh's complaint, not after the timeout.
        let t = Instant::now();
        let err = Daemon::start(&spec, &root, Duration::from_secs(10))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("exited during start"), "{err}");
        assert!(
            err.contains("-H"),
            "the log tail should carry sh's complaint: {err}"
        );
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
