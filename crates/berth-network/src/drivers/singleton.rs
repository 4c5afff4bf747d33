//! The `host` and `null` drivers: each has exactly one network (`host`,
//! `none`) and nothing to set up — a container on them shares the host's
//! namespace or has one with only `lo`.

use async_trait::async_trait;
use berth_core::networks::{
    Capabilities, CreateEndpoint, CreateNetwork, EndpointInterface, JoinInfo, NetworkDriver,
    NetworkInfo,
};
use berth_types::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

pub struct SingletonDriver {
    name: &'static str,
    network: &'static str,
    /// The id of its one network, once announced.
    id: Mutex<Option<String>>,
    endpoints: Mutex<BTreeSet<String>>,
}

impl SingletonDriver {
    pub fn host() -> SingletonDriver {
        SingletonDriver::new("host", "host")
    }
    pub fn null() -> SingletonDriver {
        SingletonDriver::new("null", "none")
    }
    fn new(name: &'static str, network: &'static str) -> SingletonDriver {
        SingletonDriver {
            name,
            network,
            id: Mutex::new(None),
            endpoints: Mutex::new(BTreeSet::new()),
        }
    }
    fn known(&self, network_id: &str) -> Result<()> {
        match self.id.lock().unwrap().as_deref() {
            Some(id) if id == network_id => Ok(()),
            _ => Err(Error::not_found(format!("network {network_id} not found"))),
        }
    }
}

#[async_trait]
impl NetworkDriver for SingletonDriver {
    fn name(&self) -> &str {
        self.name
    }
    fn predefined_network(&self) -> Option<&str> {
        Some(self.network)
    }
    async fn capabilities(&self) -> Result<Capabilities> {
        Ok(Capabilities::default())
    }
    async fn create_network(&self, req: &CreateNetwork) -> Result<NetworkInfo> {
        let mut id = self.id.lock().unwrap();
        match id.as_deref() {
            Some(old) if old != req.network_id => Err(Error::forbidden(format!(
                "only one instance of \"{}\" network is allowed",
                self.name
            ))),
            _ => {
                *id = Some(req.network_id.clone());
                Ok(NetworkInfo::default())
            }
        }
    }
    async fn delete_network(&self, network_id: &str) -> Result<()> {
        self.known(network_id)?;
        *self.id.lock().unwrap() = None;
        self.endpoints.lock().unwrap().clear();
        Ok(())
    }
    async fn create_endpoint(&self, req: &CreateEndpoint) -> Result<EndpointInterface> {
        self.known(&req.network_id)?;
        self.endpoints
            .lock()
            .unwrap()
            .insert(req.endpoint_id.clone());
        Ok(EndpointInterface::default())
    }
    async fn delete_endpoint(&self, network_id: &str, endpoint_id: &str) -> Result<()> {
        self.known(network_id)?;
        self.endpoints.lock().unwrap().remove(endpoint_id);
        Ok(())
    }
    async fn join(
        &self,
        network_id: &str,
        endpoint_id: &str,
        _sandbox_key: &str,
        _options: &BTreeMap<String, String>,
    ) -> Result<JoinInfo> {
        self.known(network_id)?;
        if !self.endpoints.lock().unwrap().contains(endpoint_id) {
            return Err(Error::not_found(format!(
                "endpoint {endpoint_id} not found"
            )));
        }
        Ok(JoinInfo::default())
    }
    async fn leave(&self, network_id: &str, _endpoint_id: &str) -> Result<()> {
        self.known(network_id)
    }
    async fn program_external_connectivity(
        &self,
        network_id: &str,
        _endpoint_id: &str,
        _options: &BTreeMap<String, serde_json::Value>,
    ) -> Result<()> {
        self.known(network_id)
    }
    async fn revoke_external_connectivity(&self, network_id: &str, _: &str) -> Result<()> {
        self.known(network_id)
    }
}
