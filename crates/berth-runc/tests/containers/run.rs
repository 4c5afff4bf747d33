//! run and its signals, the create/start/state/kill/delete verbs, pause.

use super::*;

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
