//! The port proxy as a process of its own, so published ports outlive the
//! daemon as the containers do.
//!
//! One proxy per container that publishes ports, started as
//! `berthd proxy --container ID --pid-file PATH PROTO:FD:BACKEND...`. The
//! daemon binds every host port first ([`crate::proxy::BoundPort`]) and the
//! proxy inherits the bound sockets as file descriptors `FD`, so "port
//! already allocated" and ephemeral ports stay the daemon's business (as
//! newer dockerd hands docker-proxy its socket with `-use-listen-fd`).
//!
//! Like the shim, the proxy forks: the first process relays the outcome
//! and exits (the daemon reaps it); the second calls `setsid`, so neither
//! a `kill -9` of the daemon nor a Ctrl-C in its terminal reaches it,
//! writes its pid file and serves until it is sent SIGTERM. The pid file
//! `<exec-root>/port-proxies/<container id>.pid` is the only record: a
//! restarted daemon finds the proxy there and adopts it without touching
//! the sockets (no gap), and teardown signals it and waits until it is
//! gone, so the port can be bound again as soon as teardown returns.

use crate::error::{NetError, Result};
use crate::firewall::Proto;
use crate::proxy::{serve_tcp, serve_udp, BoundPort};
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The multicall subcommand: `berthd proxy ...`.
pub const SUBCOMMAND: &str = "proxy";

/// One socket to serve: `tcp:FD:IP:PORT` on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Forward {
    proto: Proto,
    fd: RawFd,
    backend: SocketAddrV4,
}

#[derive(Debug, PartialEq, Eq)]
struct Plan {
    container: String,
    pid_file: PathBuf,
    forwards: Vec<Forward>,
}

fn parse_forward(s: &str) -> std::result::Result<Forward, String> {
    let mut it = s.splitn(3, ':');
    let (proto, fd, backend) = match (it.next(), it.next(), it.next()) {
        (Some(p), Some(f), Some(b)) => (p, f, b),
        _ => return Err(format!("bad forward {s:?}: want PROTO:FD:IP:PORT")),
    };
    let proto = match proto {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        p => return Err(format!("bad protocol {p:?} in {s:?}")),
    };
    let fd = fd
        .parse::<RawFd>()
        .ok()
        .filter(|fd| *fd > 2)
        .ok_or_else(|| format!("bad descriptor in {s:?}"))?;
    let backend = backend
        .parse::<SocketAddrV4>()
        .map_err(|_| format!("bad backend address in {s:?}"))?;
    Ok(Forward { proto, fd, backend })
}

fn parse_args(args: &[OsString]) -> std::result::Result<Plan, String> {
    let mut container = None;
    let mut pid_file = None;
    let mut forwards = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let a = a.to_str().ok_or("arguments must be UTF-8")?;
        match a {
            "--container" => container = it.next().and_then(|v| v.to_str()).map(String::from),
            "--pid-file" => pid_file = it.next().map(PathBuf::from),
            f => forwards.push(parse_forward(f)?),
        }
    }
    let container = container
        .filter(|c| !c.is_empty())
        .ok_or("--container is required")?;
    let pid_file = pid_file.ok_or("--pid-file is required")?;
    if forwards.is_empty() {
        return Err("nothing to forward".into());
    }
    Ok(Plan {
        container,
        pid_file,
        forwards,
    })
}

/// An inherited socket, checked to be what the command line says it is.
enum Inherited {
    Tcp(std::net::TcpListener, SocketAddrV4),
    Udp(std::net::UdpSocket, SocketAddrV4),
}

fn take_fd(f: &Forward) -> std::result::Result<Inherited, String> {
    use nix::sys::socket::{getsockopt, sockopt, SockType};
    // SAFETY: the daemon passed this descriptor to this process for it to
    // own; nothing else in this fresh process refers to it.
    let fd = unsafe { OwnedFd::from_raw_fd(f.fd) };
    let ty = getsockopt(&fd, sockopt::SockType).map_err(|e| format!("fd {}: {e}", f.fd))?;
    match (f.proto, ty) {
        (Proto::Tcp, SockType::Stream) => {
            if !getsockopt(&fd, sockopt::AcceptConn).unwrap_or(false) {
                return Err(format!("fd {} is not listening", f.fd));
            }
            Ok(Inherited::Tcp(fd.into(), f.backend))
        }
        (Proto::Udp, SockType::Datagram) => Ok(Inherited::Udp(fd.into(), f.backend)),
        _ => Err(format!("fd {} is not a {} socket", f.fd, f.proto.as_str())),
    }
}

/// `berthd proxy ...`; call before any thread or runtime exists (it forks).
pub fn main_from_args(args: Vec<OsString>) -> i32 {
    let plan = match parse_args(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("berthd proxy: {e}");
            return 2;
        }
    };
    let sockets: std::result::Result<Vec<Inherited>, String> =
        plan.forwards.iter().map(take_fd).collect();
    let sockets = match sockets {
        Ok(s) => s,
        Err(e) => {
            eprintln!("berthd proxy: {e}");
            return 2;
        }
    };
    let (status_r, status_w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("berthd proxy: pipe: {e}");
            return 1;
        }
    };
    // SAFETY: this entry point runs before any other thread exists, so the
    // child may run arbitrary code after fork.
    match unsafe { nix::unistd::fork() } {
        Err(e) => {
            eprintln!("berthd proxy: fork: {e}");
            1
        }
        Ok(nix::unistd::ForkResult::Parent { .. }) => {
            drop(status_w);
            drop(sockets);
            let mut msg = String::new();
            let _ = File::from(status_r).read_to_string(&mut msg);
            if msg.is_empty() {
                msg = "ERR proxy exited before reporting".into();
            }
            // The daemon may be gone already: never panic on EPIPE.
            let _ = std::io::stdout().write_all(msg.as_bytes());
            i32::from(!msg.starts_with("OK"))
        }
        Ok(nix::unistd::ForkResult::Child) => {
            drop(status_r);
            let mut status = File::from(status_w);
            let code = match daemonize(&plan.pid_file) {
                Ok(()) => serve(sockets, status),
                Err(e) => {
                    let _ = writeln!(status, "ERR proxy setup: {e}");
                    1
                }
            };
            std::process::exit(code)
        }
    }
}

/// New session, stdio on /dev/null, the pid file written atomically.
fn daemonize(pid_file: &Path) -> std::io::Result<()> {
    nix::unistd::setsid().map_err(std::io::Error::from)?;
    std::env::set_current_dir("/")?;
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in 0..3 {
        nix::unistd::dup2(null.as_raw_fd(), fd)?;
    }
    let pid = std::process::id();
    let tmp = pid_file.with_extension(format!("tmp{pid}"));
    std::fs::write(&tmp, pid.to_string())?;
    std::fs::rename(&tmp, pid_file)
}

fn serve(sockets: Vec<Inherited>, mut status: File) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(status, "ERR proxy runtime: {e}");
            return 1;
        }
    };
    rt.block_on(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for s in sockets {
            match s {
                Inherited::Tcp(l, b) => tasks.spawn(serve_tcp(l, b)),
                Inherited::Udp(u, b) => tasks.spawn(serve_udp(u, b)),
            };
        }
        let _ = writeln!(status, "OK {}", std::process::id());
        drop(status);
        // The loops end only on a broken socket; then the port is dead anyway.
        while tasks.join_next().await.is_some() {}
        1
    })
}

/// The daemon's side: starts, finds and stops the port proxies of its
/// containers, by their pid files under one directory.
#[derive(Debug, Clone)]
pub struct PortProxies {
    exe: PathBuf,
    dir: PathBuf,
}

impl PortProxies {
    /// `exe` is run as `exe proxy ...` (berthd itself); pid files go in `dir`.
    pub fn new(exe: impl Into<PathBuf>, dir: impl Into<PathBuf>) -> PortProxies {
        PortProxies {
            exe: exe.into(),
            dir: dir.into(),
        }
    }

    fn pid_file(&self, cid: &str) -> PathBuf {
        self.dir.join(format!("{cid}.pid"))
    }

    /// Starts the proxy of `cid`, serving each bound port to its backend.
    /// The caller may drop its copies of the sockets when this returns.
    pub async fn spawn(&self, cid: &str, ports: &[(BoundPort, SocketAddrV4)]) -> Result<u32> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| NetError::io(format!("creating {}", self.dir.display()), e))?;
        let pid_file = self.pid_file(cid);
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.arg(SUBCOMMAND)
            .arg("--container")
            .arg(cid)
            .arg("--pid-file")
            .arg(&pid_file);
        let mut fds = Vec::new();
        for (p, backend) in ports {
            let fd = p.fd().as_raw_fd();
            fds.push(fd);
            cmd.arg(format!("{}:{fd}:{backend}", p.proto.as_str()));
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        // SAFETY: runs in the forked child before exec; fcntl is
        // async-signal-safe and changes only the child's descriptor table,
        // so exactly these sockets (the callers keep them open until the
        // child has started) survive the exec.
        unsafe {
            cmd.pre_exec(move || {
                for fd in &fds {
                    if libc::fcntl(*fd, libc::F_SETFD, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let out = cmd
            .output()
            .await
            .map_err(|e| NetError::io(format!("starting {} proxy", self.exe.display()), e))?;
        let said = String::from_utf8_lossy(&out.stdout);
        match said.trim().strip_prefix("OK ").and_then(|p| p.parse().ok()) {
            Some(pid) if out.status.success() => Ok(pid),
            _ => Err(NetError::Proxy(format!(
                "starting the port proxy of {cid} failed ({}): {}{}",
                out.status,
                said.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))),
        }
    }

    /// The pid of `cid`'s proxy, if one is running (a pid file whose
    /// process is alive and is the proxy of `cid`, not a reused pid).
    pub fn pid_of(&self, cid: &str) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.pid_file(cid))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let ours = args.get(1) == Some(&SUBCOMMAND.as_bytes())
            && args
                .windows(2)
                .any(|w| w[0] == b"--container" && w[1] == cid.as_bytes());
        (ours && alive(pid)).then_some(pid)
    }

    /// The containers that have a pid file (running proxy or not).
    pub fn containers(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".pid"))
                    .map(String::from)
            })
            .collect()
    }

    /// Stops `cid`'s proxy, if any, and waits until it is gone, so its
    /// ports are free when this returns. Nothing running is fine.
    pub async fn stop(&self, cid: &str) -> Result<()> {
        if let Some(pid) = self.pid_of(cid) {
            let target = nix::unistd::Pid::from_raw(pid as i32);
            for sig in [nix::sys::signal::SIGTERM, nix::sys::signal::SIGKILL] {
                let _ = nix::sys::signal::kill(target, sig);
                let t = Instant::now();
                while alive(pid) && t.elapsed() < Duration::from_secs(5) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                if !alive(pid) {
                    break;
                }
            }
            if alive(pid) {
                return Err(NetError::Proxy(format!(
                    "the port proxy of {cid} (pid {pid}) does not exit"
                )));
            }
        }
        match std::fs::remove_file(self.pid_file(cid)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(NetError::io(
                format!("removing {}", self.pid_file(cid).display()),
                e,
            )),
            _ => Ok(()),
        }
    }
}

/// Whether `pid` still runs: neither gone nor a zombie (an exited process
/// has closed its sockets even before it is reaped).
fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "PID (COMM) STATE ...": COMM may hold spaces and parentheses.
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    !matches!(state, None | Some("Z") | Some("X"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line() {
        let args: Vec<OsString> = [
            "--container",
            "abc",
            "--pid-file",
            "/run/x.pid",
            "tcp:7:10.0.0.2:80",
            "udp:8:10.0.0.2:53",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let p = parse_args(&args).unwrap();
        assert_eq!(p.container, "abc");
        assert_eq!(p.pid_file, PathBuf::from("/run/x.pid"));
        assert_eq!(
            p.forwards,
            vec![
                Forward {
                    proto: Proto::Tcp,
                    fd: 7,
                    backend: "10.0.0.2:80".parse().unwrap()
                },
                Forward {
                    proto: Proto::Udp,
                    fd: 8,
                    backend: "10.0.0.2:53".parse().unwrap()
                },
            ]
        );
        for bad in [
            "tcp:1:10.0.0.2:80",
            "sctp:7:10.0.0.2:80",
            "tcp:7:nowhere",
            "tcp:7",
        ] {
            let mut a = args[..4].to_vec();
            a.push(bad.into());
            assert!(parse_args(&a).is_err(), "{bad}");
        }
        assert!(parse_args(&args[..4]).is_err(), "nothing to forward");
        assert!(parse_args(&args[2..]).is_err(), "no container");
    }

    #[test]
    fn liveness_from_proc() {
        assert!(alive(std::process::id()));
        assert!(!alive(u32::MAX));
        let p = PortProxies::new("/nonexistent", "/nonexistent-dir");
        assert_eq!(p.pid_of("abc"), None);
        assert!(p.containers().is_empty());
    }
}
