//! Adapter from the plugin manager to berth-api's `/plugins` routes.

use super::Plugins;
use berth_api::plugins::PluginBackend;
use berth_core::Filters;
use berth_types::plugin::{Plugin, PluginPrivilege};
use berth_types::Result;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

struct Backend(Arc<Plugins>);

#[async_trait::async_trait]
impl PluginBackend for Backend {
    async fn list(&self, filters: Filters) -> Result<Vec<Plugin>> {
        self.0.list(&filters)
    }
    async fn inspect(&self, name: &str) -> Result<Plugin> {
        self.0.inspect(name)
    }
    fn create(&self, name: &str, tar: &mut dyn Read) -> Result<()> {
        self.0.create(name, tar)
    }
    async fn enable(&self, name: &str, timeout: Duration) -> Result<()> {
        self.0.enable(name, timeout).await
    }
    async fn disable(&self, name: &str, force: bool) -> Result<()> {
        self.0.disable(name, force).await
    }
    async fn set(&self, name: &str, args: Vec<String>) -> Result<()> {
        self.0.set(name, &args).await
    }
    async fn remove(&self, name: &str, force: bool) -> Result<()> {
        self.0.remove(name, force).await
    }
    async fn privileges(&self, remote: &str) -> Result<Vec<PluginPrivilege>> {
        self.0.privileges(remote)
    }
}

/// The `/plugins` routes over `plugins` (which publishes its own events).
pub fn routes(plugins: Arc<Plugins>) -> axum::Router {
    berth_api::plugins::routes(Arc::new(Backend(plugins)))
}
