//! Networks: create, inspect, list, remove, prune.

use super::*;

impl NetworkManager {
    pub async fn create_network(&self, req: NetworkCreateRequest) -> Result<NetworkCreateResponse> {
        let name = req.name.trim().to_string();
        if name.is_empty() {
            return Err(NetError::Invalid("network name is required".into()));
        }
        let driver_name = if req.driver.is_empty() {
            self.drivers.default_name()
        } else {
            req.driver.clone()
        };
        let driver = self.drivers.get(&driver_name).await?;
        if driver.predefined_network().is_some() {
            return Err(NetError::Forbidden(format!(
                "only one instance of \"{driver_name}\" network is allowed"
            )));
        }
        if req.enable_ipv6 == Some(true) {
            return Err(NetError::Invalid(
                "IPv6 networks are not supported by berth yet".into(),
            ));
        }
        let mut st = self.state.lock().await;
        if st.networks.values().any(|n| n.name == name) {
            return Err(NetError::Conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let cfg: IpamConfig = req
            .ipam
            .as_ref()
            .and_then(|i| i.config.first().cloned())
            .unwrap_or_default();
        if !cfg.subnet.is_empty() && cfg.subnet.contains(':') {
            return Err(NetError::Invalid(
                "IPv6 subnets are not supported by berth yet".into(),
            ));
        }
        let user_subnet = !cfg.subnet.is_empty();
        let (pool, subnet, gateway) = self.request_pool(&cfg.subnet, &cfg.gateway).await?;
        let r = self
            .create_locked(
                &mut st,
                &req,
                &name,
                &driver_name,
                (subnet, gateway, user_subnet),
            )
            .await;
        match r {
            Ok(n) => {
                st.pools.insert(n.id.clone(), pool);
                self.emit("create", &n, None);
                Ok(NetworkCreateResponse {
                    id: n.id,
                    warning: String::new(),
                })
            }
            Err(e) => {
                if let Ok(ipam) = self.ipam().await {
                    let _ = ipam.release_pool(&pool).await;
                }
                Err(e)
            }
        }
    }

    pub(super) async fn create_locked(
        &self,
        st: &mut State,
        req: &NetworkCreateRequest,
        name: &str,
        driver_name: &str,
        (subnet, gateway, user_subnet): (Subnet, Ipv4Addr, bool),
    ) -> Result<NetworkRecord> {
        let driver = self.drivers.get(driver_name).await?;
        let id = new_id();
        let mut n = NetworkRecord {
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels.clone(),
            options: req.options.clone(),
            subnet: Some(subnet),
            gateway: Some(gateway),
            user_subnet,
            ..NetworkRecord::new(id.clone(), name, driver_name, now_rfc3339())
        };
        let info = self.announce(&n).await?;
        n.bridge = info.interface;
        n.mtu = info.mtu;
        if let Err(e) = self.store.save_network(&n) {
            let _ = driver.delete_network(&id).await;
            return Err(e);
        }
        st.networks.insert(id, n.clone());
        if let Err(e) = self.apply_firewall(st) {
            tracing::warn!("firewall after creating {}: {e}", n.name);
        }
        Ok(n)
    }

    pub async fn inspect(&self, id_or_name: &str) -> Result<NetworkResource> {
        let st = self.state.lock().await;
        Ok(self.resource(&st, self.find(&st, id_or_name)?))
    }

    pub async fn list(&self, f: &Filters) -> Result<Vec<NetworkResource>> {
        f.validate(&["dangling", "driver", "id", "label", "name", "scope", "type"])
            .map_err(|e| NetError::Invalid(e.message))?;
        let dangling = f
            .bool_value("dangling")
            .map_err(|e| NetError::Invalid(e.message))?;
        let st = self.state.lock().await;
        let mut out: Vec<NetworkResource> = st
            .networks
            .values()
            .filter(|n| f.exact_match("driver", &n.driver))
            .filter(|n| f.any("id", |v| n.id.starts_with(v)))
            .filter(|n| f.any("name", |v| n.name.contains(v)))
            .filter(|_| f.exact_match("scope", "local"))
            .filter(|n| f.match_labels("label", &n.labels))
            .filter(|n| f.exact_match("type", if n.predefined() { "builtin" } else { "custom" }))
            .filter(|n| dangling.is_none_or(|d| d == (n.endpoints.is_empty() && !n.predefined())))
            .map(|n| self.resource(&st, n))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        // dockerd's list leaves Containers empty
        for r in &mut out {
            r.containers.clear();
        }
        Ok(out)
    }

    pub(super) fn resource(&self, _st: &State, n: &NetworkRecord) -> NetworkResource {
        let config = match (n.subnet, n.gateway) {
            (Some(s), Some(g)) => vec![IpamConfig {
                subnet: s.to_string(),
                gateway: g.to_string(),
                ..Default::default()
            }],
            _ => Vec::new(),
        };
        NetworkResource {
            name: n.name.clone(),
            id: n.id.clone(),
            created: n.created.clone(),
            scope: "local".into(),
            driver: n.driver.clone(),
            enable_ipv4: true,
            enable_ipv6: false,
            ipam: Ipam {
                driver: "default".into(),
                options: BTreeMap::new(),
                config,
            },
            internal: n.internal,
            attachable: n.attachable,
            ingress: false,
            config_from: Default::default(),
            config_only: false,
            containers: n
                .endpoints
                .iter()
                .map(|(cid, e)| {
                    (
                        cid.clone(),
                        NetworkContainer {
                            name: e.container_name.clone(),
                            endpoint_id: e.endpoint_id.clone(),
                            mac_address: e.mac.clone(),
                            ipv4_address: format!(
                                "{}/{}",
                                e.ip,
                                n.subnet.map(|s| s.prefix).unwrap_or(32)
                            ),
                            ipv6_address: String::new(),
                        },
                    )
                })
                .collect(),
            options: n.options.clone(),
            labels: n.labels.clone(),
        }
    }

    pub async fn remove(&self, id_or_name: &str) -> Result<()> {
        let mut st = self.state.lock().await;
        let n = self.find(&st, id_or_name)?.clone();
        if n.predefined() {
            return Err(NetError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        if !n.endpoints.is_empty() {
            return Err(NetError::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            )));
        }
        self.remove_locked(&mut st, &n).await
    }

    pub(super) async fn remove_locked(&self, st: &mut State, n: &NetworkRecord) -> Result<()> {
        let mut errs = Errors::default();
        match self.driver_of(n).await {
            Ok(d) => errs.check(tolerate_missing(d.delete_network(&n.id).await)),
            Err(e) => errs.check(Err(e)),
        };
        errs.check(self.store.delete_network(&n.id));
        st.networks.remove(&n.id);
        if let Some(pool) = st.pools.remove(&n.id) {
            match self.ipam().await {
                Ok(i) => errs.check(tolerate_missing(i.release_pool(&pool).await)),
                Err(e) => errs.check(Err(e)),
            };
        }
        errs.check(self.apply_firewall(st));
        self.refresh(st);
        self.emit("destroy", n, None);
        errs.into_result()
    }

    /// Removes unused user networks; returns their names.
    pub async fn prune(&self, f: &Filters) -> Result<Vec<String>> {
        f.validate(&["label", "label!", "until"])
            .map_err(|e| NetError::Invalid(e.message))?;
        let until = match f.get("until").next() {
            Some(u) => Some(
                berth_core::events::parse_time(u, berth_core::events::now_nanos())
                    .map_err(|e| NetError::Invalid(e.message))?,
            ),
            None => None,
        };
        let mut st = self.state.lock().await;
        let victims: Vec<NetworkRecord> = st
            .networks
            .values()
            .filter(|n| !n.predefined() && n.endpoints.is_empty())
            .filter(|n| f.match_labels("label", &n.labels))
            .filter(|n| {
                !f.contains("label!")
                    || !f.get("label!").any(|l| match l.split_once('=') {
                        Some((k, v)) => n.labels.get(k).is_some_and(|x| x == v),
                        None => n.labels.contains_key(l),
                    })
            })
            .filter(|n| {
                until.is_none_or(|u| {
                    berth_types::timestamp::parse_nanos(&n.created).is_some_and(|c| (c as i64) < u)
                })
            })
            .cloned()
            .collect();
        let mut errs = Errors::default();
        let mut names = Vec::new();
        for n in victims {
            if errs.check(self.remove_locked(&mut st, &n).await).is_some() {
                names.push(n.name.clone());
            }
        }
        let mut a = BTreeMap::new();
        a.insert("reclaimed".to_string(), "0".to_string());
        self.events.emit(EventType::Network, "prune", "", a);
        errs.into_result().map(|_| names)
    }
}
