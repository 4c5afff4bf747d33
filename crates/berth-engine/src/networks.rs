//! `/networks` in the daemon: the route module of berth-api over the
//! network manager of berth-network, plus the daemon-config → network-config
//! mapping. Containers are named through [`ContainerLookup`], which the
//! container side implements, so this file depends on nothing of theirs.

use berth_api::networks::NetworkBackend;
use berth_core::Filters;
use berth_network::{Config as NetConfig, NetworkManager};
use berth_types::network::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkPruneResponse, NetworkResource,
};
use berth_types::Result;
use std::sync::Arc;

/// Resolves a container reference (name, `/name`, full id or unique id
/// prefix) to `(full id, name without the leading slash)`.
pub trait ContainerLookup: Send + Sync + 'static {
    fn resolve(&self, reference: &str) -> Result<(String, String)>;
    /// Records (`Some`) or forgets (`None`) a container's endpoint on
    /// `network` in its NetworkingConfig, so its next start joins (or
    /// skips) it, as dockerd keeps connections across restarts. Returns
    /// whether the container is running (then the caller acts now too).
    fn record_endpoint(
        &self,
        cid: &str,
        network: &NetworkRef<'_>,
        settings: Option<berth_types::container::EndpointSettings>,
    ) -> Result<bool>;
}

/// A network as connect and disconnect found it: its name and full id.
pub struct NetworkRef<'a> {
    pub name: &'a str,
    pub id: &'a str,
}

impl NetworkRef<'_> {
    /// Whether a container's `NetworkMode` names this network (by name, by
    /// full or short id, or `default` for the bridge).
    pub fn is_mode_of(&self, hc: &berth_types::container::HostConfig) -> bool {
        let mode = hc.network_mode.as_str();
        match mode {
            "" | "default" => self.name == "bridge",
            "host" | "none" => false,
            m if m.starts_with("container:") => false,
            m => {
                m == self.name
                    || (m.bytes().all(|b| b.is_ascii_hexdigit()) && self.id.starts_with(m))
            }
        }
    }
}

impl ContainerLookup for crate::containers::Containers {
    fn resolve(&self, reference: &str) -> Result<(String, String)> {
        let c = self.store.get(reference)?;
        let r = c.lock().unwrap();
        Ok((r.id.clone(), r.name.trim_start_matches('/').to_string()))
    }

    fn record_endpoint(
        &self,
        cid: &str,
        network: &NetworkRef<'_>,
        settings: Option<berth_types::container::EndpointSettings>,
    ) -> Result<bool> {
        let c = self.store.get(cid)?;
        self.store.update(&c, |r| {
            // `NetworkMode` stays as created, as in dockerd; whether the
            // mode's network is still one of the container's is a flag.
            let is_mode = network.is_mode_of(&r.host_config);
            let eps = &mut r.networking.endpoints_config;
            match settings {
                Some(s) => {
                    eps.insert(network.name.to_string(), s);
                    if is_mode {
                        r.left_mode_network = false;
                    }
                }
                None => {
                    eps.remove(network.name);
                    if is_mode {
                        r.left_mode_network = true;
                    }
                }
            }
            r.state.running
        })
    }
}

/// Builds the network manager's configuration from the daemon's.
pub fn net_config(cfg: &crate::config::Config) -> Result<NetConfig> {
    let mut c = NetConfig::new(&cfg.data_root, &cfg.exec_root);
    if let Some(b) = &cfg.bridge {
        c.bridge = b.clone();
        // A daemon on its own bridge (tests run several at once) gets its
        // own firewall table too, so no two daemons rewrite each other's
        // rules. At most 16 characters, so iptables chain names
        // (`<TABLE>-POSTROUTING`) stay within 28.
        if b != "berth0" && b != "none" {
            let tag: String = b
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(10)
                .collect();
            c.firewall_table = format!("berth_{tag}");
        }
    }
    c.bip = cfg.bip.clone();
    c.iptables = cfg.iptables;
    c.ip_forward = cfg.ip_forward;
    if let Some(p) = &cfg.default_address_pools {
        c.address_pools = berth_network::ipam::Pool::parse_config(p)?;
    }
    Ok(c)
}

struct Backend {
    mgr: Arc<NetworkManager>,
    lookup: Arc<dyn ContainerLookup>,
}

#[async_trait::async_trait]
impl NetworkBackend for Backend {
    async fn list(&self, filters: Filters) -> Result<Vec<NetworkResource>> {
        Ok(self.mgr.list(&filters).await?)
    }
    async fn inspect(&self, id: &str) -> Result<NetworkResource> {
        Ok(self.mgr.inspect(id).await?)
    }
    async fn create(&self, req: NetworkCreateRequest) -> Result<NetworkCreateResponse> {
        Ok(self.mgr.create_network(req).await?)
    }
    async fn remove(&self, id: &str) -> Result<()> {
        Ok(self.mgr.remove(id).await?)
    }
    async fn connect(&self, id: &str, req: NetworkConnectRequest) -> Result<()> {
        let (cid, _name) = self.lookup.resolve(&req.container)?;
        let n = self.mgr.inspect(id).await?;
        let net = NetworkRef {
            name: &n.name,
            id: &n.id,
        };
        let s = req.endpoint_config.unwrap_or_default();
        if n.containers.contains_key(&cid) {
            return Err(berth_types::Error::forbidden(format!(
                "endpoint with name {_name} already exists in network {}",
                n.name
            )));
        }
        if !self.lookup.record_endpoint(&cid, &net, Some(s.clone()))? {
            return Ok(());
        }
        if let Err(e) = self.mgr.connect(id, &cid, s).await {
            let _ = self.lookup.record_endpoint(&cid, &net, None);
            return Err(e.into());
        }
        Ok(())
    }
    async fn disconnect(&self, id: &str, req: NetworkDisconnectRequest) -> Result<()> {
        // A removed container's endpoint can still be forced off by id.
        let cid = match self.lookup.resolve(&req.container) {
            Ok((cid, _)) => cid,
            Err(e) if req.force => {
                tracing::debug!(
                    "disconnect --force of unknown container {}: {}",
                    req.container,
                    e.message
                );
                req.container.clone()
            }
            Err(e) => return Err(e),
        };
        let n = self.mgr.inspect(id).await?;
        let net = NetworkRef {
            name: &n.name,
            id: &n.id,
        };
        if !n.containers.contains_key(&cid) {
            // Not attached now: a stopped container's configured network.
            if matches!(self.lookup.record_endpoint(&cid, &net, None), Ok(false)) {
                return Ok(());
            }
        }
        self.mgr.disconnect(id, &cid, req.force).await?;
        let _ = self.lookup.record_endpoint(&cid, &net, None);
        Ok(())
    }
    async fn prune(&self, filters: Filters) -> Result<NetworkPruneResponse> {
        Ok(NetworkPruneResponse {
            networks_deleted: self.mgr.prune(&filters).await?,
        })
    }
}

/// The `/networks` routes.
pub fn routes(mgr: Arc<NetworkManager>, lookup: Arc<dyn ContainerLookup>) -> axum::Router {
    berth_api::networks::routes(Arc::new(Backend { mgr, lookup }))
}

/// After the containers are restored: tears down the networking of
/// containers that are gone or no longer running (they died, or were
/// removed, while the daemon was down), so nothing leaks across restarts.
pub async fn sweep(mgr: &NetworkManager, containers: &crate::containers::Containers) {
    for cid in mgr.sandboxes().await {
        let running = containers
            .store
            .get(&cid)
            .map(|c| c.lock().unwrap().state.running)
            .unwrap_or(false);
        if !running {
            tracing::info!("tearing down the networking of stopped container {cid}");
            if let Err(e) = mgr.detach_container(&cid).await {
                tracing::warn!("network teardown of {cid}: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_network_by_name_id_or_default() {
        let n = NetworkRef {
            name: "front",
            id: "abc123def",
        };
        let hc = |m: &str| berth_types::container::HostConfig {
            network_mode: m.into(),
            ..Default::default()
        };
        assert!(n.is_mode_of(&hc("front")));
        assert!(n.is_mode_of(&hc("abc123")));
        assert!(!n.is_mode_of(&hc("back")));
        assert!(!n.is_mode_of(&hc("default")));
        assert!(!n.is_mode_of(&hc("container:front")));
        let b = NetworkRef {
            name: "bridge",
            id: "0f",
        };
        assert!(b.is_mode_of(&hc("default")));
        assert!(b.is_mode_of(&hc("")));
        assert!(b.is_mode_of(&hc("bridge")));
    }
}
