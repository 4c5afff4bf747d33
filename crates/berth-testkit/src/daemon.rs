//! A real `berthd` process on a temporary data root, exec root and socket.

use crate::http::{request, Response};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct TestDaemon {
    pub bin: PathBuf,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub pidfile: PathBuf,
    pub log: PathBuf,
    pub extra_args: Vec<String>,
    /// This daemon's own default bridge and its subnet (`--bridge`,
    /// `--bip`), so test daemons running in parallel never share one.
    pub bridge: String,
    pub bip: String,
    child: Option<Child>,
}

/// A bridge name and a /24 in 10.128.0.0/9, unique per test process (its
/// pid, in base 32: digits `0-9a-v`, never `x`) and per daemon in it (a
/// counter): `bk<pid>x<n>`, at
/// most 10 characters, so berthd's per-bridge firewall table
/// (`berth_<bridge>`) is unique too. The first call also removes the
/// bridges and tables of test processes that are gone (a shared daemon
/// dies with its test binary, without a clean shutdown).
pub fn unique_bridge() -> (String, String) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if n == 0 {
        sweep_stale_bridges();
    }
    let pid = std::process::id();
    let k = (pid % 512) * 64 + n % 64;
    (
        format!("bk{}x{}", base32(pid), n % 100),
        format!("10.{}.{}.1/24", 128 + (k >> 8), k & 255),
    )
}

fn base32(mut v: u32) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b"0123456789abcdefghijklmnopqrstuv"[(v % 32) as usize]);
        v /= 32;
        if v == 0 {
            break;
        }
    }
    s.reverse();
    String::from_utf8(s).unwrap()
}

fn sweep_stale_bridges() {
    let Ok(o) = Command::new("ip")
        .args(["-o", "link", "show", "type", "bridge"])
        .output()
    else {
        return;
    };
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let Some(name) = line
            .split(": ")
            .nth(1)
            .map(|n| n.split('@').next().unwrap_or(n))
        else {
            continue;
        };
        let Some((pid, _)) = name.strip_prefix("bk").and_then(|r| r.split_once('x')) else {
            continue;
        };
        let Ok(pid) = u32::from_str_radix(pid, 32) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["link", "del", name]).status();
            let _ = Command::new("nft")
                .args(["delete", "table", "ip", &format!("berth_{name}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Spawns `cmd` from a thread that lives as long as the test process, with
/// PR_SET_PDEATHSIG, so a daemon shared through a `static` dies with the
/// test binary instead of outliving it (the signal follows the spawning
/// thread, and test threads end early).
pub fn spawn_tied_to_process(mut cmd: Command) -> std::io::Result<Child> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // SAFETY: the closure runs in the forked child before exec and only
        // calls prctl, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let _ = tx.send(cmd.spawn());
        loop {
            std::thread::park();
        }
    });
    rx.recv().map_err(std::io::Error::other)?
}

impl TestDaemon {
    /// A daemon not yet started, on fresh temporary paths.
    pub fn new(bin: impl Into<PathBuf>) -> TestDaemon {
        let dir = tempfile::Builder::new()
            .prefix("berth-test")
            .tempdir()
            .expect("tempdir");
        let root = dir.path().to_path_buf();
        std::fs::write(root.join("daemon.json"), "{}").expect("daemon.json");
        let (bridge, bip) = unique_bridge();
        TestDaemon {
            bridge,
            bip,
            bin: bin.into(),
            socket: root.join("berth.sock"),
            data_root: root.join("data"),
            exec_root: root.join("exec"),
            pidfile: root.join("berthd.pid"),
            log: root.join("berthd.log"),
            extra_args: Vec::new(),
            dir,
            child: None,
        }
    }

    /// Starts a daemon with `extra` flags and waits until it answers.
    pub fn start(bin: impl Into<PathBuf>, extra: &[&str]) -> TestDaemon {
        let mut d = TestDaemon::new(bin);
        d.extra_args = extra.iter().map(|s| s.to_string()).collect();
        d.launch()
            .unwrap_or_else(|e| panic!("berthd did not start: {e}\n{}", d.log_text()));
        d
    }

    pub fn base_args(&self) -> Vec<String> {
        vec![
            "-H".into(),
            format!("unix://{}", self.socket.display()),
            "--data-root".into(),
            self.data_root.display().to_string(),
            "--exec-root".into(),
            self.exec_root.display().to_string(),
            "--pidfile".into(),
            self.pidfile.display().to_string(),
            "--config-file".into(),
            self.dir.path().join("daemon.json").display().to_string(),
            "--bridge".into(),
            self.bridge.clone(),
            "--bip".into(),
            self.bip.clone(),
        ]
    }

    /// A `berthd` command on this daemon's paths, not started.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(self.base_args()).args(&self.extra_args);
        c
    }

    /// Starts the process (again) and waits for `/_ping`.
    pub fn launch(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| e.to_string())?;
        let mut cmd = self.command();
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .env("RUST_BACKTRACE", "1");
        let child = spawn_tied_to_process(cmd).map_err(|e| e.to_string())?;
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(20))
    }

    fn wait_ready(&mut self, within: Duration) -> Result<(), String> {
        let t = Instant::now();
        while t.elapsed() < within {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    return Err(format!("berthd exited with {st}"));
                }
            }
            if let Ok(r) = request(&self.socket, "GET", "/_ping", &[], b"") {
                if r.status == 200 {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err("timed out waiting for /_ping".into())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Sends `sig` to the daemon.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        if let Some(pid) = self.pid() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
        }
    }

    /// SIGTERM, then waits; returns the exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        self.wait_exit(Duration::from_secs(20))
    }

    /// `kill -9`: the daemon dies without cleaning up.
    pub fn kill9(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGKILL);
        let _ = self.wait_exit(Duration::from_secs(10));
    }

    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let t = Instant::now();
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            if t.elapsed() > within {
                let _ = child.kill();
                return child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.launch()
            .unwrap_or_else(|e| panic!("berthd did not restart: {e}\n{}", self.log_text()));
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Runs the real docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd(args).output().expect("running docker")
    }

    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .args(args);
        c
    }

    /// Runs docker and returns stdout, panicking with stderr on failure.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(
            o.status.success(),
            "docker {args:?} failed: {}\n--- daemon log ---\n{}",
            String::from_utf8_lossy(&o.stderr),
            self.log_tail()
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Loads the tiny busybox image (`busybox:latest`) with `docker load`.
    pub fn load_busybox(&self) {
        use std::io::Write;
        let mut child = self
            .docker_cmd(&["load", "-q"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker load");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&crate::image::busybox_archive())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "docker load: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
    }

    pub fn log_tail(&self) -> String {
        let t = self.log_text();
        let lines: Vec<&str> = t.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub fn get(&self, path: &str) -> Response {
        request(&self.socket, "GET", path, &[], b"").expect("request")
    }

    pub fn post_json(&self, path: &str, body: &str) -> Response {
        request(
            &self.socket,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .expect("request")
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
    }
}

/// Removes containers, then networks, when dropped: also after a failed
/// assertion, so one failing test leaks nothing into the others.
pub struct Cleanup<'a> {
    pub d: &'a TestDaemon,
    pub containers: &'a [&'a str],
    pub networks: &'a [&'a str],
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for c in self.containers {
            let _ = self.d.docker(&["rm", "-f", c]);
        }
        for n in self.networks {
            let _ = self.d.docker(&["network", "rm", n]);
        }
    }
}
