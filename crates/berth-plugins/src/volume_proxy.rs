//! A volume plugin behind berth-core's [`VolumeDriver`] trait: each method
//! is one `VolumeDriver.*` call of Docker's volume plugin protocol.

use crate::registry::Plugin;
use async_trait::async_trait;
use berth_core::volumes::{DriverVolume, Scope, VolumeDriver};
use berth_types::volume::plugin::{
    CapabilitiesResponse, CreateRequest, GetResponse, ListResponse, MountRequest, MountResponse,
    NameRequest, PluginVolume,
};
use berth_types::volume::ErrResponse;
use berth_types::Result;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

pub struct VolumePluginDriver {
    plugin: Arc<Plugin>,
    scope: OnceLock<Scope>,
}

impl VolumePluginDriver {
    pub fn new(plugin: Arc<Plugin>) -> Self {
        VolumePluginDriver {
            plugin,
            scope: OnceLock::new(),
        }
    }

    async fn call<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        req: &Req,
    ) -> Result<Resp> {
        Ok(self.plugin.client.call(method, req).await?)
    }
}

fn from_plugin(plugin: &Plugin, v: PluginVolume) -> DriverVolume {
    DriverVolume {
        name: v.name,
        mountpoint: plugin.host_path(&v.mountpoint),
        created_at: (!v.created_at.is_empty()).then_some(v.created_at),
        status: v.status,
    }
}

#[async_trait]
impl VolumeDriver for VolumePluginDriver {
    fn name(&self) -> &str {
        self.plugin.name()
    }

    async fn create(&self, name: &str, opts: &BTreeMap<String, String>) -> Result<()> {
        let req = CreateRequest {
            name: name.to_string(),
            opts: opts.clone(),
        };
        let _: ErrResponse = self.call("VolumeDriver.Create", &req).await?;
        Ok(())
    }

    async fn remove(&self, name: &str) -> Result<()> {
        let req = NameRequest {
            name: name.to_string(),
        };
        let _: ErrResponse = self.call("VolumeDriver.Remove", &req).await?;
        Ok(())
    }

    async fn mount(&self, name: &str, id: &str) -> Result<PathBuf> {
        let req = MountRequest {
            name: name.to_string(),
            id: id.to_string(),
        };
        let r: MountResponse = self.call("VolumeDriver.Mount", &req).await?;
        if r.mountpoint.is_empty() {
            return Err(berth_types::Error::internal(format!(
                "volume plugin \"{}\" mounted {name} but returned no mountpoint",
                self.name()
            )));
        }
        Ok(PathBuf::from(self.plugin.host_path(&r.mountpoint)))
    }

    async fn unmount(&self, name: &str, id: &str) -> Result<()> {
        let req = MountRequest {
            name: name.to_string(),
            id: id.to_string(),
        };
        let _: ErrResponse = self.call("VolumeDriver.Unmount", &req).await?;
        Ok(())
    }

    async fn path(&self, name: &str) -> Result<String> {
        let req = NameRequest {
            name: name.to_string(),
        };
        let r: MountResponse = self.call("VolumeDriver.Path", &req).await?;
        Ok(self.plugin.host_path(&r.mountpoint))
    }

    async fn get(&self, name: &str) -> Result<DriverVolume> {
        let req = NameRequest {
            name: name.to_string(),
        };
        let r: GetResponse = self.call("VolumeDriver.Get", &req).await?;
        match r.volume {
            Some(v) => Ok(from_plugin(&self.plugin, v)),
            None => Err(berth_types::Error::not_found(format!(
                "volume plugin \"{}\" has no volume {name}",
                self.name()
            ))),
        }
    }

    async fn list(&self) -> Result<Vec<DriverVolume>> {
        let r: ListResponse = self
            .call("VolumeDriver.List", &serde_json::json!({}))
            .await?;
        Ok(r.volumes
            .into_iter()
            .map(|v| from_plugin(&self.plugin, v))
            .collect())
    }

    async fn scope(&self) -> Result<Scope> {
        if let Some(s) = self.scope.get() {
            return Ok(*s);
        }
        // A plugin that does not implement Capabilities is local-scoped.
        let s = match self
            .plugin
            .client
            .call::<_, CapabilitiesResponse>("VolumeDriver.Capabilities", &serde_json::json!({}))
            .await
        {
            Ok(c) => Scope::parse(&c.capabilities.scope),
            Err(crate::Error::NotImplements(..)) => Scope::Local,
            Err(e) => return Err(e.into()),
        };
        let _ = self.scope.set(s);
        Ok(s)
    }
}

impl VolumePluginDriver {
    /// Whether this proxy talks to exactly this activation of the plugin.
    pub fn is_for(&self, plugin: &Arc<Plugin>) -> bool {
        Arc::ptr_eq(&self.plugin, plugin)
    }
}
