//! Endpoints: plugging one into a sandbox through its network's driver,
//! removing it, `network connect` and `disconnect`.

use super::*;

impl NetworkManager {
    /// Adds one endpoint: an address, a veth pair with its container end
    /// configured inside the sandbox.
    pub(super) async fn add_endpoint(
        &self,
        st: &mut State,
        nid: &str,
        cid: &str,
        s: &EndpointSettings,
        gateway: bool,
    ) -> Result<Ipv4Addr> {
        let sb = st
            .sandboxes
            .get(cid)
            .cloned()
            .ok_or_else(|| NetError::NotFound(format!("no sandbox for {cid}")))?;
        let netns = sb
            .netns
            .clone()
            .ok_or_else(|| NetError::Invalid("host-mode containers have no endpoints".into()))?;
        let n = st
            .networks
            .get_mut(nid)
            .ok_or_else(|| NetError::NotFound(format!("network {nid} not found")))?;
        if n.endpoints.contains_key(cid) {
            return Err(NetError::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                sb.container_name, n.name
            )));
        }
        let want = requested_ip(s)?;
        if want.is_some() && !n.user_subnet {
            return Err(NetError::Invalid("user specified IP address is supported only when connecting to networks with user configured subnets".into()));
        }
        let (Some(subnet), Some(pool)) = (n.subnet, st.pools.get(nid).cloned()) else {
            return Err(NetError::Invalid(format!(
                "network {} has no IPv4 pool",
                n.name
            )));
        };
        let n = n.clone();
        let ipam = self.ipam().await?;
        let want = want.map(|w| w.to_string()).unwrap_or_default();
        let ip = ipam::parse_cidr(&ipam.request_address(&pool, &want, &BTreeMap::new()).await?)?.0;
        let ep = Plug {
            endpoint_id: new_id(),
            ip,
            prefix: subnet.prefix,
            index: sb.networks.len(),
            gateway_endpoint: gateway,
        };
        let r = self.plug(&n, &ep, &netns).await;
        let n = st.networks.get_mut(nid).expect("checked");
        let (mac, ifname) = match r {
            Ok(v) => v,
            Err(e) => {
                let _ = ipam.release_address(&pool, &ip.to_string()).await;
                return Err(e);
            }
        };
        n.allocations.used.insert(ip);
        let aliases = s.aliases.iter().flatten().filter(|a| !a.is_empty());
        n.endpoints.insert(
            cid.to_string(),
            EndpointRecord {
                endpoint_id: ep.endpoint_id,
                container_name: sb.container_name.clone(),
                ip,
                mac,
                veth: String::new(),
                ifname,
                aliases: aliases.cloned().collect(),
                gateway_endpoint: gateway,
            },
        );
        let saved = self.store.save_network(n);
        let sbm = st.sandboxes.get_mut(cid).expect("checked");
        sbm.networks.push(nid.to_string());
        let sb2 = sbm.clone();
        saved?;
        self.store.save_sandbox(&sb2)?;
        Ok(ip)
    }

    /// Creates endpoint `ep` on `n` with its driver and joins it to the
    /// sandbox at `netns`: moves the interface the driver names in and
    /// configures it there. Returns the MAC and the interface's name.
    pub(super) async fn plug(
        &self,
        n: &NetworkRecord,
        ep: &Plug,
        netns: &Path,
    ) -> Result<(String, String)> {
        let d = self.driver_of(n).await?;
        let req = CreateEndpoint {
            network_id: n.id.clone(),
            endpoint_id: ep.endpoint_id.clone(),
            address: format!("{}/{}", ep.ip, ep.prefix),
            ..Default::default()
        };
        let iface = d.create_endpoint(&req).await?;
        let r = self.join(&*d, n, ep, netns, &iface.mac_address).await;
        if r.is_err() {
            let _ = d.delete_endpoint(&n.id, &ep.endpoint_id).await;
        }
        r
    }

    pub(super) async fn join(
        &self,
        d: &dyn NetworkDriver,
        n: &NetworkRecord,
        ep: &Plug,
        netns: &Path,
        mac: &str,
    ) -> Result<(String, String)> {
        let key = netns.display().to_string();
        let info = d
            .join(&n.id, &ep.endpoint_id, &key, &BTreeMap::new())
            .await?;
        let mac_bytes = link::parse_mac(mac).unwrap_or_else(|| link::mac_for(ep.ip));
        let ifname = format!("{}{}", info.dst_prefix, ep.index);
        if info.src_name.is_empty() {
            return Ok((link::mac_string(mac_bytes), String::new()));
        }
        let gw = ep
            .gateway_endpoint
            .then(|| info.gateway.parse::<Ipv4Addr>().ok())
            .flatten();
        let r = async {
            self.nl.move_to_netns(&info.src_name, netns).await?;
            let (src, i2, ns2) = (info.src_name.clone(), ifname.clone(), netns.to_path_buf());
            let (ip, prefix) = (ep.ip, ep.prefix);
            tokio::task::spawn_blocking(move || {
                netns::run_in(&ns2, move || {
                    link::block_on(async move {
                        Netlink::connect()?
                            .configure_peer(&src, &i2, mac_bytes, ip, prefix, gw)
                            .await
                    })
                })
            })
            .await
            .map_err(|e| NetError::Invalid(format!("netns task: {e}")))?
        }
        .await;
        if r.is_err() {
            let _ = d.leave(&n.id, &ep.endpoint_id).await;
        }
        r.map(|_| (link::mac_string(mac_bytes), ifname))
    }

    /// Removes one endpoint: its veth, its address, its record.
    pub(super) async fn remove_endpoint(&self, st: &mut State, nid: &str, cid: &str) -> Result<()> {
        let mut errs = Errors::default();
        let Some(n) = st.networks.get_mut(nid) else {
            return Ok(());
        };
        if let Some(e) = n.endpoints.remove(cid) {
            n.allocations.release(e.ip);
            let n2 = n.clone();
            if let Some(pool) = st.pools.get(nid) {
                let r = async {
                    self.ipam()
                        .await?
                        .release_address(pool, &e.ip.to_string())
                        .await
                        .map_err(NetError::from)
                };
                errs.check(r.await);
            }
            match self.driver_of(&n2).await {
                Ok(d) => {
                    errs.check(tolerate_missing(d.leave(&n2.id, &e.endpoint_id).await));
                    let r = d.delete_endpoint(&n2.id, &e.endpoint_id).await;
                    errs.check(tolerate_missing(r));
                }
                Err(e) => {
                    errs.check(Err::<(), _>(e));
                }
            }
            errs.check(self.store.save_network(&n2));
            self.emit("disconnect", &n2, Some(cid));
        }
        if let Some(sb) = st.sandboxes.get_mut(cid) {
            sb.networks.retain(|x| x != nid);
        }
        errs.into_result()
    }

    /// `docker network connect` for a running container.
    pub async fn connect(&self, net: &str, cid: &str, s: EndpointSettings) -> Result<()> {
        let mut st = self.state.lock().await;
        let nid = self.find(&st, net)?.id.clone();
        let sb = st.sandboxes.get(cid).cloned().ok_or_else(|| {
            NetError::Conflict(format!(
                "container {cid} is not running: berth connects running containers only"
            ))
        })?;
        if sb.mode != mode::ENDPOINTS && sb.mode != mode::NONE {
            return Err(NetError::Forbidden("container sharing network namespace with another container or host cannot be connected to any other network".into()));
        }
        if !self.takes_endpoints(&st.networks[&nid]).await? {
            return Err(NetError::Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        let first = self.gateway_ip_of(&st, cid).is_none();
        self.add_endpoint(&mut st, &nid, cid, &s, first).await?;
        let sb = st.sandboxes[cid].clone();
        if self.needs_dns(&st, &sb) {
            self.start_dns(&mut st, &sb)?;
        }
        self.refresh(&st);
        self.apply_firewall(&st)?;
        self.emit("connect", &st.networks[&nid], Some(cid));
        Ok(())
    }

    /// `docker network disconnect`.
    pub async fn disconnect(&self, net: &str, cid: &str, _force: bool) -> Result<()> {
        let mut st = self.state.lock().await;
        let n = self.find(&st, net)?.clone();
        if !n.endpoints.contains_key(cid) {
            return Err(NetError::Forbidden(format!(
                "container {cid} is not connected to network {}",
                n.name
            )));
        }
        self.remove_endpoint(&mut st, &n.id, cid).await?;
        if let Some(sb) = st.sandboxes.get(cid).cloned() {
            self.store.save_sandbox(&sb)?;
            if !self.needs_dns(&st, &sb) {
                st.dns.remove(cid);
            }
        }
        self.refresh(&st);
        self.apply_firewall(&st)
    }
}

/// `IPAMConfig.IPv4Address` of an endpoint's settings.
fn requested_ip(s: &EndpointSettings) -> Result<Option<Ipv4Addr>> {
    s.ipam_config
        .as_ref()
        .and_then(|v| v.get("IPv4Address"))
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Ipv4Addr>()
                .map_err(|_| NetError::Invalid(format!("invalid IPv4 address {s:?}")))
        })
        .transpose()
}
