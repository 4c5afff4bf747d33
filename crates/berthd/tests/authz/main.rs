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

mod failures;
mod requests;
