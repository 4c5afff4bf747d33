//! `/_ping`, `/version` and `/info`.

use crate::error::ApiResult;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use berth_types::system::{Info, Version, API_VERSION};
use std::sync::Arc;

/// What the system routes need from the daemon.
pub trait SystemBackend: Send + Sync + 'static {
    /// `GET /version`; cheap, usually a clone of a value built at start-up.
    fn version(&self) -> Version;
    /// `GET /info`, with live counts.
    fn info(&self) -> ApiResult<Info>;
    /// `GET /system/df`: LayersSize, Images, Containers, Volumes, BuildCache.
    fn disk_usage(&self) -> ApiResult<serde_json::Value>;
    /// Whether the daemon runs with `--experimental`.
    fn experimental(&self) -> bool {
        false
    }
}

pub fn routes(backend: Arc<dyn SystemBackend>) -> Router {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/system/df", get(disk_usage))
        .with_state(backend)
}

fn ping_headers(experimental: bool) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert(
        "Docker-Experimental",
        HeaderValue::from_static(if experimental { "true" } else { "false" }),
    );
    // berth has no BuildKit; "1" tells clients to use the classic builder API.
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h
}

async fn ping(State(b): State<Arc<dyn SystemBackend>>, method: axum::http::Method) -> Response {
    let headers = ping_headers(b.experimental());
    if method == axum::http::Method::HEAD {
        // HEAD answers with the headers and a zero length, as dockerd does.
        let mut r = (headers, "").into_response();
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        r
    } else {
        (headers, "OK").into_response()
    }
}

async fn version(State(b): State<Arc<dyn SystemBackend>>) -> Json<Version> {
    Json(b.version())
}

async fn disk_usage(State(b): State<Arc<dyn SystemBackend>>) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(b.disk_usage()?))
}

async fn info(State(b): State<Arc<dyn SystemBackend>>) -> ApiResult<Json<Info>> {
    Ok(Json(b.info()?))
}
