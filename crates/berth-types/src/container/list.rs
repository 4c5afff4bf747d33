//! The list entry (`ContainerSummary`).

use super::*;

/// One `Ports` entry of the list.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct Port {
    #[serde(rename = "IP", default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    #[serde(rename = "PrivatePort")]
    pub private_port: u16,
    #[serde(
        rename = "PublicPort",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub public_port: Option<u16>,
    #[serde(rename = "Type")]
    pub typ: String,
}

/// `HostConfig` of a list entry.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct SummaryHostConfig {
    #[serde(rename = "NetworkMode")]
    pub network_mode: String,
    #[serde(
        rename = "Annotations",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// `NetworkSettings` of a list entry.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct SummaryNetworkSettings {
    #[serde(rename = "Networks")]
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// One entry of `GET /containers/json`. `Created` is Unix seconds; `Names`
/// carry the leading slash.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ContainerSummary {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Names")]
    pub names: Vec<String>,
    #[serde(rename = "Image")]
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    #[serde(rename = "Command")]
    pub command: String,
    #[serde(rename = "Created")]
    pub created: i64,
    #[serde(rename = "Ports")]
    pub ports: Vec<Port>,
    #[serde(rename = "SizeRw", skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    #[serde(rename = "SizeRootFs", skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    #[serde(rename = "Labels")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "State")]
    pub state: String,
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "HostConfig")]
    pub host_config: SummaryHostConfig,
    #[serde(rename = "NetworkSettings")]
    pub network_settings: SummaryNetworkSettings,
    #[serde(rename = "Mounts")]
    pub mounts: Vec<MountPoint>,
}
