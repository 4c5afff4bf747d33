//! The manager's side of the driver registries: a network's driver, its
//! IPAM pool and addresses, announcing networks to their drivers.

use super::*;

impl NetworkManager {
    /// The IPAM driver of every network (berth has no `--ipam-driver` yet).
    pub(super) async fn ipam(&self) -> Result<Arc<dyn IpamDriver>> {
        Ok(self.ipam.get("").await?)
    }

    /// Asks IPAM for a pool (`pool` empty: any free one) and its gateway
    /// (`gateway` empty: the first host address).
    pub(super) async fn request_pool(
        &self,
        pool: &str,
        gateway: &str,
    ) -> Result<(String, Subnet, Ipv4Addr)> {
        let ipam = self.ipam().await?;
        let space = ipam.default_address_spaces().await?.local;
        let req = PoolRequest {
            address_space: space,
            pool: pool.to_string(),
            ..Default::default()
        };
        let p = ipam.request_pool(&req).await?;
        let subnet: Subnet = p.pool.parse()?;
        let opts = BTreeMap::from([(
            REQUEST_ADDRESS_TYPE.to_string(),
            GATEWAY_ADDRESS_TYPE.to_string(),
        )]);
        match ipam.request_address(&p.pool_id, gateway, &opts).await {
            Ok(g) => Ok((p.pool_id, subnet, ipam::parse_cidr(&g)?.0)),
            Err(e) => {
                let _ = ipam.release_pool(&p.pool_id).await;
                Err(e.into())
            }
        }
    }

    /// Asks IPAM again for a network's pool and its endpoints' addresses
    /// (at start: the default IPAM keeps no records of its own).
    pub(super) async fn reclaim_pool(&self, st: &mut State, nid: &str) -> Result<()> {
        let n = st.networks[nid].clone();
        let (Some(s), Some(g)) = (n.subnet, n.gateway) else {
            return Ok(());
        };
        let (pool, _, _) = self.request_pool(&s.to_string(), &g.to_string()).await?;
        st.pools.insert(n.id.clone(), pool.clone());
        let ipam = self.ipam().await?;
        let mut errs = Errors::default();
        for e in n.endpoints.values() {
            errs.check(claim_address(&*ipam, &pool, e.ip).await);
        }
        errs.into_result()
    }

    pub(super) async fn driver_of(&self, n: &NetworkRecord) -> Result<Arc<dyn NetworkDriver>> {
        Ok(self.drivers.get(&n.driver).await?)
    }

    /// Whether containers can take endpoints on `n` (not so on the one
    /// network of a driver like `host` or `null`).
    pub(super) async fn takes_endpoints(&self, n: &NetworkRecord) -> Result<bool> {
        Ok(self.driver_of(n).await?.predefined_network().is_none())
    }

    /// Tells a network's driver about it: at create, and again at every
    /// start (drivers keep no records of their own).
    pub(super) async fn announce(&self, n: &NetworkRecord) -> Result<NetworkInfo> {
        let ipv4 = match (n.subnet, n.gateway) {
            (Some(s), g) => vec![IpamData {
                address_space: "LocalDefault".into(),
                pool: s.to_string(),
                gateway: g.map(|g| format!("{g}/{}", s.prefix)).unwrap_or_default(),
                aux_addresses: BTreeMap::new(),
            }],
            (None, _) => Vec::new(),
        };
        let req = CreateNetwork {
            network_id: n.id.clone(),
            options: n.options.clone(),
            internal: n.internal,
            ipv4,
        };
        Ok(self.driver_of(n).await?.create_network(&req).await?)
    }
}
