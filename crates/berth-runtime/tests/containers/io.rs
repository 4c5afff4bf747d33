//! Stdio through the shim: attach, stdin, TTY, logs and their rotation.

use super::*;

#[tokio::test]
async fn echo_attach_log_and_exit_code() {
    let runc = need_runc!();
    let env = Env::new();
    let cfg = env.config(
        runc_entry(runc),
        r#"{"Cmd":["sh","-c","echo hi; echo oops >&2; exit 3"]}"#,
    );
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    assert!(client.pid() > 0);
    assert!(matches!(
        client.status().await.unwrap(),
        berth_runtime::client::ShimStatus::Created(_)
    ));
    let mut a = client.attach(false, true, true).await.unwrap();
    client.start().await.unwrap();
    let bytes = read_all(&mut a.output).await;
    let (out, err) = demux(&bytes);
    assert_eq!(out, b"hi\n");
    assert_eq!(err, b"oops\n");
    let st = client.wait().await.unwrap();
    assert_eq!(st.exit_code, 3);
    assert!(st.finished_at.ends_with('Z'), "{}", st.finished_at);
    assert_eq!(client.exit_status().unwrap().exit_code, 3);
    // json-file log
    let text = std::fs::read_to_string(env.log_path()).unwrap();
    assert!(
        text.contains(r#"{"log":"hi\n","stream":"stdout","time":""#),
        "{text}"
    );
    assert!(
        text.contains(r#"{"log":"oops\n","stream":"stderr""#),
        "{text}"
    );
    let mut rx = client.logs(LogOptions {
        stdout: true,
        stderr: false,
        timestamps: true,
        ..Default::default()
    });
    let e = rx.recv().await.unwrap().unwrap();
    assert_eq!(
        (e.stream.as_str(), e.log.as_slice()),
        ("stdout", &b"hi\n"[..])
    );
    assert!(rx.recv().await.is_none());
    // The shim deleted the runtime state and its socket.
    assert!(!runc_state_exists(&env));
    assert!(!env.state_dir().join("shim.sock").exists());
    client.cleanup().await.unwrap();
    assert!(!env.state_dir().exists());
}

#[tokio::test]
async fn stdin_is_forwarded_and_closed_once() {
    let runc = need_runc!();
    let env = Env::new();
    let cfg = env.config(
        runc_entry(runc),
        r#"{"Cmd":["cat"],"OpenStdin":true,"StdinOnce":true}"#,
    );
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    let mut a = client.attach(true, true, true).await.unwrap();
    client.start().await.unwrap();
    a.input.write_all(b"hello through stdin\n").await.unwrap();
    let mut acc = Vec::new();
    read_until(&mut a.output, &mut acc, "stdin").await;
    a.input.shutdown().await.unwrap();
    acc.extend(read_all(&mut a.output).await);
    assert_eq!(demux(&acc).0, b"hello through stdin\n");
    assert_eq!(client.wait().await.unwrap().exit_code, 0);
}

#[tokio::test]
async fn tty_output_and_resize() {
    let runc = need_runc!();
    let env = Env::new();
    let cfg = env.config(
        runc_entry(runc),
        r#"{"Cmd":["sh","-c","stty size; echo tty-ready; read x; stty size; [ -t 0 ] && echo is-a-tty"],
            "Tty":true,"OpenStdin":true,"HostConfig":{"ConsoleSize":[24,80]}}"#,
    );
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    let mut a = client.attach(true, true, true).await.unwrap();
    client.start().await.unwrap();
    let mut acc = Vec::new();
    read_until(&mut a.output, &mut acc, "tty-ready").await;
    assert!(
        String::from_utf8_lossy(&acc).contains("24 80"),
        "{:?}",
        String::from_utf8_lossy(&acc)
    );
    client.resize(30, 100).await.unwrap();
    a.input.write_all(b"\n").await.unwrap();
    read_until(&mut a.output, &mut acc, "is-a-tty").await;
    let text = String::from_utf8_lossy(&acc).to_string();
    assert!(text.contains("30 100"), "{text:?}");
    // Raw (no frame headers), with the pty's CRLF.
    assert!(text.contains("tty-ready\r\n"), "{text:?}");
    assert_eq!(client.wait().await.unwrap().exit_code, 0);
    let log = std::fs::read_to_string(env.log_path()).unwrap();
    assert!(
        log.contains(r#""log":"tty-ready\r\n","stream":"stdout""#),
        "{log}"
    );
}

#[tokio::test]
async fn log_rotation_and_follow() {
    let runc = need_runc!();
    let env = Env::new();
    let cfg = env.config(
        runc_entry(runc),
        r#"{"Cmd":["sh","-c","i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done; sleep 0.3; echo last"],
            "HostConfig":{"LogConfig":{"Type":"json-file","Config":{"max-size":"2000","max-file":"3"}}}}"#,
    );
    assert_eq!((cfg.log_max_size, cfg.log_max_file), (Some(2000), 3));
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    let mut rx = client.logs(LogOptions {
        stdout: true,
        stderr: true,
        follow: true,
        tail: Some(0),
        ..Default::default()
    });
    client.start().await.unwrap();
    let mut followed = Vec::new();
    let collect = async {
        while let Some(e) = rx.recv().await {
            followed.push(String::from_utf8(e.unwrap().log).unwrap());
        }
    };
    tokio::time::timeout(Duration::from_secs(20), collect)
        .await
        .expect("follow did not end");
    assert_eq!(client.wait().await.unwrap().exit_code, 0);
    assert_eq!(followed.last().map(String::as_str), Some("last\n"));
    let files = logs::log_files(&env.log_path());
    assert_eq!(files.len(), 3, "{files:?}");
    for f in &files {
        let len = std::fs::metadata(f).unwrap().len();
        assert!(len <= 2000, "{} is {len} bytes", f.display());
    }
    let kept = logs::read_entries(
        &env.log_path(),
        &LogOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(kept.len() < 301 && kept.len() > 20);
    let tail = logs::read_entries(
        &env.log_path(),
        &LogOptions {
            stdout: true,
            tail: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    let tail: Vec<_> = tail
        .into_iter()
        .map(|e| String::from_utf8(e.log).unwrap())
        .collect();
    assert_eq!(tail, vec!["line-299\n", "last\n"]);
}

#[tokio::test]
async fn follow_loses_nothing_across_rotations() {
    let runc = need_runc!();
    let env = Env::new();
    let cfg = env.config(
        runc_entry(runc),
        // ~85 bytes an entry: 40 entries rotate 3-4 times and all stay on
        // disk, so only a follower bug (not lag) could lose lines.
        r#"{"Cmd":["sh","-c","i=0; while [ $i -lt 40 ]; do echo follow-line-number-$i; i=$((i+1)); usleep 10000; done"],
            "HostConfig":{"LogConfig":{"Type":"json-file","Config":{"max-size":"1000","max-file":"5"}}}}"#,
    );
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    let mut rx = client.logs(LogOptions {
        stdout: true,
        stderr: true,
        follow: true,
        ..Default::default()
    });
    client.start().await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(e) = rx.recv().await {
            got.push(String::from_utf8(e.unwrap().log).unwrap());
        }
    })
    .await
    .expect("follow did not end");
    let want: Vec<String> = (0..40)
        .map(|i| format!("follow-line-number-{i}\n"))
        .collect();
    assert_eq!(got, want);
    assert!(logs::log_files(&env.log_path()).len() >= 3);
    assert_eq!(client.wait().await.unwrap().exit_code, 0);
}
