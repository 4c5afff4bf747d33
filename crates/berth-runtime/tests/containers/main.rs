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

fn runc_path() -> PathBuf {
    runc().unwrap()
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// Runs a container to completion and returns (exit, stdout+stderr from the log).
async fn run_to_end(env: &Env, request: &str) -> (berth_runtime::ExitStatus, String) {
    let cfg = env.config(runc_entry(runc_path()), request);
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    client.start().await.unwrap();
    let st = client.wait().await.unwrap();
    (st, logged_lines(env).concat())
}

/// Every line of the container's json-file log, both streams, in order.
fn logged_lines(env: &Env) -> Vec<String> {
    let both = LogOptions {
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    logs::read_entries(&env.log_path(), &both)
        .unwrap()
        .into_iter()
        .map(|e| String::from_utf8(e.log).unwrap())
        .collect()
}

mod io;
mod runtimes;
mod survival;
