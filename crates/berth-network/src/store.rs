//! Network and sandbox records, one JSON file each under
//! `<data-root>/network/`, written atomically.

use crate::error::{NetError, Result};
use crate::ipam::{Allocations, Subnet};
use crate::ports::{PortMapping, PortSpec};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    /// The name of its driver in the network driver registry.
    pub driver: String,
    pub created: String,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    pub subnet: Option<Subnet>,
    pub gateway: Option<Ipv4Addr>,
    /// Whether the subnet came from the user (dockerd shows it the same
    /// way, but prune/ls do not care; kept for inspect fidelity).
    #[serde(default)]
    pub user_subnet: bool,
    /// The host link that carries the network, as its driver reported it
    /// (the bridge driver's Linux bridge); empty for none.
    #[serde(default)]
    pub bridge: String,
    #[serde(default)]
    pub mtu: u32,
    #[serde(default)]
    pub allocations: Allocations,
    /// container id → endpoint.
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointRecord>,
}

/// The default network: a network name (containers with no network mode
/// join it), not a driver's.
pub const DEFAULT_NETWORK: &str = "bridge";
/// The networks berth always has: the default one and those of the
/// drivers that have exactly one (`host`, `none`).
pub const PREDEFINED_NETWORKS: [&str; 3] = [DEFAULT_NETWORK, "host", "none"];

/// `Sandbox::mode` values, as persisted.
pub mod mode {
    /// An own namespace with endpoints on networks (persisted as `bridge`).
    pub const ENDPOINTS: &str = "bridge";
    /// The host's namespace.
    pub const HOST: &str = "host";
    /// An own namespace with only `lo`.
    pub const NONE: &str = "none";
    /// Another container's namespace.
    pub const CONTAINER: &str = "container";
}

impl NetworkRecord {
    /// A record with no pool, no link and no endpoints yet.
    pub fn new(id: String, name: &str, driver: &str, created: String) -> NetworkRecord {
        NetworkRecord {
            id,
            name: name.to_string(),
            driver: driver.to_string(),
            created,
            internal: false,
            attachable: false,
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            subnet: None,
            gateway: None,
            user_subnet: false,
            bridge: String::new(),
            mtu: 0,
            allocations: Allocations::default(),
            endpoints: BTreeMap::new(),
        }
    }
    pub fn predefined(&self) -> bool {
        PREDEFINED_NETWORKS.contains(&self.name.as_str())
    }
    pub fn is_default(&self) -> bool {
        self.name == DEFAULT_NETWORK
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub endpoint_id: String,
    pub container_name: String,
    pub ip: Ipv4Addr,
    pub mac: String,
    /// Host end of the veth pair, in records of earlier berths; the
    /// driver owns its links now, and this is empty.
    #[serde(default)]
    pub veth: String,
    /// Interface name inside the container.
    pub ifname: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The endpoint carrying the default route (and published ports).
    #[serde(default)]
    pub gateway_endpoint: bool,
}

/// A container's network sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sandbox {
    pub container_id: String,
    pub container_name: String,
    /// One of [`mode`]'s values.
    pub mode: String,
    /// The namespace the container joins; `None` for host mode.
    pub netns: Option<PathBuf>,
    /// Whether berth created (and so removes) `netns`.
    pub owns_netns: bool,
    pub hostname: String,
    #[serde(default)]
    pub ports: Vec<PortSpec>,
    #[serde(default)]
    pub published: Vec<PortMapping>,
    /// `HostConfig.Dns`: the embedded server forwards to these instead of the host's.
    #[serde(default)]
    pub dns: Vec<String>,
    /// Network ids in attach order.
    #[serde(default)]
    pub networks: Vec<String>,
}

/// The on-disk store.
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn open(root: &Path) -> Result<Store> {
        for sub in ["networks", "sandboxes"] {
            let d = root.join(sub);
            std::fs::create_dir_all(&d)
                .map_err(|e| NetError::io(format!("creating {}", d.display()), e))?;
        }
        Ok(Store {
            dir: root.to_path_buf(),
        })
    }

    fn path(&self, kind: &str, id: &str) -> PathBuf {
        self.dir.join(kind).join(format!("{id}.json"))
    }

    fn load_all<T: DeserializeOwned>(&self, kind: &str) -> Result<Vec<T>> {
        let d = self.dir.join(kind);
        let mut out = Vec::new();
        for e in std::fs::read_dir(&d)
            .map_err(|e| NetError::io(format!("reading {}", d.display()), e))?
        {
            let p = e.map_err(|e| NetError::io("readdir", e))?.path();
            if p.extension().is_some_and(|x| x == "json") {
                let data = std::fs::read(&p)
                    .map_err(|e| NetError::io(format!("reading {}", p.display()), e))?;
                match serde_json::from_slice(&data) {
                    Ok(v) => out.push(v),
                    Err(e) => tracing::warn!("skipping unreadable {}: {e}", p.display()),
                }
            }
        }
        Ok(out)
    }

    pub fn networks(&self) -> Result<Vec<NetworkRecord>> {
        self.load_all("networks")
    }
    pub fn sandboxes(&self) -> Result<Vec<Sandbox>> {
        self.load_all("sandboxes")
    }
    pub fn save_network(&self, n: &NetworkRecord) -> Result<()> {
        let p = self.path("networks", &n.id);
        berth_core::atomic::write_json(&p, n)
            .map_err(|e| NetError::io(format!("writing {}", p.display()), e))
    }
    pub fn save_sandbox(&self, s: &Sandbox) -> Result<()> {
        let p = self.path("sandboxes", &s.container_id);
        berth_core::atomic::write_json(&p, s)
            .map_err(|e| NetError::io(format!("writing {}", p.display()), e))
    }
    pub fn delete_network(&self, id: &str) -> Result<()> {
        remove(&self.path("networks", id))
    }
    pub fn delete_sandbox(&self, id: &str) -> Result<()> {
        remove(&self.path("sandboxes", id))
    }
}

fn remove(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(NetError::io(format!("removing {}", p.display()), e))
        }
        _ => Ok(()),
    }
}
