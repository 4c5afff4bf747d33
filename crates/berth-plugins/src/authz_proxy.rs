//! An authorization plugin behind berth-core's [`AuthzDriver`] trait: each
//! method is one `AuthZPlugin.*` call of Docker's authorization protocol.

use crate::registry::Plugin;
use async_trait::async_trait;
use berth_core::authz::AuthzDriver;
use berth_types::authz::{Request, Response, AUTHZ_REQ, AUTHZ_RES};
use berth_types::Result;
use std::sync::Arc;

pub struct AuthzPluginDriver {
    name: String,
    plugin: Arc<Plugin>,
}

impl AuthzPluginDriver {
    /// The plugin `plugin`, configured in the chain as `name`.
    pub fn new(name: &str, plugin: Arc<Plugin>) -> Self {
        AuthzPluginDriver {
            name: name.to_string(),
            plugin,
        }
    }
}

#[async_trait]
impl AuthzDriver for AuthzPluginDriver {
    fn name(&self) -> &str {
        &self.name
    }

    async fn authz_req(&self, req: &Request) -> Result<Response> {
        Ok(self.plugin.client.call(AUTHZ_REQ, req).await?)
    }

    async fn authz_res(&self, req: &Request) -> Result<Response> {
        Ok(self.plugin.client.call(AUTHZ_RES, req).await?)
    }
}
