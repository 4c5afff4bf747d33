//! A container's networking: the glue between its record and the network
//! manager of berth-network. Checked at create, attached at start (before
//! the runtime creates the container, so it joins the prepared namespace),
//! torn down at every exit, shown by inspect and `docker ps`.

use super::Containers;
use berth_core::containers::ContainerRecord;
use berth_network::{AttachRequest, Attachment};
use berth_runtime::spec::ResolvedMount;
use berth_types::container::{
    ContainerSummary, HostConfig, NetworkSettings, NetworkingConfig, Port,
};
use berth_types::{Error, Result};

/// What a starting container gets from the network side.
#[derive(Default)]
pub(super) struct NetPlan {
    pub att: Attachment,
    /// `--network container:X`: X's hosts, hostname and resolv.conf, shared
    /// as dockerd shares them (instead of writing our own).
    pub shared_etc: Option<Vec<ResolvedMount>>,
    /// The hostname the container gets when none was asked for.
    pub hostname: Option<String>,
}

/// `HostConfig.NetworkMode` as dockerd reports it (`default` is `bridge`).
pub(super) fn mode_name(hc: &HostConfig) -> String {
    match hc.network_mode.as_str() {
        "" | "default" => "bridge".into(),
        m => m.into(),
    }
}

/// The mode the network manager attaches a starting container with. That
/// is its `NetworkMode`, unless it was disconnected from that network:
/// then its first other network takes the mode's place (the gateway and
/// published ports go there), or it gets a namespace of its own with
/// loopback only when it has none, as with dockerd.
fn joined_mode(rec: &ContainerRecord) -> String {
    let mode = mode_name(&rec.host_config);
    let shared = mode == "host" || mode == "none" || mode.starts_with("container:");
    if shared || !rec.left_mode_network {
        return mode;
    }
    rec.networking
        .endpoints_config
        .keys()
        .find(|k| **k != mode)
        .cloned()
        .unwrap_or_else(|| "none".into())
}

/// A container that left its mode's network and joined no other runs in a
/// namespace of its own (attached as `none`); like dockerd, it then shows
/// no networks at all, not `none`.
fn hide_stand_in_none<V>(
    rec: &ContainerRecord,
    networks: &mut std::collections::BTreeMap<String, V>,
) {
    if rec.left_mode_network && mode_name(&rec.host_config) != "none" && joined_mode(rec) == "none"
    {
        networks.remove("none");
    }
}

impl Containers {
    /// At create: `container:NAME` becomes `container:<full id>` when
    /// NAME exists (so a rename does not break it) and the shared modes
    /// take no published ports. Unknown networks and containers are
    /// reported at start, as dockerd does: a 404 from create would make
    /// the CLI try to pull the image. The CLI keys the endpoint
    /// of the mode by the mode as typed (`default`); it is kept under the
    /// network's name.
    pub(super) async fn check_network(
        &self,
        hc: &mut HostConfig,
        nc: &mut NetworkingConfig,
    ) -> Result<()> {
        let mode = mode_name(hc);
        if let Some(es) = nc.endpoints_config.remove("default") {
            nc.endpoints_config.entry(mode.clone()).or_insert(es);
        }
        let shared = mode == "host" || mode == "none" || mode.starts_with("container:");
        if shared {
            nc.endpoints_config.remove(&mode);
        }
        if let Some(other) = mode.strip_prefix("container:") {
            if let Ok(c) = self.store.get(other) {
                let id = c.lock().unwrap().id.clone();
                hc.network_mode = format!("container:{id}");
            }
        }
        if shared && mode != "host" && (!hc.port_bindings.is_empty() || hc.publish_all_ports) {
            return Err(Error::invalid(
                "conflicting options: port publishing and the container type network mode",
            ));
        }
        Ok(())
    }

    /// At start: the container's namespace, endpoints, ports and DNS.
    pub(super) async fn attach_network(&self, rec: &ContainerRecord) -> Result<NetPlan> {
        let mut plan = NetPlan::default();
        let mode = mode_name(&rec.host_config);
        if mode == "host" && rec.config.hostname.is_empty() {
            plan.hostname = nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok());
        }
        if let Some(other) = mode.strip_prefix("container:") {
            let c = self.store.get(other)?;
            let o = c.lock().unwrap().clone();
            if !o.state.running {
                return Err(Error::conflict(format!(
                    "cannot join network namespace of a non running container: {}",
                    o.name.trim_start_matches('/')
                )));
            }
            let dir = self.store.dir_of(&o.id);
            plan.hostname = Some(if o.config.hostname.is_empty() {
                o.short_id().to_string()
            } else {
                o.config.hostname.clone()
            });
            plan.shared_etc = Some(
                [
                    ("hosts", "/etc/hosts"),
                    ("hostname", "/etc/hostname"),
                    ("resolv.conf", "/etc/resolv.conf"),
                ]
                .iter()
                .map(|(f, dest)| ResolvedMount {
                    destination: (*dest).into(),
                    typ: "bind".into(),
                    source: dir.join(f).display().to_string(),
                    options: vec!["rbind".into(), "rprivate".into()],
                })
                .collect(),
            );
        }
        let Some(m) = self.network.get() else {
            return Ok(plan);
        };
        let mut hc = rec.host_config.clone();
        hc.network_mode = joined_mode(rec);
        let mut config = rec.config.clone();
        if let Some(h) = &plan.hostname {
            if config.hostname.is_empty() {
                config.hostname = h.clone();
            }
        }
        let req = AttachRequest::for_container(&rec.id, &rec.name, &config, &hc, &rec.networking)?;
        plan.att = m.attach_container(req).await?;
        Ok(plan)
    }

    /// `--network host`: the host's resolv.conf as it is, loopback
    /// resolvers included (they are reachable from the host's namespace),
    /// as dockerd does, unless `--dns*` options were given.
    pub(super) fn host_mode_resolv(
        &self,
        rec: &ContainerRecord,
        data_dir: &std::path::Path,
        host_resolv: &str,
    ) -> Result<()> {
        let hc = &rec.host_config;
        if mode_name(hc) != "host"
            || !hc.dns.is_empty()
            || !hc.dns_search.is_empty()
            || !hc.dns_options.is_empty()
            || host_resolv.is_empty()
        {
            return Ok(());
        }
        berth_core::atomic::write_atomic(&data_dir.join("resolv.conf"), host_resolv.as_bytes())
            .map_err(|e| Error::internal(format!("writing resolv.conf: {e}")))
    }

    /// At every exit (and a failed start): frees ports, endpoints and the
    /// namespace. Failures are logged; nothing here may keep an exit from
    /// being recorded.
    pub(super) async fn detach_network(&self, id: &str) {
        if let Some(m) = self.network.get() {
            if let Err(e) = m.detach_container(id).await {
                tracing::warn!("network teardown of {id}: {e}");
            }
        }
    }

    /// `NetworkSettings` of inspect: the live endpoints of a running
    /// container, the configured networks (without addresses) otherwise.
    pub(super) async fn network_settings(&self, rec: &ContainerRecord) -> NetworkSettings {
        let exposed: Vec<String> = rec
            .config
            .exposed_ports
            .as_ref()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let Some(m) = self.network.get() else {
            return NetworkSettings::default();
        };
        if rec.state.running {
            if let Some(mut ns) = m.settings(&rec.id, &exposed).await {
                hide_stand_in_none(rec, &mut ns.networks);
                return ns;
            }
        }
        let mut ns = NetworkSettings::default();
        let mode = mode_name(&rec.host_config);
        let mut names: Vec<String> = Vec::new();
        if !mode.starts_with("container:") && !rec.left_mode_network {
            names.push(mode);
        }
        names.extend(rec.networking.endpoints_config.keys().cloned());
        for name in names {
            let Ok(n) = m.inspect(&name).await else {
                continue;
            };
            let mut es = rec
                .networking
                .endpoints_config
                .get(&name)
                .cloned()
                .unwrap_or_default();
            es.network_id = n.id.clone();
            ns.networks.insert(n.name.clone(), es);
        }
        ns
    }

    /// `Ports` and `NetworkSettings.Networks` of `docker ps`.
    pub(super) async fn fill_summaries(&self, out: &mut [ContainerSummary]) {
        let Some(m) = self.network.get() else {
            return;
        };
        for s in out.iter_mut() {
            if s.state != "running" {
                continue;
            }
            let Some(ns) = m.settings(&s.id, &[]).await else {
                continue;
            };
            s.ports = ports_of(&ns);
            s.network_settings.networks = ns.networks;
            if let Ok(c) = self.store.get(&s.id) {
                let rec = c.lock().unwrap().clone();
                hide_stand_in_none(&rec, &mut s.network_settings.networks);
            }
        }
    }
}

/// `Ports` of a summary from inspect's port map: one entry per binding,
/// one without public port for an exposed port that is not published.
fn ports_of(ns: &NetworkSettings) -> Vec<Port> {
    let mut out = Vec::new();
    for (key, bindings) in &ns.ports {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let Ok(private_port) = port.parse::<u16>() else {
            continue;
        };
        match bindings {
            Some(bs) if !bs.is_empty() => {
                for b in bs {
                    out.push(Port {
                        ip: b.host_ip.clone(),
                        private_port,
                        public_port: b.host_port.parse().ok(),
                        typ: proto.to_string(),
                    });
                }
            }
            _ => out.push(Port {
                ip: String::new(),
                private_port,
                public_port: None,
                typ: proto.to_string(),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(mode: &str, left: bool, eps: &[&str]) -> ContainerRecord {
        let mut r = ContainerRecord {
            left_mode_network: left,
            ..Default::default()
        };
        r.host_config.network_mode = mode.into();
        for e in eps {
            r.networking
                .endpoints_config
                .insert((*e).into(), Default::default());
        }
        r
    }

    #[test]
    fn joined_mode_follows_the_mode_network_being_left() {
        assert_eq!(joined_mode(&rec("front", false, &[])), "front");
        assert_eq!(joined_mode(&rec("front", false, &["back"])), "front");
        assert_eq!(joined_mode(&rec("front", true, &[])), "none");
        assert_eq!(joined_mode(&rec("front", true, &["back"])), "back");
        assert_eq!(joined_mode(&rec("default", true, &["x"])), "x");
        assert_eq!(joined_mode(&rec("host", true, &[])), "host");
        let mut nets: std::collections::BTreeMap<String, ()> = [("none".to_string(), ())].into();
        hide_stand_in_none(&rec("front", true, &[]), &mut nets);
        assert!(nets.is_empty());
        let mut nets: std::collections::BTreeMap<String, ()> = [("none".to_string(), ())].into();
        hide_stand_in_none(&rec("none", false, &[]), &mut nets);
        assert_eq!(nets.len(), 1, "a container of mode none shows none");
    }

    #[test]
    fn summary_ports_from_the_port_map() {
        let ns: NetworkSettings = serde_json::from_str(
            r#"{"Ports":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}],"53/udp":null}}"#,
        )
        .unwrap();
        let p = ports_of(&ns);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].private_port, 53);
        assert_eq!(p[0].typ, "udp");
        assert_eq!(p[0].public_port, None);
        assert_eq!(p[1].ip, "127.0.0.1");
        assert_eq!(p[1].public_port, Some(8080));
    }
}
