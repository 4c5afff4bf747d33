//! What the daemon passes the manager (its configuration, a starting
//! container's request) and what it gets back.

use crate::error::Result;
use crate::ipam::Pool;
use crate::ports::{self, PortMapping, PortSpec};
use berth_types::container::EndpointSettings;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

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
}
