//! Wire types of the `/volumes` endpoints and of Docker's plugin protocol
//! (activation, volume, network, IPAM and authorization plugins).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A volume as `GET /volumes/{name}` and `GET /volumes` return it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub mountpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub scope: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<VolumeUsageData>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeUsageData {
    pub size: i64,
    pub ref_count: i64,
}

/// Body of `POST /volumes/create`. Every field is optional on the wire.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeCreateRequest {
    pub name: String,
    pub driver: String,
    #[serde(deserialize_with = "null_as_default")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_volume_spec: Option<serde_json::Value>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeListResponse {
    pub volumes: Vec<Volume>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct VolumePruneResponse {
    pub volumes_deleted: Vec<String>,
    pub space_reclaimed: u64,
}

/// The content type of every plugin request and response.
pub const PLUGIN_CONTENT_TYPE: &str = "application/vnd.docker.plugins.v1.2+json";

/// What a plugin says it implements, in answer to `Plugin.Activate`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ActivateResponse {
    #[serde(rename = "Implements", default, deserialize_with = "null_as_default")]
    pub implements: Vec<String>,
}

/// The subsystem names plugins declare.
pub mod subsystem {
    pub const VOLUME: &str = "VolumeDriver";
    pub const NETWORK: &str = "NetworkDriver";
    pub const IPAM: &str = "IpamDriver";
    pub const AUTHZ: &str = "authz";
    pub const LOG: &str = "LogDriver";
}

/// The answer of any plugin call whose only payload is an error string.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ErrResponse {
    #[serde(rename = "Err", default, deserialize_with = "null_as_default")]
    pub err: String,
}

/// The volume plugin protocol (`VolumeDriver.*`).
pub mod plugin {
    use super::null_as_default;
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;

    /// `VolumeDriver.Create`.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct CreateRequest {
        #[serde(rename = "Name")]
        pub name: String,
        #[serde(rename = "Opts", default, deserialize_with = "null_as_default")]
        pub opts: BTreeMap<String, String>,
    }

    /// `VolumeDriver.Remove`, `.Path`, `.Get`.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct NameRequest {
        #[serde(rename = "Name")]
        pub name: String,
    }

    /// `VolumeDriver.Mount` and `.Unmount`; `ID` names the mount (one per container).
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct MountRequest {
        #[serde(rename = "Name")]
        pub name: String,
        #[serde(rename = "ID", default)]
        pub id: String,
    }

    /// The answer of `VolumeDriver.Mount` and `.Path`.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct MountResponse {
        #[serde(rename = "Mountpoint", default, deserialize_with = "null_as_default")]
        pub mountpoint: String,
        #[serde(rename = "Err", default, deserialize_with = "null_as_default")]
        pub err: String,
    }

    /// A volume as a plugin describes it.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct PluginVolume {
        #[serde(rename = "Name")]
        pub name: String,
        #[serde(
            rename = "Mountpoint",
            default,
            skip_serializing_if = "String::is_empty"
        )]
        pub mountpoint: String,
        #[serde(
            rename = "CreatedAt",
            default,
            skip_serializing_if = "String::is_empty"
        )]
        pub created_at: String,
        #[serde(
            rename = "Status",
            default,
            skip_serializing_if = "BTreeMap::is_empty",
            deserialize_with = "null_as_default"
        )]
        pub status: BTreeMap<String, serde_json::Value>,
    }

    /// The answer of `VolumeDriver.Get`.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct GetResponse {
        #[serde(rename = "Volume", default, skip_serializing_if = "Option::is_none")]
        pub volume: Option<PluginVolume>,
        #[serde(rename = "Err", default, deserialize_with = "null_as_default")]
        pub err: String,
    }

    /// The answer of `VolumeDriver.List`.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct ListResponse {
        #[serde(rename = "Volumes", default, deserialize_with = "null_as_default")]
        pub volumes: Vec<PluginVolume>,
        #[serde(rename = "Err", default, deserialize_with = "null_as_default")]
        pub err: String,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct Capability {
        /// `"local"` (the default) or `"global"`.
        #[serde(rename = "Scope", default)]
        pub scope: String,
    }

    /// The answer of `VolumeDriver.Capabilities`.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct CapabilitiesResponse {
        #[serde(rename = "Capabilities", default)]
        pub capabilities: Capability,
    }
}

/// The network plugin protocol (`NetworkDriver.*`): the requests and answers
/// the network subsystem sends and expects.
pub mod network {
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;

    pub type Options = BTreeMap<String, serde_json::Value>;

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct CapabilitiesResponse {
        #[serde(rename = "Scope", default)]
        pub scope: String,
        #[serde(
            rename = "ConnectivityScope",
            default,
            skip_serializing_if = "String::is_empty"
        )]
        pub connectivity_scope: String,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct IpamData {
        #[serde(rename = "AddressSpace", default)]
        pub address_space: String,
        #[serde(rename = "Pool", default)]
        pub pool: String,
        #[serde(rename = "Gateway", default)]
        pub gateway: String,
        #[serde(rename = "AuxAddresses", default)]
        pub aux_addresses: BTreeMap<String, String>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct CreateNetworkRequest {
        #[serde(rename = "NetworkID")]
        pub network_id: String,
        #[serde(rename = "Options", default)]
        pub options: Options,
        #[serde(rename = "IPv4Data", default)]
        pub ipv4_data: Vec<IpamData>,
        #[serde(rename = "IPv6Data", default)]
        pub ipv6_data: Vec<IpamData>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct DeleteNetworkRequest {
        #[serde(rename = "NetworkID")]
        pub network_id: String,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct EndpointInterface {
        #[serde(rename = "Address", default)]
        pub address: String,
        #[serde(rename = "AddressIPv6", default)]
        pub address_ipv6: String,
        #[serde(rename = "MacAddress", default)]
        pub mac_address: String,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct CreateEndpointRequest {
        #[serde(rename = "NetworkID")]
        pub network_id: String,
        #[serde(rename = "EndpointID")]
        pub endpoint_id: String,
        #[serde(rename = "Interface", default, skip_serializing_if = "Option::is_none")]
        pub interface: Option<EndpointInterface>,
        #[serde(rename = "Options", default)]
        pub options: Options,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct CreateEndpointResponse {
        #[serde(rename = "Interface", default, skip_serializing_if = "Option::is_none")]
        pub interface: Option<EndpointInterface>,
        #[serde(rename = "Err", default)]
        pub err: String,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct EndpointRequest {
        #[serde(rename = "NetworkID")]
        pub network_id: String,
        #[serde(rename = "EndpointID")]
        pub endpoint_id: String,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct JoinRequest {
        #[serde(rename = "NetworkID")]
        pub network_id: String,
        #[serde(rename = "EndpointID")]
        pub endpoint_id: String,
        #[serde(rename = "SandboxKey", default)]
        pub sandbox_key: String,
        #[serde(rename = "Options", default)]
        pub options: Options,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct InterfaceName {
        #[serde(rename = "SrcName", default)]
        pub src_name: String,
        #[serde(rename = "DstPrefix", default)]
        pub dst_prefix: String,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct StaticRoute {
        #[serde(rename = "Destination", default)]
        pub destination: String,
        #[serde(rename = "RouteType", default)]
        pub route_type: i32,
        #[serde(rename = "NextHop", default)]
        pub next_hop: String,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct JoinResponse {
        #[serde(
            rename = "InterfaceName",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        pub interface_name: Option<InterfaceName>,
        #[serde(rename = "Gateway", default)]
        pub gateway: String,
        #[serde(rename = "GatewayIPv6", default)]
        pub gateway_ipv6: String,
        #[serde(rename = "StaticRoutes", default)]
        pub static_routes: Vec<StaticRoute>,
        #[serde(rename = "DisableGatewayService", default)]
        pub disable_gateway_service: bool,
        #[serde(rename = "Err", default)]
        pub err: String,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct EndpointInfoResponse {
        #[serde(rename = "Value", default)]
        pub value: BTreeMap<String, serde_json::Value>,
        #[serde(rename = "Err", default)]
        pub err: String,
    }
}

/// The IPAM plugin protocol (`IpamDriver.*`).
pub mod ipam {
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct CapabilitiesResponse {
        #[serde(rename = "RequiresMACAddress", default)]
        pub requires_mac_address: bool,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct AddressSpacesResponse {
        #[serde(rename = "LocalDefaultAddressSpace", default)]
        pub local_default_address_space: String,
        #[serde(rename = "GlobalDefaultAddressSpace", default)]
        pub global_default_address_space: String,
        #[serde(rename = "Err", default)]
        pub err: String,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct RequestPoolRequest {
        #[serde(rename = "AddressSpace", default)]
        pub address_space: String,
        #[serde(rename = "Pool", default)]
        pub pool: String,
        #[serde(rename = "SubPool", default)]
        pub sub_pool: String,
        #[serde(rename = "Options", default)]
        pub options: BTreeMap<String, String>,
        #[serde(rename = "V6", default)]
        pub v6: bool,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct RequestPoolResponse {
        #[serde(rename = "PoolID", default)]
        pub pool_id: String,
        #[serde(rename = "Pool", default)]
        pub pool: String,
        #[serde(rename = "Data", default)]
        pub data: BTreeMap<String, String>,
        #[serde(rename = "Err", default)]
        pub err: String,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct ReleasePoolRequest {
        #[serde(rename = "PoolID")]
        pub pool_id: String,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct RequestAddressRequest {
        #[serde(rename = "PoolID")]
        pub pool_id: String,
        #[serde(rename = "Address", default)]
        pub address: String,
        #[serde(rename = "Options", default)]
        pub options: BTreeMap<String, String>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct RequestAddressResponse {
        /// CIDR form, e.g. `10.0.0.2/24`.
        #[serde(rename = "Address", default)]
        pub address: String,
        #[serde(rename = "Data", default)]
        pub data: BTreeMap<String, String>,
        #[serde(rename = "Err", default)]
        pub err: String,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    pub struct ReleaseAddressRequest {
        #[serde(rename = "PoolID")]
        pub pool_id: String,
        #[serde(rename = "Address")]
        pub address: String,
    }
}

/// The authorization plugin protocol, kept here under its old path.
pub use crate::authz;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_request_tolerates_nulls_and_missing_fields() {
        let r: VolumeCreateRequest =
            serde_json::from_str(r#"{"Name":"a","DriverOpts":null,"Labels":{"k":"v"}}"#).unwrap();
        assert_eq!(r.name, "a");
        assert_eq!(r.driver, "");
        assert!(r.driver_opts.is_empty());
        assert_eq!(r.labels["k"], "v");
        let r: VolumeCreateRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(r, VolumeCreateRequest::default());
    }

    #[test]
    fn plugin_answers_parse_with_missing_or_null_err() {
        let m: plugin::MountResponse = serde_json::from_str(r#"{"Mountpoint":"/x"}"#).unwrap();
        assert_eq!(m.mountpoint, "/x");
        assert_eq!(m.err, "");
        let g: plugin::GetResponse =
            serde_json::from_str(r#"{"Volume":{"Name":"v","Status":null},"Err":null}"#).unwrap();
        assert_eq!(g.volume.unwrap().name, "v");
        let l: plugin::ListResponse =
            serde_json::from_str(r#"{"Volumes":null,"Err":"x"}"#).unwrap();
        assert!(l.volumes.is_empty());
        assert_eq!(l.err, "x");
        let a: ActivateResponse =
            serde_json::from_str(r#"{"Implements":["VolumeDriver","authz"]}"#).unwrap();
        assert_eq!(a.implements, vec!["VolumeDriver", "authz"]);
    }

    #[test]
    fn volume_serializes_with_docker_field_names() {
        let v = Volume {
            name: "n".into(),
            driver: "local".into(),
            mountpoint: "/m".into(),
            scope: "local".into(),
            ..Default::default()
        };
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(j["Name"], "n");
        assert_eq!(j["Mountpoint"], "/m");
        assert_eq!(j["Scope"], "local");
        assert!(j["Labels"].is_object());
        assert!(j.get("UsageData").is_none());
    }
}
