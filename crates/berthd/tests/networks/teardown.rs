//! Network events, and teardown counted in the kernel.

use super::*;

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
pub(crate) struct Footprint {
    pub(crate) bridge_exists: bool,
    pub(crate) veths: usize,
    pub(crate) fw_lines: usize,
    pub(crate) netns: usize,
}

pub(crate) fn footprint(d: &TestDaemon) -> Footprint {
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
