//! The built-in `default` IPAM driver: pools from dockerd's default pools
//! (or daemon.json `default-address-pools`) that avoid the host's routes,
//! addresses handed out lowest first. Its state lives in memory; the
//! network manager asks for every pool and address again at start.

use crate::ipam::{self, parse_cidr, Allocations, Pool, Subnet};
use async_trait::async_trait;
use berth_core::networks::{
    AddressSpaces, IpamDriver, Pool as IpamPool, PoolRequest, GATEWAY_ADDRESS_TYPE,
    REQUEST_ADDRESS_TYPE,
};
use berth_types::{Error, Result};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;

pub const LOCAL_SPACE: &str = "LocalDefault";
pub const GLOBAL_SPACE: &str = "GlobalDefault";

struct PoolState {
    subnet: Subnet,
    gateway: Option<Ipv4Addr>,
    used: Allocations,
}

pub struct DefaultIpam {
    defaults: Vec<Pool>,
    /// Whether picked pools avoid the host's routes (tests turn it off).
    avoid_host_routes: bool,
    pools: Mutex<BTreeMap<String, PoolState>>,
}

impl DefaultIpam {
    pub fn new(defaults: Vec<Pool>) -> DefaultIpam {
        DefaultIpam {
            defaults,
            avoid_host_routes: true,
            pools: Mutex::new(BTreeMap::new()),
        }
    }

    /// Without looking at the host's routes: for tests that want the same
    /// pools on every machine.
    pub fn ignoring_host_routes(mut self) -> DefaultIpam {
        self.avoid_host_routes = false;
        self
    }

    fn with_pool<T>(
        &self,
        pool_id: &str,
        f: impl FnOnce(&mut PoolState) -> Result<T>,
    ) -> Result<T> {
        let mut pools = self.pools.lock().unwrap();
        let p = pools
            .get_mut(pool_id)
            .ok_or_else(|| Error::not_found(format!("pool {pool_id} not found")))?;
        f(p)
    }
}

fn parse_ip(s: &str, what: &str) -> Result<Ipv4Addr> {
    s.split_once('/')
        .map(|(a, _)| a)
        .unwrap_or(s)
        .parse()
        .map_err(|_| Error::invalid(format!("invalid {what} {s:?}")))
}

#[async_trait]
impl IpamDriver for DefaultIpam {
    fn name(&self) -> &str {
        "default"
    }
    async fn default_address_spaces(&self) -> Result<AddressSpaces> {
        Ok(AddressSpaces {
            local: LOCAL_SPACE.into(),
            global: GLOBAL_SPACE.into(),
        })
    }
    async fn request_pool(&self, req: &PoolRequest) -> Result<IpamPool> {
        if req.v6 {
            return Err(Error::invalid(
                "IPv6 networks are not supported by berth yet",
            ));
        }
        let space = if req.address_space.is_empty() {
            LOCAL_SPACE
        } else {
            req.address_space.as_str()
        };
        let mut pools = self.pools.lock().unwrap();
        let prefix = format!("{space}/");
        let others: Vec<Subnet> = pools
            .iter()
            .filter(|(id, _)| id.starts_with(&prefix))
            .map(|(_, p)| p.subnet)
            .collect();
        let subnet = if req.pool.is_empty() {
            let mut taken = if self.avoid_host_routes {
                ipam::host_routes()
            } else {
                Vec::new()
            };
            taken.extend(others);
            ipam::pick_subnet(&self.defaults, &taken)?
        } else {
            let s: Subnet = req.pool.parse()?;
            if others.iter().any(|o| o.overlaps(&s)) {
                return Err(Error::forbidden(format!("invalid pool request: Pool overlaps with other one on this address space ({s})")));
            }
            s
        };
        let pool_id = format!("{space}/{subnet}");
        pools.insert(
            pool_id.clone(),
            PoolState {
                subnet,
                gateway: None,
                used: Allocations::default(),
            },
        );
        Ok(IpamPool {
            pool_id,
            pool: subnet.to_string(),
            data: BTreeMap::new(),
        })
    }
    async fn release_pool(&self, pool_id: &str) -> Result<()> {
        self.pools
            .lock()
            .unwrap()
            .remove(pool_id)
            .map(|_| ())
            .ok_or_else(|| Error::not_found(format!("pool {pool_id} not found")))
    }
    async fn request_address(
        &self,
        pool_id: &str,
        address: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<String> {
        let gateway = options
            .get(REQUEST_ADDRESS_TYPE)
            .is_some_and(|t| t == GATEWAY_ADDRESS_TYPE);
        self.with_pool(pool_id, |p| {
            let s = p.subnet;
            let ip = if gateway {
                let g = if address.is_empty() {
                    s.first_host()
                } else {
                    parse_ip(address, "gateway")?
                };
                if !s.contains(g) {
                    return Err(Error::invalid(format!("gateway {g} is not in subnet {s}")));
                }
                if p.used.used.contains(&g) || p.gateway.is_some_and(|x| x == g) {
                    return Err(Error::conflict(format!("Address already in use: {g}")));
                }
                p.gateway = Some(g);
                g
            } else {
                let want = (!address.is_empty())
                    .then(|| parse_ip(address, "IPv4 address"))
                    .transpose()?;
                p.used.allocate(&s, p.gateway.unwrap_or(s.addr), want)?
            };
            Ok(format!("{ip}/{}", s.prefix))
        })
    }
    async fn release_address(&self, pool_id: &str, address: &str) -> Result<()> {
        let ip = parse_cidr(address)
            .map(|(ip, _)| ip)
            .or_else(|_| parse_ip(address, "IPv4 address"))?;
        self.with_pool(pool_id, |p| {
            if p.gateway == Some(ip) {
                p.gateway = None;
            } else {
                p.used.release(ip);
            }
            Ok(())
        })
    }
}
