//! A created container disconnected from the network of its `NetworkMode`
//! and connected again before its first start, as docker-compose 1.29 does
//! with every service container: it must start on that network, with its
//! aliases, its name in the network's DNS and its published ports, and
//! inspect must show what dockerd shows (`NetworkMode` unchanged, the
//! network in `Networks` only while connected). Driven by the docker CLI;
//! only loopback and the daemon's own bridges are addressed.

use berth_testkit::TestDaemon;
use std::net::TcpListener;
use std::sync::OnceLock;

fn daemon() -> &'static TestDaemon {
    static D: OnceLock<TestDaemon> = OnceLock::new();
    D.get_or_init(|| {
        let d = TestDaemon::start(env!("CARGO_BIN_EXE_berthd"), &["--default-runtime", "runc"]);
        d.load_busybox();
        d
    })
}

use berth_testkit::Cleanup;

/// A user network on a subnet of its own.
fn create_network(d: &TestDaemon, name: &str) {
    let (_, bip) = berth_testkit::daemon::unique_bridge();
    let p = bip.rsplit_once('.').unwrap().0.to_string();
    d.docker_ok(&["network", "create", "--subnet", &format!("{p}.0/24"), name]);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn inspect(d: &TestDaemon, what: &str, fmt: &str) -> String {
    d.docker_ok(&["inspect", "-f", fmt, what])
        .trim()
        .to_string()
}

const NETWORKS: &str =
    "{{.HostConfig.NetworkMode}}:{{range $k, $v := .NetworkSettings.Networks}} {{$k}}{{end}}";

use berth_testkit::http_get_local as http_get;

#[test]
fn reconnected_before_start_serves_on_its_network() {
    let d = daemon();
    let _cleanup = Cleanup {
        d,
        containers: &["rc-web"],
        networks: &["rcnet"],
    };
    create_network(d, "rcnet");
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let script =
        "mkdir -p /www && echo reconnected > /www/index.html && exec httpd -f -p 80 -h /www";
    d.docker_ok(&[
        "create",
        "--name",
        "rc-web",
        "--network",
        "rcnet",
        "--network-alias",
        "web",
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(inspect(d, "rc-web", NETWORKS), "rcnet: rcnet");
    // What docker-compose 1.29 does before it starts a service container.
    d.docker_ok(&["network", "disconnect", "rcnet", "rc-web"]);
    assert_eq!(
        inspect(d, "rc-web", NETWORKS),
        "rcnet:",
        "as dockerd shows it"
    );
    d.docker_ok(&["network", "connect", "--alias", "web", "rcnet", "rc-web"]);
    assert_eq!(inspect(d, "rc-web", NETWORKS), "rcnet: rcnet");
    d.docker_ok(&["start", "rc-web"]);

    assert_eq!(inspect(d, "rc-web", NETWORKS), "rcnet: rcnet");
    let ip = inspect(d, "rc-web", "{{.NetworkSettings.Networks.rcnet.IPAddress}}");
    assert!(!ip.is_empty(), "no address on rcnet");
    // The published port answers on the host.
    let body = http_get(port).unwrap_or_else(|e| panic!("port {port}: {e}\n{}", d.log_tail()));
    assert!(body.contains("reconnected"), "{body}");
    // A peer on the network finds it by name and by alias.
    let o = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "rcnet",
        "busybox",
        "sh",
        "-c",
        "nslookup rc-web >/dev/null && wget -qO- http://web/",
    ]);
    assert_eq!(o.trim(), "reconnected");
}

#[test]
fn disconnected_before_start_runs_with_loopback_only() {
    let d = daemon();
    let _cleanup = Cleanup {
        d,
        containers: &["rc-alone", "rc-moved"],
        networks: &["rcnet2"],
    };
    create_network(d, "rcnet2");
    let ifaces = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' '";
    // Left its only network: starts with loopback alone, NetworkMode kept.
    d.docker_ok(&[
        "create",
        "--name",
        "rc-alone",
        "--network",
        "rcnet2",
        "busybox",
        "sh",
        "-c",
        ifaces,
    ]);
    d.docker_ok(&["network", "disconnect", "rcnet2", "rc-alone"]);
    d.docker_ok(&["start", "-a", "rc-alone"]);
    assert_eq!(d.docker_ok(&["logs", "rc-alone"]).trim(), "lo");
    assert_eq!(inspect(d, "rc-alone", NETWORKS), "rcnet2:");

    // Moved from the default bridge to a user network: only that one.
    d.docker_ok(&["create", "--name", "rc-moved", "busybox", "sleep", "60"]);
    d.docker_ok(&["network", "disconnect", "bridge", "rc-moved"]);
    d.docker_ok(&["network", "connect", "rcnet2", "rc-moved"]);
    d.docker_ok(&["start", "rc-moved"]);
    let nets = inspect(d, "rc-moved", NETWORKS);
    assert!(nets.ends_with(": rcnet2"), "{nets}");
    let ip = inspect(
        d,
        "rc-moved",
        "{{.NetworkSettings.Networks.rcnet2.IPAddress}}",
    );
    assert!(!ip.is_empty(), "no address on rcnet2");
}
