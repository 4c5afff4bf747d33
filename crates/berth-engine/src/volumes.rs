//! Adapter from berth-plugins' volume store to berth-api's `/volumes` routes.

use berth_api::volumes::VolumeBackend;
use berth_core::Filters;
use berth_plugins::{CreateOptions, VolumeStore};
use berth_types::volume::{Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};
use berth_types::Result;
use std::sync::Arc;

struct Backend(Arc<VolumeStore>);

#[async_trait::async_trait]
impl VolumeBackend for Backend {
    async fn create(&self, req: VolumeCreateRequest) -> Result<Volume> {
        self.0
            .create(CreateOptions {
                name: req.name,
                driver: req.driver,
                driver_opts: req.driver_opts,
                labels: req.labels,
            })
            .await
    }
    async fn list(&self, filters: Filters) -> Result<VolumeListResponse> {
        let (volumes, warnings) = self.0.list(&filters).await?;
        Ok(VolumeListResponse { volumes, warnings })
    }
    async fn inspect(&self, name: &str) -> Result<Volume> {
        self.0.inspect(name).await
    }
    async fn remove(&self, name: &str, force: bool) -> Result<()> {
        self.0.remove(name, force).await
    }
    async fn prune(&self, filters: Filters) -> Result<VolumePruneResponse> {
        let (volumes_deleted, space_reclaimed) = self.0.prune(&filters).await?;
        Ok(VolumePruneResponse {
            volumes_deleted,
            space_reclaimed,
        })
    }
}

/// The `/volumes` routes over `store` (which publishes its own events).
pub fn routes(store: Arc<VolumeStore>) -> axum::Router {
    berth_api::volumes::routes(Arc::new(Backend(store)))
}
