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

mod errors;
mod exec;
mod run;
