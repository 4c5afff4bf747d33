//! The conformance suite of network drivers (berth-core's
//! `NetworkDriver`): every built-in and every plugin proxy passes it.
//! Each function panics on the first broken rule.

use berth_core::networks::{CreateEndpoint, CreateNetwork, IpamData, JoinInfo, NetworkDriver};
use berth_types::ErrorKind;
use std::collections::BTreeMap;

/// What a suite gives the driver under test.
#[derive(Debug, Clone, Default)]
pub struct Fixture {
    /// The pool of the networks the suite creates (a bridge driver needs
    /// one; drivers without addresses get an empty list).
    pub ipv4: Vec<IpamData>,
    /// An address of that pool with its prefix for endpoints; empty for none.
    pub address: String,
    /// The network namespace endpoints join (its path).
    pub sandbox_key: String,
}

/// A fresh random 64-hex id, as the daemon makes them.
pub fn fresh_id() -> String {
    let mut b = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut b)
        .expect("reading /dev/urandom");
    hex::encode(b)
}

fn network(id: &str, fx: &Fixture) -> CreateNetwork {
    CreateNetwork {
        network_id: id.to_string(),
        ipv4: fx.ipv4.clone(),
        ..Default::default()
    }
}

fn endpoint(nid: &str, eid: &str, fx: &Fixture) -> CreateEndpoint {
    CreateEndpoint {
        network_id: nid.to_string(),
        endpoint_id: eid.to_string(),
        address: fx.address.clone(),
        ..Default::default()
    }
}

fn kind<T: std::fmt::Debug>(r: berth_types::Result<T>) -> ErrorKind {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.kind,
    }
}

/// Create, create again (the daemon announces its networks at every
/// start), delete, delete again (not found). A driver with one predefined
/// network refuses a second one.
pub async fn create_and_delete_network(d: &dyn NetworkDriver, fx: &Fixture) {
    d.capabilities().await.expect("capabilities");
    let id = fresh_id();
    d.create_network(&network(&id, fx)).await.expect("create");
    d.create_network(&network(&id, fx))
        .await
        .expect("creating the same network again is accepted");
    if d.predefined_network().is_some() {
        let other = fresh_id();
        let r = d.create_network(&network(&other, fx)).await;
        assert_eq!(kind(r), ErrorKind::Forbidden, "a second instance");
    }
    d.delete_network(&id).await.expect("delete");
    assert_eq!(kind(d.delete_network(&id).await), ErrorKind::NotFound);
}

/// An endpoint's life: create, join (the description of what to set up,
/// given to `check` while it stands), leave, delete, and again delete
/// and leave without error; a deleted endpoint cannot join.
pub async fn endpoint_lifecycle(d: &dyn NetworkDriver, fx: &Fixture, check: &dyn Fn(&JoinInfo)) {
    let nid = fresh_id();
    d.create_network(&network(&nid, fx)).await.expect("create");
    let eid = fresh_id();
    d.create_endpoint(&endpoint(&nid, &eid, fx))
        .await
        .expect("create endpoint");
    let opts = BTreeMap::new();
    let info = d
        .join(&nid, &eid, &fx.sandbox_key, &opts)
        .await
        .expect("join");
    if !info.src_name.is_empty() {
        assert!(!info.dst_prefix.is_empty(), "an interface needs a prefix");
    }
    if let (Some(data), false) = (fx.ipv4.first(), info.gateway.is_empty()) {
        let gw = data.gateway.split('/').next().unwrap_or("");
        assert_eq!(info.gateway, gw, "the default route goes via the gateway");
    }
    check(&info);
    d.program_external_connectivity(&nid, &eid, &BTreeMap::new())
        .await
        .expect("program external connectivity");
    d.revoke_external_connectivity(&nid, &eid)
        .await
        .expect("revoke external connectivity");
    d.leave(&nid, &eid).await.expect("leave");
    d.delete_endpoint(&nid, &eid)
        .await
        .expect("delete endpoint");
    d.delete_endpoint(&nid, &eid)
        .await
        .expect("deleting an endpoint again is no error");
    d.leave(&nid, &eid)
        .await
        .expect("leaving an unknown endpoint is no error");
    let r = d.join(&nid, &eid, &fx.sandbox_key, &opts).await;
    assert_eq!(kind(r), ErrorKind::NotFound, "joining a deleted endpoint");
    d.delete_network(&nid).await.expect("delete");
}

/// Calls about networks the driver never saw are not-found.
pub async fn unknown_ids(d: &dyn NetworkDriver, fx: &Fixture) {
    let nid = fresh_id();
    let eid = fresh_id();
    assert_eq!(kind(d.delete_network(&nid).await), ErrorKind::NotFound);
    let r = d.create_endpoint(&endpoint(&nid, &eid, fx)).await;
    assert_eq!(
        kind(r),
        ErrorKind::NotFound,
        "endpoint on an unknown network"
    );
    let r = d.join(&nid, &eid, &fx.sandbox_key, &BTreeMap::new()).await;
    assert_eq!(kind(r), ErrorKind::NotFound, "join on an unknown network");
    let real = fresh_id();
    d.create_network(&network(&real, fx)).await.expect("create");
    let r = d.join(&real, &eid, &fx.sandbox_key, &BTreeMap::new()).await;
    assert_eq!(kind(r), ErrorKind::NotFound, "join of an unknown endpoint");
    d.delete_network(&real).await.expect("delete");
}

/// The whole suite.
pub async fn run(d: &dyn NetworkDriver, fx: &Fixture, check: &dyn Fn(&JoinInfo)) {
    create_and_delete_network(d, fx).await;
    endpoint_lifecycle(d, fx, check).await;
    unknown_ids(d, fx).await;
}
