//! The API's authorization plugins, called through the daemon's plugin
//! registry (legacy plugins found on disk; managed ones once registered).

use berth_api::authz::{Authz, AuthzCaller};
use berth_types::authz;
use std::sync::Arc;

struct RegistryCaller(Arc<berth_plugins::Registry>);

#[async_trait::async_trait]
impl AuthzCaller for RegistryCaller {
    async fn call(
        &self,
        plugin: &str,
        method: &str,
        req: &authz::Request,
    ) -> Result<authz::Response, String> {
        let p = self
            .0
            .get(plugin, authz::IMPLEMENTS)
            .await
            .map_err(|e| e.to_string())?;
        p.client.call(method, req).await.map_err(|e| e.to_string())
    }
}

/// The authorization chain over `registry`, starting with `names`.
pub fn chain(registry: Arc<berth_plugins::Registry>, names: Vec<String>) -> Arc<Authz> {
    Authz::new(Arc::new(RegistryCaller(registry)), names)
}
