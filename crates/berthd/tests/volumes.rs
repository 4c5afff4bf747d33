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

#[test]
fn named_volume_keeps_data_across_containers_with_mount_events() {
    let d = daemon();
    let since = now_secs();
    let o = d.docker(&[
        "run",
        "--rm",
        "--name",
        "nv-writer",
        "-v",
        "nv1:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert!(o.status.success(), "{}\n{}", err(&o), d.log_tail());
    // --rm never removes a named volume.
    assert!(volume_names(d).contains(&"nv1".to_string()));
    let o = d.docker(&[
        "run",
        "--rm",
        "-v",
        "nv1:/data",
        "busybox",
        "cat",
        "/data/f",
    ]);
    assert_eq!(out(&o), "kept\n", "{}", err(&o));
    // On the host, the data sits where inspect says.
    let mp = d.docker_ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "nv1"]);
    assert_eq!(
        std::fs::read_to_string(Path::new(mp.trim()).join("f")).unwrap(),
        "kept\n"
    );
    let ev = volume_events(d, &since);
    let actions: Vec<&str> = ev
        .iter()
        .filter(|e| e["Actor"]["ID"] == "nv1")
        .map(|e| e["Action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["create", "mount", "unmount", "mount", "unmount"],
        "{ev:?}"
    );
    let m = ev
        .iter()
        .find(|e| e["Action"] == "mount" && e["Actor"]["ID"] == "nv1")
        .unwrap();
    assert_eq!(m["Actor"]["Attributes"]["destination"], "/data");
    assert_eq!(m["Actor"]["Attributes"]["driver"], "local");
    assert_eq!(m["Actor"]["Attributes"]["read/write"], "true");
    assert_eq!(
        m["Actor"]["Attributes"]["container"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    let since = now_secs();
    d.docker_ok(&["volume", "rm", "nv1"]);
    let ev = volume_events(d, &since);
    assert!(
        ev.iter()
            .any(|e| e["Action"] == "destroy" && e["Actor"]["ID"] == "nv1"),
        "{ev:?}"
    );
    assert!(!Path::new(mp.trim()).exists());
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_auto_remove_and_in_use_is_409() {
    let d = daemon();
    d.docker_ok(&[
        "create", "--name", "anon1", "-v", "/data", "busybox", "true",
    ]);
    let m = mounts(d, "anon1");
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0]["Type"], "volume");
    assert_eq!(m[0]["Destination"], "/data");
    let name = m[0]["Name"].as_str().unwrap().to_string();
    assert_eq!(name.len(), 64);
    assert!(volume_names(d).contains(&name));
    let labels = d.docker_ok(&["volume", "inspect", "--format", "{{json .Labels}}", &name]);
    assert!(labels.contains("com.docker.volume.anonymous"), "{labels}");
    // Referenced by a (stopped) container: in use.
    let o = d.docker(&["volume", "rm", &name]);
    assert!(!o.status.success());
    assert!(err(&o).contains("volume is in use"), "{}", err(&o));
    let r = d.get(&format!("/volumes/{name}"));
    assert_eq!(r.status, 200);
    let r = berth_testkit::request(
        &d.root().join("berth.sock"),
        "DELETE",
        &format!("/volumes/{name}"),
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    d.docker_ok(&["start", "-a", "anon1"]);
    d.docker_ok(&["rm", "-v", "anon1"]);
    assert!(!volume_names(d).contains(&name), "rm -v left {name}");

    // Without -v, the anonymous volume stays (and is no longer in use).
    d.docker_ok(&[
        "create", "--name", "anon2", "-v", "/data", "busybox", "true",
    ]);
    let name2 = mounts(d, "anon2")[0]["Name"].as_str().unwrap().to_string();
    d.docker_ok(&["rm", "anon2"]);
    assert!(volume_names(d).contains(&name2));
    d.docker_ok(&["volume", "rm", &name2]);

    // --rm removes the anonymous volumes of the container, not the named.
    let before = volume_names(d);
    let o = d.docker(&[
        "run",
        "--rm",
        "-v",
        "/anon",
        "-v",
        "keepme:/named",
        "busybox",
        "sh",
        "-c",
        "touch /anon/x /named/y",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let t = Instant::now();
    let after = loop {
        let after = volume_names(d);
        if after.len() == before.len() + 1 || t.elapsed() > Duration::from_secs(10) {
            break after;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let new: Vec<_> = after.iter().filter(|v| !before.contains(v)).collect();
    assert_eq!(new, ["keepme"], "before {before:?} after {after:?}");
}

#[test]
fn new_volumes_are_filled_from_the_image_unless_nocopy() {
    let d = daemon();
    // The image's VOLUME becomes an anonymous volume holding its content.
    let o = d.docker(&["run", "--name", "seed-anon", "seeded", "cat", "/seed/hello"]);
    assert_eq!(out(&o), "from the image\n", "{}\n{}", err(&o), d.log_tail());
    let m = mounts(d, "seed-anon");
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0]["Destination"], "/seed");
    let src = PathBuf::from(m[0]["Source"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(src.join("sub/deep")).unwrap(),
        "deep\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(src.join("hello"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    d.docker_ok(&["rm", "-v", "seed-anon"]);

    // A new named volume is filled too ...
    let o = d.docker(&[
        "run",
        "--rm",
        "-v",
        "seedvol:/seed",
        "seeded",
        "cat",
        "/seed/hello",
    ]);
    assert_eq!(out(&o), "from the image\n", "{}", err(&o));
    // ... but not once it has content of its own.
    let o = d.docker(&[
        "run",
        "--rm",
        "-v",
        "seedvol:/seed",
        "seeded",
        "sh",
        "-c",
        "rm -r /seed/* && echo mine > /seed/own",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let o = d.docker(&[
        "run",
        "--rm",
        "-v",
        "seedvol:/seed",
        "seeded",
        "ls",
        "/seed",
    ]);
    assert_eq!(out(&o), "own\n", "{}", err(&o));

    // nocopy, in both spellings, leaves a new volume empty.
    let o = d.docker(&[
        "run",
        "--rm",
        "-v",
        "nc1:/seed:nocopy",
        "seeded",
        "ls",
        "-A",
        "/seed",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "");
    let o = d.docker(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=nc2,dst=/seed,volume-nocopy",
        "seeded",
        "ls",
        "-A",
        "/seed",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "");
    // A bind over the image's VOLUME path makes no anonymous volume.
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("b"), "bound\n").unwrap();
    let o = d.docker(&[
        "run",
        "--name",
        "seed-bind",
        "-v",
        &format!("{}:/seed", host.path().display()),
        "seeded",
        "cat",
        "/seed/b",
    ]);
    assert_eq!(out(&o), "bound\n", "{}", err(&o));
    let m = mounts(d, "seed-bind");
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0]["Type"], "bind");
    assert_eq!(m[0]["Propagation"], "rprivate");
    d.docker_ok(&["rm", "seed-bind"]);
}

#[test]
fn mount_flag_volume_readonly_tmpfs_size_and_bind() {
    let d = daemon();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in"), "host file\n").unwrap();
    let o = d.docker(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=mro,dst=/ro,readonly",
        "--mount",
        "type=tmpfs,dst=/scratch,tmpfs-size=1048576",
        "--mount",
        &format!("type=bind,src={},dst=/host", host.path().display()),
        "busybox",
        "sh",
        "-c",
        "cat /host/in; touch /ro/x 2>/dev/null && echo ro-writable; \
         grep ' /scratch ' /proc/mounts; echo out > /host/out",
    ]);
    assert!(o.status.success(), "{}\n{}", err(&o), d.log_tail());
    let text = out(&o);
    assert!(text.starts_with("host file\n"), "{text}");
    assert!(!text.contains("ro-writable"), "{text}");
    assert!(text.contains("tmpfs /scratch tmpfs"), "{text}");
    assert!(text.contains("size=1024k"), "{text}");
    assert_eq!(
        std::fs::read_to_string(host.path().join("out")).unwrap(),
        "out\n"
    );
}

#[test]
fn local_driver_options_make_a_tmpfs_volume() {
    let d = daemon();
    d.docker_ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=2m",
        "tmpvol",
    ]);
    let o = d.docker(&[
        "run",
        "--rm",
        "-v",
        "tmpvol:/t",
        "busybox",
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts; echo x > /t/f; cat /t/f",
    ]);
    assert!(o.status.success(), "{}\n{}", err(&o), d.log_tail());
    let text = out(&o);
    assert!(text.contains("tmpfs /t tmpfs"), "{text}");
    assert!(text.contains("size=2048k"), "{text}");
    // Unmounted again after the container exited.
    let mp = d.docker_ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "tmpvol"]);
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mi.lines().any(|l| l.split(' ').nth(4) == Some(mp.trim())),
        "{} still mounted",
        mp.trim()
    );
    d.docker_ok(&["volume", "rm", "tmpvol"]);

    // type=none,o=bind,device=PATH binds a host directory as the volume.
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("seen"), "from host\n").unwrap();
    d.docker_ok(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "-o",
        &format!("device={}", host.path().display()),
        "bindvol",
    ]);
    let o = d.docker(&[
        "run",
        "--rm",
        "-v",
        "bindvol:/b",
        "busybox",
        "sh",
        "-c",
        "cat /b/seen; echo back > /b/w",
    ]);
    assert_eq!(out(&o), "from host\n", "{}\n{}", err(&o), d.log_tail());
    assert_eq!(
        std::fs::read_to_string(host.path().join("w")).unwrap(),
        "back\n"
    );
    d.docker_ok(&["volume", "rm", "bindvol"]);
    // Removing the volume never touches the host directory.
    assert!(host.path().join("seen").exists());
}

#[test]
fn unknown_volume_driver_fails_at_once() {
    let d = daemon();
    let t = Instant::now();
    let o = d.docker(&["volume", "create", "-d", "no-such-driver-here", "x1"]);
    assert!(!o.status.success());
    assert!(err(&o).contains("no-such-driver-here"), "{}", err(&o));
    let o = d.docker(&[
        "run",
        "--rm",
        "--volume-driver",
        "no-such-driver-here",
        "-v",
        "x2:/d",
        "busybox",
        "true",
    ]);
    assert!(!o.status.success());
    assert!(err(&o).contains("not found"), "{}", err(&o));
    // dockerd waits ~30 s for a plugin that is not there; berth does not.
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(!volume_names(d).iter().any(|v| v == "x1" || v == "x2"));
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

#[test]
fn sdk_plugin_no_remove_serves_volumes_and_refuses_rm() {
    let d = daemon();
    let name = plugin_name("nr");
    let root = tempfile::tempdir().unwrap();
    let _p = no_remove(&name, root.path());

    d.docker_ok(&["volume", "create", "-d", &name, "pv1"]);
    assert!(root.path().join("pv1").is_dir());
    let o = d.docker(&[
        "run",
        "--rm",
        "-v",
        "pv1:/data",
        "busybox",
        "sh",
        "-c",
        "echo via-plugin > /data/f",
    ]);
    assert!(o.status.success(), "{}\n{}", err(&o), d.log_tail());
    assert_eq!(
        std::fs::read_to_string(root.path().join("pv1/f")).unwrap(),
        "via-plugin\n"
    );
    // --volume-driver creates a missing volume with the plugin.
    let o = d.docker(&[
        "run",
        "--rm",
        "--volume-driver",
        &name,
        "-v",
        "pv2:/data",
        "busybox",
        "sh",
        "-c",
        "echo two > /data/g",
    ]);
    assert!(o.status.success(), "{}\n{}", err(&o), d.log_tail());
    assert_eq!(
        std::fs::read_to_string(root.path().join("pv2/g")).unwrap(),
        "two\n"
    );
    let drv = d.docker_ok(&["volume", "inspect", "--format", "{{.Driver}}", "pv2"]);
    assert_eq!(drv.trim(), name);
    // /info lists the activated volume plugin.
    let info = d.docker_ok(&["info", "--format", "{{json .Plugins.Volume}}"]);
    let vols: Vec<String> = serde_json::from_str(info.trim()).unwrap();
    assert!(
        vols.contains(&"local".to_string()) && vols.contains(&name),
        "{vols:?}"
    );
    // The plugin refuses Remove: the error is the plugin's, the volume stays.
    let o = d.docker(&["volume", "rm", "pv1"]);
    assert!(!o.status.success());
    assert!(err(&o).contains("protected"), "{}", err(&o));
    assert!(volume_names(d).contains(&"pv1".to_string()));
    assert!(root.path().join("pv1/f").exists());
    // -f drops berth's record even so; the plugin still keeps the data,
    // and still lists it: pv1 stays in `volume ls`, now as one only the
    // plugin knows (no labels, no creation time of berth's), as on dockerd.
    d.docker_ok(&["volume", "rm", "-f", "pv1"]);
    assert!(root.path().join("pv1/f").exists());
    let ls = d.docker_ok(&[
        "volume",
        "ls",
        "--filter",
        &format!("driver={name}"),
        "--format",
        "{{.Name}} {{.Driver}}",
    ]);
    assert!(ls.lines().any(|l| l == format!("pv1 {name}")), "{ls}");
    let created = d.docker_ok(&["volume", "inspect", "--format", "{{.CreatedAt}}", "pv1"]);
    assert_eq!(created.trim(), "0001-01-01T00:00:00Z");
    d.docker_ok(&["volume", "rm", "-f", "pv2"]);
}

#[test]
fn python_plugin_gets_the_protocol_with_container_mount_ids() {
    let d = daemon();
    let name = plugin_name("py");
    let root = tempfile::tempdir().unwrap();
    let log = root.path().join("calls.log");
    let _p = pyvol(&name, &root.path().join("vols"), &log, "ok");

    d.docker_ok(&["volume", "create", "-d", &name, "--label", "k=v", "pyv"]);
    let st = d.docker_ok(&["volume", "inspect", "--format", "{{json .Status}}", "pyv"]);
    assert!(st.contains("python"), "plugin Get status not shown: {st}");
    // The plugin's Capabilities say global scope.
    let scope = d.docker_ok(&["volume", "inspect", "--format", "{{.Scope}}", "pyv"]);
    assert_eq!(scope.trim(), "global");
    let id = d
        .docker_ok(&[
            "create",
            "-v",
            "pyv:/data",
            "busybox",
            "sh",
            "-c",
            "echo py > /data/f",
        ])
        .trim()
        .to_string();
    d.docker_ok(&["start", "-a", &id]);
    assert_eq!(
        std::fs::read_to_string(root.path().join("vols/pyv/f")).unwrap(),
        "py\n"
    );
    let c = calls(&log);
    let methods: Vec<&str> = c.iter().map(|x| x["method"].as_str().unwrap()).collect();
    assert_eq!(methods[0], "Plugin.Activate", "{methods:?}");
    assert!(
        c.iter()
            .all(|x| x["ctype"] == "application/vnd.docker.plugins.v1.2+json"),
        "{c:?}"
    );
    let mount = c
        .iter()
        .find(|x| x["method"] == "VolumeDriver.Mount")
        .unwrap();
    assert_eq!(mount["body"]["Name"], "pyv");
    assert_eq!(
        mount["body"]["ID"],
        id.as_str(),
        "mount ID is the container's"
    );
    let unmount = c
        .iter()
        .position(|x| x["method"] == "VolumeDriver.Unmount")
        .expect("unmounted after exit");
    let mount_at = c
        .iter()
        .position(|x| x["method"] == "VolumeDriver.Mount")
        .unwrap();
    assert!(unmount > mount_at);
    assert_eq!(c[unmount]["body"]["ID"], id.as_str());
    let create = c
        .iter()
        .find(|x| x["method"] == "VolumeDriver.Create")
        .unwrap();
    assert_eq!(create["body"]["Name"], "pyv");
    d.docker_ok(&["rm", &id]);
    d.docker_ok(&["volume", "rm", "pyv"]);
    assert!(calls(&log)
        .iter()
        .any(|x| x["method"] == "VolumeDriver.Remove"));
    assert!(!root.path().join("vols/pyv").exists());
}

/// A plugin found through a `.spec` file and one through a `.json` file in
/// /etc/docker/plugins (their sockets live elsewhere), as Docker finds them.
#[test]
fn plugins_found_through_spec_and_json_files() {
    let d = daemon();
    let dir = tempfile::tempdir().unwrap();
    let spec_dir = Path::new("/etc/docker/plugins");
    std::fs::create_dir_all(spec_dir).unwrap();
    let mut procs = Vec::new();
    let mut files = Vec::new();
    for ext in ["spec", "json"] {
        let name = plugin_name(&format!("found-{ext}"));
        let sock = dir.path().join(format!("{ext}.sock"));
        let root = dir.path().join(format!("{ext}-vols"));
        procs.push(pyvol_at(&sock, &root, &dir.path().join("log"), "ok"));
        let url = format!("unix://{}", sock.display());
        let file = spec_dir.join(format!("{name}.{ext}"));
        let text = if ext == "spec" {
            url
        } else {
            serde_json::json!({ "Name": name, "Addr": url }).to_string()
        };
        std::fs::write(&file, text).unwrap();
        files.push(file);
        let vol = format!("{ext}vol");
        let o = d.docker(&["volume", "create", "-d", &name, &vol]);
        assert!(o.status.success(), "{}\n{}", err(&o), d.log_tail());
        let o = d.docker(&[
            "run",
            "--rm",
            "-v",
            &format!("{vol}:/d"),
            "busybox",
            "sh",
            "-c",
            "echo found > /d/f",
        ]);
        assert!(o.status.success(), "{}", err(&o));
        assert_eq!(
            std::fs::read_to_string(root.join(&vol).join("f")).unwrap(),
            "found\n"
        );
        d.docker_ok(&["volume", "rm", &vol]);
    }
    for f in files {
        let _ = std::fs::remove_file(f);
    }
    drop(procs);
}

/// A broken plugin costs its caller a clear error within seconds, and the
/// rest of the API keeps answering meanwhile.
#[test]
fn hanging_dying_and_garbage_plugins_fail_fast_and_never_stall_the_api() {
    let d = daemon();
    for mode in ["hang", "die", "garbage"] {
        let name = plugin_name(&format!("bad{mode}"));
        let root = tempfile::tempdir().unwrap();
        let log = root.path().join("calls.log");
        let _p = pyvol(&name, &root.path().join("vols"), &log, mode);
        d.docker_ok(&["volume", "create", "-d", &name, &format!("{mode}vol")]);

        let t = Instant::now();
        let mut run = d
            .docker_cmd(&[
                "run",
                "--rm",
                "-v",
                &format!("{mode}vol:/d"),
                "busybox",
                "true",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // While the plugin call is outstanding, ping and ps still answer.
        std::thread::sleep(Duration::from_millis(300));
        for _ in 0..5 {
            let p = Instant::now();
            assert_eq!(d.get("/_ping").status, 200);
            d.docker_ok(&["ps", "-a"]);
            assert!(p.elapsed() < Duration::from_secs(3), "{mode}: API stalled");
        }
        let o = loop {
            if let Some(_st) = run.try_wait().unwrap() {
                break run.wait_with_output().unwrap();
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "{mode}: docker run still waiting on the plugin"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(!o.status.success(), "{mode}: run succeeded");
        let e = err(&o);
        assert!(
            e.contains(&name) || e.contains("VolumeDriver.Mount"),
            "{mode}: unclear error: {e}"
        );
        let _ = d.docker(&["volume", "rm", "-f", &format!("{mode}vol")]);
    }
}

/// Volumes and their references survive a daemon restart, and a container
/// restarted at daemon start waits, within a bound, for its volume plugin
/// to come up, without holding up the daemon.
#[test]
fn volumes_survive_restart_and_restarted_containers_wait_for_their_plugin() {
    let mut d = TestDaemon::start(BIN, &["--default-runtime", "runc"]);
    d.load_busybox();
    let name = plugin_name("late");
    let root = tempfile::tempdir().unwrap();
    let log = root.path().join("calls.log");
    let vols = root.path().join("vols");
    let p = pyvol(&name, &vols, &log, "ok");

    d.docker_ok(&["volume", "create", "-d", &name, "latevol"]);
    d.docker_ok(&["volume", "create", "--label", "x=y", "localvol"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "holder",
        "-v",
        "localvol:/l",
        "busybox",
        "true",
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "late",
        "--restart",
        "always",
        "-v",
        "latevol:/data",
        "busybox",
        "sh",
        "-c",
        "date >> /data/starts; sleep 4242",
    ]);
    let t = Instant::now();
    while !vols.join("latevol/starts").exists() {
        assert!(t.elapsed() < Duration::from_secs(20), "{}", d.log_tail());
        std::thread::sleep(Duration::from_millis(50));
    }
    d.docker_ok(&["stop", "-t", "1", "late"]);
    // The container stopped by hand stays stopped; make it look crashed
    // instead: start it again, then take daemon and plugin down.
    d.docker_ok(&["start", "late"]);
    d.stop();
    // Kill the container's process too, so the daemon must restart it.
    let _ = Command::new("pkill")
        .args(["-KILL", "-f", "sleep 4242"])
        .status();
    drop(p);
    std::thread::sleep(Duration::from_millis(300));

    d.launch().unwrap();
    // The daemon answers at once, though the plugin is down.
    assert_eq!(d.get("/_ping").status, 200);
    let names = volume_names(&d);
    assert!(names.contains(&"latevol".to_string()) && names.contains(&"localvol".to_string()));
    let labels = d.docker_ok(&[
        "volume",
        "inspect",
        "--format",
        "{{json .Labels}}",
        "localvol",
    ]);
    assert!(labels.contains("\"x\":\"y\""), "{labels}");
    // References survived: still in use.
    let o = d.docker(&["volume", "rm", "localvol"]);
    assert!(err(&o).contains("in use"), "{}", err(&o));

    // The plugin comes up two seconds later; the container follows.
    std::thread::sleep(Duration::from_secs(2));
    let starts_before = std::fs::read_to_string(vols.join("latevol/starts"))
        .unwrap()
        .lines()
        .count();
    let _p = pyvol(&name, &vols, &log, "ok");
    let t = Instant::now();
    loop {
        let n = std::fs::read_to_string(vols.join("latevol/starts"))
            .unwrap()
            .lines()
            .count();
        if n > starts_before {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the container did not come back\n{}",
            d.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = d.docker_ok(&["inspect", "--format", "{{.State.Running}}", "late"]);
    assert_eq!(st.trim(), "true");
    d.docker_ok(&["rm", "-f", "late", "holder"]);
    d.docker_ok(&["volume", "rm", "localvol"]);
}

/// Volumes a plugin has that berth never created (made before berthd ran,
/// or by another daemon) are listed with their driver, inspectable, usable
/// and removable, as on dockerd; a plugin whose `VolumeDriver.List` fails
/// is a warning of `GET /volumes`, not a failed call.
#[test]
fn volumes_only_a_plugin_knows_are_listed_inspected_used_and_removed() {
    let d = daemon();
    let name = plugin_name("outside");
    let root = tempfile::tempdir().unwrap();
    let vols = root.path().join("vols");
    let log = root.path().join("calls.log");
    // Volume names unique to this process: other test processes' plugins
    // are on the same disk, and their volumes are listed here too.
    let (v1, v2) = (plugin_name("made-elsewhere"), plugin_name("never-used"));
    for v in [&v1, &v2] {
        std::fs::create_dir_all(vols.join(v)).unwrap();
    }
    std::fs::write(vols.join(&v1).join("f"), "from before\n").unwrap();
    let _p = pyvol(&name, &vols, &log, "ok");
    let broken = plugin_name("listfail");
    let broot = tempfile::tempdir().unwrap();
    let _b = pyvol(
        &broken,
        &broot.path().join("vols"),
        &broot.path().join("calls.log"),
        "listfail",
    );

    let ls = d.docker_ok(&["volume", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    for v in [&v1, &v2] {
        assert!(ls.lines().any(|l| l == format!("{v} {name}")), "{v}: {ls}");
    }
    assert!(calls(&log)
        .iter()
        .any(|c| c["method"] == "VolumeDriver.List"));
    let ls = d.docker_ok(&["volume", "ls", "-q", "--filter", &format!("driver={name}")]);
    let mut listed: Vec<&str> = ls.lines().collect();
    listed.sort();
    assert_eq!(listed, [v1.as_str(), v2.as_str()]);
    // The broken plugin costs a warning naming it, the listing still comes.
    let r = d.get("/volumes");
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    let warnings = j["Warnings"].as_array().expect("Warnings");
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .is_some_and(|w| w.contains(&broken) && w.contains("listing is broken here"))),
        "{warnings:?}"
    );
    assert!(j["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["Name"] == v1.as_str() && v["Driver"] == name.as_str()));

    // Inspect asks the plugin (Get): driver, mountpoint, status, scope.
    let fmt = "{{.Driver}} {{.Mountpoint}} {{.Scope}} {{json .Status}}";
    let i = d.docker_ok(&["volume", "inspect", "--format", fmt, &v1]);
    assert_eq!(
        i.trim(),
        format!(
            "{name} {} global {{\"lang\":\"python\"}}",
            vols.join(&v1).display()
        )
    );
    let o = d.docker(&["volume", "inspect", &plugin_name("nowhere")]);
    assert!(
        !o.status.success() && err(&o).contains("no such volume"),
        "{}",
        err(&o)
    );

    // A container uses it through the plugin; it is not created anew.
    let o = d.docker(&[
        "run",
        "--rm",
        "--volume-driver",
        &name,
        "-v",
        &format!("{v1}:/p"),
        "busybox",
        "cat",
        "/p/f",
    ]);
    assert!(o.status.success(), "{}\n{}", err(&o), d.log_tail());
    assert_eq!(out(&o), "from before\n");
    let c = calls(&log);
    assert!(c
        .iter()
        .any(|x| x["method"] == "VolumeDriver.Mount" && x["body"]["Name"] == v1.as_str()));
    assert!(
        !c.iter().any(|x| x["method"] == "VolumeDriver.Create"),
        "the plugin's own volume was created again: {c:?}"
    );

    // Both go with a plain rm: the plugin is asked to remove them.
    for v in [&v1, &v2] {
        let o = d.docker(&["volume", "rm", v]);
        assert!(o.status.success(), "{v}: {}\n{}", err(&o), d.log_tail());
        assert!(!vols.join(v).exists(), "{v} still on the plugin's disk");
    }
    let removed: Vec<_> = calls(&log)
        .into_iter()
        .filter(|x| x["method"] == "VolumeDriver.Remove")
        .map(|x| x["body"]["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(removed, [v1.clone(), v2.clone()]);
    let names = volume_names(d);
    assert!(!names.contains(&v1) && !names.contains(&v2), "{names:?}");
}

/// The testkit's volume conformance suite, by driver, through a plugin
/// proxy the daemon's own code does not share: the SDK's no-remove sample
/// (which refuses Remove) checked directly on its socket.
#[test]
fn the_volume_suite_passes_against_the_sdk_sample_plugin() {
    let name = plugin_name("suite-nr");
    let root = tempfile::tempdir().unwrap();
    let p = no_remove(&name, root.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let reg = berth_plugins::Registry::new(
            berth_plugins::Discovery::new(vec![p.sock.parent().unwrap().to_path_buf()], vec![]),
            Default::default(),
        );
        let plugin = reg.get(&name, "VolumeDriver").await.unwrap();
        let d = berth_plugins::VolumePluginDriver::new(plugin);
        berth_testkit::suites::volume::run(
            &d,
            berth_testkit::suites::volume::Checks { remove: false },
        )
        .await;
    });
    assert!(
        root.path().join("conf-a").is_dir(),
        "the plugin never created it"
    );
}
