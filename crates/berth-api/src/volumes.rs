//! `/volumes`: create, list, inspect, remove, prune. The handlers parse;
//! the [`VolumeBackend`] does the work.

use crate::error::ApiResult;
use crate::query::{bool_param, filters_param, Query};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_core::Filters;
use berth_types::volume::{Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};
use berth_types::{Error, Result};
use std::sync::Arc;

#[async_trait::async_trait]
pub trait VolumeBackend: Send + Sync + 'static {
    async fn create(&self, req: VolumeCreateRequest) -> Result<Volume>;
    async fn list(&self, filters: Filters) -> Result<VolumeListResponse>;
    async fn inspect(&self, name: &str) -> Result<Volume>;
    async fn remove(&self, name: &str, force: bool) -> Result<()>;
    async fn prune(&self, filters: Filters) -> Result<VolumePruneResponse>;
}

type B = Arc<dyn VolumeBackend>;

pub fn routes(backend: Arc<dyn VolumeBackend>) -> Router {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove).put(update))
        .with_state(backend)
}

/// Parses the body of `POST /volumes/create`; an empty body is all defaults.
pub fn parse_create(body: &[u8]) -> Result<VolumeCreateRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(VolumeCreateRequest::default());
    }
    serde_json::from_slice(body).map_err(|e| Error::invalid(format!("invalid JSON: {e}")))
}

async fn create(State(b): State<B>, body: Bytes) -> ApiResult<Response> {
    let req = parse_create(&body)?;
    if req.cluster_volume_spec.is_some() {
        return Err(Error::not_implemented("cluster volumes are not supported").into());
    }
    let v = b.create(req).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn list(
    State(b): State<B>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<Json<VolumeListResponse>> {
    Ok(Json(b.list(filters_param(&q)?).await?))
}

async fn inspect(State(b): State<B>, Path(name): Path<String>) -> ApiResult<Json<Volume>> {
    Ok(Json(b.inspect(&name).await?))
}

async fn remove(
    State(b): State<B>,
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<StatusCode> {
    b.remove(&name, bool_param(&q, "force")).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn update(Path(_name): Path<String>) -> ApiResult<StatusCode> {
    Err(Error::not_implemented("volume update is only supported for cluster volumes").into())
}

async fn prune(
    State(b): State<B>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<Json<VolumePruneResponse>> {
    Ok(Json(b.prune(filters_param(&q)?).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_create_bodies() {
        assert_eq!(parse_create(b"").unwrap(), VolumeCreateRequest::default());
        let r =
            parse_create(br#"{"Name":"v1","Driver":"no-remove","DriverOpts":{"type":"tmpfs"}}"#)
                .unwrap();
        assert_eq!(r.name, "v1");
        assert_eq!(r.driver, "no-remove");
        assert_eq!(r.driver_opts["type"], "tmpfs");
        assert_eq!(
            parse_create(b"{bad").unwrap_err().kind,
            berth_types::ErrorKind::InvalidParameter
        );
    }
}
