//! The `bridge` driver: a Linux bridge per network, a veth pair per
//! endpoint. It creates links on the host; joining hands the container's
//! end to the caller, which moves it into the sandbox and configures it.

use crate::ipam::{parse_cidr, Subnet};
use crate::link::{self, Netlink};
use async_trait::async_trait;
use berth_core::networks::{
    Capabilities, CreateEndpoint, CreateNetwork, EndpointInterface, JoinInfo, NetworkDriver,
    NetworkInfo,
};
use berth_types::{Error, Result};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

/// The option naming a network's Linux bridge.
pub const BRIDGE_NAME: &str = "com.docker.network.bridge.name";
/// The option setting a network's MTU.
pub const MTU: &str = "com.docker.network.driver.mtu";
/// Linux's limit on interface names.
const IFNAMSIZ: usize = 15;

struct BridgeNet {
    bridge: String,
    gateway: Option<Ipv4Addr>,
    internal: bool,
    mtu: u32,
}

struct Endpoint {
    network_id: String,
    veth: String,
    peer: String,
}

pub struct BridgeDriver {
    nl: Arc<Netlink>,
    /// Prefix of user networks' bridges, followed by id characters.
    prefix: String,
    /// The MTU of networks that set none.
    mtu: u32,
    networks: Mutex<HashMap<String, BridgeNet>>,
    endpoints: Mutex<HashMap<String, Endpoint>>,
}

/// The two ends of an endpoint's veth pair, from its id.
fn veth_names(endpoint_id: &str) -> (String, String) {
    let tag: String = endpoint_id.chars().take(10).collect();
    (format!("vb{tag}"), format!("vp{tag}"))
}

impl BridgeDriver {
    pub fn new(nl: Arc<Netlink>, prefix: &str, mtu: u32) -> BridgeDriver {
        BridgeDriver {
            nl,
            prefix: prefix.to_string(),
            mtu,
            networks: Mutex::new(HashMap::new()),
            endpoints: Mutex::new(HashMap::new()),
        }
    }

    fn bridge_name(&self, req: &CreateNetwork) -> Result<String> {
        let name = req.options.get(BRIDGE_NAME).cloned().unwrap_or_else(|| {
            let keep = IFNAMSIZ - self.prefix.len().min(12);
            let id: String = req.network_id.chars().take(keep).collect();
            format!("{}{id}", self.prefix)
        });
        if name.len() > IFNAMSIZ {
            return Err(Error::invalid(format!(
                "bridge name {name:?} is longer than 15 characters"
            )));
        }
        Ok(name)
    }

    fn with_net<T>(&self, id: &str, f: impl FnOnce(&BridgeNet) -> T) -> Result<T> {
        self.networks
            .lock()
            .unwrap()
            .get(id)
            .map(f)
            .ok_or_else(|| Error::not_found(format!("network {id} not found")))
    }
}

#[async_trait]
impl NetworkDriver for BridgeDriver {
    fn name(&self) -> &str {
        "bridge"
    }
    async fn capabilities(&self) -> Result<Capabilities> {
        Ok(Capabilities::default())
    }
    async fn create_network(&self, req: &CreateNetwork) -> Result<NetworkInfo> {
        let bridge = self.bridge_name(req)?;
        let mtu = req
            .options
            .get(MTU)
            .and_then(|m| m.parse().ok())
            .unwrap_or(self.mtu);
        let data = req
            .ipv4
            .first()
            .ok_or_else(|| Error::invalid("a bridge network needs an IPv4 pool"))?;
        let (gw, subnet) = if data.gateway.is_empty() {
            let s: Subnet = data.pool.parse()?;
            (s.first_host(), s)
        } else {
            parse_cidr(&data.gateway)?
        };
        self.nl
            .ensure_bridge(&bridge, gw, subnet.prefix, mtu.max(68))
            .await?;
        self.networks.lock().unwrap().insert(
            req.network_id.clone(),
            BridgeNet {
                bridge: bridge.clone(),
                gateway: (!data.gateway.is_empty()).then_some(gw),
                internal: req.internal,
                mtu: mtu.max(68),
            },
        );
        Ok(NetworkInfo {
            interface: bridge,
            mtu,
        })
    }
    async fn delete_network(&self, network_id: &str) -> Result<()> {
        let bridge = self.with_net(network_id, |n| n.bridge.clone())?;
        self.nl.delete(&bridge).await?;
        self.networks.lock().unwrap().remove(network_id);
        Ok(())
    }
    async fn create_endpoint(&self, req: &CreateEndpoint) -> Result<EndpointInterface> {
        let (bridge, mtu) = self.with_net(&req.network_id, |n| (n.bridge.clone(), n.mtu))?;
        let (ip, _) = parse_cidr(&req.address)?;
        let (veth, peer) = veth_names(&req.endpoint_id);
        self.nl.add_veth(&veth, &peer, &bridge, mtu).await?;
        self.endpoints.lock().unwrap().insert(
            req.endpoint_id.clone(),
            Endpoint {
                network_id: req.network_id.clone(),
                veth,
                peer,
            },
        );
        Ok(EndpointInterface {
            address: String::new(),
            mac_address: if req.mac_address.is_empty() {
                link::mac_string(link::mac_for(ip))
            } else {
                String::new()
            },
        })
    }
    async fn delete_endpoint(&self, network_id: &str, endpoint_id: &str) -> Result<()> {
        self.with_net(network_id, |_| ())?;
        // Endpoints of a previous daemon are not in the map: their names
        // follow from the id all the same.
        let veth = match self.endpoints.lock().unwrap().remove(endpoint_id) {
            Some(e) => e.veth,
            None => veth_names(endpoint_id).0,
        };
        Ok(self.nl.delete(&veth).await?)
    }
    async fn join(
        &self,
        network_id: &str,
        endpoint_id: &str,
        _sandbox_key: &str,
        _options: &BTreeMap<String, String>,
    ) -> Result<JoinInfo> {
        let (gateway, internal) = self.with_net(network_id, |n| (n.gateway, n.internal))?;
        let peer = match self.endpoints.lock().unwrap().get(endpoint_id) {
            Some(e) if e.network_id == network_id => e.peer.clone(),
            _ => {
                return Err(Error::not_found(format!(
                    "endpoint {endpoint_id} not found"
                )))
            }
        };
        Ok(JoinInfo {
            src_name: peer,
            dst_prefix: "eth".into(),
            // As in dockerd, an --internal network gives no default route.
            gateway: match gateway {
                Some(g) if !internal => g.to_string(),
                _ => String::new(),
            },
            ..Default::default()
        })
    }
    async fn leave(&self, network_id: &str, _endpoint_id: &str) -> Result<()> {
        self.with_net(network_id, |_| ())
    }
    /// berth publishes ports itself (the port proxies and the DNAT rules
    /// of its firewall), for every driver alike.
    async fn program_external_connectivity(
        &self,
        network_id: &str,
        _endpoint_id: &str,
        _options: &BTreeMap<String, serde_json::Value>,
    ) -> Result<()> {
        self.with_net(network_id, |_| ())
    }
    async fn revoke_external_connectivity(&self, network_id: &str, _: &str) -> Result<()> {
        self.with_net(network_id, |_| ())
    }
}
