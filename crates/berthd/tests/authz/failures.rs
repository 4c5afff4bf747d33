//! Plugins that fail, reloads, TLS users, and the conformance suite.

use super::*;

#[test]
fn a_plugin_that_answers_garbage_denies_everything() {
    let dir = tempfile::tempdir().unwrap();
    let p = Plugin::python("garbage", dir.path(), "garbage");
    let d = daemon_then_reload(&p);
    for path in ["/_ping", "/v1.41/version", "/containers/json"] {
        let r = d.get(path);
        assert_eq!(r.status, 403, "{path}: {}", r.text());
        let msg = r.json()["message"].as_str().unwrap().to_string();
        assert!(
            msg.starts_with(&format!(
                "plugin {} failed with error: AuthZPlugin.AuthZReq",
                p.name
            )),
            "{msg}"
        );
    }
    let o = d.docker(&["volume", "create", "nope"]);
    assert!(!o.status.success());
    // The plugin was asked, and its garbage counted as no.
    assert!(!p.seen("AuthZReq", "GET", "/_ping").is_empty());
    // Taking it out of the chain opens the API again.
    std::fs::write(
        d.root().join("daemon.json"),
        r#"{"authorization-plugins": []}"#,
    )
    .unwrap();
    reload(&d);
    assert_eq!(d.get("/_ping").status, 200);
    assert!(!volume_names(&d).contains(&"nope".to_string()));
    // A plugin that is not there at all denies too.
    let missing = format!("berth-authz-test-{}-missing", std::process::id());
    std::fs::write(
        d.root().join("daemon.json"),
        serde_json::json!({ "authorization-plugins": [missing] }).to_string(),
    )
    .unwrap();
    reload(&d);
    let r = d.get("/_ping");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.text()
            .contains(&format!("plugin {missing} failed with error"))
            && r.text().contains("not found"),
        "{}",
        r.text()
    );
}

#[test]
fn a_plugin_that_hangs_denies_within_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let p = Plugin::python("hang", dir.path(), "hang");
    let d = daemon_then_reload(&p);
    // /_ping goes through authorization as everything else, so it waits for
    // the plugin's deadline and is denied, as dockerd does.
    let t = Instant::now();
    let r = d.get("/_ping");
    let took = t.elapsed();
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("did not answer within"), "{}", r.text());
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(
        took >= Duration::from_secs(5),
        "took {took:?}: no deadline was waited for"
    );
    let o = d.docker(&["volume", "create", "nope"]);
    assert!(!o.status.success());
}

#[test]
fn plugin_failures_deny_and_reload_changes_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let mut rust = Plugin::rust("kill", dir.path(), &["DELETE /volumes/"]);
    let d = daemon_then_reload(&rust);
    d.docker_ok(&["volume", "create", "alive"]);

    // Killed: its socket is still there, nobody answers.
    rust.kill();
    let o = d.docker(&["volume", "ls"]);
    assert!(!o.status.success(), "volume ls went through a dead plugin");
    assert!(
        stderr(&o).contains(&format!(
            "Error response from daemon: plugin {} failed with error: AuthZPlugin.AuthZReq",
            rust.name
        )),
        "{}",
        stderr(&o)
    );
    let r = d.get("/_ping");
    assert_eq!(r.status, 403, "{}", r.text());
    // Back up: allowed again once the circuit breaker lets a call through.
    rust.restart();
    let t = Instant::now();
    while d.get("/_ping").status != 200 {
        assert!(t.elapsed() < Duration::from_secs(20), "never recovered");
        std::thread::sleep(Duration::from_millis(200));
    }
    d.docker_ok(&["volume", "ls"]);
}

#[test]
fn the_tls_client_certificate_names_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let py = Plugin::python("tls", dir.path(), "allow");
    let certs = pki();
    let f = |n: &str| certs.path().join(n).display().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let d = TestDaemon::start(
        BIN,
        &[
            "-H",
            &tcp,
            "--tlsverify",
            "--tlscacert",
            &f("ca.pem"),
            "--tlscert",
            &f("server-cert.pem"),
            "--tlskey",
            &f("server-key.pem"),
            "--authorization-plugin",
            &py.name,
        ],
    );
    let o = Command::new("docker")
        .args(["-H", &tcp, "--tlsverify", "volume", "create", "by-alice"])
        .env("DOCKER_CERT_PATH", certs.path())
        .env("DOCKER_CONFIG", d.root().join("cfg"))
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    let seen = py.seen("AuthZReq", "POST", "/volumes/create");
    assert_eq!(seen.len(), 1, "{seen:?}");
    let r = &seen[0];
    assert_eq!(r["User"], "alice");
    assert_eq!(r["UserAuthNMethod"], "TLS");
    let pem = decode_b64(r["RequestPeerCertificates"][0].as_str().unwrap());
    assert!(
        pem.starts_with(b"-----BEGIN CERTIFICATE-----\n"),
        "{}",
        String::from_utf8_lossy(&pem)
    );
    let res = py.seen("AuthZRes", "POST", "/volumes/create");
    assert_eq!(res[0]["User"], "alice");
    // The same daemon over its unix socket: no user.
    d.docker_ok(&["volume", "create", "by-root"]);
    let seen = py.seen("AuthZReq", "POST", "/volumes/create");
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[1].get("User").is_none(), "{}", seen[1]);
    assert!(seen[1].get("RequestPeerCertificates").is_none());
}

/// The testkit's authorization conformance suite, through a daemon whose
/// chain is one plugin: an SDK plugin (served from this process) and a
/// plugin in Python's standard library.
#[test]
fn the_authz_suite_passes_with_an_sdk_and_a_python_plugin() {
    use berth_testkit::suites::authz as suite;
    let (sdk, socket) = Plugin::names("suite-sdk");
    suite::serve_sdk(&socket);
    let d = TestDaemon::start(BIN, &["--authorization-plugin", &sdk]);
    suite::run(&d, &sdk);
    drop(d);
    let _ = std::fs::remove_file(&socket);

    let (py, socket) = Plugin::names("suite-py");
    let s = socket.clone();
    let spawn = move || {
        let mut c = Command::new("python3");
        c.arg(suite::python_script()).arg(&s);
        berth_testkit::daemon::spawn_tied_to_process(c).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let _p = Plugin::start(
        py.clone(),
        dir.path().join("none.log"),
        socket,
        Box::new(spawn),
    );
    let d = TestDaemon::start(BIN, &["--authorization-plugin", &py]);
    suite::run(&d, &py);
}
