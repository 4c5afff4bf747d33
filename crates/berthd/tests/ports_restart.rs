//! Published ports keep answering while berthd is down: a graceful SIGTERM
//! with live containers, a `kill -9`, and the same under
//! `--iptables=false`. From the host (127.0.0.1, and the bridge's address
//! for a port on all addresses) and from another container (through the
//! gateway), checked while no daemon runs, after the restart, and with a
//! client hammering the ports across the whole window. Then stopping the
//! container removes the port, its proxy process and its DNAT rule.
//!
//! Only loopback and the test daemons' own bridges are addressed. The
//! tests restart their daemon, so they take it one at a time.

use berth_testkit::TestDaemon;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berthd");

fn shared() -> MutexGuard<'static, TestDaemon> {
    static D: OnceLock<Mutex<TestDaemon>> = OnceLock::new();
    D.get_or_init(|| {
        let d = TestDaemon::start(BIN, &["--default-runtime", "runc"]);
        d.load_busybox();
        Mutex::new(d)
    })
    .lock()
    .unwrap_or_else(|e| e.into_inner())
}

/// A port free on every address.
fn free_port() -> u16 {
    TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One GET / to `addr`, no retry: the body on a 200, else why not.
fn get(addr: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    if buf.starts_with("HTTP/1.") && buf.contains(" 200 ") {
        Ok(buf)
    } else {
        Err(format!("{addr}: answer {buf:?}"))
    }
}

/// GET until the container's server is up (10 s at most).
fn get_when_up(addr: &str) -> String {
    let t = Instant::now();
    loop {
        match get(addr) {
            Ok(b) => return b,
            Err(e) if t.elapsed() > Duration::from_secs(10) => panic!("{e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// GET / from inside the network namespace `ns` (another container's),
/// with the host's busybox: works whether or not berthd runs.
fn get_from_ns(ns: &str, addr: &str) -> Result<String, String> {
    let (host, port) = addr.split_once(':').unwrap();
    let o = std::process::Command::new("nsenter")
        .arg(format!("--net={ns}"))
        .args(["/bin/busybox", "sh", "-c"])
        .arg(format!(
            "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | /bin/busybox nc -w 5 {host} {port}"
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    if text.contains(" 200 ") {
        Ok(text)
    } else {
        Err(format!(
            "{addr} from {ns}: {text:?} {}",
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

/// A client GETting every address in turn until stopped.
struct Hammer {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(usize, Vec<String>)>,
}

impl Hammer {
    fn start(addrs: Vec<String>) -> Hammer {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let (mut ok, mut failed) = (0, Vec::new());
            while !s.load(Ordering::SeqCst) {
                for a in &addrs {
                    match get(a) {
                        Ok(b) if b.ends_with("ported\n") => ok += 1,
                        Ok(b) => failed.push(format!("{a}: wrong body {b:?}")),
                        Err(e) => failed.push(e),
                    }
                }
            }
            (ok, failed)
        });
        Hammer { stop, handle }
    }

    /// (answered, failures)
    fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap()
    }
}

/// DNAT rules in this daemon's firewall table (nft or iptables).
fn dnat_rules(d: &TestDaemon) -> usize {
    let table = format!("berth_{}", d.bridge);
    let nft = std::process::Command::new("nft")
        .args(["list", "table", "ip", &table])
        .output()
        .unwrap();
    if nft.status.success() {
        return String::from_utf8_lossy(&nft.stdout)
            .lines()
            .filter(|l| l.contains("dnat to"))
            .count();
    }
    let ipt = std::process::Command::new("iptables-save")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    ipt.lines()
        .filter(|l| l.contains(&table.to_uppercase()) && l.contains("DNAT"))
        .count()
}

fn pid_file(d: &TestDaemon, cid: &str) -> PathBuf {
    d.exec_root.join(format!("port-proxies/{cid}.pid"))
}

fn proxy_pid(d: &TestDaemon, cid: &str) -> Option<i32> {
    std::fs::read_to_string(pid_file(d, cid))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Gone, or a zombie (which has closed its sockets).
fn exited(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s[s.rfind(')').unwrap() + 1..].trim_start().starts_with('Z'),
    }
}

fn inspect(d: &TestDaemon, what: &str, fmt: &str) -> String {
    d.docker_ok(&["inspect", "-f", fmt, what])
        .trim()
        .to_string()
}

#[derive(Clone, Copy, Debug)]
enum Down {
    /// SIGTERM: berthd shuts down gracefully, containers keep running.
    Term,
    /// `kill -9`: berthd dies without a word.
    Kill9,
}

/// The whole story on daemon `d`; `dnat` = whether berth programs the
/// firewall (not under `--iptables=false`). Whatever happens, the
/// containers go again (else their port proxies would hold the ports).
fn ports_outlive_the_daemon(d: &mut TestDaemon, down: Down, dnat: bool) {
    let (web, cli) = (format!("web-{down:?}"), format!("cli-{down:?}"));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        story(d, down, dnat, &web, &cli)
    }));
    if !d.is_running() {
        let _ = d.launch();
    }
    let _ = d.docker(&["rm", "-f", &web, &cli]);
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
}

fn story(d: &mut TestDaemon, down: Down, dnat: bool, web: &str, cli: &str) {
    let _ = d.docker(&["rm", "-f", web, cli]);
    let gw = d.bip.split('/').next().unwrap().to_string();
    let (lo, any) = (free_port(), free_port());
    let rules_before = dnat_rules(d);
    let script = "mkdir -p /www && echo ported > /www/index.html && exec httpd -f -p 80 -h /www";
    let id = d.docker_ok(&[
        "run",
        "-d",
        "--name",
        web,
        "-p",
        &format!("127.0.0.1:{lo}:80"),
        "-p",
        &format!("{any}:80"),
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    let id = id.trim().to_string();
    d.docker_ok(&["run", "-d", "--name", cli, "busybox", "sleep", "600"]);
    let ns = inspect(d, cli, "{{.NetworkSettings.SandboxKey}}");
    // Host-local (served by the proxy) and from a container (DNAT, or the
    // proxy under --iptables=false).
    let host_addrs = vec![
        format!("127.0.0.1:{lo}"),
        format!("127.0.0.1:{any}"),
        format!("{gw}:{any}"),
    ];
    let from_cli = format!("{gw}:{any}");
    assert!(get_when_up(&host_addrs[0]).ends_with("ported\n"));
    for a in &host_addrs {
        get(a).unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail()));
    }
    get_from_ns(&ns, &from_cli).unwrap();
    assert_eq!(dnat_rules(d), rules_before + usize::from(dnat));
    let pid = proxy_pid(d, &id).expect("a port proxy for the container");

    let hammer = Hammer::start(host_addrs.clone());
    match down {
        Down::Term => {
            let st = d.stop().expect("berthd ran");
            assert!(
                st.success(),
                "berthd exit on SIGTERM: {st}\n{}",
                d.log_tail()
            );
        }
        Down::Kill9 => d.kill9(),
    }
    assert!(!d.is_running());
    // berthd is down: every address still answers, at once.
    for _ in 0..20 {
        for a in &host_addrs {
            get(a).unwrap_or_else(|e| panic!("berthd down ({down:?}): {e}"));
        }
    }
    get_from_ns(&ns, &from_cli).unwrap_or_else(|e| panic!("berthd down ({down:?}): {e}"));
    assert_eq!(
        dnat_rules(d),
        rules_before + usize::from(dnat),
        "rules kept"
    );
    assert!(!exited(pid), "the proxy outlives berthd");

    d.launch()
        .unwrap_or_else(|e| panic!("berthd did not restart: {e}\n{}", d.log_tail()));
    for a in &host_addrs {
        get(a).unwrap_or_else(|e| panic!("after the restart: {e}"));
    }
    get_from_ns(&ns, &from_cli).unwrap();
    let (answered, failed) = hammer.finish();
    eprintln!(
        "{down:?} (dnat: {dnat}): {answered} requests answered across the restart, {} failed",
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        answered + failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(answered > 0);
    assert_eq!(proxy_pid(d, &id), Some(pid), "adopted, not replaced");
    assert_eq!(dnat_rules(d), rules_before + usize::from(dnat));
    // A container started by the new daemon reaches it too.
    let o = d.docker_ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {gw} {any}"),
    ]);
    assert!(o.ends_with("ported\n"), "{o}");
    let ports = d.docker_ok(&["port", web]);
    assert!(ports.contains(&format!("127.0.0.1:{lo}")), "{ports}");
    assert!(ports.contains(&format!("0.0.0.0:{any}")), "{ports}");

    // Stopping the container takes the port, the proxy and the rule along.
    d.docker_ok(&["stop", "-t", "1", web]);
    assert!(exited(pid), "proxy {pid} still running after stop");
    assert!(!pid_file(d, &id).exists());
    assert_eq!(dnat_rules(d), rules_before);
    for a in &host_addrs {
        assert!(get(a).is_err(), "{a} still answers after stop");
    }
    TcpListener::bind(("127.0.0.1", lo)).expect("127.0.0.1 port free after stop");
    TcpListener::bind(("0.0.0.0", any)).expect("port free after stop");
    d.docker_ok(&["rm", "-f", web, cli]);
}

#[test]
fn published_ports_answer_through_a_sigterm_restart() {
    let mut d = shared();
    ports_outlive_the_daemon(&mut d, Down::Term, true);
}

#[test]
fn published_ports_answer_through_a_kill9_restart() {
    let mut d = shared();
    ports_outlive_the_daemon(&mut d, Down::Kill9, true);
}

/// Without firewall rules the proxy is the only path, for other containers
/// too, and it outlives the daemon all the same.
#[test]
fn published_ports_answer_through_restarts_without_iptables() {
    // (the shared daemon is not used: taken only to run one test at a time)
    let _one_at_a_time = shared();
    let mut d = TestDaemon::start(BIN, &["--default-runtime", "runc", "--iptables=false"]);
    d.load_busybox();
    ports_outlive_the_daemon(&mut d, Down::Kill9, false);
    ports_outlive_the_daemon(&mut d, Down::Term, false);
}
