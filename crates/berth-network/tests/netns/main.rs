//! Real namespaces, veths, bridges and nftables rules, all of them made by
//! the test: private bridge names, a private firewall table, subnets from
//! 10.213.0.0/16, and traffic only to loopback or into namespaces the test
//! created. The tests run one at a time (they count links and rules).

use berth_core::events::RecordingSink;
use berth_network::firewall::Proto;
use berth_network::ports::PortSpec;
use berth_network::{AttachRequest, Config, NetworkManager};
use berth_types::container::EndpointSettings;
use berth_types::network::{Ipam, IpamConfig, NetworkCreateRequest};
use berth_types::EventType;
use simple_dns::rdata::RData;
use simple_dns::{Packet, PacketFlag, CLASS, TYPE};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Env {
    dir: tempfile::TempDir,
    tag: String,
    sink: Arc<RecordingSink>,
}

impl Env {
    fn new(n: u8) -> Env {
        let tag = format!("bt{:04x}", rand_u16());
        let _ = n;
        Env {
            dir: tempfile::tempdir().unwrap(),
            tag,
            sink: Arc::new(RecordingSink::default()),
        }
    }
    fn cfg(&self, third_octet: u8) -> Config {
        let mut c = Config::new(self.dir.path().join("data"), self.dir.path().join("exec"));
        c.bridge = format!("{}0", self.tag);
        c.bip = Some(format!("10.213.{third_octet}.1/24"));
        c.bridge_prefix = format!("{}-", self.tag);
        c.firewall_table = format!("berth_{}", self.tag);
        c.ip_forward = false;
        c.dns_upstreams = Some(vec![]);
        c.proxy_exe = env!("CARGO_BIN_EXE_berth-proxy-test").into();
        c
    }
    /// The pid of a container's port proxy process, from its pid file.
    fn proxy_pid(&self, cid: &str) -> Option<i32> {
        std::fs::read_to_string(self.dir.path().join(format!("exec/port-proxies/{cid}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
    fn netns_dir(&self) -> PathBuf {
        self.dir.path().join("exec/netns")
    }
    /// Links whose name carries this test's tag, plus veths enslaved to them.
    fn our_links(&self) -> usize {
        let out = Command::new("ip")
            .args(["-o", "link", "show"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().filter(|l| l.contains(&self.tag)).count()
    }
    fn netns_count(&self) -> usize {
        std::fs::read_dir(self.netns_dir())
            .map(|d| d.count())
            .unwrap_or(0)
    }
    fn addrs_in_test_range(&self) -> usize {
        let out = Command::new("ip")
            .args(["-o", "-4", "addr", "show"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(&self.tag))
            .count()
    }
}

/// Whatever a failed test left behind goes: our links, our table, our
/// namespaces (a passing test has removed them already).
impl Drop for Env {
    fn drop(&mut self) {
        let out = Command::new("ip")
            .args(["-o", "link", "show"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        for l in text.lines().filter(|l| l.contains(&self.tag)) {
            if let Some(name) = l.split(": ").nth(1) {
                let name = name.split('@').next().unwrap();
                let _ = Command::new("ip").args(["link", "del", name]).status();
            }
        }
        let table = format!(
            "table ip berth_{t}\ndelete table ip berth_{t}\n",
            t = self.tag
        );
        if let Ok(mut c) = Command::new("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
        {
            let _ = c.stdin.take().unwrap().write_all(table.as_bytes());
            let _ = c.wait();
        }
        if let Ok(d) = std::fs::read_dir(self.netns_dir()) {
            for e in d.flatten() {
                let _ = berth_network::netns::remove(&e.path());
            }
        }
        // port proxies a failed test left running
        if let Ok(d) = std::fs::read_dir(self.dir.path().join("exec/port-proxies")) {
            for e in d.flatten() {
                let pid = std::fs::read_to_string(e.path()).unwrap_or_default();
                let Ok(pid) = pid.trim().parse::<i32>() else {
                    continue;
                };
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmd).contains("berth-proxy-test") {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::SIGKILL,
                    );
                }
            }
        }
    }
}

/// Whether `pid` has exited (gone, or a zombie that has closed its files).
fn exited(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s[s.rfind(')').unwrap() + 1..].trim_start().starts_with('Z'),
    }
}

/// A process in a test namespace, killed when the test ends however it ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rand_u16() -> u16 {
    let mut b = [0u8; 2];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    u16::from_le_bytes(b)
}

fn attach_req(id: &str, mode: &str) -> AttachRequest {
    AttachRequest {
        container_id: id.repeat(64 / id.len()),
        container_name: format!("c-{id}"),
        network_mode: mode.into(),
        hostname: id.into(),
        ..Default::default()
    }
}

fn in_netns(path: &Path, args: &[&str]) -> std::process::Output {
    Command::new("nsenter")
        .arg(format!("--net={}", path.display()))
        .args(args)
        .output()
        .unwrap()
}

fn spawn_in_netns(path: &Path, args: &[&str]) -> Child {
    Command::new("nsenter")
        .arg(format!("--net={}", path.display()))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn ping(from: &Path, to: Ipv4Addr) -> bool {
    in_netns(
        from,
        &[
            "/bin/busybox",
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            &to.to_string(),
        ],
    )
    .status
    .success()
}

fn ip_of(ns: &berth_types::container::NetworkSettings, net: &str) -> Ipv4Addr {
    ns.networks[net].ip_address.parse().unwrap()
}

fn dns_query(netns: &Path, name: &str) -> Vec<Ipv4Addr> {
    let name = name.to_string();
    berth_network::netns::run_in(netns, move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut p = Packet::new_query(42);
        p.set_flags(PacketFlag::RECURSION_DESIRED);
        p.questions.push(simple_dns::Question::new(
            simple_dns::Name::new_unchecked(&name),
            TYPE::A.into(),
            CLASS::IN.into(),
            false,
        ));
        s.send_to(&p.build_bytes_vec().unwrap(), "127.0.0.11:53")
            .unwrap();
        let mut buf = [0u8; 1500];
        let n = s.recv(&mut buf).unwrap();
        let r = Packet::parse(&buf[..n]).unwrap();
        Ok(r.answers
            .iter()
            .filter_map(|a| match &a.rdata {
                RData::A(a) => Some(Ipv4Addr::from(a.address)),
                _ => None,
            })
            .collect())
    })
    .unwrap()
}

/// A fake upstream resolver on loopback: answers every A query with 192.0.2.7.
fn fake_upstream() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let q = Packet::parse(&buf[..n]).unwrap();
            let mut r = Packet::new_reply(q.id());
            let qq = q.questions[0].clone();
            r.answers.push(simple_dns::ResourceRecord::new(
                qq.qname.clone(),
                CLASS::IN,
                60,
                RData::A(simple_dns::rdata::A {
                    address: u32::from(Ipv4Addr::new(192, 0, 2, 7)),
                }),
            ));
            r.questions.push(qq);
            let _ = s.send_to(&r.build_bytes_vec().unwrap(), from);
        }
    });
    addr
}

fn http_get(addr: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn retry_get(addr: &str) -> String {
    for _ in 0..50 {
        if let Ok(s) = http_get(addr) {
            if s.contains("200") {
                return s;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no answer from {addr}");
}

fn futures_executor<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Handle::current().block_on(f)
}

mod bridge;
mod dns;
mod ports;
