//! The network manager: networks (predefined `bridge`, `host`, `none` and
//! user networks, each with its driver from the network driver registry
//! and its pool from IPAM), container sandboxes and endpoints, published
//! ports, the embedded DNS servers, and the firewall state derived from all
//! of them. One lock serialises every change; every change is persisted
//! before the call returns and announced on the event bus.
//!
//! By subject: [`config`] (what the daemon passes in and gets back),
//! `backends` (the driver and IPAM registries), `networks`, `sandboxes`,
//! `endpoints`, `dns_view`, `restore` (start and shutdown).

mod backends;
pub mod config;
mod dns_view;
mod endpoints;
mod networks;
mod restore;
mod sandboxes;

pub use config::{AttachRequest, Attachment, Config};
use dns_view::DnsView;

use crate::dns::{self, DnsServer};
use crate::drivers::{self, bridge::BridgeDriver};
use crate::error::{Errors, NetError, Result};
use crate::firewall::{Backend, Firewall, NetRule, PortRule};
use crate::ipam::{self, Subnet};
use crate::link::{self, Netlink};
use crate::netns;
use crate::ports::{self, PortMapping};
use crate::proxy::BoundPort;
use crate::proxy_process::PortProxies;
use crate::store::{mode, EndpointRecord, NetworkRecord, Sandbox, Store, DEFAULT_NETWORK};
use berth_core::drivers::DriverRegistry;
use berth_core::events::EventSink;
use berth_core::networks::{
    CreateEndpoint, CreateNetwork, IpamData, IpamDriver, NetworkDriver, NetworkInfo, PoolRequest,
    GATEWAY_ADDRESS_TYPE, REQUEST_ADDRESS_TYPE,
};
use berth_core::Filters;
use berth_types::container::{EndpointSettings, NetworkSettings, PortBinding};
use berth_types::network::{
    Ipam, IpamConfig, NetworkContainer, NetworkCreateRequest, NetworkCreateResponse,
    NetworkResource,
};
use berth_types::EventType;
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::sync::{Arc, RwLock};

#[derive(Default)]
struct State {
    networks: BTreeMap<String, NetworkRecord>,
    sandboxes: BTreeMap<String, Sandbox>,
    dns: HashMap<String, DnsServer>,
    /// network id → its IPAM pool id.
    pools: HashMap<String, String>,
}

pub struct NetworkManager {
    cfg: Config,
    store: Store,
    fw: Firewall,
    /// The port proxy processes, one per container that publishes ports.
    proxies: PortProxies,
    events: Arc<dyn EventSink>,
    nl: Arc<Netlink>,
    /// The network drivers: the built-ins, then plugins by name.
    drivers: DriverRegistry<dyn NetworkDriver>,
    /// The IPAM drivers: `default`, then plugins by name.
    ipam: DriverRegistry<dyn IpamDriver>,
    state: tokio::sync::Mutex<State>,
    view: Arc<RwLock<DnsView>>,
}

/// An endpoint being plugged into a sandbox.
struct Plug {
    endpoint_id: String,
    ip: Ipv4Addr,
    prefix: u8,
    /// Its interface's index in the sandbox (`eth<index>`).
    index: usize,
    /// Whether it carries the default route.
    gateway_endpoint: bool,
}

/// A driver's not-found for what is being removed anyway is no error.
fn tolerate_missing(r: berth_types::Result<()>) -> Result<()> {
    match r {
        Err(e) if e.kind == berth_types::ErrorKind::NotFound => Ok(()),
        r => Ok(r?),
    }
}

/// Takes `ip` of `pool` again (an endpoint's address at start).
async fn claim_address(ipam: &dyn IpamDriver, pool: &str, ip: Ipv4Addr) -> Result<()> {
    let (want, opts) = (ip.to_string(), BTreeMap::new());
    ipam.request_address(pool, &want, &opts).await?;
    Ok(())
}

use berth_core::ids::new_id;
use berth_types::timestamp::now as now_rfc3339;

impl NetworkManager {
    /// Opens the store, creates the predefined networks and the default
    /// bridge, and restores the sandboxes of containers that outlived the
    /// previous daemon. Must be called inside a tokio runtime.
    pub async fn start(cfg: Config, events: Arc<dyn EventSink>) -> Result<Arc<NetworkManager>> {
        let store = Store::open(&cfg.state_dir)?;
        let backend = if cfg.iptables {
            Backend::detect()
        } else {
            Backend::Disabled
        };
        let fw = Firewall::new(backend, &cfg.firewall_table);
        let nl = Arc::new(Netlink::connect()?);
        let drivers =
            drivers::builtin_networks(BridgeDriver::new(nl.clone(), &cfg.bridge_prefix, cfg.mtu));
        let ipam = drivers::builtin_ipam(cfg.address_pools.clone());
        let proxies = PortProxies::new(&cfg.proxy_exe, cfg.exec_root.join("port-proxies"));
        let m = Arc::new(NetworkManager {
            cfg,
            store,
            fw,
            proxies,
            events,
            nl,
            drivers,
            ipam,
            state: tokio::sync::Mutex::new(State::default()),
            view: Arc::new(RwLock::new(DnsView::default())),
        });
        m.restore().await?;
        Ok(m)
    }

    pub fn firewall(&self) -> &Firewall {
        &self.fw
    }

    /// The network driver registry (the daemon sets its plugin resolver).
    pub fn drivers(&self) -> &DriverRegistry<dyn NetworkDriver> {
        &self.drivers
    }

    /// The IPAM driver registry.
    pub fn ipam_drivers(&self) -> &DriverRegistry<dyn IpamDriver> {
        &self.ipam
    }

    fn emit(&self, action: &str, n: &NetworkRecord, container: Option<&str>) {
        let mut a = BTreeMap::new();
        if let Some(c) = container {
            a.insert("container".to_string(), c.to_string());
        }
        a.insert("name".to_string(), n.name.clone());
        a.insert("type".to_string(), n.driver.clone());
        self.events.emit(EventType::Network, action, &n.id, a);
    }

    fn find<'a>(&self, st: &'a State, id_or_name: &str) -> Result<&'a NetworkRecord> {
        if id_or_name.is_empty() {
            return Err(NetError::Invalid("network name or id is empty".into()));
        }
        if let Some(n) = st.networks.get(id_or_name) {
            return Ok(n);
        }
        if let Some(n) = st.networks.values().find(|n| n.name == id_or_name) {
            return Ok(n);
        }
        let mut it = st
            .networks
            .values()
            .filter(|n| n.id.starts_with(id_or_name));
        match (it.next(), it.next()) {
            (Some(n), None) => Ok(n),
            (Some(_), Some(_)) => Err(NetError::Invalid(format!(
                "network {id_or_name} is ambiguous"
            ))),
            _ => Err(NetError::NotFound(format!(
                "network {id_or_name} not found"
            ))),
        }
    }

    fn apply_firewall(&self, st: &State) -> Result<()> {
        let nets: Vec<NetRule> = st
            .networks
            .values()
            .filter(|n| !n.bridge.is_empty())
            .filter_map(|n| {
                Some(NetRule {
                    bridge: n.bridge.clone(),
                    subnet: n.subnet?,
                    internal: n.internal,
                    masquerade: n
                        .options
                        .get("com.docker.network.bridge.enable_ip_masquerade")
                        .is_none_or(|v| v != "false"),
                })
            })
            .collect();
        let mut ports = Vec::new();
        for sb in st.sandboxes.values() {
            let Some(ip) = self.gateway_ip_of(st, &sb.container_id) else {
                continue;
            };
            for pm in &sb.published {
                ports.push(PortRule {
                    proto: pm.proto,
                    host_ip: (!pm.host_ip.is_unspecified()).then_some(pm.host_ip),
                    host_port: pm.host_port,
                    container_ip: ip,
                    container_port: pm.container_port,
                });
            }
        }
        ports.sort();
        self.fw.apply(&nets, &ports)
    }

    fn gateway_ip_of(&self, st: &State, cid: &str) -> Option<Ipv4Addr> {
        st.networks
            .values()
            .filter_map(|n| n.endpoints.get(cid))
            .find(|e| e.gateway_endpoint)
            .map(|e| e.ip)
    }
}
