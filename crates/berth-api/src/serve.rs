//! The outer layer every request passes through, and the accept loops for
//! unix, TCP and TLS listeners.
//!
//! Before routing: the `/v1.NN` prefix is checked and stripped, and the
//! version is put in the request's extensions. After routing: any error
//! response that is not already JSON (axum's own rejections, say) is rewritten
//! as `{"message": ...}`, so no error ever leaves in another shape.

use crate::error::error_response;
use crate::version::{split_prefix, ApiVersion, Prefix};
use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, Response, StatusCode, Uri};
use axum::Router;
use berth_types::Error;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tower::ServiceExt;

/// Who is on the other end of a connection; handlers and the authorization
/// hook read it from the request's extensions.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    /// The DER of the client's TLS certificate, when it presented one.
    pub peer_cert: Option<Arc<Vec<u8>>>,
    /// "unix", "tcp" or "tls".
    pub transport: &'static str,
}

/// The whole API as one cloneable service.
#[derive(Clone)]
pub struct App {
    router: Router,
    authz: Option<Arc<crate::authz::Authz>>,
    identity: Option<crate::headers::Identity>,
}

impl App {
    pub fn new(routes: Router) -> Self {
        let router = routes
            .fallback(not_found)
            .method_not_allowed_fallback(not_found);
        App {
            router,
            authz: None,
            identity: None,
        }
    }

    /// Names the daemon in every response (`Server`, `Docker-Experimental`).
    pub fn with_identity(mut self, identity: crate::headers::Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Puts every request through the authorization plugins of `authz`.
    pub fn with_authz(mut self, authz: Arc<crate::authz::Authz>) -> Self {
        self.authz = Some(authz);
        self
    }

    pub fn authz(&self) -> Option<&Arc<crate::authz::Authz>> {
        self.authz.as_ref()
    }

    /// Handles one request end to end; every response, an error or an
    /// authorization denial too, carries dockerd's common headers.
    pub async fn handle(&self, req: Request<Body>) -> Response<Body> {
        let mut resp = self.authorize_and_route(req).await;
        crate::headers::add_common(resp.headers_mut(), self.identity.as_ref());
        resp
    }

    async fn authorize_and_route(&self, req: Request<Body>) -> Response<Body> {
        if let Some(a) = &self.authz {
            if let Some(chain) = a.chain() {
                return a.handle(chain, req, |r| self.route(r)).await;
            }
        }
        self.route(req).await
    }

    async fn route(&self, mut req: Request<Body>) -> Response<Body> {
        let version = match split_prefix(req.uri().path()) {
            Ok(Prefix::None) => ApiVersion::max(),
            Ok(Prefix::Versioned(v, rest)) => {
                let rest = rest.to_string();
                match rewrite_path(req.uri(), &rest) {
                    Some(uri) => *req.uri_mut() = uri,
                    None => return error_response(&Error::invalid("invalid request path")),
                }
                v
            }
            Err(e) => return error_response(&e),
        };
        req.extensions_mut().insert(version);
        let req = match read_small_body(req).await {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        let resp = match self.router.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        json_errors(resp).await
    }
}

/// Bodies up to this size are read before routing.
const SMALL_BODY: u64 = 64 * 1024;

/// Reads a small declared body in full before the handler runs. A handler
/// that answers without reading its body (an error, a route that takes
/// none) would otherwise leave unread bytes behind, and closing a unix
/// socket with unread bytes resets it: the client could lose the answer.
async fn read_small_body(req: Request<Body>) -> Result<Request<Body>, Response<Body>> {
    let len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match len {
        Some(n) if n > 0 && n <= SMALL_BODY => {
            let (parts, body) = req.into_parts();
            match axum::body::to_bytes(body, SMALL_BODY as usize).await {
                Ok(b) => Ok(Request::from_parts(parts, Body::from(b))),
                Err(e) => Err(error_response(&Error::invalid(format!(
                    "reading the request body: {e}"
                )))),
            }
        }
        _ => Ok(req),
    }
}

/// How much of an unserved request's body is read (and dropped) before
/// the answer, so that a client still uploading (`docker build` sends its
/// context first) reads the error instead of a broken pipe.
const UNSERVED_DRAIN: usize = 256 << 20;

/// No route served the request: a route of the Engine API that berth lacks
/// says so (see [`crate::unserved`]); anything else is dockerd's 404.
pub(crate) async fn not_found(method: Method, uri: Uri, body: Body) -> Response<Body> {
    let mut body = body;
    let mut read = 0usize;
    while read < UNSERVED_DRAIN {
        match body.frame().await {
            Some(Ok(f)) => read += f.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
    }
    match crate::unserved::answer(method.as_str(), uri.path()) {
        Some(e) => error_response(&e),
        None => error_response(&Error::not_found("page not found")),
    }
}

fn rewrite_path(uri: &Uri, path: &str) -> Option<Uri> {
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// Rewrites a non-JSON error response (e.g. an axum rejection) as dockerd's
/// `{"message": ...}` with the same status.
async fn json_errors(resp: Response<Body>) -> Response<Body> {
    let status = resp.status();
    if status.as_u16() < 400 {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = match tokio::time::timeout(Duration::from_secs(5), body.collect()).await {
        Ok(Ok(c)) => String::from_utf8_lossy(&c.to_bytes()).trim().to_string(),
        _ => String::new(),
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
    } else {
        text
    };
    let body =
        serde_json::to_vec(&berth_types::error::ErrorResponse { message }).unwrap_or_default();
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = if parts.status == StatusCode::METHOD_NOT_ALLOWED {
        StatusCode::NOT_FOUND
    } else {
        parts.status
    };
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    out
}

/// One listening endpoint.
pub enum Endpoint {
    Unix(UnixListener),
    Tcp(TcpListener),
    Tls(TcpListener, tokio_rustls::TlsAcceptor),
}

/// How long open connections (event streams, attach) get after a shutdown
/// signal before they are cut.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Serves `app` on every endpoint until `shutdown` turns true, then stops
/// accepting, lets in-flight requests finish within [`SHUTDOWN_GRACE`], and
/// returns.
pub async fn serve(app: App, endpoints: Vec<Endpoint>, mut shutdown: watch::Receiver<bool>) {
    let conns = tokio_util::task::TaskTracker::new();
    let mut tasks = tokio::task::JoinSet::new();
    for ep in endpoints {
        let app = app.clone();
        let conns = conns.clone();
        let mut stop = shutdown.clone();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    conn = accept(&ep) => match conn {
                        Ok(io) => {
                            let app = app.clone();
                            let stop = stop.clone();
                            conns.spawn(async move {
                                match io.await {
                                    Ok(stream) => serve_conn(app, stream, stop).await,
                                    Err(e) => tracing::debug!("TLS handshake failed: {e}"),
                                }
                            });
                        }
                        Err(e) => {
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            }
        });
    }
    let _ = shutdown.wait_for(|v| *v).await;
    while tasks.join_next().await.is_some() {}
    conns.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, conns.wait())
        .await
        .is_err()
    {
        tracing::info!("cutting connections still open after the grace period");
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

type Handshake = std::pin::Pin<
    Box<dyn std::future::Future<Output = std::io::Result<(Box<dyn Io>, ConnInfo)>> + Send>,
>;

async fn accept(ep: &Endpoint) -> std::io::Result<Handshake> {
    match ep {
        Endpoint::Unix(l) => {
            let (s, _) = l.accept().await?;
            let info = ConnInfo {
                peer_cert: None,
                transport: "unix",
            };
            let fut: Handshake = Box::pin(async move { Ok((Box::new(s) as Box<dyn Io>, info)) });
            Ok(fut)
        }
        Endpoint::Tcp(l) => {
            let (s, _) = l.accept().await?;
            let _ = s.set_nodelay(true);
            let info = ConnInfo {
                peer_cert: None,
                transport: "tcp",
            };
            let fut: Handshake = Box::pin(async move { Ok((Box::new(s) as Box<dyn Io>, info)) });
            Ok(fut)
        }
        Endpoint::Tls(l, acceptor) => {
            let (s, _) = l.accept().await?;
            let _ = s.set_nodelay(true);
            let acceptor = acceptor.clone();
            let fut: Handshake = Box::pin(async move {
                let tls = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(s))
                    .await
                    .map_err(|_| std::io::Error::other("TLS handshake timed out"))??;
                let peer_cert = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| Arc::new(c.as_ref().to_vec()));
                let info = ConnInfo {
                    peer_cert,
                    transport: "tls",
                };
                Ok((Box::new(tls) as Box<dyn Io>, info))
            });
            Ok(fut)
        }
    }
}

async fn serve_conn(
    app: App,
    (io, info): (Box<dyn Io>, ConnInfo),
    mut stop: watch::Receiver<bool>,
) {
    let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let app = app.clone();
        let info = info.clone();
        async move {
            let (mut parts, body) = req.into_parts();
            parts.extensions.insert(info);
            let resp = app
                .handle(Request::from_parts(parts, Body::new(body)))
                .await;
            Ok::<_, Infallible>(resp)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades();
    tokio::pin!(conn);
    let res = tokio::select! {
        r = conn.as_mut() => r,
        _ = async { let _ = stop.wait_for(|v| *v).await; } => {
            // Finish the request in flight, then close; streams are cut by
            // the caller's grace timeout.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = res {
        tracing::debug!("connection ended: {e}");
    }
}
