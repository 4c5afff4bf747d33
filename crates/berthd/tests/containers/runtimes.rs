//! Runtimes: a custom one, the embedded default, and containers outliving a killed daemon.

use super::*;

#[test]
fn custom_runtime_from_add_runtime_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("args.log");
    let wrapper = dir.path().join("my_runtime");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\nexec /usr/bin/runc \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let spec = format!("custom={}", wrapper.display());
    let d = TestDaemon::start(BIN, &["--add-runtime", &spec]);
    d.load_busybox();
    let info = d.docker_ok(&["info", "--format", "{{json .Runtimes}} {{.DefaultRuntime}}"]);
    assert!(info.contains("\"custom\""), "{info}");
    assert!(info.contains("berth-runc"), "{info}");
    let o = d.docker(&["run", "--runtime=custom", "busybox", "true"]);
    assert!(o.status.success(), "{}\n{}", err(&o), d.log_tail());
    let args = std::fs::read_to_string(&log).unwrap();
    assert!(
        args.lines()
            .any(|l| l.contains(" create ") && l.contains("--bundle")),
        "{args}"
    );
    assert!(args.lines().any(|l| l.contains(" start ")), "{args}");

    // A runtime that fails: its stderr is in the error, nothing is left running.
    let bad = dir.path().join("bad_runtime");
    std::fs::write(&bad, "#!/bin/sh\necho 'bad runtime says no' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o755)).unwrap();
    drop(d);
    let spec2 = format!("bad={}", bad.display());
    let d = TestDaemon::start(BIN, &["--add-runtime", &spec2]);
    d.load_busybox();
    let o = d.docker(&["run", "--rm", "--runtime=bad", "busybox", "true"]);
    assert!(!o.status.success());
    assert!(err(&o).contains("bad runtime says no"), "{}", err(&o));
    let containers = d.exec_root.join("containers");
    let left: Vec<_> = std::fs::read_dir(&containers)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "state left behind: {left:?}");
}

#[test]
fn containers_outlive_a_killed_daemon() {
    let mut d = TestDaemon::start(BIN, &["--default-runtime", "runc"]);
    d.load_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "survivor",
        "busybox",
        "sh",
        "-c",
        "echo before; sleep 3; echo after; exit 7",
    ]);
    let pid_before = d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "survivor"]);
    d.kill9();
    // The container runs on without the daemon.
    let pid: i32 = pid_before.trim().parse().unwrap();
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "container died with the daemon"
    );
    d.launch().unwrap();
    let st = d.docker_ok(&[
        "inspect",
        "-f",
        "{{.State.Running}} {{.State.Pid}}",
        "survivor",
    ]);
    assert_eq!(st.trim(), format!("true {pid}"));
    assert_eq!(d.docker_ok(&["wait", "survivor"]).trim(), "7");
    let logs = d.docker_ok(&["logs", "survivor"]);
    assert_eq!(logs, "before\nafter\n");

    // An exit while the daemon is down is recorded at its next start.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "quick",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 9",
    ]);
    d.kill9();
    std::thread::sleep(Duration::from_secs(2));
    d.launch().unwrap();
    let st = d.docker_ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "quick",
    ]);
    assert_eq!(st.trim(), "exited 9");
}

#[test]
fn embedded_runtime_is_the_default_and_applies_seccomp() {
    let d = TestDaemon::start(BIN, &[]);
    d.load_busybox();
    assert_eq!(
        d.docker_ok(&["info", "--format", "{{.DefaultRuntime}}"])
            .trim(),
        "berth-runc"
    );
    let o = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; exit 4",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}\n{}", err(&o), d.log_tail());
    let text = out(&o);
    assert!(text.contains("Seccomp:\t2"), "no seccomp filter: {text}");
    assert!(text.contains("NoNewPrivs:\t0"), "{text}");
    let o = d.docker(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "grep",
        "-E",
        "^(Seccomp|NoNewPrivs):",
        "/proc/self/status",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains("NoNewPrivs:\t1") && out(&o).contains("Seccomp:\t2"),
        "{}",
        out(&o)
    );
    // stdin and a TTY-less stream through the embedded runtime too.
    let o = super::run::cat_through(&d, b"embedded\n");
    assert_eq!(out(&o), "embedded\n");
}
