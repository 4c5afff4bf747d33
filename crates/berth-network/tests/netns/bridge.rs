//! A bridge network in a namespace, and the firewall backends.

use super::*;

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
