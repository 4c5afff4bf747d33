//! Network wire types: the `/networks` bodies (create, inspect/list,
//! connect, disconnect, prune) with dockerd's JSON field names. The
//! per-container pieces (`NetworkSettings`, `EndpointSettings`,
//! `PortBinding`) live in [`crate::container`] and are reused here.
//!
//! Like the container types, request types are lenient: every field is
//! defaulted, `null` is accepted, unknown fields are ignored.

use crate::container::EndpointSettings;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One `IPAM.Config` entry.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct IpamConfig {
    #[serde(
        rename = "Subnet",
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub subnet: String,
    #[serde(
        rename = "IPRange",
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub ip_range: String,
    #[serde(
        rename = "Gateway",
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub gateway: String,
    #[serde(rename = "AuxiliaryAddresses", skip_serializing_if = "Option::is_none")]
    pub auxiliary_addresses: Option<BTreeMap<String, String>>,
}

/// `IPAM` of a network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Ipam {
    #[serde(rename = "Driver", deserialize_with = "null_default")]
    pub driver: String,
    #[serde(rename = "Options", deserialize_with = "null_default")]
    pub options: BTreeMap<String, String>,
    #[serde(rename = "Config", deserialize_with = "null_default")]
    pub config: Vec<IpamConfig>,
}

impl Default for Ipam {
    fn default() -> Self {
        Ipam {
            driver: "default".into(),
            options: BTreeMap::new(),
            config: Vec::new(),
        }
    }
}

/// `POST /networks/create` body.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct NetworkCreateRequest {
    #[serde(rename = "Name", deserialize_with = "null_default")]
    pub name: String,
    #[serde(rename = "CheckDuplicate", skip_serializing_if = "Option::is_none")]
    pub check_duplicate: Option<bool>,
    #[serde(rename = "Driver", deserialize_with = "null_default")]
    pub driver: String,
    #[serde(rename = "Scope", deserialize_with = "null_default")]
    pub scope: String,
    #[serde(rename = "Internal", deserialize_with = "null_default")]
    pub internal: bool,
    #[serde(rename = "Attachable", deserialize_with = "null_default")]
    pub attachable: bool,
    #[serde(rename = "Ingress", deserialize_with = "null_default")]
    pub ingress: bool,
    #[serde(rename = "ConfigOnly", deserialize_with = "null_default")]
    pub config_only: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Option<Ipam>,
    #[serde(rename = "EnableIPv4", skip_serializing_if = "Option::is_none")]
    pub enable_ipv4: Option<bool>,
    #[serde(rename = "EnableIPv6", skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    #[serde(rename = "Options", deserialize_with = "null_default")]
    pub options: BTreeMap<String, String>,
    #[serde(rename = "Labels", deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
}

/// `POST /networks/create` answer.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct NetworkCreateResponse {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Warning")]
    pub warning: String,
}

/// One entry of a network's `Containers` map.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct NetworkContainer {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// `ConfigFrom` of a network.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct ConfigReference {
    #[serde(rename = "Network")]
    pub network: String,
}

/// A network as `GET /networks` and `GET /networks/{id}` show it.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct NetworkResource {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Created")]
    pub created: String,
    #[serde(rename = "Scope")]
    pub scope: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "EnableIPv4")]
    pub enable_ipv4: bool,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    #[serde(rename = "Internal")]
    pub internal: bool,
    #[serde(rename = "Attachable")]
    pub attachable: bool,
    #[serde(rename = "Ingress")]
    pub ingress: bool,
    #[serde(rename = "ConfigFrom")]
    pub config_from: ConfigReference,
    #[serde(rename = "ConfigOnly")]
    pub config_only: bool,
    #[serde(rename = "Containers")]
    pub containers: BTreeMap<String, NetworkContainer>,
    #[serde(rename = "Options")]
    pub options: BTreeMap<String, String>,
    #[serde(rename = "Labels")]
    pub labels: BTreeMap<String, String>,
}

/// `POST /networks/{id}/connect` body.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct NetworkConnectRequest {
    #[serde(rename = "Container", deserialize_with = "null_default")]
    pub container: String,
    #[serde(rename = "EndpointConfig")]
    pub endpoint_config: Option<EndpointSettings>,
}

/// `POST /networks/{id}/disconnect` body.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct NetworkDisconnectRequest {
    #[serde(rename = "Container", deserialize_with = "null_default")]
    pub container: String,
    #[serde(rename = "Force", deserialize_with = "null_default")]
    pub force: bool,
}

/// `POST /networks/prune` answer.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct NetworkPruneResponse {
    #[serde(rename = "NetworksDeleted")]
    pub networks_deleted: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_request_from_the_cli() {
        let r: NetworkCreateRequest = serde_json::from_str(
            r#"{"Name":"n1","Driver":"bridge","Scope":"","EnableIPv6":false,
            "IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"10.99.0.0/24","Gateway":"10.99.0.1"}]},
            "Internal":true,"Attachable":false,"Ingress":false,"ConfigOnly":false,
            "ConfigFrom":null,"Options":{},"Labels":{"a":"b"}}"#,
        )
        .unwrap();
        assert_eq!(r.name, "n1");
        assert!(r.internal);
        let ipam = r.ipam.unwrap();
        assert_eq!(ipam.config[0].subnet, "10.99.0.0/24");
        assert_eq!(ipam.config[0].gateway, "10.99.0.1");
        assert_eq!(r.labels["a"], "b");
    }

    #[test]
    fn nulls_are_defaults() {
        let r: NetworkCreateRequest =
            serde_json::from_str(r#"{"Name":"x","IPAM":null,"Labels":null,"Options":null}"#)
                .unwrap();
        assert!(r.ipam.is_none());
        assert!(r.labels.is_empty());
        let c: NetworkConnectRequest =
            serde_json::from_str(r#"{"Container":"abc","EndpointConfig":{"Aliases":["db"]}}"#)
                .unwrap();
        assert_eq!(
            c.endpoint_config.unwrap().aliases.unwrap(),
            vec!["db".to_string()]
        );
    }

    #[test]
    fn resource_field_names() {
        let v = serde_json::to_value(NetworkResource {
            name: "bridge".into(),
            ..Default::default()
        })
        .unwrap();
        for k in [
            "Name",
            "Id",
            "IPAM",
            "Containers",
            "ConfigFrom",
            "EnableIPv4",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["IPAM"]["Driver"], "default");
    }
}
