//! Containers' sandboxes: attach at start, detach at stop, what inspect
//! shows of them.

use super::*;
use crate::ports::PortSpec;

impl NetworkManager {
    /// Gives a starting container its networking; call before the runtime
    /// creates it, and pass `netns_path` on as `SpecOptions.netns_path`.
    /// On error nothing is left behind.
    pub async fn attach_container(&self, req: AttachRequest) -> Result<Attachment> {
        let mut st = self.state.lock().await;
        if st.sandboxes.contains_key(&req.container_id) {
            return Err(NetError::Conflict(format!(
                "container {} already has networking; detach it first",
                req.container_id
            )));
        }
        let r = self.attach_locked(&mut st, &req).await;
        if r.is_err() {
            let _ = self.teardown_locked(&mut st, &req.container_id).await;
            self.refresh(&st);
        }
        r
    }

    pub(super) async fn attach_locked(
        &self,
        st: &mut State,
        req: &AttachRequest,
    ) -> Result<Attachment> {
        let cid = req.container_id.clone();
        let mode = req.network_mode.as_str();
        let mut sb = Sandbox {
            container_id: cid.clone(),
            container_name: req.container_name.trim_start_matches('/').to_string(),
            mode: String::new(),
            netns: None,
            owns_netns: false,
            hostname: req.hostname.clone(),
            ports: req.ports.clone(),
            published: Vec::new(),
            dns: req.dns.clone(),
            networks: Vec::new(),
        };
        if mode == "host" {
            sb.mode = mode::HOST.into();
            self.store.save_sandbox(&sb)?;
            st.sandboxes.insert(cid, sb);
            return Ok(Attachment::default());
        }
        if let Some(other) = mode.strip_prefix("container:") {
            return self.attach_shared(st, sb, other);
        }
        let path = netns::path_for(&self.cfg.exec_root, &cid);
        netns::create(&path)?;
        sb.netns = Some(path.clone());
        sb.owns_netns = true;
        sb.mode = if mode == "none" {
            mode::NONE.into()
        } else {
            mode::ENDPOINTS.into()
        };
        // saved first, so a crash mid-way leaves a record restore can clean up
        self.store.save_sandbox(&sb)?;
        st.sandboxes.insert(cid.clone(), sb.clone());
        if mode == "none" {
            return Ok(Attachment {
                netns_path: Some(path),
                ..Default::default()
            });
        }
        let order = self.endpoint_order(st, mode, &req.endpoints).await?;
        let mut addresses = Vec::new();
        for (i, (nid, s)) in order.iter().enumerate() {
            let ip = self.add_endpoint(st, nid, &cid, s, i == 0).await?;
            addresses.push(ip.to_string());
        }
        let published = self.publish(st, &cid, &req.ports).await?;
        let sbm = st.sandboxes.get_mut(&cid).expect("inserted above");
        sbm.published = published.clone();
        let sb = sbm.clone();
        self.store.save_sandbox(&sb)?;
        self.refresh(st);
        self.apply_firewall(st)?;
        let user_net = self.needs_dns(st, &sb);
        if user_net {
            self.start_dns(st, &sb)?;
        }
        for (nid, _) in &order {
            self.emit("connect", &st.networks[nid], Some(&cid));
        }
        let (nameservers, dns_options) = embedded_dns(user_net);
        Ok(Attachment {
            netns_path: Some(path),
            addresses,
            nameservers,
            dns_options,
            published,
        })
    }

    /// `container:<id or name>`: the other container's namespace.
    fn attach_shared(&self, st: &mut State, mut sb: Sandbox, other: &str) -> Result<Attachment> {
        let o = st
            .sandboxes
            .get(other)
            .or_else(|| {
                st.sandboxes
                    .values()
                    .find(|s| s.container_name == other.trim_start_matches('/'))
            })
            .ok_or_else(|| {
                NetError::Conflict(format!(
                    "cannot join network of a non running container: {other}"
                ))
            })?;
        sb.mode = mode::CONTAINER.into();
        sb.netns = o.netns.clone();
        self.store.save_sandbox(&sb)?;
        let a = Attachment {
            netns_path: sb.netns.clone(),
            ..Default::default()
        };
        st.sandboxes.insert(sb.container_id.clone(), sb);
        Ok(a)
    }

    /// The networks a container joins, its mode's first (the gateway
    /// endpoint), each with its endpoint settings.
    async fn endpoint_order(
        &self,
        st: &State,
        mode: &str,
        eps: &BTreeMap<String, EndpointSettings>,
    ) -> Result<Vec<(String, EndpointSettings)>> {
        let primary = match mode {
            "" | "default" => self.find(st, DEFAULT_NETWORK)?.id.clone(),
            other => self.find(st, other)?.id.clone(),
        };
        if !self.takes_endpoints(&st.networks[&primary]).await? {
            return Err(NetError::Invalid(format!(
                "network mode {mode} cannot be combined with bridge endpoints"
            )));
        }
        let mut order = vec![(primary.clone(), self.settings_for(st, &primary, eps))];
        for (k, s) in eps {
            let nid = self.find(st, k)?.id.clone();
            if nid != primary && !order.iter().any(|(n, _)| *n == nid) {
                if !self.takes_endpoints(&st.networks[&nid]).await? {
                    return Err(NetError::Invalid(format!(
                        "container cannot be connected to network {k} as well"
                    )));
                }
                order.push((nid, s.clone()));
            }
        }
        Ok(order)
    }

    /// Binds the published ports and hands them to the container's port
    /// proxy, forwarding to the gateway endpoint.
    async fn publish(&self, st: &State, cid: &str, ports: &[PortSpec]) -> Result<Vec<PortMapping>> {
        // published ports on the gateway endpoint
        let gw_ip = self
            .gateway_ip_of(st, cid)
            .expect("the first endpoint is the gateway");
        let mut bound = Vec::new();
        let mut published = Vec::new();
        for p in ports {
            let host_ip = p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
            let b = BoundPort::bind(p.proto, host_ip, p.host_port)?;
            published.push(PortMapping {
                proto: p.proto,
                container_port: p.container_port,
                host_ip,
                host_port: b.host.port(),
            });
            bound.push((b, SocketAddrV4::new(gw_ip, p.container_port)));
        }
        if !bound.is_empty() {
            self.proxies.spawn(cid, &bound).await?;
        }
        // the proxy holds the ports now
        drop(bound);
        Ok(published)
    }

    pub(super) fn settings_for(
        &self,
        st: &State,
        nid: &str,
        eps: &BTreeMap<String, EndpointSettings>,
    ) -> EndpointSettings {
        let n = &st.networks[nid];
        eps.iter()
            .find(|(k, _)| {
                **k == n.name || **k == n.id || (k.len() >= 12 && n.id.starts_with(k.as_str()))
            })
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    pub(super) async fn teardown_locked(&self, st: &mut State, cid: &str) -> Result<()> {
        let mut errs = Errors::default();
        errs.check(self.proxies.stop(cid).await);
        st.dns.remove(cid);
        let nets: Vec<String> = st
            .networks
            .values()
            .filter(|n| n.endpoints.contains_key(cid))
            .map(|n| n.id.clone())
            .collect();
        for nid in nets {
            errs.check(self.remove_endpoint(st, &nid, cid).await);
        }
        if let Some(sb) = st.sandboxes.remove(cid) {
            if sb.owns_netns {
                if let Some(p) = &sb.netns {
                    errs.check(netns::remove(p));
                }
            }
        }
        errs.check(self.store.delete_sandbox(cid));
        errs.check(self.apply_firewall(st));
        errs.into_result()
    }

    /// Tears a stopped container's networking down: ports, DNS, endpoints,
    /// namespace, rules. Keeps going past failures and reports them all.
    /// Unknown containers are fine (nothing to do).
    pub async fn detach_container(&self, cid: &str) -> Result<()> {
        let mut st = self.state.lock().await;
        let r = self.teardown_locked(&mut st, cid).await;
        self.refresh(&st);
        r
    }

    /// `NetworkSettings` for inspect; `None` when the container has no
    /// networking (not running).
    pub async fn settings(&self, cid: &str, exposed: &[String]) -> Option<NetworkSettings> {
        let st = self.state.lock().await;
        let sb = st.sandboxes.get(cid)?;
        let mut ns = NetworkSettings {
            sandbox_id: sb
                .netns
                .as_ref()
                .map(|_| cid.to_string())
                .unwrap_or_default(),
            sandbox_key: sb
                .netns
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            ports: ports::ports_map(&sb.published, exposed),
            ..Default::default()
        };
        if sb.mode == mode::HOST || sb.mode == mode::NONE {
            let name = sb.mode.clone();
            if let Ok(n) = self.find(&st, &name) {
                ns.networks.insert(
                    name,
                    EndpointSettings {
                        network_id: n.id.clone(),
                        ..Default::default()
                    },
                );
            }
        }
        for n in st.networks.values() {
            let Some(e) = n.endpoints.get(cid) else {
                continue;
            };
            let prefix = n.subnet.map(|s| s.prefix as i64).unwrap_or(0);
            let es = EndpointSettings {
                mac_address: e.mac.clone(),
                aliases: (!e.aliases.is_empty()).then(|| e.aliases.clone()),
                network_id: n.id.clone(),
                endpoint_id: e.endpoint_id.clone(),
                gateway: n.gateway.map(|g| g.to_string()).unwrap_or_default(),
                ip_address: e.ip.to_string(),
                ip_prefix_len: prefix,
                dns_names: (!n.is_default()).then(|| {
                    let mut d = vec![
                        e.container_name.clone(),
                        cid[..12.min(cid.len())].to_string(),
                    ];
                    d.extend(e.aliases.iter().cloned());
                    d
                }),
                ..Default::default()
            };
            if n.is_default() {
                ns.endpoint_id = es.endpoint_id.clone();
                ns.gateway = es.gateway.clone();
                ns.ip_address = es.ip_address.clone();
                ns.ip_prefix_len = prefix;
                ns.mac_address = es.mac_address.clone();
            }
            ns.networks.insert(n.name.clone(), es);
        }
        Some(ns)
    }

    /// `docker port`: the published ports of a container.
    pub async fn published(&self, cid: &str) -> Vec<PortMapping> {
        self.state
            .lock()
            .await
            .sandboxes
            .get(cid)
            .map(|s| s.published.clone())
            .unwrap_or_default()
    }

    /// `HostConfig.PortBindings` as bound (for inspect of a running container).
    pub async fn port_bindings(&self, cid: &str) -> BTreeMap<String, Option<Vec<PortBinding>>> {
        ports::ports_map(&self.published(cid).await, &[])
    }

    /// The container ids that have networking.
    pub async fn sandboxes(&self) -> Vec<String> {
        self.state.lock().await.sandboxes.keys().cloned().collect()
    }
}

/// resolv.conf of a container on user networks: the embedded DNS server.
fn embedded_dns(user_net: bool) -> (Vec<String>, Vec<String>) {
    if user_net {
        (vec!["127.0.0.11".into()], vec!["ndots:0".into()])
    } else {
        (Vec::new(), Vec::new())
    }
}
