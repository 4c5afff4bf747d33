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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_ping_and_teardown_leave_nothing() {
    let _g = SERIAL.lock().await;
    let env = Env::new(1);
    let m = NetworkManager::start(env.cfg(1), env.sink.clone())
        .await
        .unwrap();
    let fw = m.firewall().clone();
    assert_eq!(env.our_links(), 1, "the default bridge exists");
    let a = m.attach_container(attach_req("a", "")).await.unwrap();
    let b = m.attach_container(attach_req("b", "bridge")).await.unwrap();
    let (pa, pb) = (a.netns_path.clone().unwrap(), b.netns_path.clone().unwrap());
    assert_eq!(env.our_links(), 3, "bridge + two host-side veths");
    assert_eq!(env.netns_count(), 2);
    let sa = m.settings(&"a".repeat(64), &[]).await.unwrap();
    let sb = m.settings(&"b".repeat(64), &[]).await.unwrap();
    assert_eq!(sa.gateway, "10.213.1.1");
    assert_eq!(sa.ip_address, "10.213.1.2");
    assert_eq!(sb.ip_address, "10.213.1.3");
    assert_eq!(sa.mac_address, "02:42:0a:d5:01:02");
    assert!(
        ping(&pa, ip_of(&sb, "bridge")),
        "a reaches b over the bridge"
    );
    assert!(
        ping(&pb, "10.213.1.1".parse().unwrap()),
        "b reaches the gateway"
    );
    // default route through the gateway
    let r = in_netns(&pa, &["ip", "route"]);
    assert!(String::from_utf8_lossy(&r.stdout).contains("default via 10.213.1.1 dev eth0"));
    // none and host modes
    let n = m.attach_container(attach_req("c", "none")).await.unwrap();
    let links = in_netns(n.netns_path.as_ref().unwrap(), &["ip", "-o", "link"]);
    assert_eq!(
        String::from_utf8_lossy(&links.stdout).lines().count(),
        1,
        "only lo"
    );
    let h = m.attach_container(attach_req("d", "host")).await.unwrap();
    assert!(h.netns_path.is_none());
    let j = m
        .attach_container(attach_req("e", &format!("container:{}", "a".repeat(64))))
        .await
        .unwrap();
    assert_eq!(j.netns_path, a.netns_path);
    // events
    let ev = env.sink.events.lock().unwrap().clone();
    let connects: Vec<_> = ev
        .iter()
        .filter(|e| e.0 == EventType::Network && e.1 == "connect")
        .collect();
    assert_eq!(connects.len(), 2);
    assert_eq!(connects[0].3["container"], "a".repeat(64));
    assert_eq!(connects[0].3["name"], "bridge");
    assert_eq!(connects[0].3["type"], "bridge");
    assert!(fw.rule_count().unwrap() > 0);

    for id in ["e", "d", "c", "b", "a"] {
        m.detach_container(&id.repeat(64)).await.unwrap();
    }
    assert_eq!(env.our_links(), 1, "only the bridge is left");
    assert_eq!(env.netns_count(), 0);
    let disconnects = env
        .sink
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.1 == "disconnect")
        .count();
    assert_eq!(disconnects, 2);
    m.shutdown().await.unwrap();
    assert_eq!(env.our_links(), 0);
    assert_eq!(env.addrs_in_test_range(), 0);
    assert_eq!(fw.rule_count().unwrap(), 0);
    let out = Command::new("nft")
        .args(["list", "table", "ip", &fw.table])
        .output()
        .unwrap();
    assert!(!out.status.success(), "berth's table is gone");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_network_dns_aliases_and_forwarding() {
    let _g = SERIAL.lock().await;
    let env = Env::new(2);
    let mut cfg = env.cfg(2);
    cfg.dns_upstreams = Some(vec![fake_upstream()]);
    let m = NetworkManager::start(cfg, env.sink.clone()).await.unwrap();
    let created = m
        .create_network(NetworkCreateRequest {
            name: format!("{}-net", env.tag),
            ipam: Some(Ipam {
                config: vec![IpamConfig {
                    subnet: "10.213.20.0/24".into(),
                    gateway: "10.213.20.254".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            labels: [("team".to_string(), "x".to_string())].into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let net = m.inspect(&created.id).await.unwrap();
    assert_eq!(net.ipam.config[0].gateway, "10.213.20.254");
    assert_eq!(net.labels["team"], "x");
    // overlapping subnet refused
    let dup = m
        .create_network(NetworkCreateRequest {
            name: format!("{}-dup", env.tag),
            ipam: Some(Ipam {
                config: vec![IpamConfig {
                    subnet: "10.213.20.128/25".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(dup.to_string().contains("overlaps"), "{dup}");

    let mut r1 = attach_req("a", &net.name);
    r1.endpoints.insert(
        net.name.clone(),
        EndpointSettings {
            aliases: Some(vec!["db".into()]),
            ipam_config: Some(serde_json::json!({"IPv4Address": "10.213.20.50"})),
            ..Default::default()
        },
    );
    let a1 = m.attach_container(r1).await.unwrap();
    assert_eq!(a1.nameservers, vec!["127.0.0.11".to_string()]);
    assert_eq!(a1.addresses, vec!["10.213.20.50".to_string()]);
    let b = m
        .attach_container(attach_req("b", &net.name))
        .await
        .unwrap();
    let pb = b.netns_path.clone().unwrap();
    let want: Ipv4Addr = "10.213.20.50".parse().unwrap();
    assert_eq!(dns_query(&pb, "db"), vec![want]);
    assert_eq!(dns_query(&pb, "c-a"), vec![want]);
    assert_eq!(dns_query(&pb, &format!("c-a.{}", net.name)), vec![want]);
    assert_eq!(dns_query(&pb, "aaaaaaaaaaaa"), vec![want], "short id");
    assert_eq!(
        dns_query(&pb, "elsewhere.example"),
        vec![Ipv4Addr::new(192, 0, 2, 7)],
        "forwarded upstream"
    );
    assert!(ping(&pb, want));
    // a container on the default bridge cannot see user-network names and gets no embedded DNS
    let c = m.attach_container(attach_req("c", "")).await.unwrap();
    assert!(c.nameservers.is_empty());
    // connect c to the user network: now it resolves db
    m.connect(&net.name, &"c".repeat(64), EndpointSettings::default())
        .await
        .unwrap();
    assert_eq!(dns_query(c.netns_path.as_ref().unwrap(), "db"), vec![want]);
    let sc = m.settings(&"c".repeat(64), &[]).await.unwrap();
    assert_eq!(sc.networks.len(), 2);
    assert!(sc.networks[&net.name].ip_address.starts_with("10.213.20."));
    // the network cannot go while in use
    let busy = m.remove(&net.name).await.unwrap_err();
    assert!(busy.to_string().contains("active endpoints"));
    m.disconnect(&net.name, &"c".repeat(64), false)
        .await
        .unwrap();
    for id in ["a", "b", "c"] {
        m.detach_container(&id.repeat(64)).await.unwrap();
    }
    // prune removes it (bridge/host/none stay)
    let pruned = m.prune(&Default::default()).await.unwrap();
    assert_eq!(pruned, vec![net.name.clone()]);
    assert!(m.inspect(&net.name).await.is_err());
    let names: Vec<String> = m
        .list(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(names, vec!["bridge", "host", "none"]);
    let actions: Vec<String> = env
        .sink
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.1.clone())
        .collect();
    for a in ["create", "connect", "disconnect", "destroy", "prune"] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    m.shutdown().await.unwrap();
    assert_eq!(env.our_links(), 0);
    assert_eq!(env.netns_count(), 0);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_port_from_loopback_in_use_and_restart() {
    let _g = SERIAL.lock().await;
    let env = Env::new(3);
    let www = env.dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello from the netns\n").unwrap();
    let m = NetworkManager::start(env.cfg(3), env.sink.clone())
        .await
        .unwrap();
    let fw = m.firewall().clone();
    let mut r = attach_req("a", "");
    r.ports = vec![
        PortSpec {
            proto: Proto::Tcp,
            container_port: 8080,
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port: 0,
        },
        PortSpec {
            proto: Proto::Tcp,
            container_port: 8080,
            host_ip: None,
            host_port: 0,
        },
    ];
    let a = tokio::task::block_in_place(|| futures_executor(m.attach_container(r))).unwrap();
    let pa = a.netns_path.clone().unwrap();
    let httpd = Proc(spawn_in_netns(
        &pa,
        &[
            "/bin/busybox",
            "httpd",
            "-f",
            "-p",
            "8080",
            "-h",
            www.to_str().unwrap(),
        ],
    ));
    let lo = a.published[0].host_port;
    assert_eq!(a.published[0].host_ip, Ipv4Addr::LOCALHOST);
    let body = tokio::task::block_in_place(|| retry_get(&format!("127.0.0.1:{lo}")));
    assert!(body.contains("hello from the netns"), "{body}");
    // inspect's Ports
    let s = m
        .settings(&"a".repeat(64), &["8080/tcp".into(), "9/udp".into()])
        .await
        .unwrap();
    let v = serde_json::to_value(&s.ports).unwrap();
    assert_eq!(v["8080/tcp"][0]["HostIp"], "127.0.0.1");
    assert_eq!(v["8080/tcp"][0]["HostPort"], lo.to_string());
    assert_eq!(v["8080/tcp"][1]["HostIp"], "0.0.0.0");
    assert!(v["9/udp"].is_null());
    // another container reaches the published port through the gateway (DNAT)
    let b = m.attach_container(attach_req("b", "")).await.unwrap();
    let any = a.published[1].host_port;
    let out = berth_network::netns::run_in(b.netns_path.as_ref().unwrap(), move || {
        Ok(http_get(&format!("10.213.3.1:{any}")))
    })
    .unwrap()
    .unwrap();
    assert!(out.contains("hello from the netns"), "{out}");
    // the same host port again: a clear error, and nothing left of the attempt
    let mut r2 = attach_req("c", "");
    r2.ports = vec![PortSpec {
        proto: Proto::Tcp,
        container_port: 80,
        host_ip: Some(Ipv4Addr::LOCALHOST),
        host_port: lo,
    }];
    let links_before = env.our_links();
    let err = m.attach_container(r2).await.unwrap_err();
    assert!(
        err.to_string().contains("port is already allocated"),
        "{err}"
    );
    assert_eq!(
        berth_types::Error::from(err).kind,
        berth_types::ErrorKind::Conflict
    );
    assert_eq!(env.our_links(), links_before);
    assert_eq!(env.netns_count(), 2);

    // daemon restart: the container keeps its namespace, address and
    // ports, and the ports answer while no daemon runs (the proxy is a
    // process of its own and the DNAT rules stay)
    let rules = fw.rule_count().unwrap();
    let aid = "a".repeat(64);
    let pid = env.proxy_pid(&aid).expect("a pid file for a's proxy");
    m.shutdown().await.unwrap();
    drop(m);
    assert_eq!(
        fw.rule_count().unwrap(),
        rules,
        "rules kept for running containers"
    );
    let body = tokio::task::block_in_place(|| http_get(&format!("127.0.0.1:{lo}"))).unwrap();
    assert!(body.contains("hello from the netns"), "{body}");
    let m = NetworkManager::start(env.cfg(3), env.sink.clone())
        .await
        .unwrap();
    assert_eq!(
        env.proxy_pid(&aid),
        Some(pid),
        "the proxy is adopted, not replaced"
    );
    assert!(!exited(pid));
    let body = tokio::task::block_in_place(|| http_get(&format!("127.0.0.1:{lo}"))).unwrap();
    assert!(body.contains("hello from the netns"), "{body}");
    m.shutdown().await.unwrap();
    drop(m);
    // the proxy died meanwhile and someone took the other published port:
    // the next start serves what it can bind again and still starts
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap();
    while !exited(pid) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let squat = std::net::TcpListener::bind(("0.0.0.0", any)).unwrap();
    let m = NetworkManager::start(env.cfg(3), env.sink.clone())
        .await
        .unwrap();
    let s2 = m.settings(&aid, &[]).await.unwrap();
    assert_eq!(s2.ip_address, s.ip_address);
    assert_ne!(env.proxy_pid(&aid), Some(pid), "a new proxy");
    let body = tokio::task::block_in_place(|| retry_get(&format!("127.0.0.1:{lo}")));
    assert!(body.contains("hello"));
    drop(squat);
    assert!(ping(
        b.netns_path.as_ref().unwrap(),
        s2.ip_address.parse().unwrap()
    ));

    drop(httpd);
    let pid = env.proxy_pid(&aid).unwrap();
    m.detach_container(&aid).await.unwrap();
    assert!(exited(pid), "the proxy is gone when detach returns");
    assert_eq!(env.proxy_pid(&aid), None, "and so is its pid file");
    assert!(
        http_get(&format!("127.0.0.1:{lo}")).is_err(),
        "port freed on stop"
    );
    // the freed port can be bound again
    std::net::TcpListener::bind(("127.0.0.1", lo)).unwrap();
    m.detach_container(&"b".repeat(64)).await.unwrap();
    m.shutdown().await.unwrap();
    assert_eq!(env.our_links(), 0);
    assert_eq!(env.netns_count(), 0);
    assert_eq!(fw.rule_count().unwrap(), 0);
    let _ = BTreeMap::<u8, u8>::new();
}

fn futures_executor<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Handle::current().block_on(f)
}

/// Both firewall backends install exactly berth's rules and remove them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firewall_backends_apply_and_teardown() {
    use berth_network::firewall::{Backend, Firewall, NetRule, PortRule};
    let _g = SERIAL.lock().await;
    let env = Env::new(4);
    let nets = vec![
        NetRule {
            bridge: format!("{}0", env.tag),
            subnet: "10.213.40.0/24".parse().unwrap(),
            internal: false,
            masquerade: true,
        },
        NetRule {
            bridge: format!("{}1", env.tag),
            subnet: "10.213.41.0/24".parse().unwrap(),
            internal: true,
            masquerade: true,
        },
    ];
    let ports = vec![PortRule {
        proto: Proto::Tcp,
        host_ip: None,
        host_port: 18080,
        container_ip: "10.213.40.2".parse().unwrap(),
        container_port: 80,
    }];
    // iptables-nft creates the host's `nat`/`filter` tables on first use;
    // the test removes them again when it made them (and they are empty).
    let had = |t: &str| {
        Command::new("nft")
            .args(["list", "table", "ip", t])
            .output()
            .unwrap()
            .status
            .success()
    };
    let (had_nat, had_filter) = (had("nat"), had("filter"));
    for backend in [Backend::Nftables, Backend::Iptables] {
        let fw = Firewall::new(backend, &format!("berth_{}", env.tag));
        assert_eq!(fw.rule_count().unwrap(), 0, "{backend:?}");
        fw.apply(&nets, &ports).unwrap();
        let n = fw.rule_count().unwrap();
        assert!(n >= 5, "{backend:?}: {n} rules");
        // applying again replaces, never duplicates
        fw.apply(&nets, &ports).unwrap();
        assert_eq!(fw.rule_count().unwrap(), n, "{backend:?}");
        fw.apply(&nets[..1], &[]).unwrap();
        assert!(fw.rule_count().unwrap() < n);
        fw.teardown().unwrap();
        assert_eq!(fw.rule_count().unwrap(), 0, "{backend:?}");
    }
    let out = Command::new("iptables")
        .args(["-t", "nat", "-S"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stdout)
            .to_lowercase()
            .contains(&env.tag),
        "no chain or jump left"
    );
    for (t, existed) in [("nat", had_nat), ("filter", had_filter)] {
        let listing = Command::new("nft")
            .args(["list", "table", "ip", t])
            .output()
            .unwrap();
        let empty = !String::from_utf8_lossy(&listing.stdout).lines().any(|l| {
            let l = l.trim();
            !l.is_empty()
                && !l.starts_with("table")
                && !l.starts_with("chain")
                && !l.starts_with("type")
                && l != "}"
        });
        if !existed && empty {
            let _ = Command::new("nft")
                .args(["delete", "table", "ip", t])
                .status();
        }
    }
}
