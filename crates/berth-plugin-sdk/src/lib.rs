//! berth-plugin-sdk: serve a Docker plugin (volume, network, IPAM,
//! authorization) on a unix socket in a few lines. Implement a handler
//! trait, register it, serve:
//!
//! ```no_run
//! # use berth_plugin_sdk::*;
//! # struct MyDriver;
//! # #[async_trait::async_trait]
//! # impl VolumeHandler for MyDriver {
//! #   async fn create(&self, _: CreateRequest) -> HResult<()> { Ok(()) }
//! #   async fn remove(&self, _: NameRequest) -> HResult<()> { Ok(()) }
//! #   async fn mount(&self, _: MountRequest) -> HResult<String> { Ok("/x".into()) }
//! #   async fn unmount(&self, _: MountRequest) -> HResult<()> { Ok(()) }
//! #   async fn path(&self, _: NameRequest) -> HResult<String> { Ok(String::new()) }
//! #   async fn get(&self, _: NameRequest) -> HResult<PluginVolume> { Err("no".into()) }
//! #   async fn list(&self) -> HResult<Vec<PluginVolume>> { Ok(vec![]) }
//! # }
//! # async fn f() -> std::io::Result<()> {
//! PluginServer::new()
//!     .volume(MyDriver)
//!     .serve_unix("/run/docker/plugins/my.sock")
//!     .await
//! # }
//! ```
//!
//! Answers use Docker's plugin content type; a handler's `Err(message)`
//! becomes a 500 with `{"Err": message}`, as Docker's own helpers answer.
//! `serve_unix` stops on SIGTERM or SIGINT and removes its socket.

use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, MethodRouter};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

pub use async_trait::async_trait;
pub use berth_types::volume::plugin::{
    Capability, CreateRequest, MountRequest, NameRequest, PluginVolume,
};
pub use berth_types::volume::{authz, ipam, network, PLUGIN_CONTENT_TYPE};

/// A handler's answer: a value or the message Docker shows the user.
pub type HResult<T> = std::result::Result<T, String>;

/// A volume plugin (`VolumeDriver.*`).
#[async_trait]
pub trait VolumeHandler: Send + Sync + 'static {
    async fn create(&self, req: CreateRequest) -> HResult<()>;
    async fn remove(&self, req: NameRequest) -> HResult<()>;
    /// Returns the host path of the mounted volume.
    async fn mount(&self, req: MountRequest) -> HResult<String>;
    async fn unmount(&self, req: MountRequest) -> HResult<()>;
    /// Returns the host path, empty when not mounted.
    async fn path(&self, req: NameRequest) -> HResult<String>;
    async fn get(&self, req: NameRequest) -> HResult<PluginVolume>;
    async fn list(&self) -> HResult<Vec<PluginVolume>>;
    /// `local` unless overridden.
    fn capabilities(&self) -> Capability {
        Capability {
            scope: "local".into(),
        }
    }
}

/// An authorization plugin (`AuthZPlugin.*`).
#[async_trait]
pub trait AuthzHandler: Send + Sync + 'static {
    async fn authz_req(&self, req: authz::Request) -> authz::Response;
    async fn authz_res(&self, req: authz::Request) -> authz::Response;
}

/// An IPAM plugin (`IpamDriver.*`).
#[async_trait]
pub trait IpamHandler: Send + Sync + 'static {
    fn capabilities(&self) -> ipam::CapabilitiesResponse {
        ipam::CapabilitiesResponse::default()
    }
    async fn default_address_spaces(&self) -> HResult<ipam::AddressSpacesResponse>;
    async fn request_pool(
        &self,
        req: ipam::RequestPoolRequest,
    ) -> HResult<ipam::RequestPoolResponse>;
    async fn release_pool(&self, req: ipam::ReleasePoolRequest) -> HResult<()>;
    async fn request_address(
        &self,
        req: ipam::RequestAddressRequest,
    ) -> HResult<ipam::RequestAddressResponse>;
    async fn release_address(&self, req: ipam::ReleaseAddressRequest) -> HResult<()>;
}

/// A network plugin (`NetworkDriver.*`). Optional methods answer success.
#[async_trait]
pub trait NetworkHandler: Send + Sync + 'static {
    fn capabilities(&self) -> network::CapabilitiesResponse {
        network::CapabilitiesResponse {
            scope: "local".into(),
            connectivity_scope: String::new(),
        }
    }
    async fn create_network(&self, req: network::CreateNetworkRequest) -> HResult<()>;
    async fn delete_network(&self, req: network::DeleteNetworkRequest) -> HResult<()>;
    async fn create_endpoint(
        &self,
        req: network::CreateEndpointRequest,
    ) -> HResult<network::CreateEndpointResponse>;
    async fn delete_endpoint(&self, req: network::EndpointRequest) -> HResult<()>;
    async fn join(&self, req: network::JoinRequest) -> HResult<network::JoinResponse>;
    async fn leave(&self, req: network::EndpointRequest) -> HResult<()>;
    async fn endpoint_info(
        &self,
        _req: network::EndpointRequest,
    ) -> HResult<network::EndpointInfoResponse> {
        Ok(Default::default())
    }
}

#[derive(Serialize)]
struct ErrBody<'a> {
    #[serde(rename = "Err")]
    err: &'a str,
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, PLUGIN_CONTENT_TYPE)], body).into_response()
}

fn reply<T: Serialize>(r: HResult<T>) -> Response {
    match r.and_then(|v| serde_json::to_vec(&v).map_err(|e| e.to_string())) {
        Ok(b) => json_response(StatusCode::OK, b),
        Err(msg) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::to_vec(&ErrBody { err: &msg }).unwrap_or_default(),
        ),
    }
}

fn parse<Req: DeserializeOwned>(body: &[u8]) -> HResult<Req> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| format!("invalid request: {e}"))
}

/// One `POST /Subsystem.Method` route: decode, call, encode.
fn endpoint<H, Req, T, F, Fut>(h: Arc<H>, f: F) -> MethodRouter
where
    H: ?Sized + Send + Sync + 'static,
    Req: DeserializeOwned + Send + 'static,
    T: Serialize,
    F: Fn(Arc<H>, Req) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = HResult<T>> + Send + 'static,
{
    post(move |body: Bytes| {
        let (h, f) = (h.clone(), f.clone());
        async move {
            match parse::<Req>(&body) {
                Ok(req) => reply(f(h, req).await),
                Err(e) => reply::<()>(Err(e)),
            }
        }
    })
}

#[derive(Serialize, Default)]
struct ErrOnly {
    #[serde(rename = "Err")]
    err: String,
}

fn unit(r: HResult<()>) -> HResult<ErrOnly> {
    r.map(|()| ErrOnly::default())
}

#[derive(serde::Deserialize, Default)]
struct Empty {}

/// A plugin: one or more handlers on one socket.
#[derive(Default)]
pub struct PluginServer {
    router: Router,
    implements: Vec<&'static str>,
}

impl PluginServer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn volume<H: VolumeHandler>(mut self, h: H) -> Self {
        let h = Arc::new(h);
        self.implements.push("VolumeDriver");
        self.router = self
            .router
            .route(
                "/VolumeDriver.Create",
                endpoint(h.clone(), |h, r: CreateRequest| async move {
                    unit(h.create(r).await)
                }),
            )
            .route(
                "/VolumeDriver.Remove",
                endpoint(h.clone(), |h, r: NameRequest| async move {
                    unit(h.remove(r).await)
                }),
            )
            .route(
                "/VolumeDriver.Mount",
                endpoint(h.clone(), |h, r: MountRequest| async move {
                    h.mount(r)
                        .await
                        .map(|m| serde_json::json!({"Mountpoint": m, "Err": ""}))
                }),
            )
            .route(
                "/VolumeDriver.Unmount",
                endpoint(h.clone(), |h, r: MountRequest| async move {
                    unit(h.unmount(r).await)
                }),
            )
            .route(
                "/VolumeDriver.Path",
                endpoint(h.clone(), |h, r: NameRequest| async move {
                    h.path(r)
                        .await
                        .map(|m| serde_json::json!({"Mountpoint": m, "Err": ""}))
                }),
            )
            .route(
                "/VolumeDriver.Get",
                endpoint(h.clone(), |h, r: NameRequest| async move {
                    h.get(r)
                        .await
                        .map(|v| serde_json::json!({"Volume": v, "Err": ""}))
                }),
            )
            .route(
                "/VolumeDriver.List",
                endpoint(h.clone(), |h, _: Empty| async move {
                    h.list()
                        .await
                        .map(|v| serde_json::json!({"Volumes": v, "Err": ""}))
                }),
            )
            .route(
                "/VolumeDriver.Capabilities",
                endpoint(h, |h, _: Empty| async move {
                    Ok(serde_json::json!({"Capabilities": h.capabilities()}))
                }),
            );
        self
    }

    pub fn authz<H: AuthzHandler>(mut self, h: H) -> Self {
        let h = Arc::new(h);
        self.implements.push("authz");
        self.router = self
            .router
            .route(
                "/AuthZPlugin.AuthZReq",
                endpoint(h.clone(), |h, r: authz::Request| async move {
                    Ok(h.authz_req(r).await)
                }),
            )
            .route(
                "/AuthZPlugin.AuthZRes",
                endpoint(
                    h,
                    |h, r: authz::Request| async move { Ok(h.authz_res(r).await) },
                ),
            );
        self
    }

    pub fn ipam<H: IpamHandler>(mut self, h: H) -> Self {
        let h = Arc::new(h);
        self.implements.push("IpamDriver");
        self.router = self
            .router
            .route(
                "/IpamDriver.GetCapabilities",
                endpoint(h.clone(), |h, _: Empty| async move { Ok(h.capabilities()) }),
            )
            .route(
                "/IpamDriver.GetDefaultAddressSpaces",
                endpoint(h.clone(), |h, _: Empty| async move {
                    h.default_address_spaces().await
                }),
            )
            .route(
                "/IpamDriver.RequestPool",
                endpoint(h.clone(), |h, r| async move { h.request_pool(r).await }),
            )
            .route(
                "/IpamDriver.ReleasePool",
                endpoint(
                    h.clone(),
                    |h, r| async move { unit(h.release_pool(r).await) },
                ),
            )
            .route(
                "/IpamDriver.RequestAddress",
                endpoint(h.clone(), |h, r| async move { h.request_address(r).await }),
            )
            .route(
                "/IpamDriver.ReleaseAddress",
                endpoint(h, |h, r| async move { unit(h.release_address(r).await) }),
            );
        self
    }

    pub fn network<H: NetworkHandler>(mut self, h: H) -> Self {
        let h = Arc::new(h);
        self.implements.push("NetworkDriver");
        let ok = |_: Arc<H>, _: serde_json::Value| async move { unit(Ok(())) };
        self.router = self
            .router
            .route(
                "/NetworkDriver.GetCapabilities",
                endpoint(h.clone(), |h, _: Empty| async move { Ok(h.capabilities()) }),
            )
            .route(
                "/NetworkDriver.CreateNetwork",
                endpoint(
                    h.clone(),
                    |h, r| async move { unit(h.create_network(r).await) },
                ),
            )
            .route(
                "/NetworkDriver.DeleteNetwork",
                endpoint(
                    h.clone(),
                    |h, r| async move { unit(h.delete_network(r).await) },
                ),
            )
            .route(
                "/NetworkDriver.CreateEndpoint",
                endpoint(h.clone(), |h, r| async move { h.create_endpoint(r).await }),
            )
            .route(
                "/NetworkDriver.DeleteEndpoint",
                endpoint(
                    h.clone(),
                    |h, r| async move { unit(h.delete_endpoint(r).await) },
                ),
            )
            .route(
                "/NetworkDriver.EndpointOperInfo",
                endpoint(h.clone(), |h, r| async move { h.endpoint_info(r).await }),
            )
            .route(
                "/NetworkDriver.Join",
                endpoint(h.clone(), |h, r| async move { h.join(r).await }),
            )
            .route(
                "/NetworkDriver.Leave",
                endpoint(h.clone(), |h, r| async move { unit(h.leave(r).await) }),
            );
        for m in [
            "AllocateNetwork",
            "FreeNetwork",
            "DiscoverNew",
            "DiscoverDelete",
            "ProgramExternalConnectivity",
            "RevokeExternalConnectivity",
        ] {
            self.router = self
                .router
                .route(&format!("/NetworkDriver.{m}"), endpoint(h.clone(), ok));
        }
        self
    }

    /// The router, `Plugin.Activate` included, for serving it yourself.
    pub fn into_router(self) -> Router {
        let implements = serde_json::json!({ "Implements": self.implements });
        self.router.route(
            "/Plugin.Activate",
            post(move || {
                let body = serde_json::to_vec(&implements).unwrap_or_default();
                async move { json_response(StatusCode::OK, body) }
            }),
        )
    }

    /// Serves on a unix socket at `path` (its directory is created, a stale
    /// socket replaced) until SIGTERM or SIGINT, then returns `Ok`. The
    /// socket file is removed whenever this returns (or unwinds), so a
    /// stopped plugin leaves nothing in `/run/docker/plugins`.
    ///
    /// The signals are handled, not left to their default action: a plugin
    /// is often its container's PID 1, which the kernel never kills with a
    /// signal it does not handle, so a plugin that did not handle SIGTERM
    /// would make whoever stops it wait for its SIGKILL.
    pub async fn serve_unix(self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let stop = stop_signal()?;
        self.serve_unix_until(path, stop).await
    }

    /// Like [`serve_unix`](Self::serve_unix), but stops when `stop`
    /// completes instead of on a signal.
    pub async fn serve_unix_until(
        self,
        path: impl AsRef<Path>,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let path = path.as_ref();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path)?;
        let _socket = SocketFile::new(path);
        self.serve_until(listener, stop).await
    }

    /// Serves on a listener you bound, until the process ends.
    pub async fn serve(self, listener: tokio::net::UnixListener) -> std::io::Result<()> {
        axum::serve(listener, self.into_router()).await
    }

    /// Serves on a listener you bound until `stop` completes; calls under
    /// way then get up to [`DRAIN`] to finish.
    pub async fn serve_until(
        self,
        listener: tokio::net::UnixListener,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stopped = Arc::new(tokio::sync::Notify::new());
        let s2 = stopped.clone();
        let server = axum::serve(listener, self.into_router()).with_graceful_shutdown(async move {
            stop.await;
            s2.notify_one();
        });
        tokio::select! {
            r = server => r,
            () = async {
                stopped.notified().await;
                tokio::time::sleep(DRAIN).await;
            } => {
                tracing::warn!("calls still running {DRAIN:?} after the stop signal; stopping anyway");
                Ok(())
            }
        }
    }
}

/// How long calls under way get to finish once the plugin is told to stop.
pub const DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Completes on the first SIGTERM or SIGINT. The handlers are installed
/// when this is called, not when it is first polled.
pub fn stop_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = int.recv() => tracing::info!("SIGINT: stopping"),
        }
    })
}

/// The socket this process bound, removed on drop if it is still the
/// same file (a newer instance may have replaced it meanwhile).
struct SocketFile {
    path: std::path::PathBuf,
    id: Option<(u64, u64)>,
}

impl SocketFile {
    fn new(path: &Path) -> SocketFile {
        SocketFile {
            path: path.to_path_buf(),
            id: file_id(path),
        }
    }
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if self.id.is_some() && file_id(&self.path) == self.id {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
