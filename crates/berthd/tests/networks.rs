//! Networking through a real berthd, driven by the docker CLI: addresses on
//! the bridge, published ports really serving bytes to the host, user
//! networks with static addresses, aliases and the embedded DNS,
//! `--internal`, the host/none/container modes, events, teardown counted
//! in the kernel, and containers keeping their networking across a daemon
//! restart. Only loopback and the daemon's own bridges are ever addressed.
//!
//! One daemon for the whole file. Tests that count kernel objects or
//! restart the daemon take it alone (the write side of the lock); the
//! others share it.

use berth_testkit::TestDaemon;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berthd");

fn shared() -> &'static RwLock<TestDaemon> {
    static D: OnceLock<RwLock<TestDaemon>> = OnceLock::new();
    D.get_or_init(|| {
        let d = TestDaemon::start(BIN, &["--default-runtime", "runc"]);
        d.load_busybox();
        RwLock::new(d)
    })
}

fn daemon() -> RwLockReadGuard<'static, TestDaemon> {
    shared().read().unwrap_or_else(|e| e.into_inner())
}

fn daemon_alone() -> RwLockWriteGuard<'static, TestDaemon> {
    shared().write().unwrap_or_else(|e| e.into_inner())
}

/// Removes containers, then networks, when dropped — also after a failed
/// assertion, so one failing test leaks nothing into the others.
struct Cleanup<'a> {
    d: &'a TestDaemon,
    containers: &'a [&'a str],
    networks: &'a [&'a str],
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for c in self.containers {
            let _ = self.d.docker(&["rm", "-f", c]);
        }
        for n in self.networks {
            let _ = self.d.docker(&["network", "rm", n]);
        }
    }
}

fn out(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `10.a.b.1/24` → `10.a.b.1`.
fn gateway_of(d: &TestDaemon) -> String {
    d.bip.split('/').next().unwrap().to_string()
}

/// `10.a.b` of the daemon's bridge.
fn prefix_of(d: &TestDaemon) -> String {
    let gw = gateway_of(d);
    gw.rsplit_once('.').unwrap().0.to_string()
}

/// A /24 (`10.x.y.0/24`) no other test daemon uses, with its first three
/// octets.
fn unique_subnet() -> (String, String) {
    let (_, bip) = berth_testkit::daemon::unique_bridge();
    let p = bip.rsplit_once('.').unwrap().0.to_string();
    (format!("{p}.0/24"), p)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A detached busybox httpd serving `body` on port 80, with `extra` flags.
fn httpd(d: &TestDaemon, name: &str, extra: &[&str], body: &str) -> String {
    let script =
        format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www");
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    d.docker_ok(&args).trim().to_string()
}

use berth_testkit::http_get_local as http_get;

fn inspect(d: &TestDaemon, what: &str, fmt: &str) -> String {
    d.docker_ok(&["inspect", "-f", fmt, what])
        .trim()
        .to_string()
}

#[test]
fn bridge_gives_an_address_and_reaches_the_gateway() {
    let d = daemon();
    let _cleanup = Cleanup {
        d: &d,
        containers: &["br-inspect"],
        networks: &[],
    };
    let gw = gateway_of(&d);
    // A server on the gateway address (the daemon's own bridge).
    let l = TcpListener::bind((gw.as_str(), 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let mut b = [0u8; 512];
            let _ = s.read(&mut b);
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nfrom-host");
        }
    });
    let script = format!(
        "ip -4 -o addr show eth0; ip route; cat /etc/hostname; ping -c1 -W3 {gw} >/dev/null && echo PING-OK; wget -q -O- http://{gw}:{port}/"
    );
    let o = d.docker(&["run", "--rm", "busybox", "sh", "-c", &script]);
    let text = out(&o);
    assert!(o.status.success(), "{text}\n{}\n{}", err(&o), d.log_tail());
    let prefix = prefix_of(&d);
    assert!(
        text.contains(&format!("inet {prefix}.")),
        "no address in {prefix}.0/24: {text}"
    );
    assert!(text.contains(&format!("default via {gw}")), "{text}");
    assert!(text.contains("PING-OK"), "{text}");
    assert!(text.ends_with("from-host"), "{text}");

    // inspect agrees with what the container saw.
    let id = d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "br-inspect",
        "busybox",
        "sleep",
        "60",
    ]);
    let id = id.trim();
    let ip = inspect(&d, id, "{{.NetworkSettings.IPAddress}}");
    assert!(ip.starts_with(&format!("{prefix}.")), "{ip}");
    assert_eq!(inspect(&d, id, "{{.NetworkSettings.Gateway}}"), gw);
    assert_eq!(
        inspect(&d, id, "{{.NetworkSettings.Networks.bridge.IPAddress}}"),
        ip
    );
    assert_eq!(inspect(&d, id, "{{.HostConfig.NetworkMode}}"), "bridge");
    let mac = inspect(&d, id, "{{.NetworkSettings.MacAddress}}");
    // The same namespace, seen from a container that joins it.
    let o = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "container:br-inspect",
        "busybox",
        "sh",
        "-c",
        "ip -4 -o addr show eth0; cat /sys/class/net/eth0/address; hostname",
    ]);
    assert!(o.contains(&format!("inet {ip}/24")), "{o}");
    assert!(o.contains(&mac), "{mac} not in {o}");
    assert!(o.contains(&id[..12]), "container: shares the hostname: {o}");
    d.docker_ok(&["rm", "-f", "br-inspect"]);
}

#[test]
fn published_port_serves_the_host_and_is_freed() {
    let d = daemon();
    let _cleanup = Cleanup {
        d: &d,
        containers: &["pub1", "pub2"],
        networks: &[],
    };
    let port = free_port();
    let spec = format!("127.0.0.1:{port}:80");
    let id = httpd(&d, "pub1", &["-p", &spec], "hello-berth");
    let body = http_get(port).unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail()));
    assert!(body.ends_with("hello-berth\n"), "{body}");

    assert_eq!(
        d.docker_ok(&["port", "pub1"]).trim(),
        format!("80/tcp -> 127.0.0.1:{port}")
    );
    assert_eq!(
        inspect(&d, &id, "{{json .NetworkSettings.Ports}}"),
        format!(r#"{{"80/tcp":[{{"HostIp":"127.0.0.1","HostPort":"{port}"}}]}}"#)
    );
    assert_eq!(
        inspect(&d, &id, "{{json .HostConfig.PortBindings}}"),
        format!(r#"{{"80/tcp":[{{"HostIp":"127.0.0.1","HostPort":"{port}"}}]}}"#)
    );
    let ps = d.docker_ok(&["ps", "--filter", "name=pub1", "--format", "{{.Ports}}"]);
    assert_eq!(ps.trim(), format!("127.0.0.1:{port}->80/tcp"));

    // The port is taken: a clear error, and the container does not run.
    let o = d.docker(&[
        "run", "-d", "--name", "pub2", "-p", &spec, "busybox", "sleep", "30",
    ]);
    assert!(!o.status.success());
    let e = err(&o);
    assert!(
        e.contains(&port.to_string()) && (e.contains("already") || e.contains("in use")),
        "{e}"
    );
    assert_eq!(inspect(&d, "pub2", "{{.State.Running}}"), "false");
    d.docker_ok(&["rm", "-f", "pub2"]);

    // Stopping frees it: the host can bind it again.
    d.docker_ok(&["stop", "-t", "1", "pub1"]);
    assert!(
        TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "port {port} still held after stop"
    );
    assert_eq!(inspect(&d, "pub1", "{{json .NetworkSettings.Ports}}"), "{}");
    // And a restart publishes it again.
    d.docker_ok(&["start", "pub1"]);
    assert!(http_get(port).unwrap().ends_with("hello-berth\n"));
    d.docker_ok(&["rm", "-f", "pub1"]);
    assert!(TcpListener::bind(("127.0.0.1", port)).is_ok());
}

#[test]
fn publish_all_takes_the_exposed_ports() {
    let d = daemon();
    let _cleanup = Cleanup {
        d: &d,
        containers: &["puball"],
        networks: &[],
    };
    let id = httpd(&d, "puball", &["--expose", "80", "-P"], "from-P");
    let hp = inspect(
        &d,
        &id,
        "{{(index (index .NetworkSettings.Ports \"80/tcp\") 0).HostPort}}",
    );
    let hp: u16 = hp.parse().unwrap();
    assert!(hp > 0);
    let body = http_get(hp).unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail()));
    assert!(body.ends_with("from-P\n"), "{body}");
    let port = d.docker_ok(&["port", "puball", "80"]);
    assert!(port.contains(&format!(":{hp}")), "{port}");
    d.docker_ok(&["rm", "-f", "puball"]);
}

#[test]
fn user_network_static_ip_aliases_and_dns() {
    let d = daemon();
    let _cleanup = Cleanup {
        d: &d,
        containers: &["web1"],
        networks: &["usernet1"],
    };
    let (subnet, p) = unique_subnet();
    let net = "usernet1";
    let nid = d.docker_ok(&["network", "create", "--subnet", &subnet, net]);
    let nid = nid.trim();
    assert_eq!(
        d.docker_ok(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Subnet}}",
            net
        ])
        .trim(),
        subnet
    );
    let ip = format!("{p}.77");
    httpd(
        &d,
        "web1",
        &["--network", net, "--ip", &ip, "--network-alias", "webalias"],
        "by-name",
    );
    assert_eq!(
        inspect(
            &d,
            "web1",
            &format!("{{{{.NetworkSettings.Networks.{net}.IPAddress}}}}")
        ),
        ip
    );
    assert_eq!(
        inspect(
            &d,
            "web1",
            &format!("{{{{.NetworkSettings.Networks.{net}.NetworkID}}}}")
        ),
        nid
    );
    let script = "cat /etc/resolv.conf; nslookup web1 127.0.0.11; ping -c1 -W3 webalias >/dev/null && echo PING-ALIAS; wget -q -O- http://web1/; wget -q -O- http://webalias/";
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        net,
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    let text = out(&o);
    assert!(o.status.success(), "{text}\n{}\n{}", err(&o), d.log_tail());
    assert!(text.contains("nameserver 127.0.0.11"), "{text}");
    assert!(text.contains(&format!("Address: {ip}")), "{text}");
    assert!(text.contains("PING-ALIAS"), "{text}");
    assert_eq!(text.matches("by-name").count(), 2, "{text}");
    // Not on the default bridge: the name does not resolve there.
    let o = d.docker(&["run", "--rm", "busybox", "nslookup", "web1"]);
    assert!(!out(&o).contains(&ip), "{}", out(&o));
    // A network in use cannot go; after the container it can.
    assert!(!d.docker(&["network", "rm", net]).status.success());
    d.docker_ok(&["rm", "-f", "web1"]);
    d.docker_ok(&["network", "rm", net]);
}

#[test]
fn internal_network_reaches_peers_only() {
    let d = daemon();
    let _cleanup = Cleanup {
        d: &d,
        containers: &["int-peer"],
        networks: &["intnet"],
    };
    let (subnet, _) = unique_subnet();
    d.docker_ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &subnet,
        "intnet",
    ]);
    assert_eq!(
        d.docker_ok(&["network", "inspect", "-f", "{{.Internal}}", "intnet"])
            .trim(),
        "true"
    );
    httpd(&d, "int-peer", &["--network", "intnet"], "inside");
    let gw = gateway_of(&d);
    let script = format!(
        "for i in 1 2 3 4 5 6 7 8 9 10; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 int-peer 80 | grep inside && break; sleep 0.3; done; ip route; ping -c1 -W2 {gw} >/dev/null && echo ESCAPED; true"
    );
    let o = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "intnet",
        "busybox",
        "sh",
        "-c",
        &script,
    ]);
    assert!(o.contains("inside"), "{o}");
    assert!(!o.contains("default via"), "{o}");
    assert!(!o.contains("ESCAPED"), "{o}");
    d.docker_ok(&["rm", "-f", "int-peer"]);
    d.docker_ok(&["network", "rm", "intnet"]);
}

#[test]
fn host_none_and_etc_files() {
    let d = daemon();
    let _cleanup = Cleanup {
        d: &d,
        containers: &["not-running"],
        networks: &[],
    };
    // none: loopback only.
    let o = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(o.split_whitespace().collect::<Vec<_>>(), vec!["lo"]);
    // host: the host's interfaces, its hostname.
    let o = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "sh",
        "-c",
        "ls /sys/class/net; hostname",
    ]);
    assert!(o.lines().any(|l| l == d.bridge), "{o}");
    let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
    assert_eq!(o.lines().last().unwrap(), host);
    // host: the host's resolv.conf as it is (loopback resolvers included).
    let o = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert_eq!(o, std::fs::read_to_string("/etc/resolv.conf").unwrap());
    // --hostname, --add-host, --dns in the managed files.
    let o = d.docker_ok(&[
        "run",
        "--rm",
        "--hostname",
        "boxy",
        "--add-host",
        "extra.example:10.9.8.7",
        "--dns",
        "10.1.2.3",
        "busybox",
        "sh",
        "-c",
        "hostname; cat /etc/hostname /etc/hosts /etc/resolv.conf",
    ]);
    assert!(o.starts_with("boxy\nboxy\n"), "{o}");
    assert!(o.contains("10.9.8.7\textra.example"), "{o}");
    assert!(
        o.lines()
            .any(|l| l.starts_with(&prefix_of(&d)) && l.ends_with("boxy")),
        "own address in /etc/hosts: {o}"
    );
    assert!(o.contains("nameserver 10.1.2.3"), "{o}");
    // container: mode needs a running container and takes no ports.
    d.docker(&["create", "--name", "not-running", "busybox", "true"]);
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:not-running",
        "busybox",
        "true",
    ]);
    assert!(!o.status.success());
    d.docker_ok(&["rm", "-f", "not-running"]);
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:nosuch",
        "busybox",
        "true",
    ]);
    assert!(!o.status.success());
    assert!(err(&o).contains("No such container: nosuch"), "{}", err(&o));
    let o = d.docker(&["run", "--rm", "--network", "nosuchnet", "busybox", "true"]);
    assert!(!o.status.success());
    assert!(
        err(&o).contains("network nosuchnet not found"),
        "{}",
        err(&o)
    );
    assert!(!err(&o).contains("Unable to find image"), "{}", err(&o));
}

/// Network events of `f`, as `action name type container` lines.
fn network_events(d: &TestDaemon, filter: &str, f: impl FnOnce()) -> Vec<String> {
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    f();
    std::thread::sleep(Duration::from_millis(300));
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let o = d.docker_ok(&[
        "events",
        "--since",
        &start.to_string(),
        "--until",
        &end.to_string(),
        "--filter",
        "type=network",
        "--filter",
        filter,
        "--format",
        r#"{{.Action}} {{index .Actor.Attributes "name"}} {{index .Actor.Attributes "type"}} {{index .Actor.Attributes "container"}}"#,
    ]);
    o.lines().map(|l| l.trim().to_string()).collect()
}

/// The events of `ev` about container `id`, or about no container.
fn about(ev: &[String], id: &str) -> Vec<String> {
    ev.iter()
        .filter(|e| e.ends_with(id) || e.split(' ').count() == 3)
        .cloned()
        .collect()
}

#[test]
fn events_connect_disconnect_create_destroy_prune() {
    let d = daemon();
    let _cleanup = Cleanup {
        d: &d,
        containers: &["ev1"],
        networks: &["evnet"],
    };
    let mut id = String::new();
    let ev = network_events(&d, "network=bridge", || {
        id = d
            .docker_ok(&["run", "-d", "--name", "ev1", "busybox", "sleep", "60"])
            .trim()
            .to_string();
    });
    assert!(
        ev.contains(&format!("connect bridge bridge {id}")),
        "{ev:?}"
    );
    let (subnet, _) = unique_subnet();
    let ev = network_events(&d, "network=evnet", || {
        d.docker_ok(&[
            "network", "create", "--label", "evtest=1", "--subnet", &subnet, "evnet",
        ]);
        d.docker_ok(&["network", "connect", "--alias", "late", "evnet", "ev1"]);
    });
    let ev = about(&ev, &id);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[0], "create evnet bridge");
    assert_eq!(ev[1], format!("connect evnet bridge {id}"));
    // Connected for real: a peer on evnet reaches ev1 by its alias.
    let o = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "evnet",
        "busybox",
        "sh",
        "-c",
        "ping -c1 -W3 late >/dev/null && echo OK",
    ]);
    assert_eq!(o.trim(), "OK");
    let ip = inspect(&d, "ev1", "{{.NetworkSettings.Networks.evnet.IPAddress}}");
    assert!(!ip.is_empty());
    let ev = network_events(&d, "network=evnet", || {
        d.docker_ok(&["network", "disconnect", "evnet", "ev1"]);
    });
    assert_eq!(
        about(&ev, &id),
        vec![format!("disconnect evnet bridge {id}")]
    );
    assert_eq!(
        inspect(
            &d,
            "ev1",
            "{{with .NetworkSettings.Networks.evnet}}still{{end}}"
        ),
        ""
    );
    let ev = network_events(&d, "network=bridge", || {
        d.docker_ok(&["rm", "-f", "ev1"]);
    });
    assert!(
        ev.contains(&format!("disconnect bridge bridge {id}")),
        "{ev:?}"
    );
    let ev = network_events(&d, "type=network", || {
        let o = d.docker_ok(&["network", "prune", "-f", "--filter", "label=evtest=1"]);
        assert!(o.contains("evnet"), "{o}");
    });
    assert!(ev.contains(&"destroy evnet bridge".to_string()), "{ev:?}");
    assert!(ev.iter().any(|e| e.starts_with("prune")), "{ev:?}");
}

/// What berthd leaves in the kernel for its bridge: veths enslaved to it,
/// lines of its firewall table, pinned namespaces.
#[derive(Debug, PartialEq)]
struct Footprint {
    bridge_exists: bool,
    veths: usize,
    fw_lines: usize,
    netns: usize,
}

fn footprint(d: &TestDaemon) -> Footprint {
    let run = |args: &[&str]| {
        std::process::Command::new(args[0])
            .args(&args[1..])
            .output()
            .unwrap()
    };
    let link = run(&["ip", "-o", "link", "show", "dev", &d.bridge]);
    let veths = run(&["ip", "-o", "link", "show", "master", &d.bridge]);
    let table = format!("berth_{}", d.bridge);
    let nft = run(&["nft", "list", "table", "ip", &table]);
    let ipt = run(&["iptables-save"]);
    let fw_lines = if nft.status.success() {
        out(&nft).lines().filter(|l| !l.trim().is_empty()).count()
    } else {
        out(&ipt)
            .lines()
            .filter(|l| l.contains(&table.to_uppercase()) || l.contains(&table))
            .count()
    };
    let netns = std::fs::read_dir(d.exec_root.join("netns"))
        .map(|r| r.count())
        .unwrap_or(0);
    Footprint {
        bridge_exists: link.status.success(),
        veths: out(&veths).lines().count(),
        fw_lines,
        netns,
    }
}

#[test]
fn teardown_leaves_nothing_behind() {
    let mut d = daemon_alone();
    // Alone on the daemon: whatever a failed test left goes first, so the
    // stopped daemon below has nothing to keep.
    let left = d.docker_ok(&["ps", "-aq"]);
    for id in left.split_whitespace() {
        d.docker_ok(&["rm", "-f", id]);
    }
    let before = footprint(&d);
    assert!(before.bridge_exists, "{before:?}");
    assert_eq!(before.veths, 0, "{before:?}");
    assert_eq!(before.netns, 0, "{before:?}");
    let (subnet, _) = unique_subnet();
    d.docker_ok(&["network", "create", "--subnet", &subnet, "tdnet"]);
    let p = free_port();
    httpd(&d, "td1", &["-p", &format!("127.0.0.1:{p}:80")], "x");
    httpd(
        &d,
        "td2",
        &["--network", "tdnet", "-p", "127.0.0.1::80"],
        "y",
    );
    d.docker_ok(&["network", "connect", "tdnet", "td1"]);
    let during = footprint(&d);
    assert_eq!(during.veths, 1, "{during:?}");
    assert_eq!(during.netns, 2, "{during:?}");
    assert!(during.fw_lines > before.fw_lines, "{during:?} {before:?}");
    let tdbridge = format!(
        "berth-{}",
        &d.docker_ok(&["network", "inspect", "-f", "{{.Id}}", "tdnet"])
            .trim()[..9]
    );
    let on_td = |b: &str| {
        let o = std::process::Command::new("ip")
            .args(["-o", "link", "show", "master", b])
            .output()
            .unwrap();
        out(&o).lines().count()
    };
    let td_veths = on_td(&tdbridge);
    assert_eq!(td_veths, 2, "two endpoints on {tdbridge}");
    d.docker_ok(&["rm", "-f", "td1", "td2"]);
    assert_eq!(on_td(&tdbridge), 0);
    d.docker_ok(&["network", "rm", "tdnet"]);
    let after = footprint(&d);
    assert_eq!(after, before, "containers removed");
    let o = std::process::Command::new("ip")
        .args(["link", "show", &tdbridge])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{tdbridge} left behind");

    // A daemon stopped with no containers takes its bridge and rules along.
    d.stop();
    let stopped = footprint(&d);
    assert_eq!(
        stopped,
        Footprint {
            bridge_exists: false,
            veths: 0,
            fw_lines: 0,
            netns: 0
        }
    );
    d.launch().unwrap();
    assert_eq!(footprint(&d), before, "the same after a new start");
}

#[test]
fn running_container_keeps_networking_across_restart() {
    let mut d = daemon_alone();
    let p = free_port();
    let id = httpd(
        &d,
        "survivor",
        &["-p", &format!("127.0.0.1:{p}:80")],
        "still-here",
    );
    assert!(http_get(p).unwrap().ends_with("still-here\n"));
    let ip = inspect(&d, &id, "{{.NetworkSettings.IPAddress}}");
    let before = footprint(&d);
    d.restart();
    assert_eq!(inspect(&d, &id, "{{.State.Running}}"), "true");
    assert_eq!(inspect(&d, &id, "{{.NetworkSettings.IPAddress}}"), ip);
    let body = http_get(p).unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail()));
    assert!(body.ends_with("still-here\n"), "{body}");
    assert_eq!(footprint(&d), before);
    assert_eq!(
        d.docker_ok(&["port", "survivor"]).trim(),
        format!("80/tcp -> 127.0.0.1:{p}")
    );

    // Dies while the daemon is down: the restarted daemon finds it dead
    // and tears its networking down (namespace, veth, port).
    let pid: i32 = inspect(&d, &id, "{{.State.Pid}}").parse().unwrap();
    assert!(pid > 0);
    d.stop();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    d.launch().unwrap();
    assert_eq!(inspect(&d, &id, "{{.State.Running}}"), "false");
    let after = footprint(&d);
    assert_eq!(after.veths, before.veths - 1, "{after:?} {before:?}");
    assert_eq!(after.netns, before.netns - 1, "{after:?} {before:?}");
    assert!(
        TcpListener::bind(("127.0.0.1", p)).is_ok(),
        "port {p} still held by the restarted daemon"
    );
    d.docker_ok(&["rm", "-f", "survivor"]);
    assert!(TcpListener::bind(("127.0.0.1", p)).is_ok());
}

#[test]
fn connections_are_kept_in_the_container_across_restarts() {
    let d = daemon();
    let _cleanup = Cleanup {
        d: &d,
        containers: &["keep1", "keep2"],
        networks: &["keepnet"],
    };
    let (subnet, p) = unique_subnet();
    d.docker_ok(&["network", "create", "--subnet", &subnet, "keepnet"]);
    // Connected while stopped: joined at start, with its static address.
    d.docker_ok(&["create", "--name", "keep1", "busybox", "sleep", "60"]);
    let ip = format!("{p}.50");
    d.docker_ok(&["network", "connect", "--ip", &ip, "keepnet", "keep1"]);
    d.docker_ok(&["start", "keep1"]);
    let fmt = "{{.NetworkSettings.Networks.keepnet.IPAddress}} {{.NetworkSettings.Networks.bridge.IPAddress}}";
    let both = inspect(&d, "keep1", fmt);
    assert!(
        both.starts_with(&format!("{ip} {}.", prefix_of(&d))),
        "{both}"
    );
    // Connected while running: still there after stop and start.
    d.docker_ok(&["run", "-d", "--name", "keep2", "busybox", "sleep", "60"]);
    d.docker_ok(&["network", "connect", "--alias", "k2", "keepnet", "keep2"]);
    d.docker_ok(&["stop", "-t", "0", "keep2"]);
    assert_eq!(
        inspect(
            &d,
            "keep2",
            "{{.NetworkSettings.Networks.keepnet.IPAddress}}"
        ),
        ""
    );
    d.docker_ok(&["start", "keep2"]);
    let o = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "keepnet",
        "busybox",
        "sh",
        "-c",
        "ping -c1 -W3 k2 >/dev/null && echo OK",
    ]);
    assert_eq!(o.trim(), "OK");
    // Disconnected while running: not rejoined at the next start.
    d.docker_ok(&["network", "disconnect", "keepnet", "keep2"]);
    d.docker_ok(&["restart", "-t", "0", "keep2"]);
    assert_eq!(
        inspect(
            &d,
            "keep2",
            "{{with .NetworkSettings.Networks.keepnet}}joined{{end}}"
        ),
        ""
    );
    d.docker_ok(&["rm", "-f", "keep1", "keep2"]);
    d.docker_ok(&["network", "rm", "keepnet"]);
}

/// A port published on the bridge's own address is reachable from another
/// container, through the host (as with dockerd's proxy).
#[test]
fn published_port_is_reachable_from_other_containers() {
    let d = daemon();
    let _cleanup = Cleanup {
        d: &d,
        containers: &["pubx1"],
        networks: &[],
    };
    let port = free_port();
    let gw = gateway_of(&d);
    httpd(&d, "pubx1", &["-p", &format!("{gw}:{port}:80")], "across");
    // (busybox-static's wget crashes here now and then: plain nc instead.)
    let t = Instant::now();
    let o = loop {
        let o = d.docker(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc {gw} {port}"),
        ]);
        if out(&o).ends_with("across\n") || t.elapsed() > Duration::from_secs(15) {
            break o;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = out(&o);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}\n{}", err(&o));
    assert!(text.ends_with("\nacross\n"), "{text}\n{}", d.log_tail());
}
