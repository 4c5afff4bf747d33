//! The built-in network and IPAM drivers against the testkit's
//! conformance suites. The bridge driver runs in a network namespace the
//! test makes (on a thread of its own), so its bridges and veths never
//! touch the host's.

use berth_core::networks::{IpamData, JoinInfo, NetworkDriver};
use berth_network::drivers::bridge::BridgeDriver;
use berth_network::drivers::ipam_default::DefaultIpam;
use berth_network::drivers::singleton::SingletonDriver;
use berth_network::ipam::Pool;
use berth_network::link::Netlink;
use berth_testkit::suites::{ipam, network};
use std::process::Command;
use std::sync::Arc;

/// Whether `ip link show NAME` finds the link in this thread's namespace.
fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", name])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs `f` on a thread that has left for a new network namespace, on a
/// runtime of its own (a netlink socket belongs to its thread's namespace).
fn in_new_netns<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f());
    })
    .join()
    .expect("the netns thread");
}

#[test]
fn bridge_passes_the_network_suite() {
    in_new_netns(|| async {
        let nl = Arc::new(Netlink::connect().unwrap());
        let d = BridgeDriver::new(nl, "bts-", 1500);
        let fx = network::Fixture {
            ipv4: vec![IpamData {
                address_space: "LocalDefault".into(),
                pool: "10.77.0.0/24".into(),
                gateway: "10.77.0.1/24".into(),
                aux_addresses: Default::default(),
            }],
            address: "10.77.0.2/24".into(),
            sandbox_key: "/proc/thread-self/ns/net".into(),
        };
        let check = |info: &JoinInfo| {
            assert!(link_exists(&info.src_name), "{} exists", info.src_name);
            assert_eq!(info.dst_prefix, "eth");
        };
        network::run(&d, &fx, &check).await;
        let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
        let links = String::from_utf8_lossy(&links.stdout);
        assert!(!links.contains("bts-"), "bridges left behind: {links}");
        assert!(!links.contains(" vb"), "veths left behind: {links}");
    });
}

#[test]
fn an_internal_bridge_network_gives_no_default_route() {
    in_new_netns(|| async {
        use berth_core::networks::{CreateEndpoint, CreateNetwork};
        let d = BridgeDriver::new(Arc::new(Netlink::connect().unwrap()), "bti-", 1500);
        let (nid, eid) = (network::fresh_id(), network::fresh_id());
        let req = CreateNetwork {
            network_id: nid.clone(),
            internal: true,
            ipv4: vec![IpamData {
                pool: "10.78.0.0/24".into(),
                gateway: "10.78.0.1/24".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let info = d.create_network(&req).await.unwrap();
        assert!(link_exists(&info.interface) && info.mtu == 1500);
        let ep = CreateEndpoint {
            network_id: nid.clone(),
            endpoint_id: eid.clone(),
            address: "10.78.0.2/24".into(),
            ..Default::default()
        };
        let iface = d.create_endpoint(&ep).await.unwrap();
        assert_eq!(iface.mac_address, "02:42:0a:4e:00:02");
        let j = d.join(&nid, &eid, "", &Default::default()).await.unwrap();
        assert_eq!(j.gateway, "", "no default route out of an internal network");
        d.delete_endpoint(&nid, &eid).await.unwrap();
        d.delete_network(&nid).await.unwrap();
        assert!(!link_exists(&info.interface));
    });
}

#[tokio::test]
async fn host_and_null_pass_the_network_suite() {
    let fx = network::Fixture::default();
    let nothing = |info: &JoinInfo| assert_eq!(info, &JoinInfo::default(), "nothing to set up");
    for d in [SingletonDriver::host(), SingletonDriver::null()] {
        network::run(&d, &fx, &nothing).await;
    }
}

#[tokio::test]
async fn default_ipam_passes_the_ipam_suite() {
    let pools = vec![Pool {
        base: "10.214.0.0/16".parse().unwrap(),
        size: 24,
    }];
    let d = DefaultIpam::new(pools).ignoring_host_routes();
    ipam::run(&d, "10.215.4.0/24").await;
    // again where the suite's own pool is the first of the defaults
    ipam::run(&d, "10.214.0.0/24").await;
}
