//! Authorization plugins through a real berthd: legacy plugins on unix
//! sockets in /run/docker/plugins, each its own process. One is
//! examples/authz-deny (Rust, berth-plugin-sdk), run by re-executing this
//! test binary; the other is written in Python's standard library, to prove
//! wire compatibility. Both record every call they get to a file.

use berth_testkit::{request, TestDaemon};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berthd");
const PLUGIN_ENV: &str = "BERTH_AUTHZ_TEST_PLUGIN_ARGS";

/// Not a test: the entry point of the Rust plugin processes the tests
/// start (this binary, re-executed with the plugin's flags in PLUGIN_ENV).
#[test]
#[ignore = "entry point of the authz-deny plugin processes the other tests start"]
fn plugin_process() {
    let args = std::env::var(PLUGIN_ENV).expect("run by the tests only");
    let args: Vec<String> = serde_json::from_str(&args).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    if let Err(e) = rt.block_on(authz_deny::run(args)) {
        panic!("authz-deny: {e}");
    }
}

/// A plugin process, killed (and its socket removed) on drop.
struct Plugin {
    name: String,
    log: PathBuf,
    socket: PathBuf,
    child: Option<Child>,
    spawn: Box<dyn Fn() -> Child + Send + Sync>,
}

impl Plugin {
    fn names(tag: &str) -> (String, PathBuf) {
        sweep_stale_sockets();
        let name = format!("berth-authz-test-{}-{tag}", std::process::id());
        let socket = PathBuf::from(format!("/run/docker/plugins/{name}.sock"));
        (name, socket)
    }

    /// examples/authz-deny with `rules`, logging to `dir`.
    fn rust(tag: &str, dir: &Path, rules: &[&str]) -> Plugin {
        let (name, socket) = Plugin::names(tag);
        let log = dir.join(format!("{tag}.log"));
        let mut args = vec!["--name".to_string(), name.clone()];
        args.extend(["--log".to_string(), log.display().to_string()]);
        for r in rules {
            args.extend(["--deny".to_string(), r.to_string()]);
        }
        let args = serde_json::to_string(&args).unwrap();
        let spawn = move || {
            let mut c = Command::new(std::env::current_exe().unwrap());
            c.args([
                "plugin_process",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(PLUGIN_ENV, &args)
            .stdout(Stdio::null());
            berth_testkit::daemon::spawn_tied_to_process(c).unwrap()
        };
        Plugin::start(name, log, socket, Box::new(spawn))
    }

    /// The Python plugin in `mode`: `allow` (allows all but a volume named
    /// py-denied), `garbage` (answers non-JSON) or `hang` (never answers).
    fn python(tag: &str, dir: &Path, mode: &str) -> Plugin {
        let (name, socket) = Plugin::names(tag);
        let log = dir.join(format!("{tag}.log"));
        let script = dir.join(format!("{tag}.py"));
        std::fs::write(&script, PYTHON_PLUGIN).unwrap();
        let (s, m, l) = (socket.clone(), mode.to_string(), log.clone());
        let spawn = move || {
            let mut c = Command::new("python3");
            c.arg(&script).arg(&s).arg(&m).arg(&l);
            berth_testkit::daemon::spawn_tied_to_process(c).unwrap()
        };
        Plugin::start(name, log, socket, Box::new(spawn))
    }

    fn start(
        name: String,
        log: PathBuf,
        socket: PathBuf,
        spawn: Box<dyn Fn() -> Child + Send + Sync>,
    ) -> Plugin {
        let mut p = Plugin {
            name,
            log,
            socket,
            child: None,
            spawn,
        };
        p.restart();
        p
    }

    fn restart(&mut self) {
        self.kill();
        self.child = Some((self.spawn)());
        let t = Instant::now();
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "plugin {} did not come up",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL; the socket file stays, as after a crash.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn calls(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Recorded calls of `call` ("AuthZReq"/"AuthZRes") for `method` whose
    /// URI contains `uri`.
    fn seen(&self, call: &str, method: &str, uri: &str) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c["call"].as_str().unwrap().ends_with(call))
            .map(|c| c["request"].clone())
            .filter(|r| {
                r["RequestMethod"] == method && r["RequestUri"].as_str().unwrap().contains(uri)
            })
            .collect()
    }
}

/// The shared daemon's plugins live in a `static` and are never dropped:
/// remove the sockets earlier runs of this binary left behind.
fn sweep_stale_sockets() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(dir) = std::fs::read_dir("/run/docker/plugins") else {
            return;
        };
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("berth-authz-test-") else {
                continue;
            };
            let pid = rest.split('-').next().unwrap_or("");
            if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    });
}

impl Drop for Plugin {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.socket);
    }
}

const PYTHON_PLUGIN: &str = r#"
import base64, http.server, json, os, socketserver, sys, time

sock, mode, log = sys.argv[1], sys.argv[2], sys.argv[3]

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def address_string(self):
        return "unix"

    def answer(self, body, ctype="application/vnd.docker.plugins.v1+json"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        req = json.loads(raw or b"{}")
        if self.path == "/Plugin.Activate":
            return self.answer(json.dumps({"Implements": ["authz"]}).encode())
        with open(log, "a") as f:
            f.write(json.dumps({"call": self.path, "request": req}) + "\n")
        if mode == "hang":
            time.sleep(3600)
        if mode == "garbage":
            return self.answer(b"<html>surely not JSON", "text/html")
        allow, msg = True, ""
        if self.path == "/AuthZPlugin.AuthZReq":
            body = base64.b64decode(req.get("RequestBody", ""))
            try:
                doc = json.loads(body) if body else {}
            except ValueError:
                doc = {}
            if isinstance(doc, dict) and doc.get("Name") == "py-denied":
                allow, msg = False, "python says no to py-denied"
        self.answer(json.dumps({"Allow": allow, "Msg": msg}).encode())

class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

os.makedirs(os.path.dirname(sock), exist_ok=True)
if os.path.exists(sock):
    os.unlink(sock)
Server(sock, Handler).serve_forever()
"#;

/// The shared daemon: authz-deny (denies `docker volume rm`, attaching to
/// the container `noattach` and builds), then the Python plugin.
struct Setup {
    d: TestDaemon,
    rust: Plugin,
    py: Plugin,
    _dir: tempfile::TempDir,
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let rust = Plugin::rust(
            "deny",
            dir.path(),
            &[
                "DELETE /volumes/",
                "POST /containers/noattach/attach",
                "POST /build",
            ],
        );
        let py = Plugin::python("py", dir.path(), "allow");
        let d = TestDaemon::start(
            BIN,
            &[
                "--default-runtime",
                "runc",
                "--authorization-plugin",
                &rust.name,
                "--authorization-plugin",
                &py.name,
            ],
        );
        Setup {
            d,
            rust,
            py,
            _dir: dir,
        }
    })
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(size) {
        write!(out, "{:x}\r\n", c.len()).unwrap();
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn volume_names(d: &TestDaemon) -> Vec<String> {
    d.docker_ok(&["volume", "ls", "--format", "{{.Name}}"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_plugin_denies_one_operation_and_allows_the_rest() {
    let s = setup();
    let d = &s.d;
    d.docker_ok(&["volume", "create", "keep"]);
    let o = d.docker(&["volume", "rm", "keep"]);
    assert!(!o.status.success(), "volume rm went through");
    let msg = format!(
        "Error response from daemon: authorization denied by plugin {}: DELETE /volumes/keep is not allowed by policy",
        s.rust.name
    );
    assert!(stderr(&o).contains(&msg), "{}", stderr(&o));
    assert!(volume_names(d).contains(&"keep".to_string()));
    // The CLI's 403, raw.
    let r = request(&d.socket, "DELETE", "/v1.41/volumes/keep", &[], b"").unwrap();
    assert_eq!(r.status, 403);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("authorization denied by plugin"));
    // The chain is in /info.
    let info = d.docker_ok(&["info", "--format", "{{json .Plugins.Authorization}}"]);
    assert_eq!(
        serde_json::from_str::<Value>(&info).unwrap(),
        serde_json::json!([s.rust.name, s.py.name])
    );

    // What the plugins got for the create: method, URI, body, headers,
    // no user over the unix socket, then the response.
    for p in [&s.rust, &s.py] {
        let reqs = p.seen("AuthZReq", "POST", "/volumes/create");
        let r = reqs
            .iter()
            .find(|r| {
                let body = r["RequestBody"].as_str().unwrap_or("");
                let body = decode_b64(body);
                serde_json::from_slice::<Value>(&body).is_ok_and(|b| b["Name"] == "keep")
            })
            .unwrap_or_else(|| panic!("{} never saw the create: {reqs:?}", p.name));
        assert!(
            r["RequestUri"].as_str().unwrap().starts_with("/v1.")
                && r["RequestUri"]
                    .as_str()
                    .unwrap()
                    .ends_with("/volumes/create"),
            "{r}"
        );
        assert!(r.get("User").is_none(), "{r}");
        assert!(r.get("UserAuthNMethod").is_none(), "{r}");
        assert_eq!(r["RequestHeaders"]["Content-Type"], "application/json");
        assert!(r["RequestHeaders"]["User-Agent"]
            .as_str()
            .unwrap()
            .starts_with("Docker-Client/"));
        let res = p.seen("AuthZRes", "POST", "/volumes/create");
        assert!(
            res.iter().any(|r| r["ResponseStatusCode"] == 201
                && String::from_utf8_lossy(&decode_b64(r["ResponseBody"].as_str().unwrap()))
                    .contains("\"Name\":\"keep\"")),
            "{} got no AuthZRes for the create: {res:?}",
            p.name
        );
    }
    // The denial came from the first plugin; the second was never asked.
    assert!(!s
        .rust
        .seen("AuthZReq", "DELETE", "/volumes/keep")
        .is_empty());
    assert!(s.py.seen("AuthZReq", "DELETE", "/volumes/keep").is_empty());
    // /_ping is authorized too.
    assert!(!s.py.seen("AuthZReq", "GET", "/_ping").is_empty());
}

/// Go's base64 of []byte, decoded by hand to keep the test free of deps.
fn decode_b64(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = A.iter().position(|&a| a == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[test]
fn every_plugin_must_allow_and_chunked_bodies_are_seen() {
    let s = setup();
    let d = &s.d;
    // The first plugin allows, the second denies.
    let o = d.docker(&["volume", "create", "py-denied"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!(
            "authorization denied by plugin {}: python says no to py-denied",
            s.py.name
        )),
        "{}",
        stderr(&o)
    );
    // A chunked body is read whole and shown: the same denial.
    let chunked_create = |name: &str| {
        let body = format!(r#"{{"Name":"{name}","Labels":{{"via":"chunks"}}}}"#);
        request(
            &d.socket,
            "POST",
            "/v1.41/volumes/create",
            &[
                ("Content-Type", "application/json"),
                ("Transfer-Encoding", "chunked"),
            ],
            &chunked(body.as_bytes(), 5),
        )
        .unwrap()
    };
    let r = chunked_create("py-denied");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(!volume_names(d).contains(&"py-denied".to_string()));
    let r = chunked_create("chunky");
    assert_eq!(r.status, 201, "{}", r.text());
    let seen = s.rust.seen("AuthZReq", "POST", "/v1.41/volumes/create");
    let r = seen
        .iter()
        .find(|r| {
            decode_b64(r["RequestBody"].as_str().unwrap_or(""))
                == br#"{"Name":"chunky","Labels":{"via":"chunks"}}"#
        })
        .expect("the chunked body reached the plugin whole");
    assert!(
        r["RequestHeaders"].get("Transfer-Encoding").is_none(),
        "{r}"
    );
    let v = d.docker_ok(&["volume", "inspect", "chunky", "--format", "{{.Labels.via}}"]);
    assert_eq!(v.trim(), "chunks");
}

#[test]
fn oversized_and_smuggled_bodies_never_get_through() {
    let s = setup();
    let d = &s.d;
    let big = format!(
        r#"{{"Image":"busybox","Labels":{{"pad":"{}"}},"HostConfig":{{"Privileged":true}}}}"#,
        "x".repeat(2 << 20)
    );
    let r = request(
        &d.socket,
        "POST",
        "/v1.41/containers/create?name=huge-declared",
        &[("Content-Type", "application/json")],
        big.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("exceeds 1048576 bytes"));
    let r = request(
        &d.socket,
        "POST",
        "/v1.41/containers/create?name=huge-chunked",
        &[
            ("Content-Type", "application/json"),
            ("Transfer-Encoding", "chunked"),
        ],
        &chunked(big.as_bytes(), 64 << 10),
    )
    .unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
    // Neither plugin ever saw those requests (so never a body-less version),
    // and nothing was created.
    for p in [&s.rust, &s.py] {
        assert!(p.seen("AuthZReq", "POST", "huge-").is_empty());
    }
    let ps = d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!ps.contains("huge-"), "{ps}");

    // CVE-2024-41110's shape: Content-Length 0 with a body behind it. The
    // bytes after the empty body are not a body; they never create "smuggled".
    let _ = request(
        &d.socket,
        "POST",
        "/v1.41/volumes/create",
        &[
            ("Content-Type", "application/json"),
            ("Content-Length", "0"),
        ],
        br#"{"Name":"smuggled"}"#,
    );
    assert!(!volume_names(d).contains(&"smuggled".to_string()));
    // An empty body is checked as such.
    let r = request(
        &d.socket,
        "POST",
        "/v1.41/volumes/create?zero",
        &[("Content-Length", "0")],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let seen = s
        .rust
        .seen("AuthZReq", "POST", "/v1.41/volumes/create?zero");
    assert_eq!(seen.len(), 1);
    assert!(seen[0].get("RequestBody").is_none(), "{}", seen[0]);
}

#[test]
fn uploads_are_authorized_on_their_request_line_and_headers() {
    let s = setup();
    let d = &s.d;
    // A build context is a tar stream: the plugin decides without it, and
    // a denial reaches the client even while it is still sending.
    let tar = vec![0u8; 3 << 20];
    let r = request(
        &d.socket,
        "POST",
        "/v1.41/build?t=denied",
        &[("Content-Type", "application/x-tar")],
        &tar,
    )
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        format!(
            "authorization denied by plugin {}: POST /build is not allowed by policy",
            s.rust.name
        )
    );
    let seen = s.rust.seen("AuthZReq", "POST", "/v1.41/build?t=denied");
    assert_eq!(seen.len(), 1);
    assert!(seen[0].get("RequestBody").is_none());
    assert_eq!(
        seen[0]["RequestHeaders"]["Content-Type"],
        "application/x-tar"
    );
    assert_eq!(seen[0]["RequestHeaders"]["Content-Length"], "3145728");
}

#[test]
fn version_prefixes_and_path_tricks_cannot_dodge_the_check() {
    let s = setup();
    let d = &s.d;
    d.docker_ok(&["volume", "create", "v2"]);
    for path in [
        "/volumes/v2",
        "/v1.41/volumes/v2",
        "/v1.24/volumes/v2",
        "/volumes/v2/",
    ] {
        let r = request(&d.socket, "DELETE", path, &[], b"").unwrap();
        assert_eq!(r.status, 403, "{path}: {}", r.text());
        // The plugin was asked about exactly what was sent.
        assert_eq!(
            s.rust.seen("AuthZReq", "DELETE", path).last().unwrap()["RequestUri"],
            path
        );
    }
    for path in [
        "/v1.41/../volumes/v2",
        "/v1.41/./volumes/v2",
        "//volumes/v2",
        "/v1.41//volumes/v2",
        "/v1.41/volumes/%76%32",
        "/v1.41/volumes/v%32",
        "/v1.41%2fvolumes/v2",
        "/v1.41/volumes/v2?force=%31",
    ] {
        let r = request(&d.socket, "DELETE", path, &[], b"").unwrap();
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert!(
            r.text().contains("invalid request path"),
            "{path}: {}",
            r.text()
        );
    }
    // A prefix berth does not strip is not routed either.
    let r = request(&d.socket, "DELETE", "/V1.41/volumes/v2", &[], b"").unwrap();
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(volume_names(d).contains(&"v2".to_string()));
    // The authorized URI is the routed one: an allowed GET of the same
    // volume with a prefix reaches the handler and the plugin saw it as sent.
    let r = request(&d.socket, "GET", "/v1.41/volumes/v2", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["Name"], "v2");
    assert_eq!(
        s.py.seen("AuthZReq", "GET", "/v1.41/volumes/v2")
            .last()
            .unwrap()["RequestUri"],
        "/v1.41/volumes/v2"
    );
}

#[test]
fn hijacked_attach_is_checked_before_the_upgrade() {
    let s = setup();
    let d = &s.d;
    // docker load streams its tar through the layer.
    d.load_busybox();
    let o = d.docker(&["run", "--rm", "busybox", "echo", "through"]);
    assert!(o.status.success(), "{}\n{}", stderr(&o), d.log_tail());
    assert_eq!(String::from_utf8_lossy(&o.stdout), "through\n");
    // The allowed attach was put to AuthZRes as a 101, without a body.
    let res = s.rust.seen("AuthZRes", "POST", "/attach?");
    assert!(
        res.iter()
            .any(|r| r["ResponseStatusCode"] == 101 && r.get("ResponseBody").is_none()),
        "{res:?}"
    );

    d.docker_ok(&["run", "-d", "--name", "noattach", "busybox", "sleep", "60"]);
    let o = d.docker(&["attach", "--no-stdin", "noattach"]);
    assert!(!o.status.success(), "attach went through");
    // The CLI reports a refused upgrade by its status only.
    assert!(stderr(&o).contains("received 403"), "{}", stderr(&o));
    let r = request(
        &d.socket,
        "POST",
        "/v1.41/containers/noattach/attach?stream=1&stdout=1",
        &[("Connection", "Upgrade"), ("Upgrade", "tcp")],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .ends_with("POST /containers/noattach/attach is not allowed by policy"),
        "{}",
        r.text()
    );
    assert!(!s
        .rust
        .seen("AuthZReq", "POST", "/containers/noattach/attach")
        .is_empty());
    d.docker_ok(&["rm", "-f", "noattach"]);
}

/// A daemon with no plugin, then `plugin` configured by daemon.json and
/// SIGHUP; returns once the reload took effect.
fn daemon_then_reload(plugin: &Plugin) -> TestDaemon {
    let d = TestDaemon::start(BIN, &[]);
    assert_eq!(d.get("/_ping").status, 200);
    std::fs::write(
        d.root().join("daemon.json"),
        serde_json::json!({ "authorization-plugins": [plugin.name] }).to_string(),
    )
    .unwrap();
    reload(&d);
    d
}

/// SIGHUP, and waits until the daemon logged the reload.
fn reload(d: &TestDaemon) {
    let done = || d.log_text().matches("reloaded configuration").count();
    let before = done();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    let t = Instant::now();
    while done() == before {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "reload did not apply"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

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

/// A CA, a server certificate for 127.0.0.1 and a client certificate whose
/// subject CN is `alice`, in the file names the docker CLI expects.
fn pki() -> tempfile::TempDir {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "authz test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issue = |cn: &str, sans: Vec<SanType>, usage| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.subject_alt_names = sans;
        p.distinguished_name.push(DnType::OrganizationName, "berth");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![usage];
        let c = p.signed_by(&key, &ca_cert, &ca_key).unwrap();
        (c.pem(), key.serialize_pem())
    };
    let (scert, skey) = issue(
        "localhost",
        vec![SanType::IpAddress("127.0.0.1".parse().unwrap())],
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (ccert, ckey) = issue("alice", vec![], rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    for (n, s) in [
        ("ca.pem", ca_cert.pem()),
        ("server-cert.pem", scert),
        ("server-key.pem", skey),
        ("cert.pem", ccert),
        ("key.pem", ckey),
    ] {
        std::fs::write(dir.path().join(n), s).unwrap();
    }
    dir
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
