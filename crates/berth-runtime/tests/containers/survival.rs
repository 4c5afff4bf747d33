//! Signals, pause, and shims outliving their clients and a killed daemon.

use super::*;

#[tokio::test]
async fn kill_delivers_signals() {
    let runc = need_runc!();
    let env = Env::new();
    let cfg = env.config(
        runc_entry(runc),
        r#"{"Cmd":["sh","-c","trap 'echo got-term; exit 42' TERM; echo ready; while true; do sleep 0.05; done"]}"#,
    );
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    let mut a = client.attach(false, true, false).await.unwrap();
    client.start().await.unwrap();
    let mut acc = Vec::new();
    read_until(&mut a.output, &mut acc, "ready").await;
    client.kill(libc::SIGTERM).await.unwrap();
    let st = client.wait().await.unwrap();
    assert_eq!(st.exit_code, 42);
    assert!(String::from_utf8_lossy(
        &demux(&{
            acc.extend(read_all(&mut a.output).await);
            acc
        })
        .0
    )
    .contains("got-term"));
    // Killing an exited container is "not running".
    assert!(client.kill(libc::SIGKILL).await.is_err());

    // stop: the signal is ignored by pid 1, so the timeout escalates to SIGKILL.
    let env3 = Env::new();
    let cfg = env3.config(runc_entry(runc_path()), r#"{"Cmd":["sleep","100"]}"#);
    let client3 = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    client3.start().await.unwrap();
    let t0 = std::time::Instant::now();
    let st = client3
        .stop(libc::SIGTERM, Some(Duration::from_millis(500)))
        .await
        .unwrap();
    assert_eq!(st.exit_code, 137);
    assert!(t0.elapsed() >= Duration::from_millis(500));
    // Starting it again (a new shim run) does not see the old exit record.
    client3.cleanup().await.unwrap();
    let cfg = env3.config(runc_entry(runc_path()), r#"{"Cmd":["sh","-c","exit 4"]}"#);
    let client3 = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    assert!(client3.exit_status().is_none());
    client3.start().await.unwrap();
    assert_eq!(client3.wait().await.unwrap().exit_code, 4);

    // SIGKILL → 137.
    let env2 = Env::new();
    let cfg = env2.config(runc_entry(runc_path()), r#"{"Cmd":["sleep","100"]}"#);
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    client.start().await.unwrap();
    client.kill(libc::SIGKILL).await.unwrap();
    assert_eq!(client.wait().await.unwrap().exit_code, 137);
}

#[tokio::test]
async fn shim_outlives_its_client_and_is_found_again() {
    let runc = need_runc!();
    let env = Env::new();
    let cfg = env.config(
        runc_entry(runc),
        r#"{"Cmd":["sh","-c","echo before; read x; echo after; exit 7"],"OpenStdin":true}"#,
    );
    let shim_pid;
    {
        let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
        client.start().await.unwrap();
        shim_pid = client.shim_pid().unwrap();
        // The shim is in its own session, not our child.
        let stat = std::fs::read_to_string(format!("/proc/{shim_pid}/stat")).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after.split(' ').collect();
        let (ppid, sid): (i32, i32) = (fields[1].parse().unwrap(), fields[3].parse().unwrap());
        assert_ne!(ppid, std::process::id() as i32);
        assert_eq!(sid, shim_pid, "shim is not a session leader");
        let status = std::fs::read_to_string(format!("/proc/{shim_pid}/status")).unwrap();
        let field = |name: &str| -> u64 {
            let l = status.lines().find(|l| l.starts_with(name)).unwrap();
            l.split_whitespace().nth(1).unwrap().parse().unwrap()
        };
        let (rss, anon, file) = (field("VmRSS:"), field("RssAnon:"), field("RssFile:"));
        let pss: u64 = std::fs::read_to_string(format!("/proc/{shim_pid}/smaps_rollup"))
            .unwrap()
            .lines()
            .find(|l| l.starts_with("Pss:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0);
        println!(
            "shim memory while its container runs: VmRSS {rss} kB (RssAnon {anon} kB private, RssFile {file} kB shared text), Pss {pss} kB"
        );
        assert!(rss < 8 * 1024, "shim RSS {rss} kB");
        assert!(anon < 1024, "shim private memory {anon} kB");
        // Let the container get to its `read` before we re-attach.
        for _ in 0..200 {
            if std::fs::read_to_string(env.log_path())
                .unwrap_or_default()
                .contains("before")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The client (the "daemon") goes away here.
    }
    let again = ShimClient::open(&env.state_dir()).await.unwrap();
    assert!(
        matches!(again.status().await.unwrap(), berth_runtime::client::ShimStatus::Running(p) if p > 0)
    );
    let mut a = again.attach(true, true, false).await.unwrap();
    a.input.write_all(b"go\n").await.unwrap();
    assert_eq!(again.wait().await.unwrap().exit_code, 7);
    let out = demux(&read_all(&mut a.output).await).0;
    assert_eq!(out, b"after\n");
    // A third client after the shim is gone still gets the exit code.
    let late = ShimClient::open(&env.state_dir()).await.unwrap();
    match late.status().await.unwrap() {
        berth_runtime::client::ShimStatus::Exited(e) => assert_eq!(e.exit_code, 7),
        s => panic!("{s:?}"),
    }
    assert_eq!(late.wait().await.unwrap().exit_code, 7);
    assert_eq!(logged_lines(&env), vec!["before\n", "after\n"]);
    // The shim exits right after answering its waiters.
    let mut gone = false;
    for _ in 0..100 {
        let stat = std::fs::read_to_string(format!("/proc/{shim_pid}/stat")).unwrap_or_default();
        if stat.is_empty() || stat[stat.rfind(')').unwrap() + 2..].starts_with('Z') {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "shim still running");
}

#[tokio::test]
async fn init_pause_resume_and_kill_before_start() {
    let runc = need_runc!();
    if spec::find_init_binary().is_none() {
        eprintln!("skipped: no docker-init / tini-static");
        return;
    }
    // --init: docker-init is pid 1 and reaps; the command's exit code comes through.
    let env = Env::new();
    let (st, out) = run_to_end(&env, r#"{"Cmd":["sh","-c","cat /proc/1/cmdline | tr '\\0' ' '; exit 5"],"HostConfig":{"Init":true}}"#).await;
    assert_eq!(st.exit_code, 5, "{out}");
    assert!(out.starts_with("/sbin/docker-init -- sh"), "{out}");

    // pause / resume through the runtime.
    let env = Env::new();
    let cfg = env.config(runc_entry(runc.clone()), r#"{"Cmd":["sleep","100"]}"#);
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    client.start().await.unwrap();
    let state = |want: &'static str| {
        let out = std::process::Command::new(&runc)
            .arg("--root")
            .arg(env.runtime_root())
            .args(["state", &env.id])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["status"], want);
    };
    client.pause().await.unwrap();
    state("paused");
    client.resume().await.unwrap();
    state("running");
    client.kill(libc::SIGKILL).await.unwrap();
    assert_eq!(client.wait().await.unwrap().exit_code, 137);

    // A created, never started container can be killed and is cleaned up.
    let env = Env::new();
    let cfg = env.config(runc_entry(runc), r#"{"Cmd":["true"]}"#);
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    client.kill(libc::SIGKILL).await.unwrap();
    assert_eq!(client.wait().await.unwrap().exit_code, 137);
    assert!(!runc_state_exists(&env));
    client.cleanup().await.unwrap();
}

#[tokio::test]
async fn daemon_killed_with_sigkill_then_found_again() {
    let runc = need_runc!();
    let env = Env::new();
    let cfg = env.config(
        runc_entry(runc),
        r#"{"Cmd":["sh","-c","echo one; sleep 1; echo two; sleep 1; echo three; exit 9"]}"#,
    );
    let cfg_file = env.p("daemon-config.json");
    std::fs::write(&cfg_file, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let mut daemon = tokio::process::Command::new(SHIM_EXE)
        .arg("daemon")
        .arg(&cfg_file)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = tokio::io::BufReader::new(daemon.stdout.take().unwrap());
    tokio::time::timeout(
        Duration::from_secs(20),
        tokio::io::AsyncBufReadExt::read_line(&mut out, &mut line),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(line.starts_with("started "), "{line}");
    // kill -9 the "daemon".
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    // A new "daemon" finds the container running, and its exit later.
    let again = ShimClient::open(&env.state_dir()).await.unwrap();
    let pid: i32 = line
        .trim()
        .strip_prefix("started ")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        again.status().await.unwrap(),
        berth_runtime::client::ShimStatus::Running(pid)
    );
    assert_eq!(again.pid(), pid);
    let st = again.wait().await.unwrap();
    assert_eq!(st.exit_code, 9);
    let text: Vec<String> = logs::read_entries(
        &env.log_path(),
        &LogOptions {
            stdout: true,
            ..Default::default()
        },
    )
    .unwrap()
    .into_iter()
    .map(|e| String::from_utf8(e.log).unwrap())
    .collect();
    assert_eq!(text, vec!["one\n", "two\n", "three\n"]);
}
