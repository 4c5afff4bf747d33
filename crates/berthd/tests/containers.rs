//! Containers through a real berthd, driven by the docker CLI and bollard:
//! run, exit codes, stdin, logs, lifecycle verbs, events, errors, custom
//! runtimes, TTY and daemon crashes.

use berth_testkit::TestDaemon;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berthd");

/// One daemon for the tests that don't disturb each other, with runc as
/// the default runtime (the embedded one has its own test below).
fn daemon() -> &'static TestDaemon {
    static D: OnceLock<TestDaemon> = OnceLock::new();
    D.get_or_init(|| {
        let d = TestDaemon::start(BIN, &["--default-runtime", "runc"]);
        d.load_busybox();
        d
    })
}

fn out(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn run_rm_echo_prints_and_removes() {
    let d = daemon();
    let o = d.docker(&["run", "--rm", "--name", "echo-rm", "busybox", "echo", "hi"]);
    assert!(o.status.success(), "{}\n{}", err(&o), d.log_tail());
    assert_eq!(out(&o), "hi\n");
    let ps = d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!ps.lines().any(|l| l == "echo-rm"), "--rm left {ps}");
}

#[test]
fn exit_code_propagates() {
    let d = daemon();
    let o = d.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    let o = d.docker(&[
        "run",
        "--name",
        "exit7",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 7",
    ]);
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(out(&o), "out\n");
    assert_eq!(err(&o), "err\n");
    let st = d.docker_ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "exit7",
    ]);
    assert_eq!(st.trim(), "exited 7");
    assert_eq!(d.docker_ok(&["wait", "exit7"]).trim(), "7");
    d.docker_ok(&["rm", "exit7"]);
}

/// `docker run -i --rm busybox cat` with `input` on its stdin.
fn cat_through(d: &TestDaemon, input: &[u8]) -> std::process::Output {
    let mut child = d
        .docker_cmd(&["run", "-i", "--rm", "busybox", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn stdin_reaches_the_container() {
    let d = daemon();
    let o = cat_through(d, b"hello through stdin\n");
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "hello through stdin\n");
}

#[test]
fn detached_logs_follow_stop_and_restart() {
    let d = daemon();
    let id = d.docker_ok(&[
        "run", "-d", "--name", "ticker", "busybox", "sh", "-c",
        "trap 'echo bye; exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64);
    // docker logs -f streams new lines as they come.
    let mut f = d
        .docker_cmd(&["logs", "-f", "ticker"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = f.stdout.take().unwrap();
    let mut buf = Vec::new();
    let t = Instant::now();
    let mut chunk = [0u8; 256];
    while !String::from_utf8_lossy(&buf).contains("tick 3") {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no ticks: {}",
            String::from_utf8_lossy(&buf)
        );
        let n = std::io::Read::read(&mut stdout, &mut chunk).unwrap();
        assert!(n > 0, "logs -f ended early");
        buf.extend_from_slice(&chunk[..n]);
    }
    let ps = d.docker_ok(&["ps", "--filter", "name=ticker", "--format", "{{.Status}}"]);
    assert!(ps.starts_with("Up"), "{ps}");
    // stop sends SIGTERM; the trap answers.
    d.docker_ok(&["stop", "ticker"]);
    let _ = f.wait();
    let logs = d.docker_ok(&["logs", "--tail", "1", "ticker"]);
    assert_eq!(logs, "bye\n");
    let ts = d.docker_ok(&["logs", "-t", "--tail", "1", "ticker"]);
    assert!(ts.contains('T') && ts.ends_with(" bye\n"), "{ts}");
    let st = d.docker_ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "ticker",
    ]);
    assert_eq!(st.trim(), "exited 0");
    // restart brings it back.
    d.docker_ok(&["restart", "-t", "1", "ticker"]);
    let st = d.docker_ok(&["inspect", "-f", "{{.State.Running}}", "ticker"]);
    assert_eq!(st.trim(), "true");
    d.docker_ok(&["rm", "-f", "ticker"]);
    let o = d.docker(&["inspect", "ticker"]);
    assert!(!o.status.success());
}

#[test]
fn lifecycle_verbs_and_errors() {
    let d = daemon();
    d.docker_ok(&["create", "--name", "verbs", "busybox", "sleep", "60"]);
    // A name clash is 409.
    let o = d.docker(&["create", "--name", "verbs", "busybox", "true"]);
    assert!(!o.status.success());
    assert!(err(&o).contains("is already in use"), "{}", err(&o));
    d.docker_ok(&["start", "verbs"]);
    d.docker_ok(&["pause", "verbs"]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Status}}", "verbs"])
            .trim(),
        "paused"
    );
    d.docker_ok(&["unpause", "verbs"]);
    d.docker_ok(&["rename", "verbs", "verbs2"]);
    let o = d.docker(&["rm", "verbs2"]);
    assert!(
        !o.status.success(),
        "removing a running container must fail"
    );
    d.docker_ok(&["kill", "--signal", "KILL", "verbs2"]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", "verbs2"])
            .trim(),
        "137"
    );
    let o = d.docker(&["kill", "verbs2"]);
    assert!(err(&o).contains("is not running"), "{}", err(&o));
    d.docker_ok(&["rm", "verbs2"]);

    // Missing image: 404. Bad mount: 400. Unknown runtime: 400.
    let r = d.post_json("/containers/create", r#"{"Image":"nosuchimage"}"#);
    assert_eq!(r.status, 404);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("No such image"));
    let r = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"Binds":["relative/path:/x"]}}"#,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"Runtime":"nope"}}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "unknown or invalid runtime name: nope");
    let r = d.post_json("/containers/create?name=a/b", r#"{"Image":"busybox"}"#);
    assert_eq!(r.status, 400);
    let r = d.get("/containers/nosuch/json");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "No such container: nosuch");
}

/// Moves the state machine refuses, with dockerd's status and message,
/// and the moves that change nothing (304).
#[test]
fn illegal_moves_are_refused_as_dockerd() {
    let d = daemon();
    d.docker_ok(&["create", "--name", "moves", "busybox", "sleep", "60"]);
    let id = d
        .docker_ok(&["inspect", "-f", "{{.Id}}", "moves"])
        .trim()
        .to_string();
    let post = |verb: &str| d.post_json(&format!("/containers/moves/{verb}"), "");
    let refused = |verb: &str, msg: String| {
        let r = post(verb);
        assert_eq!(r.status, 409, "{verb}: {}", r.text());
        assert_eq!(r.json()["message"], msg, "{verb}");
    };
    // Created: nothing runs, so nothing to pause, unpause or kill.
    refused("pause", format!("Container {id} is not running"));
    refused("unpause", format!("Container {id} is not paused"));
    refused("kill", format!("Container {id} is not running"));
    assert_eq!(post("stop").status, 304);
    assert_eq!(post("start").status, 204);
    assert_eq!(post("start").status, 304);
    refused("unpause", format!("Container {id} is not paused"));
    assert_eq!(post("pause").status, 204);
    refused("pause", format!("Container {id} is already paused"));
    refused(
        "start",
        "cannot start a paused container, try unpause instead".into(),
    );
    let r =
        berth_testkit::http::request(&d.socket, "DELETE", "/containers/moves", &[], b"").unwrap();
    assert_eq!(r.status, 409);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("container is paused: stop the container before removing or force remove"),
        "{}",
        r.text()
    );
    assert_eq!(post("unpause").status, 204);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Status}}", "moves"])
            .trim(),
        "running"
    );
    assert_eq!(post("stop?t=0").status, 204);
    assert_eq!(post("stop").status, 304);
    refused("pause", format!("Container {id} is not running"));
    d.docker_ok(&["rm", "moves"]);
}

#[test]
fn ps_filters() {
    let d = daemon();
    d.docker_ok(&[
        "run", "--name", "f-ok", "--label", "tier=a", "busybox", "true",
    ]);
    d.docker_ok(&["create", "--name", "f-new", "busybox", "true"]);
    let o = d.docker(&["run", "--name", "f-bad", "busybox", "sh", "-c", "exit 2"]);
    assert_eq!(o.status.code(), Some(2));
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ps", "-a", "--format", "{{.Names}}"];
        a.extend_from_slice(args);
        let mut v: Vec<String> = d
            .docker_ok(&a)
            .lines()
            .filter(|l| l.starts_with("f-"))
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&["--filter", "label=tier=a"]), vec!["f-ok"]);
    assert_eq!(names(&["--filter", "status=created"]), vec!["f-new"]);
    assert_eq!(names(&["--filter", "exited=2"]), vec!["f-bad"]);
    assert_eq!(
        names(&["--filter", "name=f-", "--filter", "status=exited"]),
        vec!["f-bad", "f-ok"]
    );
    assert!(names(&["--filter", "ancestor=busybox"]).len() >= 3);
    for n in ["f-ok", "f-new", "f-bad"] {
        d.docker_ok(&["rm", n]);
    }
}

#[test]
fn events_of_a_run_come_in_dockerd_order() {
    let d = daemon();
    let since = d.docker_ok(&["version", "-f", "{{.Server.Version}}"]);
    assert!(!since.is_empty());
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    let o = d.docker(&[
        "run", "--rm", "--name", "ev1", "--label", "k=v", "busybox", "sh", "-c", "exit 4",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", err(&o));
    let until = start + 30;
    let ev = d.docker_ok(&[
        "events",
        "--since",
        &start.to_string(),
        "--until",
        &(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1)
        .to_string(),
        "--filter",
        "container=ev1",
        "--format",
        "{{.Action}} {{index .Actor.Attributes \"name\"}} {{index .Actor.Attributes \"k\"}} {{index .Actor.Attributes \"exitCode\"}}",
    ]);
    let _ = until;
    let lines: Vec<&str> = ev.lines().collect();
    assert_eq!(
        lines,
        vec![
            "create ev1 v ",
            "attach ev1 v ",
            "start ev1 v ",
            "die ev1 v 4",
            "destroy ev1 v "
        ],
        "{ev}"
    );
}

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
fn tty_under_script() {
    let d = daemon();
    let cmd = format!(
        "DOCKER_HOST={} docker run -it --rm busybox sh -c 'tty; stty size; exit 5'",
        d.host()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("DOCKER_CONFIG", d.root().join("cli"))
        .env("COLUMNS", "100")
        .env("LINES", "30")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = out(&o);
    assert!(text.contains("/dev/pts/"), "{text} {}", err(&o));
    assert_eq!(o.status.code(), Some(5), "{text}");
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
fn restart_policy_on_failure_retries() {
    let d = daemon();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "retry",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ]);
    let t = Instant::now();
    loop {
        let s = d.docker_ok(&[
            "inspect",
            "-f",
            "{{.RestartCount}} {{.State.Status}}",
            "retry",
        ]);
        if s.trim() == "2 exited" {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "still {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
    d.docker_ok(&["rm", "-f", "retry"]);
}

#[tokio::test]
async fn bollard_creates_starts_and_waits() {
    use bollard::query_parameters::{CreateContainerOptionsBuilder, WaitContainerOptions};
    use futures_util::StreamExt;
    let d = daemon();
    let client = bollard::Docker::connect_with_unix(
        &d.socket.display().to_string(),
        60,
        bollard::API_DEFAULT_VERSION,
    )
    .unwrap()
    .negotiate_version()
    .await
    .unwrap();
    let body = bollard::models::ContainerCreateBody {
        image: Some("busybox".into()),
        cmd: Some(vec!["sh".into(), "-c".into(), "exit 6".into()]),
        ..Default::default()
    };
    let opts = CreateContainerOptionsBuilder::default()
        .name("bollard1")
        .build();
    let created = client.create_container(Some(opts), body).await.unwrap();
    client
        .start_container(
            &created.id,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .unwrap();
    let mut w = client.wait_container(&created.id, None::<WaitContainerOptions>);
    let mut code = None;
    while let Some(r) = w.next().await {
        match r {
            Ok(r) => code = Some(r.status_code),
            Err(bollard::errors::Error::DockerContainerWaitError { code: c, .. }) => code = Some(c),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(code, Some(6));
    let i = client
        .inspect_container(
            &created.id,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .unwrap();
    assert_eq!(i.state.unwrap().exit_code, Some(6));
    client
        .remove_container(
            &created.id,
            None::<bollard::query_parameters::RemoveContainerOptions>,
        )
        .await
        .unwrap();
}

#[test]
fn image_in_use_is_a_409_and_df_counts_it() {
    let d = daemon();
    d.docker_ok(&["create", "--name", "holder", "busybox", "true"]);
    let o = d.docker(&["rmi", "busybox"]);
    assert!(!o.status.success(), "an image in use was removed");
    assert!(
        err(&o).contains("conflict") || err(&o).contains("is being used"),
        "{}",
        err(&o)
    );
    let df = d.get("/system/df").json();
    assert!(df["Images"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["RepoTags"][0] == "busybox:latest"));
    assert!(df["Containers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["Names"][0] == "/holder"));
    d.docker_ok(&["rm", "holder"]);
}

#[test]
fn attach_detach_keys_and_wait_removed() {
    let d = daemon();
    d.docker_ok(&["run", "-dit", "--name", "att", "busybox", "sh"]);
    // Attach in a tmux pane, type a command, then detach with ctrl-p ctrl-q.
    let session = format!("berth-att-{}", std::process::id());
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(args)
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.root().join("cli"))
            .output()
            .unwrap()
    };
    let o = tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "120",
        "-y",
        "30",
        &format!(
            "DOCKER_HOST={} docker attach att; echo DETACHED; sleep 30",
            d.host()
        ),
    ]);
    assert!(o.status.success(), "tmux: {}", err(&o));
    std::thread::sleep(Duration::from_millis(1000));
    tmux(&[
        "send-keys",
        "-t",
        &session,
        "echo marker-$((40+2))",
        "Enter",
    ]);
    let mut screen = String::new();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        screen = out(&tmux(&["capture-pane", "-p", "-t", &session]));
        if screen.contains("marker-42") {
            break;
        }
    }
    assert!(
        screen.contains("marker-42"),
        "attach did not carry the command: {screen}"
    );
    tmux(&["send-keys", "-t", &session, "C-p", "C-q"]);
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        screen = out(&tmux(&["capture-pane", "-p", "-t", &session]));
        if screen.contains("DETACHED") {
            break;
        }
    }
    tmux(&["kill-session", "-t", &session]);
    assert!(
        screen.contains("DETACHED"),
        "detach keys did not detach: {screen}"
    );
    // Detaching leaves it running.
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Running}}", "att"])
            .trim(),
        "true"
    );
    // A wait for removal ends when the container is removed, with its code.
    let sock = d.socket.clone();
    let waiter = std::thread::spawn(move || {
        berth_testkit::request(
            &sock,
            "POST",
            "/containers/att/wait?condition=removed",
            &[],
            b"",
        )
        .unwrap()
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!waiter.is_finished(), "wait returned before removal");
    d.docker_ok(&["rm", "-f", "att"]);
    let r = waiter.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["StatusCode"], 137);
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
    let o = cat_through(&d, b"embedded\n");
    assert_eq!(out(&o), "embedded\n");
}

#[test]
fn always_policy_restarts_and_prune_removes_stopped() {
    let d = daemon();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "always1",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2; exit 1",
    ]);
    let t = Instant::now();
    loop {
        let n: i64 = d
            .docker_ok(&["inspect", "-f", "{{.RestartCount}}", "always1"])
            .trim()
            .parse()
            .unwrap();
        if n >= 2 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "always did not restart"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // An explicit stop ends the cycle.
    d.docker_ok(&["stop", "-t", "1", "always1"]);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Running}}", "always1"])
            .trim(),
        "false"
    );
    // prune removes stopped containers with the label, and only those.
    d.docker_ok(&[
        "create",
        "--name",
        "prune-me",
        "--label",
        "prune=yes",
        "busybox",
        "true",
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "prune-keep",
        "--label",
        "prune=yes",
        "busybox",
        "sleep",
        "30",
    ]);
    let o = d.docker_ok(&["container", "prune", "-f", "--filter", "label=prune=yes"]);
    assert!(o.contains("Deleted Containers"), "{o}");
    assert!(!d.docker(&["inspect", "prune-me"]).status.success());
    assert!(d.docker(&["inspect", "prune-keep"]).status.success());
    d.docker_ok(&["rm", "-f", "prune-keep", "always1"]);
}

/// Many unnamed creates at once all succeed: a generated name another
/// create took in the meantime is generated again (there are only 625
/// adjective_noun pairs, so collisions are common at this count).
#[test]
fn concurrent_unnamed_creates_never_collide() {
    let d = daemon();
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..120)
            .map(|_| {
                s.spawn(|| {
                    let r = d.post_json(
                        "/containers/create",
                        r#"{"Image":"busybox","Cmd":["true"],"Labels":{"race":"1"}}"#,
                    );
                    assert_eq!(r.status, 201, "{}", r.text());
                    r.json()["Id"].as_str().unwrap().to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let names = d.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        "label=race=1",
        "--format",
        "{{.Names}}",
    ]);
    let mut names: Vec<&str> = names.lines().collect();
    assert_eq!(names.len(), 120);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 120, "names are unique");
    let mut args = vec!["rm"];
    args.extend(ids.iter().map(String::as_str));
    d.docker_ok(&args);
}
