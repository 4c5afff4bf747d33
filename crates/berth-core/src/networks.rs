//! The network and IPAM driver traits, shaped on Docker's `NetworkDriver`
//! and `IpamDriver` plugin protocols so that a remote plugin's proxy
//! implements them as they are. The built-ins (`bridge`, `host`, `null`;
//! IPAM `default`) live in berth-network and pass the same conformance
//! suites (berth-testkit `suites::network`, `suites::ipam`) a plugin does.
//!
//! A driver describes rather than acts on sandboxes: [`NetworkDriver::join`]
//! names the interface to move into the container's namespace and the
//! gateway to route through; the caller does the moving. Addresses and
//! pools are CIDR strings (`10.1.0.2/24`), as on the wire.

use crate::volumes::Scope;
use async_trait::async_trait;
use berth_types::Result;
use std::collections::BTreeMap;

/// `NetworkDriver.GetCapabilities`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    pub scope: Scope,
    pub connectivity_scope: Scope,
}

/// One IPv4 pool of a network as IPAM handed it out (`IPv4Data`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpamData {
    pub address_space: String,
    /// The pool, `10.1.0.0/24`.
    pub pool: String,
    /// The gateway with the pool's prefix, `10.1.0.1/24`; empty for none.
    pub gateway: String,
    pub aux_addresses: BTreeMap<String, String>,
}

/// `NetworkDriver.CreateNetwork`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateNetwork {
    pub network_id: String,
    /// The driver options (`docker network create -o`).
    pub options: BTreeMap<String, String>,
    /// `--internal`: no route out of the network.
    pub internal: bool,
    pub ipv4: Vec<IpamData>,
}

/// What a driver tells of a network it created. Docker's protocol answers
/// nothing here, so a plugin's proxy returns the default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkInfo {
    /// The host link that carries the network (a Linux bridge), through
    /// which the host's firewall masquerades and isolates; empty for none.
    pub interface: String,
    /// That link's MTU; 0 when there is no link.
    pub mtu: u32,
}

/// `NetworkDriver.CreateEndpoint`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateEndpoint {
    pub network_id: String,
    pub endpoint_id: String,
    /// The endpoint's IPv4 address with prefix, as IPAM gave it; empty for none.
    pub address: String,
    /// Empty: the driver picks one.
    pub mac_address: String,
    pub options: BTreeMap<String, String>,
}

/// The `Interface` a driver answers `CreateEndpoint` with: empty fields
/// keep what was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointInterface {
    pub address: String,
    pub mac_address: String,
}

/// `Join`'s `StaticRoutes` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StaticRoute {
    pub destination: String,
    /// 0: through `next_hop`; 1: connected.
    pub route_type: i32,
    pub next_hop: String,
}

/// What to set up in a sandbox when an endpoint joins it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinInfo {
    /// The host link to move into the sandbox; empty: nothing to move.
    pub src_name: String,
    /// Its name there is this prefix plus an index (`eth` → `eth0`).
    pub dst_prefix: String,
    /// The default route's next hop; empty for no default route.
    pub gateway: String,
    pub static_routes: Vec<StaticRoute>,
    pub disable_gateway_service: bool,
}

/// A network driver, built in or a plugin.
///
/// Semantics every implementation keeps (the conformance suite checks
/// them): creating a network again with the same id succeeds (the daemon
/// announces its networks again after a restart); endpoint calls and
/// deleting an unknown network fail with not-found; deleting or leaving an
/// endpoint the driver does not know succeeds, so that a teardown can be
/// retried; joining an unknown endpoint fails with not-found.
#[async_trait]
pub trait NetworkDriver: Send + Sync {
    /// The name users pass as `--driver`.
    fn name(&self) -> &str;
    /// The one network a driver always has and no user can create another
    /// of (`host` and `none` for the built-ins `host` and `null`). Such a
    /// network's containers share or lack a namespace: they take no other
    /// network. Plugins have none.
    fn predefined_network(&self) -> Option<&str> {
        None
    }
    async fn capabilities(&self) -> Result<Capabilities>;
    async fn create_network(&self, req: &CreateNetwork) -> Result<NetworkInfo>;
    async fn delete_network(&self, network_id: &str) -> Result<()>;
    async fn create_endpoint(&self, req: &CreateEndpoint) -> Result<EndpointInterface>;
    async fn delete_endpoint(&self, network_id: &str, endpoint_id: &str) -> Result<()>;
    /// `sandbox_key` is the path of the container's network namespace.
    async fn join(
        &self,
        network_id: &str,
        endpoint_id: &str,
        sandbox_key: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<JoinInfo>;
    async fn leave(&self, network_id: &str, endpoint_id: &str) -> Result<()>;
    /// Published ports of the endpoint (`com.docker.network.portmap`), for
    /// drivers that forward them themselves.
    async fn program_external_connectivity(
        &self,
        network_id: &str,
        endpoint_id: &str,
        options: &BTreeMap<String, serde_json::Value>,
    ) -> Result<()>;
    async fn revoke_external_connectivity(&self, network_id: &str, endpoint_id: &str)
        -> Result<()>;
}

/// `IpamDriver.GetDefaultAddressSpaces`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddressSpaces {
    pub local: String,
    pub global: String,
}

/// `IpamDriver.RequestPool`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolRequest {
    pub address_space: String,
    /// The pool asked for (`--subnet`); empty: IPAM picks one.
    pub pool: String,
    pub sub_pool: String,
    pub options: BTreeMap<String, String>,
    pub v6: bool,
}

/// `RequestPool`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pool {
    pub pool_id: String,
    /// `10.1.0.0/24`.
    pub pool: String,
    pub data: BTreeMap<String, String>,
}

/// `RequestAddress` option key and value that ask for a network's gateway.
pub const REQUEST_ADDRESS_TYPE: &str = "RequestAddressType";
pub const GATEWAY_ADDRESS_TYPE: &str = "com.docker.network.gateway";

/// An IPAM driver, built in or a plugin.
///
/// Semantics (checked by the conformance suite): pools of one address
/// space never overlap; an address is handed out once until released; the
/// gateway, once requested, is never handed out again; unknown pool ids
/// are not-found.
#[async_trait]
pub trait IpamDriver: Send + Sync {
    fn name(&self) -> &str;
    async fn default_address_spaces(&self) -> Result<AddressSpaces>;
    async fn request_pool(&self, req: &PoolRequest) -> Result<Pool>;
    async fn release_pool(&self, pool_id: &str) -> Result<()>;
    /// `address` empty: any free one. The answer has the pool's prefix
    /// (`10.1.0.2/24`).
    async fn request_address(
        &self,
        pool_id: &str,
        address: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<String>;
    /// `address` without or with a prefix.
    async fn release_address(&self, pool_id: &str, address: &str) -> Result<()>;
}
