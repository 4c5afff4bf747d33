//! Start (records, predefined networks, drivers, pools, sandboxes and
//! port proxies that outlived the previous daemon) and shutdown.

use super::*;

impl NetworkManager {
    /// Loads the records, (re)creates predefined networks, bridges, DNS
    /// servers and rules, and adopts the port proxies that outlived the
    /// previous daemon (starting one again only where it is gone).
    /// Sandboxes whose namespace is gone (host rebooted) are dropped with
    /// their endpoints. berth's firewall table is replaced in one atomic
    /// step from the records, so the DNAT of running containers never
    /// lapses either.
    ///
    /// Only a failure to read the records or to set up the default bridge
    /// is an error; a container whose port or DNS server cannot come back
    /// (say its host port was taken meanwhile) is logged and skipped, so one
    /// container never keeps the daemon from starting.
    pub async fn restore(&self) -> Result<()> {
        let mut st = self.state.lock().await;
        st.networks = self
            .store
            .networks()?
            .into_iter()
            .map(|n| (n.id.clone(), n))
            .collect();
        st.sandboxes = self
            .store
            .sandboxes()?
            .into_iter()
            .map(|s| (s.container_id.clone(), s))
            .collect();
        let mut errs = Errors::default();
        let ipam = self.ipam().await?;
        for (_, pool) in std::mem::take(&mut st.pools) {
            let _ = ipam.release_pool(&pool).await;
        }
        let users: Vec<String> = st
            .networks
            .values()
            .filter(|n| !n.is_default())
            .map(|n| n.id.clone())
            .collect();
        for nid in users {
            errs.check(self.reclaim_pool(&mut st, &nid).await);
        }
        self.ensure_predefined(&mut st).await?;
        if self.cfg.ip_forward && self.fw.backend != Backend::Disabled {
            if let Err(e) = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1") {
                tracing::warn!("enabling ip_forward: {e}");
            }
        }
        // the drivers learn of the user networks again
        let users: Vec<NetworkRecord> = st
            .networks
            .values()
            .filter(|n| !n.predefined())
            .cloned()
            .collect();
        for n in users {
            errs.check(self.announce(&n).await);
        }
        // drop sandboxes whose namespace vanished
        let dead: Vec<String> = st
            .sandboxes
            .values()
            .filter(|s| s.owns_netns && !s.netns.as_ref().is_some_and(|p| netns::exists(p)))
            .map(|s| s.container_id.clone())
            .collect();
        for cid in dead {
            errs.check(self.teardown_locked(&mut st, &cid).await);
        }
        // endpoints without a sandbox
        let orphans: Vec<(String, String)> = st
            .networks
            .values()
            .flat_map(|n| n.endpoints.keys().map(move |c| (n.id.clone(), c.clone())))
            .filter(|(_, c)| !st.sandboxes.contains_key(c))
            .collect();
        for (nid, cid) in orphans {
            errs.check(self.remove_endpoint(&mut st, &nid, &cid).await);
        }
        self.restore_proxies(&st, &mut errs).await;
        // DNS of surviving sandboxes
        let live: Vec<Sandbox> = st.sandboxes.values().cloned().collect();
        for sb in live {
            if self.needs_dns(&st, &sb) {
                errs.check(self.start_dns(&mut st, &sb));
            }
        }
        self.refresh(&st);
        errs.check(self.apply_firewall(&st));
        if let Err(e) = errs.into_result() {
            tracing::warn!("restoring networking: {e}");
        }
        Ok(())
    }

    /// Keeps the port proxies of surviving sandboxes (starting one again
    /// where it died; a port taken meanwhile is logged and skipped) and
    /// stops those of containers that no longer have networking.
    pub(super) async fn restore_proxies(&self, st: &State, errs: &mut Errors) {
        for sb in st.sandboxes.values() {
            let cid = &sb.container_id;
            if sb.published.is_empty() {
                continue;
            }
            if let Some(pid) = self.proxies.pid_of(cid) {
                tracing::debug!("adopted the port proxy of {cid} (pid {pid})");
                continue;
            }
            let Some(ip) = self.gateway_ip_of(st, cid) else {
                continue;
            };
            tracing::info!("the port proxy of {cid} is gone; starting it again");
            let bound: Vec<(BoundPort, SocketAddrV4)> = sb
                .published
                .iter()
                .filter_map(|pm| {
                    let b = BoundPort::bind(pm.proto, pm.host_ip, pm.host_port);
                    Some((errs.check(b)?, SocketAddrV4::new(ip, pm.container_port)))
                })
                .collect();
            if !bound.is_empty() {
                errs.check(self.proxies.spawn(cid, &bound).await);
            }
        }
        for cid in self.proxies.containers() {
            if st
                .sandboxes
                .get(&cid)
                .is_none_or(|s| s.published.is_empty())
            {
                errs.check(self.proxies.stop(&cid).await);
            }
        }
    }

    pub(super) async fn ensure_predefined(&self, st: &mut State) -> Result<()> {
        for (driver, d) in self.drivers.builtins() {
            let Some(name) = d.predefined_network() else {
                continue;
            };
            let n = match st.networks.values().find(|n| n.name == name) {
                Some(n) => n.clone(),
                None => {
                    let n = NetworkRecord::new(new_id(), name, &driver, now_rfc3339());
                    self.store.save_network(&n)?;
                    st.networks.insert(n.id.clone(), n.clone());
                    n
                }
            };
            self.announce(&n).await?;
        }
        if self.cfg.bridge == "none" {
            return Ok(());
        }
        let existing = st.networks.values().find(|n| n.is_default()).cloned();
        let (want, want_gw) = match (&self.cfg.bip, &existing) {
            (Some(bip), _) => {
                let (s, g) = ipam::parse_bip(bip)?;
                (s.to_string(), g.to_string())
            }
            (None, Some(n)) if n.subnet.is_some() && n.bridge == self.cfg.bridge => (
                n.subnet.map(|s| s.to_string()).unwrap_or_default(),
                n.gateway.map(|g| g.to_string()).unwrap_or_default(),
            ),
            _ => (String::new(), String::new()),
        };
        let (pool, subnet, gw) = self.request_pool(&want, &want_gw).await?;
        let mut n = existing.unwrap_or_else(|| {
            NetworkRecord::new(
                new_id(),
                DEFAULT_NETWORK,
                &self.drivers.default_name(),
                now_rfc3339(),
            )
        });
        if n.subnet != Some(subnet) && !n.endpoints.is_empty() {
            tracing::warn!(
                "default bridge subnet changed to {subnet} while containers are attached to {:?}",
                n.subnet
            );
        }
        n.subnet = Some(subnet);
        n.gateway = Some(gw);
        n.options = [
            ("com.docker.network.bridge.default_bridge", "true"),
            ("com.docker.network.bridge.enable_icc", "true"),
            ("com.docker.network.bridge.enable_ip_masquerade", "true"),
            ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
            ("com.docker.network.bridge.name", self.cfg.bridge.as_str()),
            ("com.docker.network.driver.mtu", &self.cfg.mtu.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let info = self.announce(&n).await?;
        n.bridge = info.interface;
        n.mtu = info.mtu;
        self.store.save_network(&n)?;
        let ipam = self.ipam().await?;
        for e in n.endpoints.values() {
            if let Err(err) = claim_address(&*ipam, &pool, e.ip).await {
                tracing::warn!(
                    "the address {} of {} on the default bridge: {err}",
                    e.ip,
                    e.container_name
                );
            }
        }
        st.pools.insert(n.id.clone(), pool);
        st.networks.insert(n.id.clone(), n);
        Ok(())
    }

    /// Daemon shutdown: stops the DNS servers. When no container still has
    /// networking (the daemon stopped them all), also removes the bridges
    /// and berth's firewall rules; otherwise keeps them, and the port
    /// proxies, for the containers that outlive the daemon (adopted at
    /// the next start), so their published ports keep answering.
    pub async fn shutdown(&self) -> Result<()> {
        let mut st = self.state.lock().await;
        st.dns.clear();
        if !st.sandboxes.is_empty() {
            return Ok(());
        }
        let mut errs = Errors::default();
        for cid in self.proxies.containers() {
            errs.check(self.proxies.stop(&cid).await);
        }
        let bridges: Vec<String> = st
            .networks
            .values()
            .filter(|n| !n.bridge.is_empty())
            .map(|n| n.bridge.clone())
            .collect();
        for b in bridges {
            errs.check(self.nl.delete(&b).await);
        }
        errs.check(self.fw.teardown());
        errs.into_result()
    }
}
