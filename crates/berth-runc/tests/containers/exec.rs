//! exec, the console socket, and the default seccomp profile.

use super::*;

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
