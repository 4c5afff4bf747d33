//! Volumes in containers through a real berthd and the docker CLI: named
//! and anonymous volumes, `--mount`, copy-up from the image, the local
//! driver's options, volume plugins as real separate processes (our SDK's
//! no-remove sample and a plugin in Python's standard library), plugins
//! that hang, die or talk garbage, and restarts.

use berth_testkit::image::{save_archive, Compress, LayerBuilder, Layout, TestImage};
use berth_testkit::TestDaemon;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berthd");
const PLUGIN_DIR: &str = "/run/docker/plugins";

fn daemon() -> &'static TestDaemon {
    static D: OnceLock<TestDaemon> = OnceLock::new();
    D.get_or_init(|| {
        let d = TestDaemon::start(BIN, &["--default-runtime", "runc"]);
        d.load_busybox();
        load_seeded(&d);
        d
    })
}

/// `seeded:latest`: busybox plus `/seed/hello` and `/seed/sub/deep`, with
/// `VOLUME /seed`.
fn load_seeded(d: &TestDaemon) {
    let mut img = berth_testkit::image::busybox_image();
    img.tags = vec!["seeded:latest".into()];
    img.layers.push(
        LayerBuilder::new()
            .dir("seed")
            .file("seed/hello", b"from the image\n", 0o640)
            .dir("seed/sub")
            .file("seed/sub/deep", b"deep\n", 0o600)
            .build(),
    );
    img.volumes = vec!["/seed".into()];
    load(d, &[img]);
}

fn load(d: &TestDaemon, images: &[TestImage]) {
    let mut child = d
        .docker_cmd(&["load", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&save_archive(
            images,
            Layout::OciWithManifest,
            Compress::None,
        ))
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn out(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn volume_names(d: &TestDaemon) -> Vec<String> {
    d.docker_ok(&["volume", "ls", "-q"])
        .lines()
        .map(String::from)
        .collect()
}

/// The `Mounts` of a container, as inspect shows them.
fn mounts(d: &TestDaemon, c: &str) -> Vec<serde_json::Value> {
    let j = d.docker_ok(&["inspect", "--format", "{{json .Mounts}}", c]);
    serde_json::from_str(j.trim()).unwrap()
}

/// Events of type volume since `since`, until now.
fn volume_events(d: &TestDaemon, since: &str) -> Vec<serde_json::Value> {
    let until = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1
    );
    d.docker_ok(&[
        "events",
        "--since",
        since,
        "--until",
        &until,
        "--filter",
        "type=volume",
        "--format",
        "{{json .}}",
    ])
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect()
}

fn now_secs() -> String {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1)
    .to_string()
}

/// A plugin process, killed and its socket removed on drop.
struct PluginProc {
    child: Child,
    sock: PathBuf,
}

impl Drop for PluginProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.sock);
    }
}

fn wait_socket(p: &Path) {
    let t = Instant::now();
    while !p.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{} never appeared",
            p.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn plugin_name(base: &str) -> String {
    format!("{base}-{}", std::process::id())
}

fn no_remove(name: &str, root: &Path) -> PluginProc {
    std::fs::create_dir_all(PLUGIN_DIR).unwrap();
    let sock = Path::new(PLUGIN_DIR).join(format!("{name}.sock"));
    let _ = std::fs::remove_file(&sock);
    let child = berth_testkit::daemon::spawn_tied_to_process({
        let mut c = Command::new(berth_testkit::workspace_bin("no-remove", "no-remove"));
        c.args([
            "--socket",
            sock.to_str().unwrap(),
            "--root",
            root.to_str().unwrap(),
        ]);
        c
    })
    .unwrap();
    wait_socket(&sock);
    PluginProc { child, sock }
}

fn pyvol(name: &str, root: &Path, log: &Path, mode: &str) -> PluginProc {
    std::fs::create_dir_all(PLUGIN_DIR).unwrap();
    pyvol_at(
        &Path::new(PLUGIN_DIR).join(format!("{name}.sock")),
        root,
        log,
        mode,
    )
}

/// The Python plugin serving on `sock`, wherever that is.
fn pyvol_at(sock: &Path, root: &Path, log: &Path, mode: &str) -> PluginProc {
    let _ = std::fs::remove_file(sock);
    let script = berth_testkit::suites::volume::pyvol_script();
    let child = berth_testkit::daemon::spawn_tied_to_process({
        let mut c = Command::new("python3");
        c.arg(script).arg(sock).arg(root).arg(log).arg(mode);
        c
    })
    .unwrap();
    wait_socket(sock);
    PluginProc {
        child,
        sock: sock.to_path_buf(),
    }
}

fn calls(log: &Path) -> Vec<serde_json::Value> {
    let Ok(f) = std::fs::File::open(log) else {
        return vec![];
    };
    BufReader::new(f)
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect()
}

mod local;
mod plugins;
