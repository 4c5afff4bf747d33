//! The conformance suite of IPAM drivers (berth-core's `IpamDriver`):
//! every built-in and every plugin proxy passes it. Each function panics
//! on the first broken rule.

use berth_core::networks::{IpamDriver, PoolRequest, GATEWAY_ADDRESS_TYPE, REQUEST_ADDRESS_TYPE};
use berth_types::ErrorKind;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

fn parse(cidr: &str) -> (Ipv4Addr, u8) {
    let (a, p) = cidr.split_once('/').unwrap_or((cidr, "32"));
    (
        a.parse().expect("an IPv4 address"),
        p.parse().expect("a prefix"),
    )
}

/// Whether `addr` (with or without prefix) lies in `pool`.
pub fn in_pool(addr: &str, pool: &str) -> bool {
    let (a, _) = parse(addr);
    let (p, len) = parse(pool);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(a) & mask == u32::from(p) & mask
}

async fn pool(ipam: &dyn IpamDriver, want: &str) -> berth_types::Result<(String, String)> {
    let space = ipam.default_address_spaces().await?.local;
    let req = PoolRequest {
        address_space: space,
        pool: want.to_string(),
        ..Default::default()
    };
    let p = ipam.request_pool(&req).await?;
    Ok((p.pool_id, p.pool))
}

fn gateway_opts() -> BTreeMap<String, String> {
    BTreeMap::from([(REQUEST_ADDRESS_TYPE.into(), GATEWAY_ADDRESS_TYPE.into())])
}

fn kind<T: std::fmt::Debug>(r: berth_types::Result<T>) -> ErrorKind {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.kind,
    }
}

/// `cidr` (a /24 or larger) is granted; it, a pool inside it and one
/// around it are then refused; a pool IPAM picks itself overlaps none.
pub async fn pool_overlap_refused(ipam: &dyn IpamDriver, cidr: &str) {
    let (id, got) = pool(ipam, cidr).await.expect("request pool");
    assert!(
        in_pool(&got, cidr) && in_pool(cidr, &got),
        "{got} is {cidr}"
    );
    assert!(pool(ipam, cidr).await.is_err(), "the same pool twice");
    let (a, len) = parse(cidr);
    let inner = format!("{a}/{}", len + 2);
    assert!(pool(ipam, &inner).await.is_err(), "a pool inside {cidr}");
    let outer = format!("{a}/{}", len - 1);
    assert!(pool(ipam, &outer).await.is_err(), "a pool around {cidr}");
    let (any_id, any) = pool(ipam, "").await.expect("any pool");
    assert!(
        !in_pool(&any, cidr) && !in_pool(cidr, &any),
        "{any} overlaps {cidr}"
    );
    ipam.release_pool(&any_id).await.expect("release");
    ipam.release_pool(&id).await.expect("release");
    let (again, _) = pool(ipam, cidr)
        .await
        .expect("a released pool is free again");
    ipam.release_pool(&again).await.expect("release");
    assert_eq!(kind(ipam.release_pool(&id).await), ErrorKind::NotFound);
}

/// The gateway, once given, and every address are handed out once; all
/// lie in the pool.
pub async fn addresses_unique_gateway_reserved(ipam: &dyn IpamDriver, cidr: &str) {
    let (id, got) = pool(ipam, cidr).await.expect("request pool");
    let gw = ipam
        .request_address(&id, "", &gateway_opts())
        .await
        .expect("gateway");
    assert!(in_pool(&gw, &got), "gateway {gw} in {got}");
    let gw_ip = gw.split('/').next().unwrap().to_string();
    let none = BTreeMap::new();
    let r = ipam.request_address(&id, &gw_ip, &none).await;
    assert!(r.is_err(), "the gateway is reserved");
    let mut seen = vec![gw_ip.clone()];
    for _ in 0..8 {
        let a = ipam.request_address(&id, "", &none).await.expect("address");
        assert!(in_pool(&a, &got), "{a} in {got}");
        let ip = a.split('/').next().unwrap().to_string();
        assert!(!seen.contains(&ip), "{ip} handed out twice");
        seen.push(ip);
    }
    let r = ipam.request_address(&id, &seen[3], &none).await;
    assert!(r.is_err(), "an address in use, asked for by name");
    ipam.release_pool(&id).await.expect("release");
}

/// A released address can be had again, by name or as the next free one.
pub async fn release_makes_reusable(ipam: &dyn IpamDriver, cidr: &str) {
    let (id, _) = pool(ipam, cidr).await.expect("request pool");
    let none = BTreeMap::new();
    let a = ipam.request_address(&id, "", &none).await.expect("address");
    let ip = a.split('/').next().unwrap().to_string();
    ipam.release_address(&id, &a).await.expect("release");
    let b = ipam.request_address(&id, &ip, &none).await.expect("again");
    assert_eq!(b.split('/').next(), Some(ip.as_str()));
    ipam.release_address(&id, &ip).await.expect("release");
    ipam.request_address(&id, &a, &none)
        .await
        .expect("a released address, asked for with its prefix");
    ipam.release_pool(&id).await.expect("release");
}

/// Calls with a pool id IPAM never gave are not-found.
pub async fn unknown_pools(ipam: &dyn IpamDriver) {
    let none = BTreeMap::new();
    let r = ipam.request_address("no-such-pool", "", &none).await;
    assert_eq!(kind(r), ErrorKind::NotFound);
    let r = ipam.release_address("no-such-pool", "10.0.0.2").await;
    assert_eq!(kind(r), ErrorKind::NotFound);
    assert_eq!(
        kind(ipam.release_pool("no-such-pool").await),
        ErrorKind::NotFound
    );
}

/// The whole suite over `cidr`, a pool of at least 16 addresses that
/// nothing else uses.
pub async fn run(ipam: &dyn IpamDriver, cidr: &str) {
    pool_overlap_refused(ipam, cidr).await;
    addresses_unique_gateway_reserved(ipam, cidr).await;
    release_makes_reusable(ipam, cidr).await;
    unknown_pools(ipam).await;
}
