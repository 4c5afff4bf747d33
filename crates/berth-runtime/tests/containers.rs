//! Real containers through runc and the shim: a busybox rootfs, a spec from
//! `spec::build_spec`, and the shim started as `berth-shim-test shim DIR`
//! (what `berthd shim DIR` does). Needs root and runc; skipped otherwise.

use berth_runtime::logs::{self, LogOptions};
use berth_runtime::registry::{find_in_path, RuntimeEntry};
use berth_runtime::shim::{write_bundle, ContainerPaths, ShimConfig};
use berth_runtime::spec::{self, SpecOptions};
use berth_runtime::{RuntimeError, ShimClient};
use berth_types::container::ContainerCreateRequest;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SHIM_EXE: &str = env!("CARGO_BIN_EXE_berth-shim-test");

fn runc() -> Option<PathBuf> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !Path::new("/bin/busybox").exists() {
        return None;
    }
    find_in_path("runc", std::env::var_os("PATH").as_deref()).or_else(|| {
        ["/usr/sbin/runc", "/usr/bin/runc"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
    })
}

macro_rules! need_runc {
    () => {
        match runc() {
            Some(r) => r,
            None => {
                eprintln!("skipped: needs root, runc and /bin/busybox");
                return;
            }
        }
    };
}

/// A busybox rootfs: /bin/busybox plus its applets as symlinks.
fn make_rootfs(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for d in ["etc", "proc", "sys", "dev", "tmp", "root"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("etc/group"),
        "root:x:0:\nwheel:x:10:root\nnogroup:x:65534:\n",
    )
    .unwrap();
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

struct Env {
    tmp: tempfile::TempDir,
    id: String,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::Builder::new()
            .prefix("brt")
            .tempdir_in("/tmp")
            .unwrap();
        make_rootfs(&tmp.path().join("rootfs"));
        let id = format!(
            "berth-rt-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        Env { tmp, id }
    }
    fn p(&self, s: &str) -> PathBuf {
        self.tmp.path().join(s)
    }
    fn paths(&self) -> ContainerPaths {
        ContainerPaths::new(&self.p("exec"), &self.p("data"), &self.id, "test")
    }
    fn runtime_root(&self) -> PathBuf {
        self.paths().runtime_root
    }
    fn state_dir(&self) -> PathBuf {
        self.paths().state_dir
    }
    fn log_path(&self) -> PathBuf {
        self.paths().log_path
    }

    /// Writes the bundle for a create-request JSON and returns the shim config.
    fn config(&self, runtime: RuntimeEntry, request: &str) -> ShimConfig {
        let req = ContainerCreateRequest::from_json(request.as_bytes()).unwrap();
        let paths = self.paths();
        let hostname = if req.config.hostname.is_empty() {
            self.id[..12].to_string()
        } else {
            req.config.hostname.clone()
        };
        let data_dir = paths.exit_file.parent().unwrap().to_path_buf();
        let etc = spec::write_etc_files(
            &data_dir,
            &spec::EtcFiles {
                hostname: &hostname,
                ..Default::default()
            },
            &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        )
        .unwrap();
        let opts = SpecOptions {
            id: self.id.clone(),
            rootfs: self.p("rootfs"),
            init_path: spec::find_init_binary(),
            mounts: etc,
            ..Default::default()
        };
        let spec = spec::build_spec(&req.config, &req.host_config, &opts).unwrap();
        write_bundle(&paths.bundle, &spec).unwrap();
        ShimConfig::for_container(&self.id, runtime, &paths, &req.config, &req.host_config).unwrap()
    }
}

fn runc_entry(runc: PathBuf) -> RuntimeEntry {
    RuntimeEntry {
        name: "runc".into(),
        path: runc,
        runtime_args: vec![],
    }
}

/// Splits docker multiplexed frames into (stdout, stderr).
fn demux(mut data: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while data.len() >= 8 {
        let len = u32::from_be_bytes([data[4], data[5], data[6], data[7]]) as usize;
        let payload = &data[8..8 + len];
        match data[0] {
            1 => out.extend_from_slice(payload),
            2 => err.extend_from_slice(payload),
            s => panic!("bad stream id {s}"),
        }
        data = &data[8 + len..];
    }
    assert!(data.is_empty(), "trailing partial frame");
    (out, err)
}

async fn read_all(r: &mut (impl AsyncReadExt + Unpin)) -> Vec<u8> {
    let mut v = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), r.read_to_end(&mut v))
        .await
        .expect("attach output did not end")
        .unwrap();
    v
}

async fn read_until(r: &mut (impl AsyncReadExt + Unpin), acc: &mut Vec<u8>, needle: &str) {
    let fut = async {
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(acc).contains(needle) {
            let n = r.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "EOF before {needle:?}; got {:?}",
                String::from_utf8_lossy(acc)
            );
            acc.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .expect("timed out waiting for output");
}

/// The container's runc state or any of its cgroup directories.
fn runc_state_exists(env: &Env) -> bool {
    let cgroups = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .any(|c| c.path().join("berth").join(&env.id).exists());
    env.runtime_root().join(&env.id).exists() || cgroups
}

#[tokio::test]
async fn echo_attach_log_and_exit_code() {
    let runc = need_runc!();
    let env = Env::new();
    let cfg = env.config(
        runc_entry(runc),
        r#"{"Cmd":["sh","-c","echo hi; echo oops >&2; exit 3"]}"#,
    );
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    assert!(client.pid() > 0);
    assert!(matches!(
        client.status().await.unwrap(),
        berth_runtime::client::ShimStatus::Created(_)
    ));
    let mut a = client.attach(false, true, true).await.unwrap();
    client.start().await.unwrap();
    let bytes = read_all(&mut a.output).await;
    let (out, err) = demux(&bytes);
    assert_eq!(out, b"hi\n");
    assert_eq!(err, b"oops\n");
    let st = client.wait().await.unwrap();
    assert_eq!(st.exit_code, 3);
    assert!(st.finished_at.ends_with('Z'), "{}", st.finished_at);
    assert_eq!(client.exit_status().unwrap().exit_code, 3);
    // json-file log
    let text = std::fs::read_to_string(env.log_path()).unwrap();
    assert!(
        text.contains(r#"{"log":"hi\n","stream":"stdout","time":""#),
        "{text}"
    );
    assert!(
        text.contains(r#"{"log":"oops\n","stream":"stderr""#),
        "{text}"
    );
    let mut rx = client.logs(LogOptions {
        stdout: true,
        stderr: false,
        timestamps: true,
        ..Default::default()
    });
    let e = rx.recv().await.unwrap().unwrap();
    assert_eq!(
        (e.stream.as_str(), e.log.as_slice()),
        ("stdout", &b"hi\n"[..])
    );
    assert!(rx.recv().await.is_none());
    // The shim deleted the runtime state and its socket.
    assert!(!runc_state_exists(&env));
    assert!(!env.state_dir().join("shim.sock").exists());
    client.cleanup().await.unwrap();
    assert!(!env.state_dir().exists());
}

#[tokio::test]
async fn stdin_is_forwarded_and_closed_once() {
    let runc = need_runc!();
    let env = Env::new();
    let cfg = env.config(
        runc_entry(runc),
        r#"{"Cmd":["cat"],"OpenStdin":true,"StdinOnce":true}"#,
    );
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    let mut a = client.attach(true, true, true).await.unwrap();
    client.start().await.unwrap();
    a.input.write_all(b"hello through stdin\n").await.unwrap();
    let mut acc = Vec::new();
    read_until(&mut a.output, &mut acc, "stdin").await;
    a.input.shutdown().await.unwrap();
    acc.extend(read_all(&mut a.output).await);
    assert_eq!(demux(&acc).0, b"hello through stdin\n");
    assert_eq!(client.wait().await.unwrap().exit_code, 0);
}

#[tokio::test]
async fn tty_output_and_resize() {
    let runc = need_runc!();
    let env = Env::new();
    let cfg = env.config(
        runc_entry(runc),
        r#"{"Cmd":["sh","-c","stty size; echo tty-ready; read x; stty size; [ -t 0 ] && echo is-a-tty"],
            "Tty":true,"OpenStdin":true,"HostConfig":{"ConsoleSize":[24,80]}}"#,
    );
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    let mut a = client.attach(true, true, true).await.unwrap();
    client.start().await.unwrap();
    let mut acc = Vec::new();
    read_until(&mut a.output, &mut acc, "tty-ready").await;
    assert!(
        String::from_utf8_lossy(&acc).contains("24 80"),
        "{:?}",
        String::from_utf8_lossy(&acc)
    );
    client.resize(30, 100).await.unwrap();
    a.input.write_all(b"\n").await.unwrap();
    read_until(&mut a.output, &mut acc, "is-a-tty").await;
    let text = String::from_utf8_lossy(&acc).to_string();
    assert!(text.contains("30 100"), "{text:?}");
    // Raw (no frame headers), with the pty's CRLF.
    assert!(text.contains("tty-ready\r\n"), "{text:?}");
    assert_eq!(client.wait().await.unwrap().exit_code, 0);
    let log = std::fs::read_to_string(env.log_path()).unwrap();
    assert!(
        log.contains(r#""log":"tty-ready\r\n","stream":"stdout""#),
        "{log}"
    );
}

#[tokio::test]
async fn kill_delivers_signals() {
    let runc = need_runc!();
    let env = Env::new();
    let cfg = env.config(
        runc_entry(runc),
        r#"{"Cmd":["sh","-c","trap 'echo got-term; exit 42' TERM; echo ready; while true; do sleep 0.05; done"]}"#,
    );
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    let mut a = client.attach(false, true, false).await.unwrap();
    client.start().await.unwrap();
    let mut acc = Vec::new();
    read_until(&mut a.output, &mut acc, "ready").await;
    client.kill(libc::SIGTERM).await.unwrap();
    let st = client.wait().await.unwrap();
    assert_eq!(st.exit_code, 42);
    assert!(String::from_utf8_lossy(
        &demux(&{
            acc.extend(read_all(&mut a.output).await);
            acc
        })
        .0
    )
    .contains("got-term"));
    // Killing an exited container is "not running".
    assert!(client.kill(libc::SIGKILL).await.is_err());

    // stop: the signal is ignored by pid 1, so the timeout escalates to SIGKILL.
    let env3 = Env::new();
    let cfg = env3.config(runc_entry(runc_path()), r#"{"Cmd":["sleep","100"]}"#);
    let client3 = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    client3.start().await.unwrap();
    let t0 = std::time::Instant::now();
    let st = client3
        .stop(libc::SIGTERM, Some(Duration::from_millis(500)))
        .await
        .unwrap();
    assert_eq!(st.exit_code, 137);
    assert!(t0.elapsed() >= Duration::from_millis(500));
    // Starting it again (a new shim run) does not see the old exit record.
    client3.cleanup().await.unwrap();
    let cfg = env3.config(runc_entry(runc_path()), r#"{"Cmd":["sh","-c","exit 4"]}"#);
    let client3 = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    assert!(client3.exit_status().is_none());
    client3.start().await.unwrap();
    assert_eq!(client3.wait().await.unwrap().exit_code, 4);

    // SIGKILL → 137.
    let env2 = Env::new();
    let cfg = env2.config(runc_entry(runc_path()), r#"{"Cmd":["sleep","100"]}"#);
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    client.start().await.unwrap();
    client.kill(libc::SIGKILL).await.unwrap();
    assert_eq!(client.wait().await.unwrap().exit_code, 137);
}

fn runc_path() -> PathBuf {
    runc().unwrap()
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[tokio::test]
async fn custom_runtime_wrapper_is_used() {
    let runc = need_runc!();
    let env = Env::new();
    let args_log = env.p("wrapper-args.log");
    let wrapper = script(
        env.tmp.path(),
        "my_runtime",
        &format!(
            "#!/bin/sh\necho \"$@\" >> {}\nexec {} \"$@\"\n",
            args_log.display(),
            runc.display()
        ),
    );
    let mut reg = berth_runtime::RuntimeRegistry::new(SHIM_EXE);
    reg.add_flag(&format!("custom={}", wrapper.display()))
        .unwrap();
    let entry = reg.get("custom").unwrap().clone();
    let cfg = env.config(entry, r#"{"Cmd":["true"]}"#);
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    client.start().await.unwrap();
    assert_eq!(client.wait().await.unwrap().exit_code, 0);
    let logged = std::fs::read_to_string(&args_log).unwrap();
    let lines: Vec<&str> = logged.lines().collect();
    assert!(
        lines[0].starts_with("--root ") && lines[0].contains(" create --bundle "),
        "{logged}"
    );
    assert!(lines[0].ends_with(&env.id), "{logged}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("start {}", env.id))),
        "{logged}"
    );
    assert!(lines.iter().any(|l| l.contains("delete")), "{logged}");
}

#[tokio::test]
async fn failing_runtime_reports_stderr_and_leaves_nothing() {
    let _runc = need_runc!();
    let env = Env::new();
    let bad = script(
        env.tmp.path(),
        "bad_runtime",
        "#!/bin/sh\necho \"bad runtime says no to $*\" >&2\nexit 3\n",
    );
    let cfg = env.config(
        RuntimeEntry {
            name: "bad".into(),
            path: bad,
            runtime_args: vec![],
        },
        r#"{"Cmd":["true"]}"#,
    );
    let err = ShimClient::create(Path::new(SHIM_EXE), cfg)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RuntimeError::RuntimeFailed(_)), "{err:?}");
    assert!(
        msg.contains("bad runtime says no to") && msg.contains("create"),
        "{msg}"
    );
    assert!(!env.state_dir().exists(), "state dir left behind");

    // A binary that does not exist.
    let cfg = env.config(
        RuntimeEntry {
            name: "gone".into(),
            path: "/nonexistent/runtime".into(),
            runtime_args: vec![],
        },
        r#"{"Cmd":["true"]}"#,
    );
    let msg = ShimClient::create(Path::new(SHIM_EXE), cfg)
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("/nonexistent/runtime"), "{msg}");
    assert!(!env.state_dir().exists());

    // runc itself failing: the command is not in the rootfs.
    let cfg = env.config(runc_entry(runc_path()), r#"{"Cmd":["/no/such/cmd"]}"#);
    let msg = ShimClient::create(Path::new(SHIM_EXE), cfg)
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("/no/such/cmd"), "{msg}");
    assert!(!env.state_dir().exists());
    assert!(!runc_state_exists(&env), "runc state left behind");
    assert!(!Path::new("/sys/fs/cgroup/pids/berth")
        .join(&env.id)
        .exists());
}

#[tokio::test]
async fn shim_outlives_its_client_and_is_found_again() {
    let runc = need_runc!();
    let env = Env::new();
    let cfg = env.config(
        runc_entry(runc),
        r#"{"Cmd":["sh","-c","echo before; read x; echo after; exit 7"],"OpenStdin":true}"#,
    );
    let shim_pid;
    {
        let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
        client.start().await.unwrap();
        shim_pid = client.shim_pid().unwrap();
        // The shim is in its own session, not our child.
        let stat = std::fs::read_to_string(format!("/proc/{shim_pid}/stat")).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after.split(' ').collect();
        let (ppid, sid): (i32, i32) = (fields[1].parse().unwrap(), fields[3].parse().unwrap());
        assert_ne!(ppid, std::process::id() as i32);
        assert_eq!(sid, shim_pid, "shim is not a session leader");
        let status = std::fs::read_to_string(format!("/proc/{shim_pid}/status")).unwrap();
        let field = |name: &str| -> u64 {
            let l = status.lines().find(|l| l.starts_with(name)).unwrap();
            l.split_whitespace().nth(1).unwrap().parse().unwrap()
        };
        let (rss, anon, file) = (field("VmRSS:"), field("RssAnon:"), field("RssFile:"));
        let pss: u64 = std::fs::read_to_string(format!("/proc/{shim_pid}/smaps_rollup"))
            .unwrap()
            .lines()
            .find(|l| l.starts_with("Pss:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0);
        println!(
            "shim memory while its container runs: VmRSS {rss} kB (RssAnon {anon} kB private, RssFile {file} kB shared text), Pss {pss} kB"
        );
        assert!(rss < 8 * 1024, "shim RSS {rss} kB");
        assert!(anon < 1024, "shim private memory {anon} kB");
        // Let the container get to its `read` before we re-attach.
        for _ in 0..200 {
            if std::fs::read_to_string(env.log_path())
                .unwrap_or_default()
                .contains("before")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The client (the "daemon") goes away here.
    }
    let again = ShimClient::open(&env.state_dir()).await.unwrap();
    assert!(
        matches!(again.status().await.unwrap(), berth_runtime::client::ShimStatus::Running(p) if p > 0)
    );
    let mut a = again.attach(true, true, false).await.unwrap();
    a.input.write_all(b"go\n").await.unwrap();
    assert_eq!(again.wait().await.unwrap().exit_code, 7);
    let out = demux(&read_all(&mut a.output).await).0;
    assert_eq!(out, b"after\n");
    // A third client after the shim is gone still gets the exit code.
    let late = ShimClient::open(&env.state_dir()).await.unwrap();
    match late.status().await.unwrap() {
        berth_runtime::client::ShimStatus::Exited(e) => assert_eq!(e.exit_code, 7),
        s => panic!("{s:?}"),
    }
    assert_eq!(late.wait().await.unwrap().exit_code, 7);
    let got: Vec<_> = logs::read_entries(
        &env.log_path(),
        &LogOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        },
    )
    .unwrap()
    .into_iter()
    .map(|e| String::from_utf8(e.log).unwrap())
    .collect();
    assert_eq!(got, vec!["before\n", "after\n"]);
    // The shim exits right after answering its waiters.
    let mut gone = false;
    for _ in 0..100 {
        let stat = std::fs::read_to_string(format!("/proc/{shim_pid}/stat")).unwrap_or_default();
        if stat.is_empty() || stat[stat.rfind(')').unwrap() + 2..].starts_with('Z') {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "shim still running");
}

#[tokio::test]
async fn log_rotation_and_follow() {
    let runc = need_runc!();
    let env = Env::new();
    let cfg = env.config(
        runc_entry(runc),
        r#"{"Cmd":["sh","-c","i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done; sleep 0.3; echo last"],
            "HostConfig":{"LogConfig":{"Type":"json-file","Config":{"max-size":"2000","max-file":"3"}}}}"#,
    );
    assert_eq!((cfg.log_max_size, cfg.log_max_file), (Some(2000), 3));
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    let mut rx = client.logs(LogOptions {
        stdout: true,
        stderr: true,
        follow: true,
        tail: Some(0),
        ..Default::default()
    });
    client.start().await.unwrap();
    let mut followed = Vec::new();
    let collect = async {
        while let Some(e) = rx.recv().await {
            followed.push(String::from_utf8(e.unwrap().log).unwrap());
        }
    };
    tokio::time::timeout(Duration::from_secs(20), collect)
        .await
        .expect("follow did not end");
    assert_eq!(client.wait().await.unwrap().exit_code, 0);
    assert_eq!(followed.last().map(String::as_str), Some("last\n"));
    let files = logs::log_files(&env.log_path());
    assert_eq!(files.len(), 3, "{files:?}");
    for f in &files {
        let len = std::fs::metadata(f).unwrap().len();
        assert!(len <= 2000, "{} is {len} bytes", f.display());
    }
    let kept = logs::read_entries(
        &env.log_path(),
        &LogOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(kept.len() < 301 && kept.len() > 20);
    let tail = logs::read_entries(
        &env.log_path(),
        &LogOptions {
            stdout: true,
            tail: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    let tail: Vec<_> = tail
        .into_iter()
        .map(|e| String::from_utf8(e.log).unwrap())
        .collect();
    assert_eq!(tail, vec!["line-299\n", "last\n"]);
}

/// Runs a container to completion and returns (exit, stdout+stderr from the log).
async fn run_to_end(env: &Env, request: &str) -> (berth_runtime::ExitStatus, String) {
    let cfg = env.config(runc_entry(runc_path()), request);
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    client.start().await.unwrap();
    let st = client.wait().await.unwrap();
    let text: String = logs::read_entries(
        &env.log_path(),
        &LogOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        },
    )
    .unwrap()
    .into_iter()
    .map(|e| String::from_utf8(e.log).unwrap())
    .collect();
    (st, text)
}

#[tokio::test]
async fn spec_settings_take_effect_in_the_container() {
    let _ = need_runc!();
    let env = Env::new();
    let (st, out) = run_to_end(
        &env,
        r#"{"Cmd":["sh","-c","id; hostname; grep CapBnd /proc/self/status; touch /x || echo ro-ok; cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null; unshare -n true || echo unshare-denied; ip link 2>/dev/null | grep -c '^[0-9]'; grep NoNewPrivs /proc/self/status; echo $HOME; cat /etc/hostname; grep -c localhost /etc/hosts"],
            "User":"nobody","Hostname":"box",
            "HostConfig":{"ReadonlyRootfs":true,"PidsLimit":50,"Memory":67108864,
                          "SecurityOpt":["no-new-privileges"]}}"#,
    )
    .await;
    assert_eq!(st.exit_code, 0, "{out}");
    assert!(
        out.contains("uid=65534(nobody) gid=65534(nogroup)"),
        "{out}"
    );
    assert!(out.contains("\nbox\n"), "{out}");
    // dockerd's default bounding set.
    assert!(out.contains("CapBnd:\t00000000a80425fb"), "{out}");
    assert!(out.contains("ro-ok"), "{out}");
    assert!(out.contains("\n50\n"), "{out}");
    assert!(out.contains("unshare-denied"), "{out}");
    // Loopback only.
    assert!(out.contains("\n1\n"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.contains("/home\nbox\n2\n"), "{out}");
}

#[tokio::test]
async fn seccomp_default_unconfined_and_custom_profiles() {
    let _ = need_runc!();
    let probe =
        "grep Seccomp: /proc/self/status; mkdir /tmp/d && echo mkdir-ok || echo mkdir-denied";
    // Default: a filter is installed; mkdir is allowed.
    let env = Env::new();
    let (_, out) = run_to_end(&env, &format!(r#"{{"Cmd":["sh","-c","{probe}"]}}"#)).await;
    assert!(
        out.contains("Seccomp:\t2") && out.contains("mkdir-ok"),
        "{out}"
    );
    // unconfined: no filter.
    let env = Env::new();
    let (_, out) = run_to_end(
        &env,
        &format!(r#"{{"Cmd":["sh","-c","{probe}"],"HostConfig":{{"SecurityOpt":["seccomp=unconfined"]}}}}"#),
    )
    .await;
    assert!(out.contains("Seccomp:\t0"), "{out}");
    // A Docker-format profile (what the CLI sends for seccomp=FILE) that denies mkdir.
    let profile = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    });
    let req = serde_json::json!({
        "Cmd": ["sh", "-c", probe],
        "HostConfig": {"SecurityOpt": [format!("seccomp={profile}")]}
    });
    let env = Env::new();
    let (_, out) = run_to_end(&env, &req.to_string()).await;
    assert!(
        out.contains("Seccomp:\t2") && out.contains("mkdir-denied"),
        "{out}"
    );
    // Without SYS_ADMIN, unshare is refused; with it, the profile lets it through.
    let env = Env::new();
    let (_, out) = run_to_end(
        &env,
        r#"{"Cmd":["sh","-c","unshare -m true && echo allowed || echo blocked"]}"#,
    )
    .await;
    assert!(out.contains("blocked"), "{out}");
    let env = Env::new();
    let (_, out) = run_to_end(
        &env,
        r#"{"Cmd":["sh","-c","unshare -m true && echo allowed || echo blocked"],"HostConfig":{"CapAdd":["SYS_ADMIN"]}}"#,
    )
    .await;
    assert!(out.contains("allowed"), "{out}");
}

#[tokio::test]
async fn oom_kill_is_recorded() {
    let _ = need_runc!();
    let env = Env::new();
    let (st, out) = run_to_end(
        &env,
        r#"{"Cmd":["tail","/dev/zero"],"HostConfig":{"Memory":8388608,"MemorySwap":8388608}}"#,
    )
    .await;
    assert_eq!(st.exit_code, 137, "{out}");
    assert!(st.oom_killed, "{st:?}");
}

#[tokio::test]
async fn init_pause_resume_and_kill_before_start() {
    let runc = need_runc!();
    if spec::find_init_binary().is_none() {
        eprintln!("skipped: no docker-init / tini-static");
        return;
    }
    // --init: docker-init is pid 1 and reaps; the command's exit code comes through.
    let env = Env::new();
    let (st, out) = run_to_end(&env, r#"{"Cmd":["sh","-c","cat /proc/1/cmdline | tr '\\0' ' '; exit 5"],"HostConfig":{"Init":true}}"#).await;
    assert_eq!(st.exit_code, 5, "{out}");
    assert!(out.starts_with("/sbin/docker-init -- sh"), "{out}");

    // pause / resume through the runtime.
    let env = Env::new();
    let cfg = env.config(runc_entry(runc.clone()), r#"{"Cmd":["sleep","100"]}"#);
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    client.start().await.unwrap();
    let state = |want: &'static str| {
        let out = std::process::Command::new(&runc)
            .arg("--root")
            .arg(env.runtime_root())
            .args(["state", &env.id])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["status"], want);
    };
    client.pause().await.unwrap();
    state("paused");
    client.resume().await.unwrap();
    state("running");
    client.kill(libc::SIGKILL).await.unwrap();
    assert_eq!(client.wait().await.unwrap().exit_code, 137);

    // A created, never started container can be killed and is cleaned up.
    let env = Env::new();
    let cfg = env.config(runc_entry(runc), r#"{"Cmd":["true"]}"#);
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    client.kill(libc::SIGKILL).await.unwrap();
    assert_eq!(client.wait().await.unwrap().exit_code, 137);
    assert!(!runc_state_exists(&env));
    client.cleanup().await.unwrap();
}

#[tokio::test]
async fn follow_loses_nothing_across_rotations() {
    let runc = need_runc!();
    let env = Env::new();
    let cfg = env.config(
        runc_entry(runc),
        // ~85 bytes an entry: 40 entries rotate 3-4 times and all stay on
        // disk, so only a follower bug (not lag) could lose lines.
        r#"{"Cmd":["sh","-c","i=0; while [ $i -lt 40 ]; do echo follow-line-number-$i; i=$((i+1)); usleep 10000; done"],
            "HostConfig":{"LogConfig":{"Type":"json-file","Config":{"max-size":"1000","max-file":"5"}}}}"#,
    );
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    let mut rx = client.logs(LogOptions {
        stdout: true,
        stderr: true,
        follow: true,
        ..Default::default()
    });
    client.start().await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(e) = rx.recv().await {
            got.push(String::from_utf8(e.unwrap().log).unwrap());
        }
    })
    .await
    .expect("follow did not end");
    let want: Vec<String> = (0..40)
        .map(|i| format!("follow-line-number-{i}\n"))
        .collect();
    assert_eq!(got, want);
    assert!(logs::log_files(&env.log_path()).len() >= 3);
    assert_eq!(client.wait().await.unwrap().exit_code, 0);
}

#[tokio::test]
async fn daemon_killed_with_sigkill_then_found_again() {
    let runc = need_runc!();
    let env = Env::new();
    let cfg = env.config(
        runc_entry(runc),
        r#"{"Cmd":["sh","-c","echo one; sleep 1; echo two; sleep 1; echo three; exit 9"]}"#,
    );
    let cfg_file = env.p("daemon-config.json");
    std::fs::write(&cfg_file, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let mut daemon = tokio::process::Command::new(SHIM_EXE)
        .arg("daemon")
        .arg(&cfg_file)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = tokio::io::BufReader::new(daemon.stdout.take().unwrap());
    tokio::time::timeout(
        Duration::from_secs(20),
        tokio::io::AsyncBufReadExt::read_line(&mut out, &mut line),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(line.starts_with("started "), "{line}");
    // kill -9 the "daemon".
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    // A new "daemon" finds the container running, and its exit later.
    let again = ShimClient::open(&env.state_dir()).await.unwrap();
    let pid: i32 = line
        .trim()
        .strip_prefix("started ")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        again.status().await.unwrap(),
        berth_runtime::client::ShimStatus::Running(pid)
    );
    assert_eq!(again.pid(), pid);
    let st = again.wait().await.unwrap();
    assert_eq!(st.exit_code, 9);
    let text: Vec<String> = logs::read_entries(
        &env.log_path(),
        &LogOptions {
            stdout: true,
            ..Default::default()
        },
    )
    .unwrap()
    .into_iter()
    .map(|e| String::from_utf8(e.log).unwrap())
    .collect();
    assert_eq!(text, vec!["one\n", "two\n", "three\n"]);
}

#[tokio::test]
async fn failing_start_cleans_up() {
    let runc = need_runc!();
    let env = Env::new();
    // A wrapper whose `start` fails after a successful `create`.
    let wrapper = script(
        env.tmp.path(),
        "start_fails",
        &format!(
            "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = start ] && {{ echo 'start refused by policy' >&2; exit 1; }}; done\nexec {} \"$@\"\n",
            runc.display()
        ),
    );
    let cfg = env.config(
        RuntimeEntry {
            name: "sf".into(),
            path: wrapper,
            runtime_args: vec![],
        },
        r#"{"Cmd":["true"]}"#,
    );
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    let msg = client.start().await.unwrap_err().to_string();
    assert!(msg.contains("start refused by policy"), "{msg}");
    assert_eq!(client.wait().await.unwrap().exit_code, 137);
    assert!(!runc_state_exists(&env));
}
