//! Real containers through the `berth-runc` binary, the way a shim drives runc: a bundle
//! whose rootfs is Debian's static busybox, run as root with namespaces and v1 cgroups.
//! Where it is cheap, the same bundle goes through /usr/bin/runc and the results agree.

use std::fs;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_berth-runc");
const RUNC: &str = "/usr/bin/runc";

struct Bundle {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    root: PathBuf,
}

/// A unique container ID for this test process.
fn cid(name: &str) -> String {
    format!("bt-{name}-{}", std::process::id())
}

/// Makes a bundle (rootfs of static busybox + applet links) and a state root, with
/// `args` as the process and cgroupsPath /berth-test/<id>.
fn bundle(id: &str, args: &[&str], terminal: bool) -> Bundle {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    let bin = dir.join("rootfs/bin");
    fs::create_dir_all(&bin).unwrap();
    for d in ["proc", "sys", "dev", "tmp", "etc"] {
        fs::create_dir_all(dir.join("rootfs").join(d)).unwrap();
    }
    fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        if applet != "busybox" && !applet.contains('/') {
            symlink("busybox", bin.join(applet)).unwrap();
        }
    }
    let out = Command::new(BIN)
        .args(["spec", "--bundle"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "spec: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut spec: Value =
        serde_json::from_slice(&fs::read(dir.join("config.json")).unwrap()).unwrap();
    spec["process"]["terminal"] = json!(terminal);
    spec["process"]["args"] = json!(args);
    spec["root"] = json!({"path": "rootfs", "readonly": true});
    spec["linux"]["cgroupsPath"] = json!(format!("/berth-test/{id}"));
    let ns: Vec<&str> = spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(
        ns.contains(&"network"),
        "the default spec has a new netns: {ns:?}"
    );
    fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&spec).unwrap(),
    )
    .unwrap();
    let root = tmp.path().join("state");
    Bundle {
        _tmp: tmp,
        dir,
        root,
    }
}

impl Bundle {
    /// `berth-runc --root <root> <args>`, stdio captured.
    fn rt(&self, args: &[&str]) -> Output {
        self.cmd(BIN, args).output().unwrap()
    }

    fn cmd(&self, bin: &str, args: &[&str]) -> Command {
        let mut c = Command::new(bin);
        c.arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// `berth-runc run --detach` of this bundle as `id`, its stdout in
    /// `init.out`; asserts that it started.
    fn start_detached(&self, id: &str) {
        let run = [
            "run",
            "--detach",
            "--bundle",
            self.dir.to_str().unwrap(),
            id,
        ];
        ok(&run_detached(
            self.cmd(BIN, &run),
            &self.dir.join("init.out"),
        ));
    }

    fn state(&self, id: &str) -> Value {
        let out = self.rt(&["state", id]);
        assert!(
            out.status.success(),
            "state: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// Runs a command whose stdio a container will inherit: stdout to `stdout_file`, stderr to
/// a file next to it (a pipe would stay open as long as the container lives, so waiting
/// for its end would wait for the container).
fn run_detached(mut cmd: Command, stdout_file: &Path) -> Output {
    let err_file = stdout_file.with_extension("err");
    let status = cmd
        .stdout(fs::File::create(stdout_file).unwrap())
        .stderr(fs::File::create(&err_file).unwrap())
        .status()
        .unwrap();
    Output {
        status,
        stdout: Vec::new(),
        stderr: fs::read(&err_file).unwrap(),
    }
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "status {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn set_subreaper() {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) takes an integer flag and touches no memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(rc, 0);
}

fn wait_file_contains(path: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn run_prints_hello_and_exits_with_the_container_status() {
    let id = cid("run");
    let b = bundle(
        &id,
        &["sh", "-c", "echo hello; echo oops >&2; exit 3"],
        false,
    );
    let out = b.rt(&["run", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    assert_eq!(out.status.code(), Some(3));
    assert!(
        !b.root.join(&id).exists(),
        "run deletes the container afterwards"
    );
    assert!(!Path::new("/sys/fs/cgroup/pids/berth-test")
        .join(&id)
        .exists());

    // runc on the same bundle agrees.
    let out = b
        .cmd(RUNC, &["run", "--bundle", b.dir.to_str().unwrap(), &id])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    assert_eq!(out.status.code(), Some(3));
}

/// Starts a foreground `run` in the background and returns it with the container's pid.
fn spawn_run(b: &Bundle, id: &str) -> (std::process::Child, i64) {
    let out_file = b.dir.join("run.out");
    let child = b
        .cmd(BIN, &["run", "--bundle", b.dir.to_str().unwrap(), id])
        .stdout(fs::File::create(&out_file).unwrap())
        .stderr(fs::File::create(b.dir.join("run.err")).unwrap())
        .spawn()
        .unwrap();
    wait_file_contains(&out_file, "ready");
    let pid = b.state(id)["pid"].as_i64().unwrap();
    assert!(pid > 0);
    (child, pid)
}

#[test]
fn run_forwards_signals_and_reports_death_by_signal() {
    let id = cid("sig");
    // pid 1 of a pid namespace ignores signals it has no handler for, so the container
    // traps TERM to show that the runtime passed it on.
    let b = bundle(
        &id,
        &[
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo ready; while true; do sleep 0.05; done",
        ],
        false,
    );
    let (mut child, _) = spawn_run(&b, &id);
    // Run from a sealed copy, the runtime still shows in `ps` under its own name.
    let comm = fs::read_to_string(format!("/proc/{}/comm", child.id())).unwrap();
    assert_eq!(comm, "berth-runc\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(42));
    assert!(!b.root.join(&id).exists());

    // Killed from outside: the runtime exits with 128 + 9, as a shell would report.
    let (mut child, pid) = spawn_run(&b, &id);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(137));
    assert!(!b.root.join(&id).exists());
}

#[test]
fn create_start_state_kill_delete() {
    set_subreaper();
    let id = cid("life");
    let b = bundle(&id, &["sh", "-c", "echo started; exec sleep 1000"], false);
    let pid_file = b.dir.join("init.pid");
    let stdout_file = b.dir.join("stdout");
    let mut cmd = b.cmd(
        BIN,
        &["create", "--bundle", b.dir.to_str().unwrap(), "--pid-file"],
    );
    cmd.arg(&pid_file).arg(&id);
    let out = run_detached(cmd, &stdout_file);
    ok(&out);
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let st = b.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["pid"], pid);
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["bundle"], b.dir.to_str().unwrap());
    assert_eq!(st["rootfs"], b.dir.join("rootfs").to_str().unwrap());
    assert!(st["created"].as_str().unwrap().ends_with('Z'));
    assert!(st["ociVersion"].as_str().unwrap().starts_with("1."));
    assert_eq!(st["owner"], "");
    // The init sits in the container's cgroup and has not run the process yet.
    let procs =
        fs::read_to_string(format!("/sys/fs/cgroup/pids/berth-test/{id}/cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == pid.to_string()), "{procs}");
    assert_eq!(fs::read_to_string(&stdout_file).unwrap(), "");
    // Before start, the init still runs our code, from a sealed memfd copy, not from a
    // file on disk the container could reach and overwrite (CVE-2019-5736).
    let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(exe.to_string_lossy().contains("memfd:"), "{exe:?}");

    // A second create with the same ID is refused.
    let again = b.rt(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));

    // A signal the init survives leaves it created (and startable).
    ok(&b.rt(&["kill", &id, "CONT"]));
    assert_eq!(b.state(&id)["status"], "created");

    ok(&b.rt(&["start", &id]));
    // stdio is passed through: the container wrote to the file `create` had as stdout.
    assert_eq!(wait_file_contains(&stdout_file, "started"), "started\n");
    assert_eq!(b.state(&id)["status"], "running");

    let list = b.rt(&["list", "--format", "json"]);
    ok(&list);
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == id.as_str() && c["pid"] == pid));
    let ps = b.rt(&["ps", "--format", "json", &id]);
    ok(&ps);
    let pids: Vec<i32> = serde_json::from_slice(&ps.stdout).unwrap();
    assert_eq!(pids, vec![pid]);

    // delete refuses a running container without --force.
    let del = b.rt(&["delete", &id]);
    assert_eq!(del.status.code(), Some(1));

    ok(&b.rt(&["kill", &id, "KILL"]));
    let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap();
    assert!(
        matches!(
            status,
            nix::sys::wait::WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGKILL, _)
        ),
        "{status:?}"
    );
    let st = b.state(&id);
    assert_eq!(st["status"], "stopped");
    assert_eq!(st["pid"], 0);
    // Killing a stopped container fails with runc's words.
    let k = b.rt(&["kill", &id, "KILL"]);
    assert_eq!(k.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&k.stderr).contains("container not running"));

    ok(&b.rt(&["delete", &id]));
    assert!(!b.root.join(&id).exists());
    assert!(!Path::new("/sys/fs/cgroup/pids/berth-test")
        .join(&id)
        .exists());
    let gone = b.rt(&["state", &id]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("does not exist"));
    // Forced deletion of a container that is gone is fine, as with runc.
    ok(&b.rt(&["delete", "--force", &id]));
}

#[test]
fn delete_force_kills_a_running_container() {
    let id = cid("force");
    let b = bundle(&id, &["sleep", "1000"], false);
    b.start_detached(&id);
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    ok(&b.rt(&["delete", "--force", &id]));
    assert!(!b.root.join(&id).exists());
    let procs = Path::new("/sys/fs/cgroup/pids/berth-test").join(&id);
    assert!(!procs.exists());
}

#[test]
fn pause_and_resume_freeze_the_container() {
    let id = cid("pause");
    let b = bundle(
        &id,
        &[
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo $i; sleep 0.02; done",
        ],
        false,
    );
    let stdout_file = b.dir.join("stdout");
    let out = run_detached(
        b.cmd(
            BIN,
            &["run", "--detach", "--bundle", b.dir.to_str().unwrap(), &id],
        ),
        &stdout_file,
    );
    ok(&out);
    wait_file_contains(&stdout_file, "3\n");

    ok(&b.rt(&["pause", &id]));
    assert_eq!(b.state(&id)["status"], "paused");
    let freezer = format!("/sys/fs/cgroup/freezer/berth-test/{id}/freezer.state");
    assert_eq!(fs::read_to_string(&freezer).unwrap().trim(), "FROZEN");
    let before = fs::metadata(&stdout_file).unwrap().len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        fs::metadata(&stdout_file).unwrap().len(),
        before,
        "a frozen loop writes nothing"
    );
    // A signal to a frozen container leaves it paused.
    ok(&b.rt(&["kill", &id, "CONT"]));
    assert_eq!(b.state(&id)["status"], "paused");

    ok(&b.rt(&["resume", &id]));
    assert_eq!(b.state(&id)["status"], "running");
    assert_eq!(fs::read_to_string(&freezer).unwrap().trim(), "THAWED");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        fs::metadata(&stdout_file).unwrap().len() > before,
        "the loop runs again"
    );

    ok(&b.rt(&["delete", "--force", &id]));
    assert!(!b.root.join(&id).exists());
}

#[test]
fn exec_runs_in_the_container_and_returns_its_status() {
    set_subreaper();
    let id = cid("exec");
    let b = bundle(&id, &["sleep", "1000"], false);
    b.start_detached(&id);

    // Foreground exec with a command line: output and exit status come back.
    let out = b.rt(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo in-$(hostname); ls /proc/1/exe >/dev/null; exit 5",
    ]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("in-"));

    // The shim's way: --process JSON, detached, pid file; stdio passed through.
    let mut process: Value =
        serde_json::from_slice(&fs::read(b.dir.join("config.json")).unwrap()).unwrap();
    let mut process = process["process"].take();
    process["args"] = json!(["sh", "-c", "echo from-exec; exit 7"]);
    let pjson = b.dir.join("process.json");
    fs::write(&pjson, serde_json::to_vec(&process).unwrap()).unwrap();
    let pid_file = b.dir.join("exec.pid");
    let stdout_file = b.dir.join("exec.out");
    let out = run_detached(
        b.cmd(
            BIN,
            &[
                "exec",
                "--process",
                pjson.to_str().unwrap(),
                "--detach",
                "--pid-file",
                pid_file.to_str().unwrap(),
                &id,
            ],
        ),
        &stdout_file,
    );
    ok(&out);
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap();
    assert_eq!(
        status,
        nix::sys::wait::WaitStatus::Exited(nix::unistd::Pid::from_raw(pid), 7)
    );
    assert_eq!(fs::read_to_string(&stdout_file).unwrap(), "from-exec\n");

    ok(&b.rt(&["delete", "--force", &id]));
}

/// Receives one fd sent with SCM_RIGHTS on an accepted connection of `listener`.
fn recv_fd(listener: &std::os::unix::net::UnixListener) -> OwnedFd {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::AsRawFd;
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel just installed this fd in our table; we own it now.
            return unsafe { OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no fd received");
}

#[test]
fn console_socket_receives_a_pty_master() {
    let id = cid("tty");
    let b = bundle(&id, &["sh", "-c", "echo tty-ok; tty; sleep 1000"], true);
    let sock = b.dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || recv_fd(&listener));
    let out = b.rt(&[
        "create",
        "--bundle",
        b.dir.to_str().unwrap(),
        "--console-socket",
        sock.to_str().unwrap(),
        &id,
    ]);
    ok(&out);
    let master = receiver.join().unwrap();
    ok(&b.rt(&["start", &id]));
    let mut master = fs::File::from(master);
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(seen.contains("tty-ok") && seen.contains("/dev/")) && Instant::now() < deadline {
        let n = master.read(&mut buf).unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // A terminal turns \n into \r\n: proof that the bytes crossed a real pty.
    assert!(seen.contains("tty-ok\r\n"), "{seen:?}");
    assert!(
        seen.contains("/dev/pts/") || seen.contains("/dev/console"),
        "{seen:?}"
    );

    // exec with a terminal: the shim's `exec --tty --console-socket --detach` gets its own pty.
    let sock2 = b.dir.join("exec-console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock2).unwrap();
    let receiver = std::thread::spawn(move || recv_fd(&listener));
    let mut process: Value =
        serde_json::from_slice(&fs::read(b.dir.join("config.json")).unwrap()).unwrap();
    let mut process = process["process"].take();
    process["args"] = json!(["sh", "-c", "echo exec-tty-ok; sleep 1"]);
    let pjson = b.dir.join("process.json");
    fs::write(&pjson, serde_json::to_vec(&process).unwrap()).unwrap();
    let out = b.rt(&[
        "exec",
        "--process",
        pjson.to_str().unwrap(),
        "--tty",
        "--detach",
        "--console-socket",
        sock2.to_str().unwrap(),
        &id,
    ]);
    ok(&out);
    let mut master = fs::File::from(receiver.join().unwrap());
    let mut seen = String::new();
    while !seen.contains("exec-tty-ok\r\n") && Instant::now() < deadline {
        let n = master.read(&mut buf).unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("exec-tty-ok\r\n"), "{seen:?}");
    ok(&b.rt(&["delete", "--force", &id]));
}

#[test]
fn a_missing_bundle_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("state");
    let log = tmp.path().join("log.json");
    let out = Command::new(BIN)
        .arg("--root")
        .arg(&root)
        .arg("--log")
        .arg(&log)
        .args([
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/nonexistent/bundle",
            "c1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/bundle/config.json not found"),
        "{stderr}"
    );
    // The log file carries the same error as a runc-style JSON line.
    let text = fs::read_to_string(&log).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(last["msg"]
        .as_str()
        .unwrap()
        .contains("config.json not found"));
    assert!(last["time"].is_string());
    assert!(!root.join("c1").exists());

    // runc fails the same way.
    let runc = Command::new(RUNC)
        .arg("--root")
        .arg(&root)
        .args(["create", "--bundle", "/nonexistent/bundle", "c1"])
        .output()
        .unwrap();
    assert_eq!(runc.status.code(), out.status.code());

    // Unknown subcommand and unknown container: exit 1 with a message.
    let out = Command::new(BIN)
        .arg("--root")
        .arg(&root)
        .args(["state", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let out = Command::new(BIN).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("berth-runc version"));
}

#[test]
fn runc_accepts_our_spec_and_we_accept_runcs() {
    let id = cid("cross");
    let b = bundle(&id, &["sh", "-c", "echo x"], false);
    // Our generated config.json works with runc...
    let out = b
        .cmd(RUNC, &["run", "--bundle", b.dir.to_str().unwrap(), &id])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "x\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ...and runc's works with us.
    fs::remove_file(b.dir.join("config.json")).unwrap();
    ok(&Command::new(RUNC)
        .args(["spec", "--rootless=false", "--bundle"])
        .arg(&b.dir)
        .output()
        .unwrap());
    let mut spec: Value =
        serde_json::from_slice(&fs::read(b.dir.join("config.json")).unwrap()).unwrap();
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = json!(["sh", "-c", "echo y"]);
    spec["linux"]["cgroupsPath"] = json!(format!("/berth-test/{id}"));
    fs::write(
        b.dir.join("config.json"),
        serde_json::to_vec(&spec).unwrap(),
    )
    .unwrap();
    let out = b.rt(&["run", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "y\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
}

/// Wall time of `run` of `true`, berth-runc against runc (printed, not asserted).
#[test]
fn timing_run_true_against_runc() {
    let id = cid("time");
    let b = bundle(&id, &["true"], false);
    let n = 5;
    let mut report = String::new();
    for bin in [BIN, RUNC] {
        let start = Instant::now();
        for _ in 0..n {
            let out = b
                .cmd(bin, &["run", "--bundle", b.dir.to_str().unwrap(), &id])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{bin}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let per = start.elapsed() / n;
        report.push_str(&format!("{bin}: {per:?} per run of `true`\n"));
    }
    eprintln!("{report}");
}

#[test]
fn a_failed_create_leaves_nothing_behind_and_says_why_once() {
    let id = cid("bad");
    let b = bundle(&id, &["/no/such/program"], false);
    let out = b.rt(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // runc's words, which dockerd and the docker CLI read (exit status 127).
    assert!(
        stderr.contains(r#"unable to start container process: exec: \"/no/such/program\": stat /no/such/program: no such file or directory"#),
        "{stderr}"
    );
    assert!(!b.root.join(&id).exists());
    assert!(!Path::new("/sys/fs/cgroup/pids/berth-test")
        .join(&id)
        .exists());

    // With a JSON log, libcontainer's own lines are kept there and ours comes last.
    let log = b.dir.join("log.json");
    let out = b
        .cmd(
            BIN,
            &["--log", log.to_str().unwrap(), "--log-format", "json"],
        )
        .args(["create", "--bundle", b.dir.to_str().unwrap(), &id])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() > 1, "{text}");
    let last = lines.last().unwrap();
    assert!(last["msg"]
        .as_str()
        .unwrap()
        .starts_with(&format!("cannot create container {id}")));
    assert!(!b.root.join(&id).exists());
}

#[test]
fn update_changes_the_cgroup_limits_of_a_running_container() {
    let id = cid("upd");
    let b = bundle(&id, &["sleep", "1000"], false);
    b.start_detached(&id);
    // docker update's way: a LinuxResources document on stdin.
    let mut child = b
        .cmd(BIN, &["update", "--resources", "-", &id])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        br#"{"pids":{"limit":42},"memory":{"limit":67108864}}"#,
    )
    .unwrap();
    drop(child.stdin.take());
    ok(&child.wait_with_output().unwrap());
    let cg = |ctl: &str, file: &str| {
        fs::read_to_string(format!("/sys/fs/cgroup/{ctl}/berth-test/{id}/{file}"))
            .unwrap()
            .trim()
            .to_owned()
    };
    assert_eq!(cg("pids", "pids.max"), "42");
    assert_eq!(cg("memory", "memory.limit_in_bytes"), "67108864");
    // runc's flags.
    ok(&b.rt(&["update", "--pids-limit", "7", &id]));
    assert_eq!(cg("pids", "pids.max"), "7");
    ok(&b.rt(&["delete", "--force", &id]));
}

#[test]
fn kill_all_signals_every_process_of_the_container() {
    let id = cid("all");
    let b = bundle(&id, &["sh", "-c", "sleep 1000 & sleep 1000 & wait"], false);
    b.start_detached(&id);
    let pids = |b: &Bundle| -> Vec<i32> {
        let out = b.rt(&["ps", "--format", "json", &id]);
        ok(&out);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids(&b).len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(pids(&b).len(), 3, "sh and two sleeps");
    ok(&b.rt(&["kill", "--all", &id, "KILL"]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids(&b).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(pids(&b), Vec::<i32>::new());
    ok(&b.rt(&["delete", &id]));
}

/// Gives the bundle berth's default seccomp profile (built for `profile_caps`), the full
/// capability set `caps`, and `noNewPrivileges: false` the way berthd writes it.
fn with_default_seccomp(b: &Bundle, profile_caps: &[&str], caps: &[&str]) {
    let path = b.dir.join("config.json");
    let mut spec: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let pc: Vec<String> = profile_caps.iter().map(|c| (*c).to_owned()).collect();
    spec["linux"]["seccomp"] = berth_runtime::seccomp::default_profile(&pc);
    spec["process"]["noNewPrivileges"] = json!(false);
    for set in [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ] {
        spec["process"]["capabilities"][set] = json!(caps);
    }
    fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
}

#[test]
fn berths_default_seccomp_profile_loads_and_denies() {
    let id = cid("seccomp");
    let script = "echo hi; mount -t tmpfs t /tmp && echo mounted; exit 0";
    let b = bundle(&id, &["sh", "-c", script], false);
    let caps = ["CAP_SYS_ADMIN", "CAP_KILL", "CAP_AUDIT_WRITE"];

    // Control: the process has CAP_SYS_ADMIN, so without seccomp mount(2) works.
    with_default_seccomp(&b, &[], &caps);
    let path = b.dir.join("config.json");
    let mut spec: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let profile = spec["linux"]["seccomp"].take();
    spec["linux"].as_object_mut().unwrap().remove("seccomp");
    fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    let out = b.rt(&["run", "--bundle", b.dir.to_str().unwrap(), &id]);
    ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\nmounted\n");

    // The profile built for a container without CAP_SYS_ADMIN: it loads, `echo` runs,
    // and mount(2) is refused by the filter although the capability is there.
    spec["linux"]["seccomp"] = profile;
    spec["process"]["noNewPrivileges"] = json!(false);
    fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    let out = b.rt(&["run", "--bundle", b.dir.to_str().unwrap(), &id]);
    ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("permission denied"),
        "mount must be denied: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // runc agrees on the same bundle.
    let out = b
        .cmd(RUNC, &["run", "--bundle", b.dir.to_str().unwrap(), &id])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
}

#[test]
fn exec_under_the_default_seccomp_profile() {
    set_subreaper();
    let id = cid("seccomp-exec");
    let b = bundle(&id, &["sleep", "1000"], false);
    with_default_seccomp(
        &b,
        &["CAP_KILL", "CAP_AUDIT_WRITE"],
        &["CAP_KILL", "CAP_AUDIT_WRITE"],
    );
    b.start_detached(&id);

    // A command line, as `docker exec` without --privileged.
    let out = b.rt(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo hi; unshare -n true || exit 9",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert_eq!(out.status.code(), Some(9));

    // The shim's way: a --process file that says noNewPrivileges: false.
    let spec: Value =
        serde_json::from_slice(&fs::read(b.dir.join("config.json")).unwrap()).unwrap();
    let mut process = spec["process"].clone();
    process["args"] = json!(["echo", "from-exec"]);
    process["noNewPrivileges"] = json!(false);
    let pjson = b.dir.join("process.json");
    fs::write(&pjson, serde_json::to_vec(&process).unwrap()).unwrap();
    let out = b.rt(&["exec", "--process", pjson.to_str().unwrap(), &id]);
    ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-exec\n");

    ok(&b.rt(&["delete", "--force", &id]));
}
