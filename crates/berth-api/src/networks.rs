//! `/networks/...`: list, inspect, create, remove, connect, disconnect and
//! prune. The handlers parse and frame; the [`NetworkBackend`] does the
//! work.

use crate::error::ApiResult;
use crate::query::{filters_param, Query};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_core::Filters;
use berth_types::network::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkPruneResponse, NetworkResource,
};
use berth_types::{Error, ErrorKind, Result};
use std::sync::Arc;

/// The filters `GET /networks` accepts.
pub const LIST_FILTERS: &[&str] = &["dangling", "driver", "id", "label", "name", "scope", "type"];
/// The filters `POST /networks/prune` accepts.
pub const PRUNE_FILTERS: &[&str] = &["label", "label!", "until"];

#[async_trait::async_trait]
pub trait NetworkBackend: Send + Sync + 'static {
    async fn list(&self, filters: Filters) -> Result<Vec<NetworkResource>>;
    async fn inspect(&self, id_or_name: &str) -> Result<NetworkResource>;
    async fn create(&self, req: NetworkCreateRequest) -> Result<NetworkCreateResponse>;
    async fn remove(&self, id_or_name: &str) -> Result<()>;
    async fn connect(&self, id_or_name: &str, req: NetworkConnectRequest) -> Result<()>;
    async fn disconnect(&self, id_or_name: &str, req: NetworkDisconnectRequest) -> Result<()>;
    async fn prune(&self, filters: Filters) -> Result<NetworkPruneResponse>;
}

type B = Arc<dyn NetworkBackend>;

pub fn routes(backend: B) -> Router {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
        .with_state(backend)
}

const BODY_LIMIT: usize = 1 << 20;

async fn read_body(body: Body) -> Result<Bytes> {
    axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|e| {
        if e.to_string().contains("length limit") {
            Error::new(
                ErrorKind::TooLarge,
                format!("request body is larger than {BODY_LIMIT} bytes"),
            )
        } else {
            Error::invalid(format!("reading the request body: {e}"))
        }
    })
}

fn json<T: serde::de::DeserializeOwned + Default>(data: &[u8]) -> Result<T> {
    if data.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    serde_json::from_slice(data).map_err(|e| Error::invalid(format!("invalid JSON: {e}")))
}

/// Parses and checks a create body as dockerd does before any work.
pub fn parse_create(data: &[u8]) -> Result<NetworkCreateRequest> {
    let req: NetworkCreateRequest = json(data)?;
    if req.name.trim().is_empty() {
        return Err(Error::invalid("network name is required"));
    }
    if let Some(ipam) = &req.ipam {
        for c in &ipam.config {
            if !c.gateway.is_empty() && c.subnet.is_empty() {
                return Err(Error::invalid(
                    "a gateway needs a subnet: pass --subnet too",
                ));
            }
            if !c.ip_range.is_empty() && c.subnet.is_empty() {
                return Err(Error::invalid(
                    "an ip-range needs a subnet: pass --subnet too",
                ));
            }
        }
    }
    Ok(req)
}

/// Parses a connect body; the container is required.
pub fn parse_connect(data: &[u8]) -> Result<NetworkConnectRequest> {
    let req: NetworkConnectRequest = json(data)?;
    if req.container.is_empty() {
        return Err(Error::invalid("a container name or id is required"));
    }
    Ok(req)
}

/// Parses a disconnect body; the container is required.
pub fn parse_disconnect(data: &[u8]) -> Result<NetworkDisconnectRequest> {
    let req: NetworkDisconnectRequest = json(data)?;
    if req.container.is_empty() {
        return Err(Error::invalid("a container name or id is required"));
    }
    Ok(req)
}

async fn list(
    State(b): State<B>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<Json<Vec<NetworkResource>>> {
    let f = filters_param(&q)?;
    f.validate(LIST_FILTERS)?;
    Ok(Json(b.list(f).await?))
}

async fn inspect(State(b): State<B>, Path(id): Path<String>) -> ApiResult<Json<NetworkResource>> {
    Ok(Json(b.inspect(&id).await?))
}

async fn create(State(b): State<B>, body: Body) -> ApiResult<Response> {
    let req = parse_create(&read_body(body).await?)?;
    let r = b.create(req).await?;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

async fn remove(State(b): State<B>, Path(id): Path<String>) -> ApiResult<Response> {
    b.remove(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn connect(State(b): State<B>, Path(id): Path<String>, body: Body) -> ApiResult<Response> {
    let req = parse_connect(&read_body(body).await?)?;
    b.connect(&id, req).await?;
    Ok(StatusCode::OK.into_response())
}

async fn disconnect(State(b): State<B>, Path(id): Path<String>, body: Body) -> ApiResult<Response> {
    let req = parse_disconnect(&read_body(body).await?)?;
    b.disconnect(&id, req).await?;
    Ok(StatusCode::OK.into_response())
}

async fn prune(
    State(b): State<B>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<Json<NetworkPruneResponse>> {
    let f = filters_param(&q)?;
    f.validate(PRUNE_FILTERS)?;
    Ok(Json(b.prune(f).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use std::sync::Mutex;
    use tower::ServiceExt;

    #[test]
    fn create_bodies() {
        let r = parse_create(
            br#"{"Name":"n","Driver":"bridge","IPAM":{"Config":[{"Subnet":"10.5.0.0/16"}]}}"#,
        )
        .unwrap();
        assert_eq!(r.name, "n");
        assert_eq!(
            parse_create(br#"{"Name":""}"#).unwrap_err().kind,
            ErrorKind::InvalidParameter
        );
        assert_eq!(
            parse_create(b"{").unwrap_err().kind,
            ErrorKind::InvalidParameter
        );
        assert!(
            parse_create(br#"{"Name":"n","IPAM":{"Config":[{"Gateway":"10.0.0.1"}]}}"#).is_err()
        );
        assert!(parse_connect(br#"{"EndpointConfig":{}}"#).is_err());
        let d = parse_disconnect(br#"{"Container":"c1","Force":true}"#).unwrap();
        assert!(d.force);
    }

    /// A backend that keeps networks in a list, so the routes can be
    /// exercised end to end without a kernel.
    #[derive(Default)]
    struct Fake {
        nets: Mutex<Vec<NetworkResource>>,
        connected: Mutex<Vec<(String, String)>>,
    }

    #[async_trait::async_trait]
    impl NetworkBackend for Fake {
        async fn list(&self, f: Filters) -> Result<Vec<NetworkResource>> {
            Ok(self
                .nets
                .lock()
                .unwrap()
                .iter()
                .filter(|n| f.any("name", |v| n.name.contains(v)))
                .cloned()
                .collect())
        }
        async fn inspect(&self, id: &str) -> Result<NetworkResource> {
            self.nets
                .lock()
                .unwrap()
                .iter()
                .find(|n| n.name == id || n.id == id)
                .cloned()
                .ok_or_else(|| Error::not_found(format!("network {id} not found")))
        }
        async fn create(&self, req: NetworkCreateRequest) -> Result<NetworkCreateResponse> {
            let mut n = self.nets.lock().unwrap();
            if n.iter().any(|x| x.name == req.name) {
                return Err(Error::conflict(format!(
                    "network with name {} already exists",
                    req.name
                )));
            }
            let id = format!("{:064}", n.len());
            n.push(NetworkResource {
                name: req.name,
                id: id.clone(),
                ..Default::default()
            });
            Ok(NetworkCreateResponse {
                id,
                warning: String::new(),
            })
        }
        async fn remove(&self, id: &str) -> Result<()> {
            let mut n = self.nets.lock().unwrap();
            let before = n.len();
            n.retain(|x| x.name != id && x.id != id);
            if n.len() == before {
                return Err(Error::not_found(format!("network {id} not found")));
            }
            Ok(())
        }
        async fn connect(&self, id: &str, req: NetworkConnectRequest) -> Result<()> {
            self.inspect(id).await?;
            self.connected
                .lock()
                .unwrap()
                .push((id.into(), req.container));
            Ok(())
        }
        async fn disconnect(&self, id: &str, req: NetworkDisconnectRequest) -> Result<()> {
            let mut c = self.connected.lock().unwrap();
            let before = c.len();
            c.retain(|(n, x)| !(n == id && *x == req.container));
            if c.len() == before {
                return Err(Error::forbidden(format!(
                    "container {} is not connected to network {id}",
                    req.container
                )));
            }
            Ok(())
        }
        async fn prune(&self, _f: Filters) -> Result<NetworkPruneResponse> {
            let names = self
                .nets
                .lock()
                .unwrap()
                .drain(..)
                .map(|n| n.name)
                .collect();
            Ok(NetworkPruneResponse {
                networks_deleted: names,
            })
        }
    }

    async fn call(
        app: &Router,
        method: &str,
        uri: &str,
        body: &str,
    ) -> (StatusCode, serde_json::Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn routes_and_statuses() {
        let app = routes(Arc::new(Fake::default()));
        let (s, v) = call(&app, "POST", "/networks/create", r#"{"Name":"n1"}"#).await;
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(v["Id"].as_str().unwrap().len(), 64);
        let (s, v) = call(&app, "POST", "/networks/create", r#"{"Name":"n1"}"#).await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert!(v["message"].as_str().unwrap().contains("already exists"));
        assert_eq!(
            call(&app, "POST", "/networks/create", r#"{"Name":""}"#)
                .await
                .0,
            StatusCode::BAD_REQUEST
        );
        let (s, v) = call(&app, "GET", "/networks", "").await;
        assert_eq!((s, v[0]["Name"].as_str()), (StatusCode::OK, Some("n1")));
        let (s, _) = call(
            &app,
            "GET",
            "/networks?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D",
            "",
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(
            call(&app, "GET", "/networks/n1", "").await.0,
            StatusCode::OK
        );
        assert_eq!(
            call(&app, "GET", "/networks/nope", "").await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&app, "POST", "/networks/n1/connect", r#"{"Container":"c"}"#)
                .await
                .0,
            StatusCode::OK
        );
        assert_eq!(
            call(&app, "POST", "/networks/n1/connect", r#"{}"#).await.0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            call(
                &app,
                "POST",
                "/networks/n1/disconnect",
                r#"{"Container":"c"}"#
            )
            .await
            .0,
            StatusCode::OK
        );
        assert_eq!(
            call(
                &app,
                "POST",
                "/networks/n1/disconnect",
                r#"{"Container":"c"}"#
            )
            .await
            .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            call(&app, "DELETE", "/networks/n1", "").await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            call(&app, "DELETE", "/networks/n1", "").await.0,
            StatusCode::NOT_FOUND
        );
        call(&app, "POST", "/networks/create", r#"{"Name":"n2"}"#).await;
        let (s, v) = call(&app, "POST", "/networks/prune", "").await;
        assert_eq!(
            (s, v["NetworksDeleted"][0].as_str()),
            (StatusCode::OK, Some("n2"))
        );
    }
}
