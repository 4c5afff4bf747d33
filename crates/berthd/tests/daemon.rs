//! The daemon process itself: configuration errors, the pid file, socket
//! takeover, permissions, signals, TCP and TLS.

use berth_testkit::TestDaemon;
use nix::sys::signal::Signal;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_berthd");

/// Runs berthd expecting it to refuse to start; returns its stderr.
fn refuses(d: &TestDaemon, extra: &[&str]) -> String {
    let mut c = d.command();
    c.args(extra);
    let out = c.stdout(std::process::Stdio::null()).output().unwrap();
    assert!(!out.status.success(), "berthd started but should not have");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn unknown_daemon_json_key_is_a_startup_error() {
    let d = TestDaemon::new(BIN);
    std::fs::write(
        d.root().join("daemon.json"),
        r#"{"debug": true, "no-such-option": 1}"#,
    )
    .unwrap();
    let err = refuses(&d, &[]);
    assert!(
        err.contains(
            "the following directives don't match any configuration option: no-such-option"
        ),
        "{err}"
    );
    assert!(!d.socket.exists());
}

#[test]
fn flag_conflicting_with_daemon_json_is_a_startup_error() {
    let d = TestDaemon::new(BIN);
    std::fs::write(d.root().join("daemon.json"), r#"{"log-level": "warn"}"#).unwrap();
    let err = refuses(&d, &["--log-level", "debug"]);
    assert!(
        err.contains("specified both as a flag and in the configuration file: log-level"),
        "{err}"
    );
}

#[test]
fn second_daemon_on_the_same_pidfile_is_refused() {
    let d = TestDaemon::start(BIN, &[]);
    // Same pid file, different socket, so only the pid file can stop it.
    let out = Command::new(BIN)
        .args(
            d.base_args()
                .into_iter()
                .map(|a| a.replace("berth.sock", "other.sock")),
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pid file found"), "{err}");
    assert!(!d.root().join("other.sock").exists());
    // The first daemon is unaffected.
    assert_eq!(d.get("/_ping").status, 200);
}

#[test]
fn live_socket_is_not_stolen_and_stale_socket_is_replaced() {
    let d = TestDaemon::start(BIN, &[]);
    // A second daemon with another pid file on the same socket must refuse.
    let mut c = Command::new(BIN);
    c.args(d.base_args().into_iter().map(|a| {
        a.replace("berthd.pid", "second.pid")
            .replace("/data", "/data2")
    }));
    let out = c.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already listening"), "{err}");
    assert_eq!(
        d.get("/_ping").status,
        200,
        "the live daemon lost its socket"
    );

    // A stale socket (nothing listening) is taken over.
    let mut d2 = TestDaemon::new(BIN);
    let l = std::os::unix::net::UnixListener::bind(&d2.socket).unwrap();
    drop(l); // the file stays, nobody answers
    assert!(d2.socket.exists());
    d2.launch().unwrap();
    assert_eq!(d2.get("/_ping").status, 200);

    // A regular file in the socket's place is never removed.
    let d3 = TestDaemon::new(BIN);
    std::fs::write(&d3.socket, b"precious").unwrap();
    let err = refuses(&d3, &[]);
    assert!(err.contains("not a socket"), "{err}");
    assert_eq!(std::fs::read(&d3.socket).unwrap(), b"precious");
}

#[test]
fn socket_is_0660_owned_by_the_docker_group_or_root() {
    let d = TestDaemon::start(BIN, &[]);
    let m = std::fs::metadata(&d.socket).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o660);
    assert_eq!(m.uid(), 0);
    let want = nix::unistd::Group::from_name("docker")
        .unwrap()
        .map(|g| g.gid.as_raw())
        .unwrap_or(0);
    assert_eq!(m.gid(), want);
}

#[test]
fn sigterm_and_sigint_shut_down_gracefully() {
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        let mut d = TestDaemon::start(BIN, &[]);
        d.signal(sig);
        let st = d.wait_exit(Duration::from_secs(10)).unwrap();
        assert!(st.success(), "{sig}: {st}\n{}", d.log_text());
        assert!(!d.socket.exists(), "socket left behind after {sig}");
        assert!(!d.pidfile.exists(), "pid file left behind after {sig}");
        // Its data root is reusable at once.
        d.launch().unwrap();
        assert_eq!(d.get("/_ping").status, 200);
    }
}

#[test]
fn sighup_reloads_daemon_json() {
    let d = TestDaemon::start(BIN, &[]);
    assert_eq!(d.get("/info").json()["Labels"], serde_json::json!([]));
    std::fs::write(
        d.root().join("daemon.json"),
        r#"{"labels": ["tier=gold"], "debug": true}"#,
    )
    .unwrap();
    d.signal(Signal::SIGHUP);
    let mut ok = false;
    for _ in 0..200 {
        let i = d.get("/info").json();
        if i["Labels"] == serde_json::json!(["tier=gold"]) && i["Debug"] == true {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(ok, "labels not reloaded:\n{}", d.log_text());
    // A broken file is refused and the running configuration stays.
    std::fs::write(
        d.root().join("daemon.json"),
        r#"{"labels": ["x"], "bogus": 1}"#,
    )
    .unwrap();
    d.signal(Signal::SIGHUP);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        d.get("/info").json()["Labels"],
        serde_json::json!(["tier=gold"])
    );
    assert!(d.log_text().contains("bogus"), "{}", d.log_text());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn plain_tcp_only_on_loopback() {
    let d = TestDaemon::new(BIN);
    let err = refuses(&d, &["-H", "tcp://0.0.0.0:2375"]);
    assert!(err.contains("without --tlsverify"), "{err}");
    assert!(err.contains("taken over"), "{err}");
    assert!(
        !d.socket.exists(),
        "nothing may be bound when start-up fails"
    );

    let port = free_port();
    let addr = format!("tcp://127.0.0.1:{port}");
    let d = TestDaemon::start(BIN, &["-H", &addr]);
    let o = Command::new("docker")
        .args(["-H", &addr, "version", "--format", "{{.Server.APIVersion}}"])
        .env("DOCKER_CONFIG", d.root().join("cfg"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "1.50");
    // The unix socket works beside it.
    assert_eq!(d.get("/_ping").status, 200);
}

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "berth test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issue = |name: &str, sans: Vec<SanType>, client: bool| {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.subject_alt_names = sans;
            p.distinguished_name.push(DnType::CommonName, name);
            p.extended_key_usages = vec![if client {
                rcgen::ExtendedKeyUsagePurpose::ClientAuth
            } else {
                rcgen::ExtendedKeyUsagePurpose::ServerAuth
            }];
            let c = p.signed_by(&key, &ca_cert, &ca_key).unwrap();
            (c.pem(), key.serialize_pem())
        };
        let (scert, skey) = issue(
            "localhost",
            vec![
                SanType::IpAddress("127.0.0.1".parse().unwrap()),
                SanType::DnsName("localhost".try_into().unwrap()),
            ],
            false,
        );
        let (ccert, ckey) = issue("alice", vec![], true);
        let w = |n: &str, s: &str| std::fs::write(dir.path().join(n), s).unwrap();
        w("ca.pem", &ca_cert.pem());
        w("server-cert.pem", &scert);
        w("server-key.pem", &skey);
        w("cert.pem", &ccert);
        w("key.pem", &ckey);
        Pki { dir }
    }
    fn path(&self, n: &str) -> String {
        self.dir.path().join(n).display().to_string()
    }
}

#[test]
fn tlsverify_serves_any_address_and_demands_client_certs() {
    let pki = Pki::new();
    let port = free_port();
    // 0.0.0.0 is allowed with --tlsverify; the test talks to it on loopback only.
    let host = format!("tcp://0.0.0.0:{port}");
    let d = TestDaemon::start(
        BIN,
        &[
            "-H",
            &host,
            "--tlsverify",
            "--tlscacert",
            &pki.path("ca.pem"),
            "--tlscert",
            &pki.path("server-cert.pem"),
            "--tlskey",
            &pki.path("server-key.pem"),
        ],
    );
    let target = format!("tcp://127.0.0.1:{port}");
    let certs = pki.dir.path().display().to_string();
    let o = Command::new("docker")
        .args([
            "-H",
            &target,
            "--tlsverify",
            "version",
            "--format",
            "{{.Server.APIVersion}}",
        ])
        .env("DOCKER_CERT_PATH", &certs)
        .env("DOCKER_CONFIG", d.root().join("cfg"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "1.50");

    // Without a client certificate the handshake fails.
    std::fs::remove_file(pki.dir.path().join("cert.pem")).unwrap();
    std::fs::remove_file(pki.dir.path().join("key.pem")).unwrap();
    let o = Command::new("docker")
        .args([
            "-H",
            &target,
            "--tls",
            "--tlscacert",
            &pki.path("ca.pem"),
            "version",
        ])
        .env("DOCKER_CONFIG", d.root().join("cfg"))
        .output()
        .unwrap();
    assert!(!o.status.success(), "a client without a certificate got in");

    // --tlsverify without its files is refused at start-up.
    let d2 = TestDaemon::new(BIN);
    let err = refuses(&d2, &["--tlsverify"]);
    assert!(err.contains("--tlscacert"), "{err}");
}

#[test]
fn events_journal_survives_restart_and_reload_is_an_event() {
    let mut d = TestDaemon::start(BIN, &[]);
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    std::fs::write(d.root().join("daemon.json"), r#"{"labels": ["gen=1"]}"#).unwrap();
    // A live subscriber sees the reload as it happens.
    let mut live = d
        .docker_cmd(&[
            "events",
            "--filter",
            "type=daemon",
            "--format",
            "{{.Type}} {{.Action}} {{index .Actor.Attributes \"labels\"}}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    d.signal(Signal::SIGHUP);
    let mut line = String::new();
    let mut r = std::io::BufReader::new(live.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut r, &mut line).unwrap();
    assert_eq!(line.trim(), r#"daemon reload ["gen=1"]"#);
    let _ = live.kill();
    let _ = live.wait();
    let id = d.get("/info").json()["ID"].as_str().unwrap().to_string();

    // After a restart, --since replays the journal.
    d.restart();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let out = d.docker_ok(&[
        "events",
        "--since",
        &t0.to_string(),
        "--until",
        &now.to_string(),
        "--format",
        "{{.Action}} {{.Actor.ID}}",
    ]);
    assert_eq!(out.trim(), format!("reload {id}"));
    // A filter that matches nothing gives nothing.
    let out = d.docker_ok(&[
        "events",
        "--since",
        &t0.to_string(),
        "--until",
        &now.to_string(),
        "--filter",
        "event=start",
    ]);
    assert!(out.trim().is_empty(), "{out}");
}
