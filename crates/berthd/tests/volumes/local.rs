//! The built-in local driver: named and anonymous volumes, copy-up, --mount, tmpfs options, unknown drivers.

use super::*;

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
    let o = d.docker(&[
        "run",
        "-d",
        "--rm",
        "--name",
        "anonrm",
        "-v",
        "/anon",
        "-v",
        "keepme:/named",
        "busybox",
        "sh",
        "-c",
        "touch /anon/x /named/y; sleep 1",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let m = mounts(d, "anonrm");
    let anon = m
        .iter()
        .find(|m| m["Destination"] == "/anon")
        .and_then(|m| m["Name"].as_str())
        .unwrap()
        .to_string();
    let t = Instant::now();
    while volume_names(d).contains(&anon) && t.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = volume_names(d);
    assert!(!after.contains(&anon), "--rm left {anon}");
    assert!(after.iter().any(|v| v == "keepme"), "{after:?}");
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
