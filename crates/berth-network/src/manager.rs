//! The network manager: networks (predefined `bridge`, `host`, `none` and
//! user bridges), container sandboxes and endpoints, published ports, the
//! embedded DNS servers, and the firewall state derived from all of them.
//! One lock serialises every change; every change is persisted before the
//! call returns and announced on the event bus.

use crate::dns::{self, DnsServer};
use crate::error::{Errors, NetError, Result};
use crate::firewall::{Backend, Firewall, NetRule, PortRule};
use crate::ipam::{self, Pool, Subnet};
use crate::link::{self, Netlink};
use crate::netns;
use crate::ports::{self, PortMapping, PortSpec};
use crate::proxy::BoundPort;
use crate::proxy_process::PortProxies;
use crate::drivers::{self, bridge::BridgeDriver};
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
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Daemon flags and daemon.json keys that shape networking.
#[derive(Debug, Clone)]
pub struct Config {
    /// `<data-root>/network`: the records.
    pub state_dir: PathBuf,
    /// `<exec-root>`: namespaces live in `<exec-root>/netns/<container id>`.
    pub exec_root: PathBuf,
    /// `--bridge`: the default bridge's Linux name; `none` disables it.
    pub bridge: String,
    /// `--bip`: the default bridge's address and prefix.
    pub bip: Option<String>,
    /// `--iptables`: whether berth programs NAT and filter rules.
    pub iptables: bool,
    /// `--ip-forward`: turn on IPv4 forwarding at start.
    pub ip_forward: bool,
    /// daemon.json `default-address-pools`.
    pub address_pools: Vec<Pool>,
    /// `--mtu`.
    pub mtu: u32,
    /// berth's nftables table (and iptables chain prefix).
    pub firewall_table: String,
    /// Prefix of user networks' bridges (`berth-` + 9 id chars).
    pub bridge_prefix: String,
    /// Where the host's resolvers are read from.
    pub resolv_conf: PathBuf,
    /// Forward embedded-DNS misses here instead of the host's resolvers.
    pub dns_upstreams: Option<Vec<SocketAddr>>,
    /// The program run as `PROGRAM proxy ...` for published ports: berthd
    /// itself (the default, the running executable); tests of this crate
    /// point it at their stand-in.
    pub proxy_exe: PathBuf,
}

impl Config {
    pub fn new(data_root: impl Into<PathBuf>, exec_root: impl Into<PathBuf>) -> Config {
        Config {
            state_dir: data_root.into().join("network"),
            exec_root: exec_root.into(),
            bridge: "berth0".into(),
            bip: None,
            iptables: true,
            ip_forward: true,
            address_pools: Pool::defaults(),
            mtu: 1500,
            firewall_table: "berth".into(),
            bridge_prefix: "berth-".into(),
            resolv_conf: "/etc/resolv.conf".into(),
            dns_upstreams: None,
            proxy_exe: std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into()),
        }
    }
}

/// What the daemon asks for when a container starts.
#[derive(Debug, Clone, Default)]
pub struct AttachRequest {
    pub container_id: String,
    /// Without the leading `/`.
    pub container_name: String,
    /// `HostConfig.NetworkMode`: `""`/`default`/`bridge`, `host`, `none`,
    /// `container:<full id>`, or a network's name or id.
    pub network_mode: String,
    /// `NetworkingConfig.EndpointsConfig` (aliases, `IPAMConfig.IPv4Address`),
    /// keyed by network name or id; networks other than the mode's are
    /// joined too.
    pub endpoints: BTreeMap<String, EndpointSettings>,
    pub ports: Vec<PortSpec>,
    pub hostname: String,
    /// `HostConfig.Dns`: where the embedded DNS forwards.
    pub dns: Vec<String>,
}

/// What the runtime and inspect need once a container is attached.
#[derive(Debug, Clone, Default)]
pub struct Attachment {
    /// The namespace to join (`SpecOptions.netns_path`); `None` = host's.
    pub netns_path: Option<PathBuf>,
    /// For /etc/hosts.
    pub addresses: Vec<String>,
    /// For resolv.conf: `["127.0.0.11"]` on user networks (pass as
    /// `EtcFiles.dns`), empty = the host's resolvers.
    pub nameservers: Vec<String>,
    /// For resolv.conf (`ndots:0` on user networks, as dockerd writes).
    pub dns_options: Vec<String>,
    pub published: Vec<PortMapping>,
}

/// What DNS answers come from: network id → (names, ip); container id →
/// its networks.
#[derive(Default)]
struct DnsView {
    entries: HashMap<String, Vec<(Vec<String>, Ipv4Addr)>>,
    net_names: HashMap<String, String>,
    member_of: HashMap<String, Vec<String>>,
}

impl DnsView {
    fn lookup(&self, asker: &str, name: &str) -> Option<Vec<Ipv4Addr>> {
        let mut out = Vec::new();
        for nid in self.member_of.get(asker)? {
            let netname = self.net_names.get(nid).map(String::as_str).unwrap_or("");
            for (names, ip) in self.entries.get(nid).into_iter().flatten() {
                let hit = names.iter().any(|n| {
                    n == name || (!netname.is_empty() && format!("{n}.{netname}") == name)
                });
                if hit && !out.contains(ip) {
                    out.push(*ip);
                }
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

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

fn new_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

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
        let drivers = drivers::builtin_networks(BridgeDriver::new(
            nl.clone(),
            &cfg.bridge_prefix,
            cfg.mtu,
        ));
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

    /// The IPAM driver of every network (berth has no `--ipam-driver` yet).
    async fn ipam(&self) -> Result<Arc<dyn IpamDriver>> {
        Ok(self.ipam.get("").await?)
    }

    /// Asks IPAM for a pool (`pool` empty: any free one) and its gateway
    /// (`gateway` empty: the first host address).
    async fn request_pool(&self, pool: &str, gateway: &str) -> Result<(String, Subnet, Ipv4Addr)> {
        let ipam = self.ipam().await?;
        let space = ipam.default_address_spaces().await?.local;
        let req = PoolRequest {
            address_space: space,
            pool: pool.to_string(),
            ..Default::default()
        };
        let p = ipam.request_pool(&req).await?;
        let subnet: Subnet = p.pool.parse()?;
        let opts = BTreeMap::from([(
            REQUEST_ADDRESS_TYPE.to_string(),
            GATEWAY_ADDRESS_TYPE.to_string(),
        )]);
        match ipam.request_address(&p.pool_id, gateway, &opts).await {
            Ok(g) => Ok((p.pool_id, subnet, ipam::parse_cidr(&g)?.0)),
            Err(e) => {
                let _ = ipam.release_pool(&p.pool_id).await;
                Err(e.into())
            }
        }
    }

    /// Asks IPAM again for a network's pool and its endpoints' addresses
    /// (at start: the default IPAM keeps no records of its own).
    async fn reclaim_pool(&self, st: &mut State, nid: &str) -> Result<()> {
        let n = st.networks[nid].clone();
        let (Some(s), Some(g)) = (n.subnet, n.gateway) else {
            return Ok(());
        };
        let (pool, _, _) = self.request_pool(&s.to_string(), &g.to_string()).await?;
        st.pools.insert(n.id.clone(), pool.clone());
        let ipam = self.ipam().await?;
        let mut errs = Errors::default();
        for e in n.endpoints.values() {
            errs.check(claim_address(&*ipam, &pool, e.ip).await);
        }
        errs.into_result()
    }

    async fn driver_of(&self, n: &NetworkRecord) -> Result<Arc<dyn NetworkDriver>> {
        Ok(self.drivers.get(&n.driver).await?)
    }

    /// Whether containers can take endpoints on `n` (not so on the one
    /// network of a driver like `host` or `null`).
    async fn takes_endpoints(&self, n: &NetworkRecord) -> Result<bool> {
        Ok(self.driver_of(n).await?.predefined_network().is_none())
    }

    /// Tells a network's driver about it: at create, and again at every
    /// start (drivers keep no records of their own).
    async fn announce(&self, n: &NetworkRecord) -> Result<NetworkInfo> {
        let ipv4 = match (n.subnet, n.gateway) {
            (Some(s), g) => vec![IpamData {
                address_space: "LocalDefault".into(),
                pool: s.to_string(),
                gateway: g.map(|g| format!("{g}/{}", s.prefix)).unwrap_or_default(),
                aux_addresses: BTreeMap::new(),
            }],
            (None, _) => Vec::new(),
        };
        let req = CreateNetwork {
            network_id: n.id.clone(),
            options: n.options.clone(),
            internal: n.internal,
            ipv4,
        };
        Ok(self.driver_of(n).await?.create_network(&req).await?)
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

    /// Loads the records, (re)creates predefined networks, bridges, DNS
    /// servers and rules, and adopts the port proxies that outlived the
    /// previous daemon (starting one again only where it is gone).
    /// Sandboxes whose namespace is gone (host rebooted) are dropped with
    /// their endpoints. berth's firewall table is replaced in one atomic
    /// step from the records, so the DNAT of running containers never
    /// lapses either.
    ///
    /// Only a failure to read the records or to set up the default bridge
    /// is an error; a container whose port or DNS server cannot come back
    /// (say its host port was taken meanwhile) is logged and skipped, so one
    /// container never keeps the daemon from starting.
    pub async fn restore(&self) -> Result<()> {
        let mut st = self.state.lock().await;
        st.networks = self
            .store
            .networks()?
            .into_iter()
            .map(|n| (n.id.clone(), n))
            .collect();
        st.sandboxes = self
            .store
            .sandboxes()?
            .into_iter()
            .map(|s| (s.container_id.clone(), s))
            .collect();
        let mut errs = Errors::default();
        let ipam = self.ipam().await?;
        for (_, pool) in std::mem::take(&mut st.pools) {
            let _ = ipam.release_pool(&pool).await;
        }
        let users: Vec<String> = st
            .networks
            .values()
            .filter(|n| !n.is_default())
            .map(|n| n.id.clone())
            .collect();
        for nid in users {
            errs.check(self.reclaim_pool(&mut st, &nid).await);
        }
        self.ensure_predefined(&mut st).await?;
        if self.cfg.ip_forward && self.fw.backend != Backend::Disabled {
            if let Err(e) = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1") {
                tracing::warn!("enabling ip_forward: {e}");
            }
        }
        // the drivers learn of the user networks again
        let users: Vec<NetworkRecord> = st
            .networks
            .values()
            .filter(|n| !n.predefined())
            .cloned()
            .collect();
        for n in users {
            errs.check(self.announce(&n).await);
        }
        // drop sandboxes whose namespace vanished
        let dead: Vec<String> = st
            .sandboxes
            .values()
            .filter(|s| s.owns_netns && !s.netns.as_ref().is_some_and(|p| netns::exists(p)))
            .map(|s| s.container_id.clone())
            .collect();
        for cid in dead {
            errs.check(self.teardown_locked(&mut st, &cid).await);
        }
        // endpoints without a sandbox
        let orphans: Vec<(String, String)> = st
            .networks
            .values()
            .flat_map(|n| n.endpoints.keys().map(move |c| (n.id.clone(), c.clone())))
            .filter(|(_, c)| !st.sandboxes.contains_key(c))
            .collect();
        for (nid, cid) in orphans {
            errs.check(self.remove_endpoint(&mut st, &nid, &cid).await);
        }
        self.restore_proxies(&st, &mut errs).await;
        // DNS of surviving sandboxes
        let live: Vec<Sandbox> = st.sandboxes.values().cloned().collect();
        for sb in live {
            if self.needs_dns(&st, &sb) {
                errs.check(self.start_dns(&mut st, &sb));
            }
        }
        self.refresh(&st);
        errs.check(self.apply_firewall(&st));
        if let Err(e) = errs.into_result() {
            tracing::warn!("restoring networking: {e}");
        }
        Ok(())
    }

    /// Keeps the port proxies of surviving sandboxes (starting one again
    /// where it died; a port taken meanwhile is logged and skipped) and
    /// stops those of containers that no longer have networking.
    async fn restore_proxies(&self, st: &State, errs: &mut Errors) {
        for sb in st.sandboxes.values() {
            let cid = &sb.container_id;
            if sb.published.is_empty() {
                continue;
            }
            if let Some(pid) = self.proxies.pid_of(cid) {
                tracing::debug!("adopted the port proxy of {cid} (pid {pid})");
                continue;
            }
            let Some(ip) = self.gateway_ip_of(st, cid) else {
                continue;
            };
            tracing::info!("the port proxy of {cid} is gone; starting it again");
            let bound: Vec<(BoundPort, SocketAddrV4)> = sb
                .published
                .iter()
                .filter_map(|pm| {
                    let b = BoundPort::bind(pm.proto, pm.host_ip, pm.host_port);
                    Some((errs.check(b)?, SocketAddrV4::new(ip, pm.container_port)))
                })
                .collect();
            if !bound.is_empty() {
                errs.check(self.proxies.spawn(cid, &bound).await);
            }
        }
        for cid in self.proxies.containers() {
            if st
                .sandboxes
                .get(&cid)
                .is_none_or(|s| s.published.is_empty())
            {
                errs.check(self.proxies.stop(&cid).await);
            }
        }
    }

    async fn ensure_predefined(&self, st: &mut State) -> Result<()> {
        for (driver, d) in self.drivers.builtins() {
            let Some(name) = d.predefined_network() else {
                continue;
            };
            let n = match st.networks.values().find(|n| n.name == name) {
                Some(n) => n.clone(),
                None => {
                    let n = NetworkRecord::new(new_id(), name, &driver, now_rfc3339());
                    self.store.save_network(&n)?;
                    st.networks.insert(n.id.clone(), n.clone());
                    n
                }
            };
            self.announce(&n).await?;
        }
        if self.cfg.bridge == "none" {
            return Ok(());
        }
        let existing = st.networks.values().find(|n| n.is_default()).cloned();
        let (want, want_gw) = match (&self.cfg.bip, &existing) {
            (Some(bip), _) => {
                let (s, g) = ipam::parse_bip(bip)?;
                (s.to_string(), g.to_string())
            }
            (None, Some(n)) if n.subnet.is_some() && n.bridge == self.cfg.bridge => (
                n.subnet.map(|s| s.to_string()).unwrap_or_default(),
                n.gateway.map(|g| g.to_string()).unwrap_or_default(),
            ),
            _ => (String::new(), String::new()),
        };
        let (pool, subnet, gw) = self.request_pool(&want, &want_gw).await?;
        let mut n = existing.unwrap_or_else(|| {
            NetworkRecord::new(
                new_id(),
                DEFAULT_NETWORK,
                &self.drivers.default_name(),
                now_rfc3339(),
            )
        });
        if n.subnet != Some(subnet) && !n.endpoints.is_empty() {
            tracing::warn!(
                "default bridge subnet changed to {subnet} while containers are attached to {:?}",
                n.subnet
            );
        }
        n.subnet = Some(subnet);
        n.gateway = Some(gw);
        n.options = [
            ("com.docker.network.bridge.default_bridge", "true"),
            ("com.docker.network.bridge.enable_icc", "true"),
            ("com.docker.network.bridge.enable_ip_masquerade", "true"),
            ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
            ("com.docker.network.bridge.name", self.cfg.bridge.as_str()),
            ("com.docker.network.driver.mtu", &self.cfg.mtu.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let info = self.announce(&n).await?;
        n.bridge = info.interface;
        n.mtu = info.mtu;
        self.store.save_network(&n)?;
        let ipam = self.ipam().await?;
        for e in n.endpoints.values() {
            if let Err(err) = claim_address(&*ipam, &pool, e.ip).await {
                tracing::warn!("the address {} of {} on the default bridge: {err}", e.ip, e.container_name);
            }
        }
        st.pools.insert(n.id.clone(), pool);
        st.networks.insert(n.id.clone(), n);
        Ok(())
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

    /// Recomputes what the DNS servers answer.
    fn refresh(&self, st: &State) {
        let mut v = DnsView::default();
        for n in st.networks.values().filter(|n| !n.is_default()) {
            v.net_names.insert(n.id.clone(), n.name.clone());
            let list = v.entries.entry(n.id.clone()).or_default();
            for (cid, e) in &n.endpoints {
                let mut names = vec![
                    e.container_name.to_ascii_lowercase(),
                    cid[..12.min(cid.len())].to_string(),
                ];
                names.extend(e.aliases.iter().map(|a| a.to_ascii_lowercase()));
                if let Some(sb) = st.sandboxes.get(cid) {
                    if !sb.hostname.is_empty() && sb.hostname.len() != 12 {
                        names.push(sb.hostname.to_ascii_lowercase());
                    }
                }
                list.push((names, e.ip));
                v.member_of
                    .entry(cid.clone())
                    .or_default()
                    .push(n.id.clone());
            }
        }
        *self.view.write().unwrap() = v;
    }

    fn needs_dns(&self, st: &State, sb: &Sandbox) -> bool {
        sb.netns.is_some()
            && sb.mode == mode::ENDPOINTS
            && sb
                .networks
                .iter()
                .any(|nid| st.networks.get(nid).is_some_and(|n| !n.is_default()))
    }

    fn start_dns(&self, st: &mut State, sb: &Sandbox) -> Result<()> {
        if st.dns.contains_key(&sb.container_id) {
            return Ok(());
        }
        let Some(path) = &sb.netns else { return Ok(()) };
        let upstreams: Vec<SocketAddr> = if !sb.dns.is_empty() {
            sb.dns
                .iter()
                .filter_map(|d| d.parse::<std::net::IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
                .collect()
        } else if let Some(u) = &self.cfg.dns_upstreams {
            u.clone()
        } else {
            dns::upstreams_from_resolv_conf(
                &std::fs::read_to_string(&self.cfg.resolv_conf).unwrap_or_default(),
            )
        };
        let view = self.view.clone();
        let asker = sb.container_id.clone();
        let lookup: dns::Lookup =
            Arc::new(move |name: &str| view.read().unwrap().lookup(&asker, name));
        let srv = DnsServer::start(path, lookup, upstreams)?;
        st.dns.insert(sb.container_id.clone(), srv);
        Ok(())
    }

    // ----- networks -----

    pub async fn create_network(&self, req: NetworkCreateRequest) -> Result<NetworkCreateResponse> {
        let name = req.name.trim().to_string();
        if name.is_empty() {
            return Err(NetError::Invalid("network name is required".into()));
        }
        let driver_name = if req.driver.is_empty() {
            self.drivers.default_name()
        } else {
            req.driver.clone()
        };
        let driver = self.drivers.get(&driver_name).await?;
        if driver.predefined_network().is_some() {
            return Err(NetError::Forbidden(format!(
                "only one instance of \"{driver_name}\" network is allowed"
            )));
        }
        if req.enable_ipv6 == Some(true) {
            return Err(NetError::Invalid(
                "IPv6 networks are not supported by berth yet".into(),
            ));
        }
        let mut st = self.state.lock().await;
        if st.networks.values().any(|n| n.name == name) {
            return Err(NetError::Conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let cfg: IpamConfig = req
            .ipam
            .as_ref()
            .and_then(|i| i.config.first().cloned())
            .unwrap_or_default();
        if !cfg.subnet.is_empty() && cfg.subnet.contains(':') {
            return Err(NetError::Invalid(
                "IPv6 subnets are not supported by berth yet".into(),
            ));
        }
        let user_subnet = !cfg.subnet.is_empty();
        let (pool, subnet, gateway) = self.request_pool(&cfg.subnet, &cfg.gateway).await?;
        let r = self
            .create_locked(&mut st, &req, &name, &driver_name, (subnet, gateway, user_subnet))
            .await;
        match r {
            Ok(n) => {
                st.pools.insert(n.id.clone(), pool);
                self.emit("create", &n, None);
                Ok(NetworkCreateResponse {
                    id: n.id,
                    warning: String::new(),
                })
            }
            Err(e) => {
                if let Ok(ipam) = self.ipam().await {
                    let _ = ipam.release_pool(&pool).await;
                }
                Err(e)
            }
        }
    }

    async fn create_locked(
        &self,
        st: &mut State,
        req: &NetworkCreateRequest,
        name: &str,
        driver_name: &str,
        (subnet, gateway, user_subnet): (Subnet, Ipv4Addr, bool),
    ) -> Result<NetworkRecord> {
        let driver = self.drivers.get(driver_name).await?;
        let id = new_id();
        let mut n = NetworkRecord {
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels.clone(),
            options: req.options.clone(),
            subnet: Some(subnet),
            gateway: Some(gateway),
            user_subnet,
            ..NetworkRecord::new(id.clone(), name, driver_name, now_rfc3339())
        };
        let info = self.announce(&n).await?;
        n.bridge = info.interface;
        n.mtu = info.mtu;
        if let Err(e) = self.store.save_network(&n) {
            let _ = driver.delete_network(&id).await;
            return Err(e);
        }
        st.networks.insert(id, n.clone());
        if let Err(e) = self.apply_firewall(st) {
            tracing::warn!("firewall after creating {}: {e}", n.name);
        }
        Ok(n)
    }

    pub async fn inspect(&self, id_or_name: &str) -> Result<NetworkResource> {
        let st = self.state.lock().await;
        Ok(self.resource(&st, self.find(&st, id_or_name)?))
    }

    pub async fn list(&self, f: &Filters) -> Result<Vec<NetworkResource>> {
        f.validate(&["dangling", "driver", "id", "label", "name", "scope", "type"])
            .map_err(|e| NetError::Invalid(e.message))?;
        let dangling = f
            .bool_value("dangling")
            .map_err(|e| NetError::Invalid(e.message))?;
        let st = self.state.lock().await;
        let mut out: Vec<NetworkResource> = st
            .networks
            .values()
            .filter(|n| f.exact_match("driver", &n.driver))
            .filter(|n| f.any("id", |v| n.id.starts_with(v)))
            .filter(|n| f.any("name", |v| n.name.contains(v)))
            .filter(|_| f.exact_match("scope", "local"))
            .filter(|n| f.match_labels("label", &n.labels))
            .filter(|n| f.exact_match("type", if n.predefined() { "builtin" } else { "custom" }))
            .filter(|n| dangling.is_none_or(|d| d == (n.endpoints.is_empty() && !n.predefined())))
            .map(|n| self.resource(&st, n))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        // dockerd's list leaves Containers empty
        for r in &mut out {
            r.containers.clear();
        }
        Ok(out)
    }

    fn resource(&self, _st: &State, n: &NetworkRecord) -> NetworkResource {
        let config = match (n.subnet, n.gateway) {
            (Some(s), Some(g)) => vec![IpamConfig {
                subnet: s.to_string(),
                gateway: g.to_string(),
                ..Default::default()
            }],
            _ => Vec::new(),
        };
        NetworkResource {
            name: n.name.clone(),
            id: n.id.clone(),
            created: n.created.clone(),
            scope: "local".into(),
            driver: n.driver.clone(),
            enable_ipv4: true,
            enable_ipv6: false,
            ipam: Ipam {
                driver: "default".into(),
                options: BTreeMap::new(),
                config,
            },
            internal: n.internal,
            attachable: n.attachable,
            ingress: false,
            config_from: Default::default(),
            config_only: false,
            containers: n
                .endpoints
                .iter()
                .map(|(cid, e)| {
                    (
                        cid.clone(),
                        NetworkContainer {
                            name: e.container_name.clone(),
                            endpoint_id: e.endpoint_id.clone(),
                            mac_address: e.mac.clone(),
                            ipv4_address: format!(
                                "{}/{}",
                                e.ip,
                                n.subnet.map(|s| s.prefix).unwrap_or(32)
                            ),
                            ipv6_address: String::new(),
                        },
                    )
                })
                .collect(),
            options: n.options.clone(),
            labels: n.labels.clone(),
        }
    }

    pub async fn remove(&self, id_or_name: &str) -> Result<()> {
        let mut st = self.state.lock().await;
        let n = self.find(&st, id_or_name)?.clone();
        if n.predefined() {
            return Err(NetError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        if !n.endpoints.is_empty() {
            return Err(NetError::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            )));
        }
        self.remove_locked(&mut st, &n).await
    }

    async fn remove_locked(&self, st: &mut State, n: &NetworkRecord) -> Result<()> {
        let mut errs = Errors::default();
        match self.driver_of(n).await {
            Ok(d) => errs.check(tolerate_missing(d.delete_network(&n.id).await)),
            Err(e) => errs.check(Err(e)),
        };
        errs.check(self.store.delete_network(&n.id));
        st.networks.remove(&n.id);
        if let Some(pool) = st.pools.remove(&n.id) {
            match self.ipam().await {
                Ok(i) => errs.check(tolerate_missing(i.release_pool(&pool).await)),
                Err(e) => errs.check(Err(e)),
            };
        }
        errs.check(self.apply_firewall(st));
        self.refresh(st);
        self.emit("destroy", n, None);
        errs.into_result()
    }

    /// Removes unused user networks; returns their names.
    pub async fn prune(&self, f: &Filters) -> Result<Vec<String>> {
        f.validate(&["label", "label!", "until"])
            .map_err(|e| NetError::Invalid(e.message))?;
        let until = match f.get("until").next() {
            Some(u) => Some(
                berth_core::events::parse_time(u, berth_core::events::now_nanos())
                    .map_err(|e| NetError::Invalid(e.message))?,
            ),
            None => None,
        };
        let mut st = self.state.lock().await;
        let victims: Vec<NetworkRecord> = st
            .networks
            .values()
            .filter(|n| !n.predefined() && n.endpoints.is_empty())
            .filter(|n| f.match_labels("label", &n.labels))
            .filter(|n| {
                !f.contains("label!")
                    || !f.get("label!").any(|l| match l.split_once('=') {
                        Some((k, v)) => n.labels.get(k).is_some_and(|x| x == v),
                        None => n.labels.contains_key(l),
                    })
            })
            .filter(|n| {
                until.is_none_or(|u| {
                    time::OffsetDateTime::parse(
                        &n.created,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .map(|c| (c.unix_timestamp_nanos() as i64) < u)
                    .unwrap_or(false)
                })
            })
            .cloned()
            .collect();
        let mut errs = Errors::default();
        let mut names = Vec::new();
        for n in victims {
            if errs.check(self.remove_locked(&mut st, &n).await).is_some() {
                names.push(n.name.clone());
            }
        }
        let mut a = BTreeMap::new();
        a.insert("reclaimed".to_string(), "0".to_string());
        self.events.emit(EventType::Network, "prune", "", a);
        errs.into_result().map(|_| names)
    }

    // ----- containers -----

    /// Gives a starting container its networking; call before the runtime
    /// creates it, and pass `netns_path` on as `SpecOptions.netns_path`.
    /// On error nothing is left behind.
    pub async fn attach_container(&self, req: AttachRequest) -> Result<Attachment> {
        let mut st = self.state.lock().await;
        if st.sandboxes.contains_key(&req.container_id) {
            return Err(NetError::Conflict(format!(
                "container {} already has networking; detach it first",
                req.container_id
            )));
        }
        let r = self.attach_locked(&mut st, &req).await;
        if r.is_err() {
            let _ = self.teardown_locked(&mut st, &req.container_id).await;
            self.refresh(&st);
        }
        r
    }

    async fn attach_locked(&self, st: &mut State, req: &AttachRequest) -> Result<Attachment> {
        let cid = req.container_id.clone();
        let mode = req.network_mode.as_str();
        let mut sb = Sandbox {
            container_id: cid.clone(),
            container_name: req.container_name.trim_start_matches('/').to_string(),
            mode: String::new(),
            netns: None,
            owns_netns: false,
            hostname: req.hostname.clone(),
            ports: req.ports.clone(),
            published: Vec::new(),
            dns: req.dns.clone(),
            networks: Vec::new(),
        };
        if mode == "host" {
            sb.mode = mode::HOST.into();
            self.store.save_sandbox(&sb)?;
            st.sandboxes.insert(cid, sb);
            return Ok(Attachment::default());
        }
        if let Some(other) = mode.strip_prefix("container:") {
            let o = st
                .sandboxes
                .get(other)
                .or_else(|| {
                    st.sandboxes
                        .values()
                        .find(|s| s.container_name == other.trim_start_matches('/'))
                })
                .ok_or_else(|| {
                    NetError::Conflict(format!(
                        "cannot join network of a non running container: {other}"
                    ))
                })?;
            sb.mode = mode::CONTAINER.into();
            sb.netns = o.netns.clone();
            self.store.save_sandbox(&sb)?;
            let a = Attachment {
                netns_path: sb.netns.clone(),
                ..Default::default()
            };
            st.sandboxes.insert(cid, sb);
            return Ok(a);
        }
        let path = netns::path_for(&self.cfg.exec_root, &cid);
        netns::create(&path)?;
        sb.netns = Some(path.clone());
        sb.owns_netns = true;
        sb.mode = if mode == "none" {
            mode::NONE.into()
        } else {
            mode::ENDPOINTS.into()
        };
        // saved first, so a crash mid-way leaves a record restore can clean up
        self.store.save_sandbox(&sb)?;
        st.sandboxes.insert(cid.clone(), sb.clone());
        if mode == "none" {
            return Ok(Attachment {
                netns_path: Some(path),
                ..Default::default()
            });
        }
        let primary = match mode {
            "" | "default" => self.find(st, DEFAULT_NETWORK)?.id.clone(),
            other => self.find(st, other)?.id.clone(),
        };
        if !self.takes_endpoints(&st.networks[&primary]).await? {
            return Err(NetError::Invalid(format!(
                "network mode {mode} cannot be combined with bridge endpoints"
            )));
        }
        let mut order = vec![(
            primary.clone(),
            self.settings_for(st, &primary, &req.endpoints),
        )];
        for (k, s) in &req.endpoints {
            let nid = self.find(st, k)?.id.clone();
            if nid != primary && !order.iter().any(|(n, _)| *n == nid) {
                if !self.takes_endpoints(&st.networks[&nid]).await? {
                    return Err(NetError::Invalid(format!(
                        "container cannot be connected to network {k} as well"
                    )));
                }
                order.push((nid, s.clone()));
            }
        }
        let mut addresses = Vec::new();
        for (i, (nid, s)) in order.iter().enumerate() {
            let ip = self.add_endpoint(st, nid, &cid, s, i == 0).await?;
            addresses.push(ip.to_string());
        }
        // published ports on the gateway endpoint
        let gw_ip = self
            .gateway_ip_of(st, &cid)
            .expect("the first endpoint is the gateway");
        let mut bound = Vec::new();
        let mut published = Vec::new();
        for p in &req.ports {
            let host_ip = p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
            let b = BoundPort::bind(p.proto, host_ip, p.host_port)?;
            published.push(PortMapping {
                proto: p.proto,
                container_port: p.container_port,
                host_ip,
                host_port: b.host.port(),
            });
            bound.push((b, SocketAddrV4::new(gw_ip, p.container_port)));
        }
        if !bound.is_empty() {
            self.proxies.spawn(&cid, &bound).await?;
        }
        // the proxy holds the ports now
        drop(bound);
        let sbm = st.sandboxes.get_mut(&cid).expect("inserted above");
        sbm.published = published.clone();
        let sb = sbm.clone();
        self.store.save_sandbox(&sb)?;
        self.refresh(st);
        self.apply_firewall(st)?;
        let user_net = self.needs_dns(st, &sb);
        if user_net {
            self.start_dns(st, &sb)?;
        }
        for (nid, _) in &order {
            self.emit("connect", &st.networks[nid], Some(&cid));
        }
        Ok(Attachment {
            netns_path: Some(path),
            addresses,
            nameservers: if user_net {
                vec!["127.0.0.11".into()]
            } else {
                Vec::new()
            },
            dns_options: if user_net {
                vec!["ndots:0".into()]
            } else {
                Vec::new()
            },
            published,
        })
    }

    fn settings_for(
        &self,
        st: &State,
        nid: &str,
        eps: &BTreeMap<String, EndpointSettings>,
    ) -> EndpointSettings {
        let n = &st.networks[nid];
        eps.iter()
            .find(|(k, _)| {
                **k == n.name || **k == n.id || (k.len() >= 12 && n.id.starts_with(k.as_str()))
            })
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Adds one endpoint: an address, a veth pair with its container end
    /// configured inside the sandbox.
    async fn add_endpoint(
        &self,
        st: &mut State,
        nid: &str,
        cid: &str,
        s: &EndpointSettings,
        gateway: bool,
    ) -> Result<Ipv4Addr> {
        let sb = st
            .sandboxes
            .get(cid)
            .cloned()
            .ok_or_else(|| NetError::NotFound(format!("no sandbox for {cid}")))?;
        let netns = sb
            .netns
            .clone()
            .ok_or_else(|| NetError::Invalid("host-mode containers have no endpoints".into()))?;
        let n = st
            .networks
            .get_mut(nid)
            .ok_or_else(|| NetError::NotFound(format!("network {nid} not found")))?;
        if n.endpoints.contains_key(cid) {
            return Err(NetError::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                sb.container_name, n.name
            )));
        }
        let want = s
            .ipam_config
            .as_ref()
            .and_then(|v| v.get("IPv4Address"))
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<Ipv4Addr>()
                    .map_err(|_| NetError::Invalid(format!("invalid IPv4 address {s:?}")))
            })
            .transpose()?;
        if want.is_some() && !n.user_subnet {
            return Err(NetError::Invalid("user specified IP address is supported only when connecting to networks with user configured subnets".into()));
        }
        let (Some(subnet), Some(pool)) = (n.subnet, st.pools.get(nid).cloned()) else {
            return Err(NetError::Invalid(format!(
                "network {} has no IPv4 pool",
                n.name
            )));
        };
        let n = n.clone();
        let ipam = self.ipam().await?;
        let want = want.map(|w| w.to_string()).unwrap_or_default();
        let ip = ipam::parse_cidr(&ipam.request_address(&pool, &want, &BTreeMap::new()).await?)?.0;
        let ep = Plug {
            endpoint_id: new_id(),
            ip,
            prefix: subnet.prefix,
            index: sb.networks.len(),
            gateway_endpoint: gateway,
        };
        let r = self.plug(&n, &ep, &netns).await;
        let n = st.networks.get_mut(nid).expect("checked");
        let (mac, ifname) = match r {
            Ok(v) => v,
            Err(e) => {
                let _ = ipam.release_address(&pool, &ip.to_string()).await;
                return Err(e);
            }
        };
        n.allocations.used.insert(ip);
        let mut aliases = s.aliases.clone().unwrap_or_default();
        aliases.retain(|a| !a.is_empty());
        n.endpoints.insert(
            cid.to_string(),
            EndpointRecord {
                endpoint_id: ep.endpoint_id,
                container_name: sb.container_name.clone(),
                ip,
                mac,
                veth: String::new(),
                ifname,
                aliases,
                gateway_endpoint: gateway,
            },
        );
        let saved = self.store.save_network(n);
        let sbm = st.sandboxes.get_mut(cid).expect("checked");
        sbm.networks.push(nid.to_string());
        let sb2 = sbm.clone();
        saved?;
        self.store.save_sandbox(&sb2)?;
        Ok(ip)
    }

    /// Creates endpoint `ep` on `n` with its driver and joins it to the
    /// sandbox at `netns`: moves the interface the driver names in and
    /// configures it there. Returns the MAC and the interface's name.
    async fn plug(&self, n: &NetworkRecord, ep: &Plug, netns: &Path) -> Result<(String, String)> {
        let d = self.driver_of(n).await?;
        let req = CreateEndpoint {
            network_id: n.id.clone(),
            endpoint_id: ep.endpoint_id.clone(),
            address: format!("{}/{}", ep.ip, ep.prefix),
            ..Default::default()
        };
        let iface = d.create_endpoint(&req).await?;
        let r = self.join(&*d, n, ep, netns, &iface.mac_address).await;
        if r.is_err() {
            let _ = d.delete_endpoint(&n.id, &ep.endpoint_id).await;
        }
        r
    }

    async fn join(
        &self,
        d: &dyn NetworkDriver,
        n: &NetworkRecord,
        ep: &Plug,
        netns: &Path,
        mac: &str,
    ) -> Result<(String, String)> {
        let key = netns.display().to_string();
        let info = d
            .join(&n.id, &ep.endpoint_id, &key, &BTreeMap::new())
            .await?;
        let mac_bytes = link::parse_mac(mac).unwrap_or_else(|| link::mac_for(ep.ip));
        let ifname = format!("{}{}", info.dst_prefix, ep.index);
        if info.src_name.is_empty() {
            return Ok((link::mac_string(mac_bytes), String::new()));
        }
        let gw = ep
            .gateway_endpoint
            .then(|| info.gateway.parse::<Ipv4Addr>().ok())
            .flatten();
        let r = async {
            self.nl.move_to_netns(&info.src_name, netns).await?;
            let (src, i2, ns2) = (info.src_name.clone(), ifname.clone(), netns.to_path_buf());
            let (ip, prefix) = (ep.ip, ep.prefix);
            tokio::task::spawn_blocking(move || {
                netns::run_in(&ns2, move || {
                    link::block_on(async move {
                        Netlink::connect()?
                            .configure_peer(&src, &i2, mac_bytes, ip, prefix, gw)
                            .await
                    })
                })
            })
            .await
            .map_err(|e| NetError::Invalid(format!("netns task: {e}")))?
        }
        .await;
        if r.is_err() {
            let _ = d.leave(&n.id, &ep.endpoint_id).await;
        }
        r.map(|_| (link::mac_string(mac_bytes), ifname))
    }

    /// Removes one endpoint: its veth, its address, its record.
    async fn remove_endpoint(&self, st: &mut State, nid: &str, cid: &str) -> Result<()> {
        let mut errs = Errors::default();
        let Some(n) = st.networks.get_mut(nid) else {
            return Ok(());
        };
        if let Some(e) = n.endpoints.remove(cid) {
            n.allocations.release(e.ip);
            let n2 = n.clone();
            if let Some(pool) = st.pools.get(nid) {
                let r = async { self.ipam().await?.release_address(pool, &e.ip.to_string()).await.map_err(NetError::from) };
                errs.check(r.await);
            }
            match self.driver_of(&n2).await {
                Ok(d) => {
                    errs.check(tolerate_missing(d.leave(&n2.id, &e.endpoint_id).await));
                    let r = d.delete_endpoint(&n2.id, &e.endpoint_id).await;
                    errs.check(tolerate_missing(r));
                }
                Err(e) => {
                    errs.check(Err::<(), _>(e));
                }
            }
            errs.check(self.store.save_network(&n2));
            self.emit("disconnect", &n2, Some(cid));
        }
        if let Some(sb) = st.sandboxes.get_mut(cid) {
            sb.networks.retain(|x| x != nid);
        }
        errs.into_result()
    }

    async fn teardown_locked(&self, st: &mut State, cid: &str) -> Result<()> {
        let mut errs = Errors::default();
        errs.check(self.proxies.stop(cid).await);
        st.dns.remove(cid);
        let nets: Vec<String> = st
            .networks
            .values()
            .filter(|n| n.endpoints.contains_key(cid))
            .map(|n| n.id.clone())
            .collect();
        for nid in nets {
            errs.check(self.remove_endpoint(st, &nid, cid).await);
        }
        if let Some(sb) = st.sandboxes.remove(cid) {
            if sb.owns_netns {
                if let Some(p) = &sb.netns {
                    errs.check(netns::remove(p));
                }
            }
        }
        errs.check(self.store.delete_sandbox(cid));
        errs.check(self.apply_firewall(st));
        errs.into_result()
    }

    /// Tears a stopped container's networking down: ports, DNS, endpoints,
    /// namespace, rules. Keeps going past failures and reports them all.
    /// Unknown containers are fine (nothing to do).
    pub async fn detach_container(&self, cid: &str) -> Result<()> {
        let mut st = self.state.lock().await;
        let r = self.teardown_locked(&mut st, cid).await;
        self.refresh(&st);
        r
    }

    /// `docker network connect` for a running container.
    pub async fn connect(&self, net: &str, cid: &str, s: EndpointSettings) -> Result<()> {
        let mut st = self.state.lock().await;
        let nid = self.find(&st, net)?.id.clone();
        let sb = st.sandboxes.get(cid).cloned().ok_or_else(|| {
            NetError::Conflict(format!(
                "container {cid} is not running: berth connects running containers only"
            ))
        })?;
        if sb.mode != mode::ENDPOINTS && sb.mode != mode::NONE {
            return Err(NetError::Forbidden("container sharing network namespace with another container or host cannot be connected to any other network".into()));
        }
        if !self.takes_endpoints(&st.networks[&nid]).await? {
            return Err(NetError::Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        let first = self.gateway_ip_of(&st, cid).is_none();
        self.add_endpoint(&mut st, &nid, cid, &s, first).await?;
        let sb = st.sandboxes[cid].clone();
        if self.needs_dns(&st, &sb) {
            self.start_dns(&mut st, &sb)?;
        }
        self.refresh(&st);
        self.apply_firewall(&st)?;
        self.emit("connect", &st.networks[&nid], Some(cid));
        Ok(())
    }

    /// `docker network disconnect`.
    pub async fn disconnect(&self, net: &str, cid: &str, _force: bool) -> Result<()> {
        let mut st = self.state.lock().await;
        let n = self.find(&st, net)?.clone();
        if !n.endpoints.contains_key(cid) {
            return Err(NetError::Forbidden(format!(
                "container {cid} is not connected to network {}",
                n.name
            )));
        }
        self.remove_endpoint(&mut st, &n.id, cid).await?;
        if let Some(sb) = st.sandboxes.get(cid).cloned() {
            self.store.save_sandbox(&sb)?;
            if !self.needs_dns(&st, &sb) {
                st.dns.remove(cid);
            }
        }
        self.refresh(&st);
        self.apply_firewall(&st)
    }

    /// `NetworkSettings` for inspect; `None` when the container has no
    /// networking (not running).
    pub async fn settings(&self, cid: &str, exposed: &[String]) -> Option<NetworkSettings> {
        let st = self.state.lock().await;
        let sb = st.sandboxes.get(cid)?;
        let mut ns = NetworkSettings {
            sandbox_id: sb
                .netns
                .as_ref()
                .map(|_| cid.to_string())
                .unwrap_or_default(),
            sandbox_key: sb
                .netns
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            ports: ports::ports_map(&sb.published, exposed),
            ..Default::default()
        };
        if sb.mode == mode::HOST || sb.mode == mode::NONE {
            let name = sb.mode.clone();
            if let Ok(n) = self.find(&st, &name) {
                ns.networks.insert(
                    name,
                    EndpointSettings {
                        network_id: n.id.clone(),
                        ..Default::default()
                    },
                );
            }
        }
        for n in st.networks.values() {
            let Some(e) = n.endpoints.get(cid) else {
                continue;
            };
            let prefix = n.subnet.map(|s| s.prefix as i64).unwrap_or(0);
            let es = EndpointSettings {
                mac_address: e.mac.clone(),
                aliases: (!e.aliases.is_empty()).then(|| e.aliases.clone()),
                network_id: n.id.clone(),
                endpoint_id: e.endpoint_id.clone(),
                gateway: n.gateway.map(|g| g.to_string()).unwrap_or_default(),
                ip_address: e.ip.to_string(),
                ip_prefix_len: prefix,
                dns_names: (!n.is_default()).then(|| {
                    let mut d = vec![
                        e.container_name.clone(),
                        cid[..12.min(cid.len())].to_string(),
                    ];
                    d.extend(e.aliases.iter().cloned());
                    d
                }),
                ..Default::default()
            };
            if n.is_default() {
                ns.endpoint_id = es.endpoint_id.clone();
                ns.gateway = es.gateway.clone();
                ns.ip_address = es.ip_address.clone();
                ns.ip_prefix_len = prefix;
                ns.mac_address = es.mac_address.clone();
            }
            ns.networks.insert(n.name.clone(), es);
        }
        Some(ns)
    }

    /// `docker port`: the published ports of a container.
    pub async fn published(&self, cid: &str) -> Vec<PortMapping> {
        self.state
            .lock()
            .await
            .sandboxes
            .get(cid)
            .map(|s| s.published.clone())
            .unwrap_or_default()
    }

    /// `HostConfig.PortBindings` as bound (for inspect of a running container).
    pub async fn port_bindings(&self, cid: &str) -> BTreeMap<String, Option<Vec<PortBinding>>> {
        ports::ports_map(&self.published(cid).await, &[])
    }

    /// The container ids that have networking.
    pub async fn sandboxes(&self) -> Vec<String> {
        self.state.lock().await.sandboxes.keys().cloned().collect()
    }

    /// Daemon shutdown: stops the DNS servers. When no container still has
    /// networking (the daemon stopped them all), also removes the bridges
    /// and berth's firewall rules; otherwise keeps them, and the port
    /// proxies, for the containers that outlive the daemon (adopted at
    /// the next start), so their published ports keep answering.
    pub async fn shutdown(&self) -> Result<()> {
        let mut st = self.state.lock().await;
        st.dns.clear();
        if !st.sandboxes.is_empty() {
            return Ok(());
        }
        let mut errs = Errors::default();
        for cid in self.proxies.containers() {
            errs.check(self.proxies.stop(&cid).await);
        }
        let bridges: Vec<String> = st
            .networks
            .values()
            .filter(|n| !n.bridge.is_empty())
            .map(|n| n.bridge.clone())
            .collect();
        for b in bridges {
            errs.check(self.nl.delete(&b).await);
        }
        errs.check(self.fw.teardown());
        errs.into_result()
    }
}

impl AttachRequest {
    /// Everything a container's create-time config says about its
    /// networking: mode, endpoints, published ports (`-p`, and `-P` over
    /// the exposed ports), hostname, `--dns`.
    pub fn for_container(
        id: &str,
        name: &str,
        config: &berth_types::container::ContainerConfig,
        host: &berth_types::container::HostConfig,
        networking: &berth_types::container::NetworkingConfig,
    ) -> Result<AttachRequest> {
        let exposed: Vec<String> = config
            .exposed_ports
            .as_ref()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let mode = host.network_mode.as_str();
        let ports = if mode == "host" || mode == "none" || mode.starts_with("container:") {
            Vec::new()
        } else {
            ports::port_specs(&host.port_bindings, host.publish_all_ports, &exposed)?
        };
        Ok(AttachRequest {
            container_id: id.to_string(),
            container_name: name.trim_start_matches('/').to_string(),
            network_mode: host.network_mode.clone(),
            endpoints: networking.endpoints_config.clone(),
            ports,
            hostname: if config.hostname.is_empty() {
                id[..12.min(id.len())].to_string()
            } else {
                config.hostname.clone()
            },
            dns: host.dns.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_request_from_container_config() {
        let config: berth_types::container::ContainerConfig =
            serde_json::from_str(r#"{"ExposedPorts":{"80/tcp":{},"53/udp":{}}}"#).unwrap();
        let host: berth_types::container::HostConfig = serde_json::from_str(
            r#"{"NetworkMode":"mynet","PublishAllPorts":true,"Dns":["10.0.0.2"],
               "PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]}}"#,
        )
        .unwrap();
        let net: berth_types::container::NetworkingConfig =
            serde_json::from_str(r#"{"EndpointsConfig":{"mynet":{"Aliases":["web"]}}}"#).unwrap();
        let id = "f".repeat(64);
        let r = AttachRequest::for_container(&id, "/web1", &config, &host, &net).unwrap();
        assert_eq!(r.container_name, "web1");
        assert_eq!(r.hostname, "ffffffffffff");
        assert_eq!(r.network_mode, "mynet");
        assert_eq!(r.ports.len(), 2, "80 bound explicitly, 53/udp by -P");
        assert_eq!(
            r.endpoints["mynet"].aliases.as_deref(),
            Some(&["web".to_string()][..])
        );
        assert_eq!(r.dns, vec!["10.0.0.2".to_string()]);
        let host: berth_types::container::HostConfig =
            serde_json::from_str(r#"{"NetworkMode":"host","PublishAllPorts":true}"#).unwrap();
        assert!(AttachRequest::for_container(&id, "x", &config, &host, &net)
            .unwrap()
            .ports
            .is_empty());
    }

    #[test]
    fn dns_view_scopes_names_to_shared_networks() {
        let mut v = DnsView::default();
        v.net_names.insert("n1".into(), "front".into());
        v.entries.insert(
            "n1".into(),
            vec![(vec!["web".into(), "w".into()], Ipv4Addr::new(10, 0, 0, 2))],
        );
        v.entries.insert(
            "n2".into(),
            vec![(vec!["db".into()], Ipv4Addr::new(10, 1, 0, 2))],
        );
        v.member_of.insert("c1".into(), vec!["n1".into()]);
        assert_eq!(v.lookup("c1", "w"), Some(vec![Ipv4Addr::new(10, 0, 0, 2)]));
        assert_eq!(
            v.lookup("c1", "web.front"),
            Some(vec![Ipv4Addr::new(10, 0, 0, 2)])
        );
        assert_eq!(v.lookup("c1", "db"), None, "not on a shared network");
        assert_eq!(v.lookup("nobody", "web"), None);
    }
}
