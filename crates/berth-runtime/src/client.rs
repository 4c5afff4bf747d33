//! The daemon's handle on a container's shim (async, tokio).
//!
//! [`ShimClient::create`] writes the shim's config, starts `BERTHD shim DIR`
//! and returns once the runtime has created the container (or fails with the
//! runtime's stderr, leaving nothing behind). [`ShimClient::open`] finds an
//! existing shim again after a daemon restart: everything it needs is in the
//! state dir. Signals, pause and resume go straight to the runtime CLI.

use crate::logs::{self, LogEntry, LogOptions};
use crate::shim::{ExitRecord, ShimConfig, CONFIG_FILE, SHIM_PID_FILE};
use crate::{Result, RuntimeError};
use berth_types::timestamp as timefmt;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitStatus {
    pub exit_code: i32,
    /// RFC 3339 with nanoseconds.
    pub finished_at: String,
    pub oom_killed: bool,
}

impl From<ExitRecord> for ExitStatus {
    fn from(r: ExitRecord) -> Self {
        ExitStatus {
            exit_code: r.exit_code,
            finished_at: r.finished_at,
            oom_killed: r.oom_killed,
        }
    }
}

/// What the shim says about its container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShimStatus {
    /// Created by the runtime, not started; the init's pid.
    Created(i32),
    Running(i32),
    Exited(ExitStatus),
}

/// An attach connection: `output` yields what the container writes (docker
/// multiplexed frames without a TTY, raw bytes with one); `input` feeds its
/// stdin (shut it down to close stdin when the container has StdinOnce).
pub struct AttachStreams {
    pub output: OwnedReadHalf,
    pub input: OwnedWriteHalf,
}

#[derive(Debug, Clone)]
pub struct ShimClient {
    cfg: ShimConfig,
    init_pid: i32,
}

fn shim_err(msg: impl Into<String>) -> RuntimeError {
    RuntimeError::Shim(msg.into())
}

impl ShimClient {
    /// Starts a shim for `cfg` (`berthd_exe shim STATE_DIR`) and waits until
    /// the runtime has created the container. On failure the error carries
    /// the runtime's stderr and the state dir is removed.
    pub async fn create(berthd_exe: &Path, cfg: ShimConfig) -> Result<ShimClient> {
        tokio::fs::create_dir_all(&cfg.state_dir)
            .await
            .map_err(RuntimeError::io(format!(
                "creating {}",
                cfg.state_dir.display()
            )))?;
        // A previous run's exit record would read as this run's exit.
        match tokio::fs::remove_file(&cfg.exit_file).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(RuntimeError::io("removing the previous exit record")(e))
            }
            _ => {}
        }
        {
            use std::os::unix::fs::PermissionsExt;
            // The socket inside controls the container: owner only.
            tokio::fs::set_permissions(&cfg.state_dir, std::fs::Permissions::from_mode(0o700))
                .await
                .map_err(RuntimeError::io("chmod state dir"))?;
        }
        let data = serde_json::to_vec_pretty(&cfg)?;
        berth_core::atomic::write_atomic(&cfg.state_dir.join(CONFIG_FILE), &data)
            .map_err(RuntimeError::io("writing shim config"))?;
        let out = tokio::process::Command::new(berthd_exe)
            .arg("shim")
            .arg(&cfg.state_dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .output()
            .await
            .map_err(RuntimeError::io(format!(
                "starting shim {}",
                berthd_exe.display()
            )));
        let result = match out {
            Err(e) => Err(e),
            Ok(out) => {
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                if let Some(pid) = text.strip_prefix("OK ") {
                    pid.trim()
                        .parse::<i32>()
                        .map_err(|_| shim_err(format!("bad shim answer {text:?}")))
                } else if let Some(msg) = text.strip_prefix("ERR ") {
                    Err(RuntimeError::RuntimeFailed(format!(
                        "OCI runtime create failed: {}",
                        msg.trim()
                    )))
                } else {
                    Err(shim_err(format!(
                        "shim failed ({}): {}{}",
                        out.status,
                        text.trim(),
                        String::from_utf8_lossy(&out.stderr).trim()
                    )))
                }
            }
        };
        match result {
            Ok(init_pid) => Ok(ShimClient { cfg, init_pid }),
            Err(e) => {
                let _ = tokio::fs::remove_dir_all(&cfg.state_dir).await;
                Err(e)
            }
        }
    }

    /// Finds the shim of a container again (after a daemon restart) from
    /// its state dir. Works whether the container still runs or has exited
    /// meanwhile (then [`ShimClient::status`] reports the exit record).
    pub async fn open(state_dir: &Path) -> Result<ShimClient> {
        let cfg = ShimConfig::load(state_dir).map_err(RuntimeError::io(format!(
            "no shim in {}",
            state_dir.display()
        )))?;
        let mut c = ShimClient { cfg, init_pid: 0 };
        if let Ok(ShimStatus::Created(p) | ShimStatus::Running(p)) = c.status().await {
            c.init_pid = p;
        }
        Ok(c)
    }

    /// A handle from a saved config without asking the shim anything: for
    /// reading the log and exit record of a container whose shim is gone.
    pub fn from_config(cfg: ShimConfig) -> ShimClient {
        ShimClient { cfg, init_pid: 0 }
    }

    pub fn config(&self) -> &ShimConfig {
        &self.cfg
    }

    pub fn id(&self) -> &str {
        &self.cfg.id
    }

    /// The container's init pid (host pid namespace).
    pub fn pid(&self) -> i32 {
        self.init_pid
    }

    /// The shim's own pid, if it is still running.
    pub fn shim_pid(&self) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(self.cfg.state_dir.join(SHIM_PID_FILE))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        // SAFETY: kill with signal 0 only checks that the process exists.
        (unsafe { libc::kill(pid, 0) } == 0).then_some(pid)
    }

    async fn connect(&self) -> Result<UnixStream> {
        UnixStream::connect(self.cfg.socket_path())
            .await
            .map_err(|_| RuntimeError::NotRunning(self.cfg.id.clone()))
    }

    /// Sends one command and reads the one-line answer.
    async fn request(&self, line: &str) -> Result<String> {
        let mut s = self.connect().await?;
        s.write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(RuntimeError::io("writing to shim"))?;
        let mut r = BufReader::new(s);
        let mut answer = String::new();
        r.read_line(&mut answer)
            .await
            .map_err(RuntimeError::io("reading from shim"))?;
        if answer.is_empty() {
            return Err(shim_err(format!("shim closed the connection on {line}")));
        }
        Ok(answer.trim_end().to_string())
    }

    fn ok_or_err(answer: String) -> Result<()> {
        match answer.strip_prefix("ERR ") {
            Some(msg) => Err(RuntimeError::RuntimeFailed(msg.to_string())),
            None => Ok(()),
        }
    }

    /// Starts the created container (`runtime start`).
    pub async fn start(&self) -> Result<()> {
        let a = self.request("START").await?;
        Self::ok_or_err(a).map_err(|e| match e {
            RuntimeError::RuntimeFailed(m) => {
                RuntimeError::RuntimeFailed(format!("OCI runtime start failed: {m}"))
            }
            e => e,
        })
    }

    /// The exit record, if the container has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        let data = std::fs::read(&self.cfg.exit_file).ok()?;
        serde_json::from_slice::<ExitRecord>(&data)
            .ok()
            .map(Into::into)
    }

    pub async fn status(&self) -> Result<ShimStatus> {
        match self.request("STATUS").await {
            Ok(a) => parse_status(&a),
            Err(RuntimeError::NotRunning(_)) | Err(RuntimeError::Shim(_)) => {
                // The shim is gone; it leaves the exit record before it goes.
                match self.exit_status() {
                    Some(e) => Ok(ShimStatus::Exited(e)),
                    None => Err(RuntimeError::NotRunning(self.cfg.id.clone())),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Waits for the container to exit.
    pub async fn wait(&self) -> Result<ExitStatus> {
        let s = match self.connect().await {
            Ok(s) => s,
            Err(_) => return self.gone_status().await,
        };
        let mut s = s;
        if s.write_all(b"WAIT\n").await.is_err() {
            return self.gone_status().await;
        }
        let mut r = BufReader::new(s);
        let mut line = String::new();
        let _ = r.read_line(&mut line).await;
        if let Some(rest) = line.trim_end().strip_prefix("EXIT ") {
            let (code, at) = rest.split_once(' ').unwrap_or((rest, ""));
            let from_file = self.exit_status();
            return Ok(ExitStatus {
                exit_code: code.parse().unwrap_or(255),
                finished_at: at.to_string(),
                oom_killed: from_file.is_some_and(|f| f.oom_killed),
            });
        }
        self.gone_status().await
    }

    /// The shim went away: read its exit record (allowing it a moment to
    /// land if the shim is still finishing).
    async fn gone_status(&self) -> Result<ExitStatus> {
        for _ in 0..50 {
            if let Some(e) = self.exit_status() {
                return Ok(e);
            }
            if self.shim_pid().is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.exit_status()
            .ok_or_else(|| RuntimeError::NotRunning(self.cfg.id.clone()))
    }

    /// Attaches to the container's stdio. Attach before [`ShimClient::start`]
    /// to see all output.
    pub async fn attach(&self, stdin: bool, stdout: bool, stderr: bool) -> Result<AttachStreams> {
        let mut s = self.connect().await?;
        let b = |v: bool| if v { '1' } else { '0' };
        s.write_all(format!("ATTACH {} {} {}\n", b(stdin), b(stdout), b(stderr)).as_bytes())
            .await
            .map_err(RuntimeError::io("attach"))?;
        // Read the "OK\n" byte by byte so no output is swallowed.
        let mut ack = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            let n = s
                .read(&mut byte)
                .await
                .map_err(RuntimeError::io("attach"))?;
            if n == 0 {
                return Err(shim_err("shim closed the attach connection"));
            }
            if byte[0] == b'\n' {
                break;
            }
            ack.push(byte[0]);
        }
        if ack != b"OK" {
            return Err(shim_err(String::from_utf8_lossy(&ack).into_owned()));
        }
        let (output, input) = s.into_split();
        Ok(AttachStreams { output, input })
    }

    /// Sets the pty size (Tty containers only).
    pub async fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        let a = self.request(&format!("RESIZE {rows} {cols}")).await?;
        Self::ok_or_err(a)
    }

    /// Closes the container's stdin.
    pub async fn close_stdin(&self) -> Result<()> {
        let a = self.request("CLOSESTDIN").await?;
        Self::ok_or_err(a)
    }

    async fn runtime(&self, sub: &[&str]) -> Result<()> {
        let cfg = self.cfg.clone();
        let sub: Vec<String> = sub.iter().map(|s| s.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let sub: Vec<&str> = sub.iter().map(String::as_str).collect();
            crate::shim::run_runtime(&cfg, &sub)
        })
        .await
        .map_err(|e| shim_err(e.to_string()))?
        .map_err(RuntimeError::RuntimeFailed)
    }

    /// Sends `signal` (a number) to the container's init through the runtime.
    pub async fn kill(&self, signal: i32) -> Result<()> {
        let sig = signal.to_string();
        self.runtime(&["kill", &self.cfg.id, &sig])
            .await
            .map_err(|e| match e {
                RuntimeError::RuntimeFailed(m)
                    if m.contains("not running") || m.contains("does not exist") =>
                {
                    RuntimeError::NotRunning(self.cfg.id.clone())
                }
                e => e,
            })
    }

    /// `docker stop`: sends `signal` (the container's StopSignal, SIGTERM by
    /// default), waits up to `timeout`, then SIGKILLs. A negative timeout
    /// waits forever, as dockerd does for `-t -1`.
    pub async fn stop(&self, signal: i32, timeout: Option<Duration>) -> Result<ExitStatus> {
        match self.kill(signal).await {
            Ok(()) | Err(RuntimeError::NotRunning(_)) => {}
            Err(e) => return Err(e),
        }
        let waited = match timeout {
            None => Ok(self.wait().await),
            Some(t) => tokio::time::timeout(t, self.wait()).await,
        };
        match waited {
            Ok(r) => r,
            Err(_) => {
                match self.kill(libc::SIGKILL).await {
                    Ok(()) | Err(RuntimeError::NotRunning(_)) => {}
                    Err(e) => return Err(e),
                }
                self.wait().await
            }
        }
    }

    pub async fn pause(&self) -> Result<()> {
        self.runtime(&["pause", &self.cfg.id]).await
    }

    pub async fn resume(&self) -> Result<()> {
        self.runtime(&["resume", &self.cfg.id]).await
    }

    /// After exit: removes the runtime state (if any is left) and the state dir.
    pub async fn cleanup(&self) -> Result<()> {
        if self.shim_pid().is_some() {
            return Err(RuntimeError::InvalidParameter(format!(
                "container {} is still running",
                self.cfg.id
            )));
        }
        let _ = self.runtime(&["delete", "--force", &self.cfg.id]).await;
        match tokio::fs::remove_dir_all(&self.cfg.state_dir).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(RuntimeError::io("removing state dir")(e))
            }
            _ => Ok(()),
        }
    }

    /// Reads the container's json-file log. With `follow`, entries keep
    /// coming until the container has exited and its log is drained (or the
    /// receiver is dropped, or `until` has passed).
    pub fn logs(&self, opts: LogOptions) -> mpsc::Receiver<std::io::Result<LogEntry>> {
        let (tx, rx) = mpsc::channel(64);
        let Some(path) = self.cfg.log_path.clone() else {
            return rx;
        };
        let client = self.clone();
        tokio::spawn(async move {
            if let Err(e) = client.stream_logs(path, opts, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        rx
    }

    async fn stream_logs(
        &self,
        path: PathBuf,
        opts: LogOptions,
        tx: &mpsc::Sender<std::io::Result<LogEntry>>,
    ) -> std::io::Result<()> {
        // The history first (tail applies to it), remembering where the live file ended.
        let (entries, mut offset, mut ino) = {
            let p = path.clone();
            let o = opts.clone();
            tokio::task::spawn_blocking(move || -> std::io::Result<_> {
                // Snapshot size/identity first so nothing written afterwards is missed.
                let (size, ino) = std::fs::metadata(&p)
                    .map(|m| (m.len(), file_id(&m)))
                    .unwrap_or((0, (0, 0)));
                let all = logs::read_entries_limited(&p, &o, Some(size))?;
                Ok((all, size, ino))
            })
            .await
            .map_err(std::io::Error::other)??
        };
        for e in entries {
            if tx.send(Ok(e)).await.is_err() {
                return Ok(());
            }
        }
        if !opts.follow {
            return Ok(());
        }
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let exited = self.exit_status().is_some();
            // Read whatever was appended.
            let grew = self
                .read_appended(&path, &mut offset, &mut ino, &mut pending, &opts, tx)
                .await?;
            if tx.is_closed() {
                return Ok(());
            }
            if let Some(u) = opts.until {
                if timefmt::now_nanos() > u {
                    return Ok(());
                }
            }
            if exited && !grew {
                return Ok(());
            }
            if !grew {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Sends the entries appended to the live log since `offset`, following
    /// rotations (however many happened since the last look, as long as the
    /// file we were reading still exists as `PATH.N`). Returns whether
    /// anything was read.
    async fn read_appended(
        &self,
        path: &Path,
        offset: &mut u64,
        ino: &mut (u64, i128),
        pending: &mut Vec<u8>,
        opts: &LogOptions,
        tx: &mpsc::Sender<std::io::Result<LogEntry>>,
    ) -> std::io::Result<bool> {
        let md = match tokio::fs::metadata(path).await {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        // (file, start offset) to read, oldest first.
        let mut plan: Vec<(PathBuf, u64)> = Vec::new();
        if file_id(&md) == *ino || ino.0 == 0 {
            if md.len() < *offset {
                *offset = 0; // truncated in place (max-file 1)
                pending.clear();
            }
            plan.push((path.to_path_buf(), *offset));
        } else {
            let files = logs::log_files(path);
            let mut found = None;
            for (i, f) in files.iter().enumerate() {
                if let Ok(m) = tokio::fs::metadata(f).await {
                    if file_id(&m) == *ino {
                        found = Some(i);
                    }
                }
            }
            if let Some(i) = found {
                plan.push((files[i].clone(), *offset));
                for f in &files[i + 1..] {
                    plan.push((f.clone(), 0));
                }
            } else {
                pending.clear();
                plan.push((path.to_path_buf(), 0));
            }
            // The live file is the last entry of `files` (or was added above).
            if plan.last().map(|(p, _)| p.as_path()) != Some(path) {
                plan.push((path.to_path_buf(), 0));
            }
        }
        let mut any = false;
        for (p, from) in plan {
            let Ok(mut f) = tokio::fs::File::open(&p).await else {
                continue;
            };
            let fmd = f.metadata().await?;
            f.seek(SeekFrom::Start(from)).await?;
            let mut data = Vec::new();
            f.read_to_end(&mut data).await?;
            if p == path {
                *ino = file_id(&fmd);
                *offset = from + data.len() as u64;
            }
            any |= !data.is_empty();
            pending.extend_from_slice(&data);
            while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=pos).collect();
                if let Some(e) = logs::parse_line(&line[..line.len() - 1]) {
                    if opts.until.is_some_and(|u| e.time > u) {
                        continue;
                    }
                    if opts.wants(&e) && tx.send(Ok(e)).await.is_err() {
                        return Ok(true);
                    }
                }
            }
        }
        Ok(any)
    }
}

/// A log file's identity: inode and birth time (inodes of rotated-away
/// files are reused at once on ext4).
fn file_id(md: &std::fs::Metadata) -> (u64, i128) {
    use std::os::unix::fs::MetadataExt;
    let born = md.created().map(timefmt::system_time_nanos).unwrap_or(0);
    (md.ino(), born)
}

fn parse_status(a: &str) -> Result<ShimStatus> {
    let mut w = a.split_whitespace();
    let bad = || shim_err(format!("bad status answer {a:?}"));
    match w.next() {
        Some("CREATED") => Ok(ShimStatus::Created(
            w.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?,
        )),
        Some("RUNNING") => Ok(ShimStatus::Running(
            w.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?,
        )),
        Some("EXITED") => Ok(ShimStatus::Exited(ExitStatus {
            exit_code: w.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?,
            finished_at: w.next().unwrap_or_default().to_string(),
            oom_killed: false,
        })),
        _ => Err(bad()),
    }
}
