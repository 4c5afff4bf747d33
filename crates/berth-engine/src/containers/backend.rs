//! The API's view of the container service.

use super::Containers;
use berth_api::containers::*;
use berth_api::version::ApiVersion;
use berth_core::Filters;
use berth_types::container::{
    ContainerCreateRequest, ContainerCreateResponse, ContainerJson, ContainerSummary,
};
use berth_types::Result;
use std::sync::Arc;

pub struct Backend(pub Arc<Containers>);

#[async_trait::async_trait]
impl ContainerBackend for Backend {
    async fn create(
        &self,
        name: Option<String>,
        req: ContainerCreateRequest,
        version: ApiVersion,
    ) -> Result<ContainerCreateResponse> {
        self.0.create(name, req, version).await
    }
    async fn list(&self, opts: ListOptions) -> Result<Vec<ContainerSummary>> {
        self.0.list(opts).await
    }
    async fn inspect(&self, id: &str, size: bool) -> Result<ContainerJson> {
        self.0.inspect(id, size).await
    }
    async fn start(&self, id: &str) -> Result<Changed> {
        self.0.start(id).await
    }
    async fn stop(
        &self,
        id: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<Changed> {
        self.0.stop(id, signal, timeout).await
    }
    async fn kill(&self, id: &str, signal: Option<String>) -> Result<()> {
        self.0.kill(id, signal).await
    }
    async fn restart(&self, id: &str, signal: Option<String>, timeout: Option<i64>) -> Result<()> {
        self.0.restart(id, signal, timeout).await
    }
    async fn wait(&self, id: &str, condition: WaitCondition) -> Result<WaitFuture> {
        self.0.wait(id, condition).await
    }
    async fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        self.0.remove(id, force, volumes).await
    }
    async fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        self.0.rename(id, new_name).await
    }
    async fn pause(&self, id: &str) -> Result<()> {
        self.0.pause(id).await
    }
    async fn unpause(&self, id: &str) -> Result<()> {
        self.0.unpause(id).await
    }
    async fn prune(&self, filters: Filters) -> Result<PruneReport> {
        self.0.prune(filters).await
    }
    async fn attach(&self, id: &str, opts: AttachOptions) -> Result<AttachSession> {
        self.0.attach(id, opts).await
    }
    async fn logs(&self, id: &str, opts: LogsOptions) -> Result<LogStream> {
        self.0.logs(id, opts).await
    }
    async fn resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        self.0.resize(id, height, width).await
    }
}

pub fn routes(c: Arc<Containers>) -> axum::Router {
    berth_api::containers::routes(Arc::new(Backend(c)))
}
