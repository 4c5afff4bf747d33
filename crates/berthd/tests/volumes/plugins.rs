//! Volume plugins: the SDK and Python ones, discovery, failures, restarts, and the conformance suite.

use super::*;

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
