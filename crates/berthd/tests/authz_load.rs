//! An authorization plugin under load, through a real berthd: a plugin
//! written in Python's standard library whose listen backlog is 1 must
//! see every request through, allowing what it allows and denying what it
//! denies, as dockerd manages with the same plugin. One plugin is
//! single-threaded and speaks HTTP/1.0 (closes after each answer, Python's
//! default); the other is threaded and keeps connections alive (HTTP/1.1).
//! Killed under load, a plugin denies everything (fail closed).

use berth_testkit::{request, TestDaemon};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berthd");

/// The load phases of the tests take turns: two cores, honest numbers.
static LOAD: Mutex<()> = Mutex::new(());

const PYTHON_PLUGIN: &str = r#"
import base64, http.server, json, os, socketserver, sys

sock, log, style = sys.argv[1], sys.argv[2], sys.argv[3]

def record(what):
    with open(log, "a") as f:
        f.write(what + "\n")

class Handler(http.server.BaseHTTPRequestHandler):
    if style == "keepalive":
        protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def address_string(self):
        return "unix"

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        req = json.loads(raw or b"{}")
        if self.path == "/Plugin.Activate":
            out = {"Implements": ["authz"]}
        else:
            allow, msg = True, ""
            if self.path == "/AuthZPlugin.AuthZReq":
                body = base64.b64decode(req.get("RequestBody") or "")
                try:
                    doc = json.loads(body) if body else {}
                except ValueError:
                    doc = {}
                if isinstance(doc, dict) and str(doc.get("Name", "")).startswith("deny-"):
                    allow, msg = False, "no deny- volumes, load or not"
            record(self.path.rsplit(".", 1)[-1])
            out = {"Allow": allow, "Msg": msg}
        body = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

class Single(socketserver.UnixStreamServer):
    request_queue_size = 1

    def get_request(self):
        conn = super().get_request()
        record("conn")
        return conn

class Threaded(socketserver.ThreadingMixIn, Single):
    daemon_threads = True

os.makedirs(os.path.dirname(sock), exist_ok=True)
if os.path.exists(sock):
    os.unlink(sock)
server = (Threaded if style == "keepalive" else Single)(sock, Handler)
server.serve_forever()
"#;

/// The Python plugin process, killed (and its socket removed) on drop.
struct Plugin {
    name: String,
    socket: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Plugin {
    /// `style`: `close` (single-threaded, HTTP/1.0) or `keepalive`
    /// (threaded, HTTP/1.1). Both listen with a backlog of 1.
    fn start(dir: &Path, style: &str) -> Plugin {
        let name = format!("berth-authz-load-{}-{style}", std::process::id());
        let socket = PathBuf::from(format!("/run/docker/plugins/{name}.sock"));
        let script = dir.join(format!("{style}.py"));
        let log = dir.join(format!("{style}.log"));
        std::fs::write(&script, PYTHON_PLUGIN).unwrap();
        let mut c = Command::new("python3");
        c.arg(&script).arg(&socket).arg(&log).arg(style);
        let child = berth_testkit::daemon::spawn_tied_to_process(c).expect("python3");
        let t = Instant::now();
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "{name} did not come up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Plugin {
            name,
            socket,
            log,
            child: Some(child),
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// How many lines of the log say `what` (`AuthZReq`, `AuthZRes`, `conn`).
    fn count(&self, what: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| *l == what)
            .count()
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.socket);
    }
}

fn daemon(p: &Plugin) -> TestDaemon {
    TestDaemon::start(
        BIN,
        &[
            "--default-runtime",
            "runc",
            "--authorization-plugin",
            &p.name,
        ],
    )
}

/// One request of the mixed load: (method, path, body, expected status).
type Call = (&'static str, String, String, u16);

/// `n` calls: reads of every kind, volume creates the plugin allows, and
/// volume creates it denies (named `deny-…`), interleaved.
fn mixed(n: usize, tag: &str) -> Vec<Call> {
    (0..n)
        .map(|i| match i % 8 {
            0 => (
                "GET",
                "/v1.41/containers/json?all=1".into(),
                String::new(),
                200,
            ),
            1 => ("GET", "/_ping".into(), String::new(), 200),
            2 => ("GET", "/v1.41/version".into(), String::new(), 200),
            3 => ("GET", "/v1.41/images/json".into(), String::new(), 200),
            4 => ("GET", "/v1.41/volumes".into(), String::new(), 200),
            5 => ("GET", "/v1.41/info".into(), String::new(), 200),
            6 => (
                "POST",
                "/v1.41/volumes/create".into(),
                format!(r#"{{"Name":"load-{tag}-{i}"}}"#),
                201,
            ),
            _ => (
                "POST",
                "/v1.41/volumes/create".into(),
                format!(r#"{{"Name":"deny-{tag}-{i}"}}"#),
                403,
            ),
        })
        .collect()
}

/// Sends all `calls` at once (one thread each); returns the failures
/// (what came back when it was not what was expected) and the time taken.
fn flood(d: &TestDaemon, calls: Vec<Call>) -> (Vec<String>, Duration) {
    let socket = Arc::new(d.socket.clone());
    let start = Arc::new(std::sync::Barrier::new(calls.len()));
    let t = Instant::now();
    let threads: Vec<_> = calls
        .into_iter()
        .map(|(method, path, body, want)| {
            let (socket, start) = (socket.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let headers: &[(&str, &str)] = if body.is_empty() {
                    &[]
                } else {
                    &[("Content-Type", "application/json")]
                };
                match request(&socket, method, &path, headers, body.as_bytes()) {
                    Ok(r) if r.status == want && (want != 403 || denied_by_policy(&r.text())) => {
                        None
                    }
                    Ok(r) => Some(format!("{method} {path}: {} {}", r.status, r.text())),
                    Err(e) => Some(format!("{method} {path}: {e}")),
                }
            })
        })
        .collect();
    let failures = threads
        .into_iter()
        .filter_map(|t| t.join().unwrap())
        .collect();
    (failures, t.elapsed())
}

/// A denial that is the plugin's answer, not a failure to ask it.
fn denied_by_policy(body: &str) -> bool {
    body.contains("authorization denied by plugin") && body.contains("no deny- volumes")
}

/// `n` concurrent `docker run --rm busybox true`; the failures and the time.
/// Each is named: berthd's generated names can collide between concurrent
/// creates (a separate bug), which is not what this measures.
fn runs(d: &TestDaemon, n: usize) -> (Vec<String>, Duration) {
    let t = Instant::now();
    let children: Vec<_> = (0..n)
        .map(|i| {
            let name = format!("load-run-{i}");
            d.docker_cmd(&["run", "--rm", "--name", &name, "busybox", "true"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut failures = Vec::new();
    for mut c in children {
        // Bounded: a run that hangs is a failure, not a stuck test.
        let deadline = Instant::now() + Duration::from_secs(180);
        let st = loop {
            if let Some(st) = c.try_wait().unwrap() {
                break Some(st);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut err = String::new();
        if let Some(mut e) = c.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        match st {
            Some(st) if st.success() => {}
            Some(st) => failures.push(format!("{st}: {}", err.trim())),
            None => failures.push("hung for 180s".into()),
        }
    }
    (failures, t.elapsed())
}

fn report(what: &str, n: usize, failures: &[String], took: Duration) {
    eprintln!(
        "{what}: {}/{n} succeeded in {:.1}s",
        n - failures.len(),
        took.as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{what}: {} of {n} failed; first: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
}

fn volume_names(d: &TestDaemon) -> Vec<String> {
    d.docker_ok(&["volume", "ls", "--format", "{{.Name}}"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_single_threaded_plugin_with_backlog_one_takes_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let p = Plugin::start(dir.path(), "close");
    let d = daemon(&p);
    d.load_busybox();
    let _turn = LOAD.lock().unwrap_or_else(|e| e.into_inner());

    let reads = (0..40)
        .map(|_| {
            (
                "GET",
                "/v1.41/containers/json".to_string(),
                String::new(),
                200,
            )
        })
        .collect();
    let (f, took) = flood(&d, reads);
    report("40 concurrent GET /containers/json", 40, &f, took);

    let (req, res) = (p.count("AuthZReq"), p.count("AuthZRes"));
    let (f, took) = flood(&d, mixed(200, "close"));
    report("200 concurrent mixed calls", 200, &f, took);
    // Each was put to the plugin, and each answer but the 25 denied.
    assert!(p.count("AuthZReq") >= req + 200);
    assert!(p.count("AuthZRes") >= res + 175);
    // What it denied did not happen; what it allowed did.
    let vols = volume_names(&d);
    assert!(!vols.iter().any(|v| v.starts_with("deny-")), "{vols:?}");
    assert_eq!(
        vols.iter().filter(|v| v.starts_with("load-close-")).count(),
        25
    );

    let (f, took) = runs(&d, 20);
    report("20 concurrent docker run --rm busybox true", 20, &f, took);
    assert!(
        d.docker_ok(&["ps", "-aq"]).trim().is_empty(),
        "--rm left containers"
    );
}

#[test]
fn a_keep_alive_plugin_takes_the_load_then_dies_closed() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Plugin::start(dir.path(), "keepalive");
    let d = daemon(&p);
    let _turn = LOAD.lock().unwrap_or_else(|e| e.into_inner());

    let (f, took) = flood(&d, mixed(200, "keep"));
    report(
        "200 concurrent mixed calls (keep-alive plugin)",
        200,
        &f,
        took,
    );
    let (calls, conns) = (p.count("AuthZReq") + p.count("AuthZRes"), p.count("conn"));
    eprintln!("keep-alive plugin: {calls} calls over {conns} connections");
    // Every request, and every answer but the 25 denied.
    assert!(calls >= 375, "{calls}");
    // Connections were kept and reused, not one per call.
    assert!(conns * 4 < calls, "{calls} calls over {conns} connections");
    let vols = volume_names(&d);
    assert!(!vols.iter().any(|v| v.starts_with("deny-")), "{vols:?}");

    // Killed: nothing gets through, whatever the load (fail closed), and
    // the breaker makes the refusals quick.
    p.kill();
    let calls = (0..200)
        .map(|i| {
            if i % 2 == 0 {
                (
                    "GET",
                    "/v1.41/containers/json".to_string(),
                    String::new(),
                    403,
                )
            } else {
                (
                    "POST",
                    "/v1.41/volumes/create".to_string(),
                    format!(r#"{{"Name":"dead-{i}"}}"#),
                    403,
                )
            }
        })
        .collect::<Vec<_>>();
    let socket = d.socket.clone();
    let t = Instant::now();
    let threads: Vec<_> = calls
        .into_iter()
        .map(|(m, path, body, _)| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let r = request(&socket, m, &path, &[], body.as_bytes()).unwrap();
                (r.status, r.text())
            })
        })
        .collect();
    for t in threads {
        let (status, text) = t.join().unwrap();
        assert_eq!(status, 403, "{text}");
        assert!(
            text.contains(&format!("plugin {} failed with error", p.name)),
            "{text}"
        );
    }
    eprintln!(
        "200 concurrent calls with the plugin dead: all 403 in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    // The plugin's socket stays, but no volume was made.
    drop(_turn);
    let p2 = Plugin::start(dir.path(), "keepalive");
    assert_eq!(p2.name, p.name);
    let t = Instant::now();
    while d.get("/_ping").status != 200 {
        assert!(t.elapsed() < Duration::from_secs(20), "never recovered");
        std::thread::sleep(Duration::from_millis(200));
    }
    let vols = volume_names(&d);
    assert!(!vols.iter().any(|v| v.starts_with("dead-")), "{vols:?}");
}
