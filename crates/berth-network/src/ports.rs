//! Published ports: parsing `HostConfig.PortBindings` / `-P` into what to
//! publish, and rendering the bound result as `NetworkSettings.Ports`.

use crate::error::{NetError, Result};
use crate::firewall::Proto;
use berth_types::container::PortBinding;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// One port to publish, as asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    pub proto: Proto,
    pub container_port: u16,
    /// `None` = all host addresses (0.0.0.0).
    pub host_ip: Option<Ipv4Addr>,
    /// 0 = an ephemeral port.
    pub host_port: u16,
}

/// One port as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub proto: Proto,
    pub container_port: u16,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
}

/// `"80/tcp"` → (80, tcp).
pub fn parse_port_proto(key: &str) -> Result<(u16, Proto)> {
    let (p, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = match proto {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        other => {
            return Err(NetError::Invalid(format!(
                "invalid proto {other:?}: berth publishes tcp and udp"
            )))
        }
    };
    let port = p
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| NetError::Invalid(format!("invalid port {key:?}")))?;
    Ok((port, proto))
}

/// What to publish for `HostConfig.PortBindings`, plus (for `-P`,
/// `PublishAllPorts`) every exposed port not bound explicitly, on an
/// ephemeral host port.
pub fn port_specs(
    bindings: &BTreeMap<String, Option<Vec<PortBinding>>>,
    publish_all: bool,
    exposed: &[String],
) -> Result<Vec<PortSpec>> {
    let mut out = Vec::new();
    for (key, list) in bindings {
        let (container_port, proto) = parse_port_proto(key)?;
        let list = list.clone().unwrap_or_default();
        let list = if list.is_empty() {
            vec![PortBinding::default()]
        } else {
            list
        };
        for b in list {
            let host_ip = match b.host_ip.as_str() {
                "" | "0.0.0.0" => None,
                s => Some(s.parse::<Ipv4Addr>().map_err(|_| {
                    NetError::Invalid(format!(
                        "invalid host IP {s:?} (berth publishes on IPv4 only)"
                    ))
                })?),
            };
            let host_port = match b.host_port.as_str() {
                "" => 0,
                s => {
                    // "8000-8010" ranges: take the first port (documented limit)
                    let first = s.split('-').next().unwrap_or(s);
                    first
                        .parse::<u16>()
                        .map_err(|_| NetError::Invalid(format!("invalid host port {s:?}")))?
                }
            };
            out.push(PortSpec {
                proto,
                container_port,
                host_ip,
                host_port,
            });
        }
    }
    if publish_all {
        for key in exposed {
            let (container_port, proto) = parse_port_proto(key)?;
            if !out
                .iter()
                .any(|s| s.container_port == container_port && s.proto == proto)
            {
                out.push(PortSpec {
                    proto,
                    container_port,
                    host_ip: None,
                    host_port: 0,
                });
            }
        }
    }
    Ok(out)
}

/// `NetworkSettings.Ports`: every exposed port, `null` where unpublished.
pub fn ports_map(
    mappings: &[PortMapping],
    exposed: &[String],
) -> BTreeMap<String, Option<Vec<PortBinding>>> {
    let mut m: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
    for e in exposed {
        if let Ok((p, proto)) = parse_port_proto(e) {
            m.entry(format!("{p}/{}", proto.as_str())).or_insert(None);
        }
    }
    for pm in mappings {
        m.entry(format!("{}/{}", pm.container_port, pm.proto.as_str()))
            .or_insert(None)
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: pm.host_ip.to_string(),
                host_port: pm.host_port.to_string(),
            });
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_from_the_cli() {
        let b: BTreeMap<String, Option<Vec<PortBinding>>> = serde_json::from_str(
            r#"{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}],"53/udp":[{"HostIp":"","HostPort":""}],"9000/tcp":null}"#,
        )
        .unwrap();
        let s = port_specs(&b, true, &["80/tcp".into(), "7000/tcp".into()]).unwrap();
        assert_eq!(s.len(), 4);
        assert!(s.contains(&PortSpec {
            proto: Proto::Tcp,
            container_port: 80,
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port: 8080
        }));
        assert!(s.contains(&PortSpec {
            proto: Proto::Udp,
            container_port: 53,
            host_ip: None,
            host_port: 0
        }));
        assert!(s.contains(&PortSpec {
            proto: Proto::Tcp,
            container_port: 7000,
            host_ip: None,
            host_port: 0
        }));
        assert!(port_specs(
            &serde_json::from_str(r#"{"80/sctp":null}"#).unwrap(),
            false,
            &[]
        )
        .is_err());
        assert!(port_specs(
            &serde_json::from_str(r#"{"80/tcp":[{"HostIp":"::1","HostPort":"1"}]}"#).unwrap(),
            false,
            &[]
        )
        .is_err());
    }

    #[test]
    fn inspect_ports() {
        let m = ports_map(
            &[PortMapping {
                proto: Proto::Tcp,
                container_port: 80,
                host_ip: Ipv4Addr::UNSPECIFIED,
                host_port: 32768,
            }],
            &["80/tcp".into(), "443/tcp".into()],
        );
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            serde_json::json!({"443/tcp": null, "80/tcp": [{"HostIp":"0.0.0.0","HostPort":"32768"}]})
        );
    }
}
