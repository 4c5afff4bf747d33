//! Running containers: output, exit codes, stdin, logs, a TTY, attach.

use super::*;

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
pub(crate) fn cat_through(d: &TestDaemon, input: &[u8]) -> std::process::Output {
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

/// The log drivers come from their registry: `/info` names them, json-file
/// reads back each stream on its own, and `none` refuses `docker logs` as
/// dockerd does.
#[test]
fn log_drivers_are_listed_and_read_back_through_their_driver() {
    let d = daemon();
    let info = d.docker_ok(&["info", "-f", "{{.LoggingDriver}} {{.Plugins.Log}}"]);
    assert_eq!(info.trim(), "json-file [json-file none]");
    let sh = "echo to-out; echo to-err >&2";
    d.docker_ok(&["run", "--name", "logs-json", "busybox", "sh", "-c", sh]);
    let o = d.docker(&["logs", "logs-json"]);
    assert_eq!(
        (out(&o).as_str(), err(&o).as_str()),
        ("to-out\n", "to-err\n")
    );
    d.docker_ok(&[
        "run",
        "--name",
        "logs-none",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "x",
    ]);
    let o = d.docker(&["logs", "logs-none"]);
    assert!(!o.status.success());
    assert!(
        err(&o).contains("configured logging driver does not support reading"),
        "{}",
        err(&o)
    );
    let o = d.docker(&["run", "--rm", "--log-driver", "nosuch", "busybox", "true"]);
    assert!(!o.status.success(), "an unknown log driver ran");
    d.docker_ok(&["rm", "logs-json", "logs-none"]);
}
