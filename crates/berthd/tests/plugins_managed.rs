//! The managed plugin demo, end to end with the docker CLI: the no-remove
//! volume plugin (examples/no-remove) packaged as a managed plugin from a
//! directory, created, enabled, used for volumes, refusing to be disabled
//! while a volume needs it, killed from outside and restarted, surviving a
//! daemon restart, and removed; plus the API's refusals.

use berth_testkit::TestDaemon;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berthd");

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Copies `file` into `rootfs` at the same absolute path.
fn copy_into(rootfs: &Path, file: &Path) {
    let dest = rootfs.join(file.strip_prefix("/").unwrap());
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(file, &dest).unwrap_or_else(|e| panic!("copying {}: {e}", file.display()));
}

/// A plugin directory `parent/name`: config.json and rootfs/ holding
/// example `pkg`'s binary at `/pkg`, the shared libraries `ldd` lists for
/// it, and busybox at /bin/busybox.
fn plugin_dir(parent: &Path, name: &str, pkg: &str, config: &str) -> PathBuf {
    let dir = parent.join(name);
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let bin = berth_testkit::workspace_bin(pkg, pkg);
    std::fs::copy(&bin, rootfs.join(pkg)).unwrap();
    copy_into(&rootfs, Path::new("/bin/busybox"));
    let ldd = Command::new("ldd").arg(&bin).output().expect("ldd");
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux... (0x...)"
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            copy_into(&rootfs, Path::new(p));
        }
    }
    std::fs::write(dir.join("config.json"), config).unwrap();
    dir
}

const NO_REMOVE_CONFIG: &str = r#"{
  "description": "no-remove: a volume driver that never removes a volume",
  "documentation": "https://github.com/berth/berth/tree/main/examples/no-remove",
  "interface": {"types": ["docker.volumedriver/1.0"], "socket": "no-remove.sock"},
  "entrypoint": ["/no-remove", "--name", "no-remove", "--root", "/data/volumes"],
  "network": {"type": "none"},
  "propagatedMount": "/data",
  "env": [{"name": "DEBUG", "description": "verbosity", "settable": ["value"], "value": "0"}]
}"#;

/// A mount made inside the plugin under its PropagatedMount (/data) shows
/// on the host under the plugin's propagated-mount dir.
fn assert_mounts_propagate(d: &TestDaemon, volume: &str) {
    let pid = plugin_fmt(d, "{{.State.Pid}}");
    let id = plugin_fmt(d, "{{.Id}}");
    let host = d
        .data_root
        .join("plugins")
        .join(&id)
        .join("propagated-mount/volumes")
        .join(volume);
    let st = Command::new("nsenter")
        .args([
            "-t",
            &pid,
            "-m",
            "/bin/busybox",
            "mount",
            "-t",
            "tmpfs",
            "tmpfs",
        ])
        .arg(format!("/data/volumes/{volume}"))
        .status()
        .unwrap();
    assert!(st.success(), "mounting inside the plugin");
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let seen = mi
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some(host.to_str().unwrap()));
    assert!(seen, "{} is not a mount point on the host", host.display());
}

fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while t.elapsed() < within {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

fn plugin_fmt(d: &TestDaemon, fmt: &str) -> String {
    inspect_fmt(d, "no-remove", fmt)
}

fn inspect_fmt(d: &TestDaemon, name: &str, fmt: &str) -> String {
    d.docker_ok(&["plugin", "inspect", name, "--format", fmt])
        .trim()
        .to_string()
}

#[test]
fn managed_plugin_demo() {
    let mut d = TestDaemon::start(BIN, &["--default-runtime", "runc"]);
    let since = d.docker_ok(&["version", "--format", "{{.Server.Version}}"]);
    assert!(!since.is_empty());
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    let dir = plugin_dir(d.root(), "no-remove-plugin", "no-remove", NO_REMOVE_CONFIG);

    // Create from the directory: there, but disabled.
    let o = d.docker(&["plugin", "create", "no-remove", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}\n{}", err(&o), d.log_tail());
    let ls = d.docker_ok(&["plugin", "ls", "--format", "{{.Name}} {{.Enabled}}"]);
    assert_eq!(ls.trim(), "no-remove:latest false");
    let o = d.docker(&["plugin", "create", "no-remove", dir.to_str().unwrap()]);
    assert!(
        !o.status.success() && err(&o).contains("already exists"),
        "{}",
        err(&o)
    );

    // Settable while disabled, only what the manifest allows.
    d.docker_ok(&["plugin", "set", "no-remove", "DEBUG=1"]);
    assert_eq!(plugin_fmt(&d, "{{json .Settings.Env}}"), r#"["DEBUG=1"]"#);
    let o = d.docker(&["plugin", "set", "no-remove", "OTHER=1"]);
    assert!(!o.status.success(), "set of an undeclared env worked");

    // Enable: ls shows it enabled, inspect shows its manifest.
    let o = d.docker(&["plugin", "enable", "no-remove"]);
    assert!(o.status.success(), "{}\n{}", err(&o), d.log_tail());
    let ls = d.docker_ok(&["plugin", "ls", "--format", "{{.Name}} {{.Enabled}}"]);
    assert_eq!(ls.trim(), "no-remove:latest true");
    let ls = d.docker_ok(&["plugin", "ls", "--filter", "capability=volumedriver", "-q"]);
    assert_eq!(ls.trim().len(), 12, "{ls}");
    let ls = d.docker_ok(&["plugin", "ls", "--filter", "enabled=false", "-q"]);
    assert!(ls.trim().is_empty(), "{ls}");
    assert_eq!(
        plugin_fmt(&d, "{{json .Config.Interface.Types}}"),
        r#"["docker.volumedriver/1.0"]"#
    );
    assert_eq!(
        plugin_fmt(&d, "{{.Config.Interface.Socket}}"),
        "no-remove.sock"
    );
    assert!(plugin_fmt(&d, "{{.Config.Description}}").starts_with("no-remove:"));
    assert_eq!(plugin_fmt(&d, "{{.State.Status}}"), "running");
    let o = d.docker(&["plugin", "set", "no-remove", "DEBUG=2"]);
    assert!(!o.status.success(), "set worked on an enabled plugin");
    let o = d.docker(&["plugin", "enable", "no-remove"]);
    assert!(!o.status.success() && err(&o).contains("already enabled"));

    // A volume from it; the plugin refuses to remove it.
    d.docker_ok(&["volume", "create", "-d", "no-remove", "v1"]);
    let vols = d.docker_ok(&["volume", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    assert!(vols.lines().any(|l| l == "v1 no-remove:latest"), "{vols}");
    let o = d.docker(&["volume", "rm", "v1"]);
    assert!(!o.status.success(), "volume rm worked");
    assert!(err(&o).contains("protected"), "{}", err(&o));
    // Its data lives on the host under the plugin's propagated mount.
    let mp = d.docker_ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "v1"]);
    let mp = mp.trim();
    assert!(
        mp.ends_with("/propagated-mount/volumes/v1") && Path::new(mp).is_dir(),
        "mountpoint {mp}"
    );
    // A container uses it: what it writes lands in the plugin's volume.
    d.load_busybox();
    let o = d.docker(&[
        "run",
        "--rm",
        "-v",
        "v1:/data",
        "busybox",
        "sh",
        "-c",
        "echo from-container > /data/f && cat /data/f",
    ]);
    assert!(o.status.success(), "{}\n{}", err(&o), d.log_tail());
    assert_eq!(String::from_utf8_lossy(&o.stdout), "from-container\n");
    assert_eq!(
        std::fs::read_to_string(Path::new(mp).join("f")).unwrap(),
        "from-container\n"
    );
    d.docker_ok(&["volume", "create", "-d", "no-remove", "vmnt"]);
    assert_mounts_propagate(&d, "vmnt");

    // Disable is refused while v1 needs it, naming v1; rm refuses an
    // enabled plugin; disable -f works, enable brings it back.
    let o = d.docker(&["plugin", "disable", "no-remove"]);
    assert!(!o.status.success(), "disable worked with a volume in use");
    assert!(
        err(&o).contains("in use") && err(&o).contains("v1"),
        "{}",
        err(&o)
    );
    let o = d.docker(&["plugin", "rm", "no-remove"]);
    assert!(
        !o.status.success() && err(&o).contains("enabled"),
        "{}",
        err(&o)
    );
    d.docker_ok(&["plugin", "disable", "-f", "no-remove"]);
    let ls = d.docker_ok(&["plugin", "ls", "--format", "{{.Enabled}}"]);
    assert_eq!(ls.trim(), "false");
    let o = d.docker(&["volume", "create", "-d", "no-remove", "v-off"]);
    assert!(!o.status.success(), "a disabled plugin served a volume");
    let o = d.docker(&["plugin", "disable", "no-remove"]);
    assert!(!o.status.success() && err(&o).contains("already disabled"));
    d.docker_ok(&["plugin", "enable", "no-remove"]);
    d.docker_ok(&["volume", "create", "-d", "no-remove", "v2"]);

    // Killed from outside: restarted, and counted.
    let pid: i32 = plugin_fmt(&d, "{{.State.Pid}}").parse().unwrap();
    assert!(pid > 0);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap();
    wait_until("the plugin's restart", Duration::from_secs(20), || {
        plugin_fmt(&d, "{{.State.RestartCount}} {{.State.Status}}") == "1 running"
    });
    assert!(plugin_fmt(&d, "{{.State.LastError}}").contains("exited"));
    assert_ne!(plugin_fmt(&d, "{{.State.Pid}}"), pid.to_string());
    d.docker_ok(&["volume", "create", "-d", "no-remove", "v3"]);

    // A daemon restart: the plugin is enabled and running again, the
    // volume still there and still protected by it.
    d.restart();
    let ls = d.docker_ok(&["plugin", "ls", "--format", "{{.Name}} {{.Enabled}}"]);
    assert_eq!(ls.trim(), "no-remove:latest true");
    assert_eq!(plugin_fmt(&d, "{{.State.Status}}"), "running");
    let vols = d.docker_ok(&["volume", "ls", "-q"]);
    assert!(vols.lines().any(|l| l == "v1"), "{vols}");
    let o = d.docker(&["volume", "rm", "v1"]);
    assert!(err(&o).contains("protected"), "{}", err(&o));
    let o = d.docker(&["plugin", "disable", "no-remove"]);
    assert!(
        err(&o).contains("v1"),
        "refs lost over the restart: {}",
        err(&o)
    );

    // Remove with force; events tell the story.
    d.docker_ok(&["plugin", "rm", "-f", "no-remove"]);
    assert!(d.docker_ok(&["plugin", "ls", "-q"]).trim().is_empty());
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let ev = d.docker_ok(&[
        "events",
        "--since",
        &t0.to_string(),
        "--until",
        &until,
        "--filter",
        "type=plugin",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    let actions: Vec<&str> = ev.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        actions,
        ["create", "enable", "disable", "enable", "disable", "remove"],
        "{ev}"
    );
    assert!(ev.lines().all(|l| l.ends_with(" no-remove:latest")), "{ev}");
}

#[test]
fn refusals_registry_operations_and_a_plugin_that_dies() {
    let d = TestDaemon::start(BIN, &["--default-runtime", "runc"]);
    let o = d.docker(&["plugin", "install", "--grant-all-permissions", "acme/p"]);
    assert!(!o.status.success());
    assert!(err(&o).contains("registry"), "{}", err(&o));
    let r = d.post_json("/plugins/pull?remote=acme/p", "[]");
    assert_eq!(r.status, 501);
    let r = d.post_json("/plugins/pull?remote=acme/p", "{bad");
    assert_eq!(r.status, 400);
    let o = d.docker(&["plugin", "inspect", "nope"]);
    assert!(
        !o.status.success() && err(&o).contains("not found"),
        "{}",
        err(&o)
    );
    let r = d.get("/plugins?filters=%7B%22nope%22%3A%7B%22x%22%3Atrue%7D%7D");
    assert_eq!(r.status, 400);
    let r = d.post_json("/plugins/create?name=junk", "this is not a tar");
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    // A plugin that dies at once: enable says so, with its output, and it
    // stays disabled.
    let dir = plugin_dir(
        d.root(),
        "dies",
        "no-remove",
        r#"{"Interface":{"Types":["docker.volumedriver/1.0"],"Socket":"d.sock"},
            "Entrypoint":["/bin/busybox","sh","-c","echo giving up >&2; exit 3"]}"#,
    );
    d.docker_ok(&["plugin", "create", "dies", dir.to_str().unwrap()]);
    let o = d.docker(&["plugin", "enable", "dies"]);
    assert!(!o.status.success());
    assert!(
        err(&o).contains("exited with code 3") && err(&o).contains("giving up"),
        "{}",
        err(&o)
    );
    assert_eq!(inspect_fmt(&d, "dies", "{{.Enabled}}"), "false");
    d.docker_ok(&["plugin", "rm", "dies"]);
}

/// A plugin that takes 4 s to answer: enable's timeout is honoured, and a
/// daemon start waits for it only as long as --plugin-start-timeout says,
/// then finishes starting it in the background.
#[test]
fn slow_plugin_bounded_waits() {
    let mut d = TestDaemon::start(BIN, &["--default-runtime", "runc"]);
    let dir = plugin_dir(
        d.root(),
        "slow-plugin",
        "no-remove",
        r#"{"Interface":{"Types":["docker.volumedriver/1.0"],"Socket":"slow.sock"},
            "Entrypoint":["/bin/busybox","sh","-c",
                          "/bin/busybox sleep 4; exec /no-remove --name slow --root /vols"],
            "Network":{"Type":"none"}}"#,
    );
    d.docker_ok(&["plugin", "create", "slow", dir.to_str().unwrap()]);
    let t = Instant::now();
    let o = d.docker(&["plugin", "enable", "--timeout", "1", "slow"]);
    assert!(!o.status.success(), "enable did not time out");
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert!(err(&o).contains("Plugin.Activate"), "{}", err(&o));
    assert_eq!(inspect_fmt(&d, "slow", "{{.Enabled}}"), "false");
    d.docker_ok(&["plugin", "enable", "--timeout", "30", "slow"]);
    assert_eq!(inspect_fmt(&d, "slow", "{{.Enabled}}"), "true");

    d.stop();
    d.extra_args
        .extend(["--plugin-start-timeout".into(), "1".into()]);
    let t = Instant::now();
    d.launch().unwrap();
    let took = t.elapsed();
    assert!(took < Duration::from_millis(3500), "start-up took {took:?}");
    assert_eq!(inspect_fmt(&d, "slow", "{{.Enabled}}"), "true");
    assert_eq!(inspect_fmt(&d, "slow", "{{.State.Status}}"), "starting");
    wait_until("the slow plugin", Duration::from_secs(20), || {
        inspect_fmt(&d, "slow", "{{.State.Status}}") == "running"
    });
    d.docker_ok(&["volume", "create", "-d", "slow", "sv"]);
    d.docker_ok(&["plugin", "disable", "-f", "slow"]);
    d.docker_ok(&["plugin", "rm", "slow"]);
}

/// A managed authorization plugin (examples/authz-deny) is found by name
/// through the registry: it denies `docker volume rm` and allows the rest;
/// disabling it takes it out of the chain.
#[test]
fn managed_authz_plugin_denies_then_leaves_the_chain() {
    let d = TestDaemon::start(BIN, &["--default-runtime", "runc"]);
    let config = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/authz-deny/config.json"
    ))
    .unwrap();
    let dir = plugin_dir(d.root(), "authz-plugin", "authz-deny", &config);
    d.docker_ok(&["plugin", "create", "authz-deny", dir.to_str().unwrap()]);
    let r = d.get("/plugins/privileges?remote=authz-deny");
    assert_eq!(r.status, 200);
    let privs: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(privs[0]["Name"], "network", "{privs}");
    assert_eq!(privs[0]["Value"][0], "host", "{privs}");
    d.docker_ok(&["plugin", "enable", "authz-deny"]);
    d.docker_ok(&["volume", "create", "kept"]);
    std::fs::write(
        d.root().join("daemon.json"),
        r#"{"authorization-plugins": ["authz-deny"]}"#,
    )
    .unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    wait_until("the reload", Duration::from_secs(10), || {
        !d.docker(&["volume", "rm", "kept"]).status.success()
    });
    let o = d.docker(&["volume", "rm", "kept"]);
    assert!(err(&o).contains("authorization denied"), "{}", err(&o));
    d.docker_ok(&["volume", "ls"]);
    d.docker_ok(&["plugin", "disable", "authz-deny"]);
    assert_eq!(inspect_fmt(&d, "authz-deny", "{{.Enabled}}"), "false");
    d.docker_ok(&["volume", "rm", "kept"]);
}

/// The same plugin on berth's default (embedded) runtime, with its
/// PropagatedMount shared back to the host.
#[test]
fn plugin_on_the_embedded_runtime() {
    let mut d = TestDaemon::start(BIN, &[]);
    let dir = plugin_dir(d.root(), "no-remove-plugin", "no-remove", NO_REMOVE_CONFIG);
    d.docker_ok(&["plugin", "create", "no-remove", dir.to_str().unwrap()]);
    let o = d.docker(&["plugin", "enable", "no-remove"]);
    assert!(o.status.success(), "{}\n{}", err(&o), d.log_tail());
    d.docker_ok(&["volume", "create", "-d", "no-remove", "ev"]);
    let mp = d.docker_ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "ev"]);
    assert!(Path::new(mp.trim()).is_dir(), "mountpoint {mp}");
    let o = d.docker(&["volume", "rm", "ev"]);
    assert!(err(&o).contains("protected"), "{}", err(&o));
    assert_mounts_propagate(&d, "ev");
    // berthd killed with -9: the plugin lives on in its shim, and the next
    // berthd takes it over instead of starting another.
    let pid = plugin_fmt(&d, "{{.State.Pid}}");
    d.kill9();
    d.launch().unwrap();
    assert_eq!(
        plugin_fmt(&d, "{{.State.Pid}} {{.State.Status}}"),
        format!("{pid} running")
    );
    d.docker_ok(&["volume", "inspect", "ev"]);
    d.docker_ok(&["plugin", "rm", "-f", "no-remove"]);
}

/// Whether process `pid` is gone (or only a zombie waiting to be reaped).
fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// SIGTERM to berthd with a managed plugin running and serving: the
/// plugin (on berth-plugin-sdk, its container's PID 1) stops on the
/// SIGTERM berthd passes on, so berthd exits without waiting out the stop
/// grace and SIGKILLing it. A plugin that ignores SIGTERM (the shell of
/// `slow_plugin_bounded_waits`) still gets only that grace.
#[test]
fn daemon_sigterm_with_a_running_plugin_exits_promptly() {
    let mut d = TestDaemon::start(BIN, &["--default-runtime", "runc"]);
    let dir = plugin_dir(d.root(), "no-remove-plugin", "no-remove", NO_REMOVE_CONFIG);
    d.docker_ok(&["plugin", "create", "no-remove", dir.to_str().unwrap()]);
    d.docker_ok(&["plugin", "enable", "no-remove"]);
    // It has served calls: berthd holds a kept-alive connection to it.
    d.docker_ok(&["volume", "create", "-d", "no-remove", "sv"]);
    d.docker_ok(&["volume", "inspect", "sv"]);
    let pid: i32 = plugin_fmt(&d, "{{.State.Pid}}").parse().unwrap();
    assert!(!process_gone(pid));
    let t = Instant::now();
    let st = d.stop().expect("berthd did not exit within 20s of SIGTERM");
    let took = t.elapsed();
    eprintln!(
        "berthd exited {:.2}s after SIGTERM, a managed plugin running",
        took.as_secs_f64()
    );
    assert!(st.success(), "berthd: {st}\n{}", d.log_tail());
    assert!(process_gone(pid), "the plugin (pid {pid}) outlived berthd");
    // The stop grace is 5 s; a plugin that stopped on SIGTERM needs none of it.
    assert!(
        took < Duration::from_secs(5),
        "took {took:?}: the plugin was waited for until its SIGKILL\n{}",
        d.log_tail()
    );
    let log = d.log_text();
    assert!(!log.contains("did not stop within"), "{log}");
}

/// The plugin's volumes as `volume ls` shows them (legacy plugins of other
/// tests on this host list theirs too).
fn volume_ls(d: &TestDaemon) -> Vec<String> {
    d.docker_ok(&[
        "volume",
        "ls",
        "--filter",
        "driver=no-remove:latest",
        "--format",
        "{{.Name}} {{.Driver}}",
    ])
    .lines()
    .map(String::from)
    .collect()
}

/// A managed plugin is named with its tag wherever a volume shows its
/// driver (ls, inspect, events, a container's mounts), as on dockerd,
/// whether the user wrote `-d no-remove` or `-d no-remove:latest`; volumes
/// left behind by `plugin rm -f` (their data gone with the plugin) still go
/// with a plain `volume rm`, also after a daemon restart.
#[test]
fn managed_volume_driver_shows_its_tag_and_forced_removal_leaves_removable_volumes() {
    let mut d = TestDaemon::start(BIN, &["--default-runtime", "runc"]);
    let dir = plugin_dir(d.root(), "no-remove-plugin", "no-remove", NO_REMOVE_CONFIG);
    d.docker_ok(&["plugin", "create", "no-remove", dir.to_str().unwrap()]);
    let o = d.docker(&["plugin", "enable", "no-remove"]);
    assert!(o.status.success(), "{}\n{}", err(&o), d.log_tail());
    let t0 = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1)
    .to_string();
    d.docker_ok(&["volume", "create", "-d", "no-remove", "short"]);
    d.docker_ok(&["volume", "create", "-d", "no-remove:latest", "tagged"]);
    // Either spelling names the same driver: no conflict.
    d.docker_ok(&["volume", "create", "-d", "no-remove:latest", "short"]);
    d.docker_ok(&["volume", "create", "-d", "no-remove", "tagged"]);
    let ls = volume_ls(&d);
    assert_eq!(
        ls,
        ["short no-remove:latest", "tagged no-remove:latest"],
        "{ls:?}"
    );
    for v in ["short", "tagged"] {
        let drv = d.docker_ok(&["volume", "inspect", "-f", "{{.Driver}}", v]);
        assert_eq!(drv.trim(), "no-remove:latest");
    }
    for f in ["driver=no-remove:latest", "driver=no-remove"] {
        let ls = d.docker_ok(&["volume", "ls", "-q", "--filter", f]);
        assert_eq!(ls.lines().collect::<Vec<_>>(), ["short", "tagged"], "{f}");
    }
    d.load_busybox();
    d.docker_ok(&[
        "run",
        "--name",
        "user",
        "--volume-driver",
        "no-remove",
        "-v",
        "viarun:/d",
        "busybox",
        "true",
    ]);
    let m = d.docker_ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Driver}}{{end}}",
        "user",
    ]);
    assert_eq!(m.trim(), "no-remove:latest");
    d.docker_ok(&["rm", "user"]);
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let ev = d.docker_ok(&[
        "events",
        "--since",
        &t0,
        "--until",
        &until,
        "--filter",
        "type=volume",
        "--format",
        "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.driver}}",
    ]);
    assert!(ev.contains("create short no-remove:latest"), "{ev}");
    assert!(ev.contains("mount viarun no-remove:latest"), "{ev}");
    assert!(ev.lines().all(|l| l.ends_with(" no-remove:latest")), "{ev}");

    // Records written when berth kept the bare name get the full one.
    d.stop();
    let rec = d.data_root.join("volumes/_meta/viarun.json");
    let mut j: serde_json::Value = serde_json::from_slice(&std::fs::read(&rec).unwrap()).unwrap();
    assert_eq!(j["driver"], "no-remove:latest");
    j["driver"] = "no-remove".into();
    std::fs::write(&rec, j.to_string()).unwrap();
    d.launch().unwrap();
    let drv = d.docker_ok(&["volume", "inspect", "-f", "{{.Driver}}", "viarun"]);
    assert_eq!(drv.trim(), "no-remove:latest");

    // Removed with force, the plugin takes its volumes' data along; the
    // volumes are still listed, and a plain rm forgets them.
    d.docker_ok(&["plugin", "rm", "-f", "no-remove"]);
    assert_eq!(volume_ls(&d).len(), 3, "{:?}", volume_ls(&d));
    let o = d.docker(&["volume", "rm", "short"]);
    assert!(o.status.success(), "{}\n{}", err(&o), d.log_tail());
    d.restart();
    let o = d.docker(&["volume", "rm", "tagged", "viarun"]);
    assert!(o.status.success(), "{}\n{}", err(&o), d.log_tail());
    assert!(volume_ls(&d).is_empty(), "{:?}", volume_ls(&d));
}
