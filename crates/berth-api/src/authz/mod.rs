//! The authorization layer: every request, `/_ping` and hijacked streams
//! included, is put to each configured authorization plugin in order
//! (`AuthZPlugin.AuthZReq`) before it is routed, and its response
//! (`AuthZPlugin.AuthZRes`) before it leaves. All must allow.
//!
//! Fail closed by construction: the request reaches the router only after
//! every plugin answered `Allow: true`; any other outcome (a denial, an
//! error, a timeout, a plugin that is down or answers garbage) returns a 403
//! from here, and nothing else can make the request go on.
//!
//! What a plugin sees is what the router gets:
//! - The request target must be in canonical origin form, one spelling per
//!   name: no `.`/`..` or empty segments, no absolute form, raw bytes only
//!   where RFC 3986 allows them and escapes only for bytes that need one
//!   (never `%2e`, `v%32`, `%2f`, `%5c`, `%25`, controls; see
//!   [`check_target`]). Anything else is a 400 before any plugin is asked,
//!   so a plugin never authorizes one spelling of a path while the
//!   router acts on another. `RequestUri` is the target exactly as sent,
//!   version prefix included; the router strips that same prefix.
//! - The body is read whole, whatever `Content-Length` or chunking said, up
//!   to [`MAX_BODY`]; a larger body is refused with 413 and never handled.
//!   The handler gets exactly the bytes the plugins saw, with a
//!   `Content-Length` that says so (chunked framing removed).
//! - Exceptions, by route: the upload endpoints whose body is a tar stream
//!   ([`is_upload`]: image load/import, build, archive upload, plugin
//!   create) are authorized on method, URI and headers and their body is
//!   streamed to the handler unread, whatever its size, as dockerd never
//!   shows non-JSON bodies to plugins; `/auth`'s body and answer
//!   (credentials) are read but never shown.
//!
//! Responses: a response whose size is known and at most [`MAX_BODY`] is
//! buffered and shown in full. A streamed response (events, logs, pulls,
//! stats) or a larger one is put to `AuthZRes` with its status and headers
//! only, before its first byte is sent. A hijacked stream (101) is put to
//! `AuthZRes` before the upgrade is answered; a denial there turns it into a
//! 403 and the upgrade never happens.

mod body;
mod headers;
mod peer;
mod target;

pub use headers::header_map;
pub use peer::subject_common_name;
pub use target::{check_target, is_upload, routed_path};

use crate::error::error_response;
use crate::serve::ConnInfo;
use axum::body::{Body, HttpBody};
use axum::http::request::Parts;
use axum::http::{Request, Response, StatusCode};
use berth_core::authz::AuthzDriver;
use berth_core::drivers::DriverRegistry;
use berth_types::authz::{self, AUTHZ_REQ, AUTHZ_RES};
use berth_types::{Error, ErrorKind};
use body::{drain, normalize_framing, read_body};
use http_body_util::BodyExt;
use std::future::Future;
use std::sync::{Arc, RwLock};

/// The largest request (and buffered response) body shown to plugins:
/// dockerd's 1 MiB.
pub const MAX_BODY: usize = 1 << 20;

/// The authorization drivers the chain's names are looked up in.
pub type AuthzDrivers = DriverRegistry<dyn AuthzDriver>;

/// The chain of authorization plugins, shared between the API and whoever
/// changes it (configuration reload, managed plugins). Each name is looked
/// up, per call, in the registry of authorization drivers.
pub struct Authz {
    plugins: RwLock<Arc<[String]>>,
    drivers: Arc<AuthzDrivers>,
}

impl Authz {
    pub fn new(drivers: Arc<AuthzDrivers>, plugins: Vec<String>) -> Arc<Authz> {
        Arc::new(Authz {
            plugins: RwLock::new(plugins.into()),
            drivers,
        })
    }

    /// Calls `method` ([`AUTHZ_REQ`] or [`AUTHZ_RES`]) of the driver
    /// `name`. `Err` is any failure to get a well-formed answer.
    async fn call(
        &self,
        name: &str,
        method: &str,
        req: &authz::Request,
    ) -> berth_types::Result<authz::Response> {
        let d = self.drivers.get(name).await?;
        if method == AUTHZ_RES {
            d.authz_res(req).await
        } else {
            d.authz_req(req).await
        }
    }

    /// Replaces the chain; requests that start afterwards use the new one.
    pub fn set_plugins(&self, plugins: Vec<String>) {
        *self.plugins.write().unwrap() = plugins.into();
    }

    /// Takes `name` out of the chain (a managed plugin being disabled).
    pub fn remove_plugin(&self, name: &str) {
        let mut p = self.plugins.write().unwrap();
        let kept: Vec<String> = p.iter().filter(|n| *n != name).cloned().collect();
        *p = kept.into();
    }

    /// The chain, in order.
    pub fn plugins(&self) -> Vec<String> {
        self.plugins.read().unwrap().to_vec()
    }

    /// The chain, or `None` when no plugin is configured (the fast path).
    pub(crate) fn chain(&self) -> Option<Arc<[String]>> {
        let p = self.plugins.read().unwrap();
        if p.is_empty() {
            None
        } else {
            Some(p.clone())
        }
    }

    /// Authorizes `req` with `chain`, routes it with `next`, then
    /// authorizes the response.
    pub(crate) async fn handle<F, Fut>(
        &self,
        chain: Arc<[String]>,
        req: Request<Body>,
        next: F,
    ) -> Response<Body>
    where
        F: FnOnce(Request<Body>) -> Fut,
        Fut: Future<Output = Response<Body>>,
    {
        if let Err(msg) = check_target(req.uri()) {
            return error_response(&Error::invalid(msg));
        }
        let routed = routed_path(req.uri().path()).to_string();
        let upload = is_upload(req.method(), &routed);
        let credentials = routed == "/auth";

        let (mut parts, body) = req.into_parts();
        let (body, shown) = if upload {
            (body, Vec::new())
        } else {
            let bytes = match read_body(&parts.headers, body).await {
                Ok(b) => b,
                Err(e) => return error_response(&e),
            };
            normalize_framing(&mut parts.headers, bytes.len());
            let shown = if credentials {
                Vec::new()
            } else {
                bytes.to_vec()
            };
            (Body::from(bytes), shown)
        };

        let mut areq = plugin_request(&parts, shown);
        if let Err(resp) = self.ask(&chain, AUTHZ_REQ, &areq).await {
            tracing::info!(
                method = %areq.request_method,
                uri = %areq.request_uri,
                "request refused by authorization"
            );
            if upload {
                // Let a client still sending its stream read the refusal.
                drain(body).await;
            }
            return resp;
        }

        let resp = next(Request::from_parts(parts, body)).await;
        self.authorize_response(resp, &mut areq, credentials).await
    }

    /// Puts the response to the chain (with its body when it is small and
    /// of known size) and lets it out only if every plugin allows it.
    async fn authorize_response(
        &self,
        resp: Response<Body>,
        areq: &mut authz::Request,
        credentials: bool,
    ) -> Response<Body> {
        // The chain may have changed while the request ran (a plugin
        // disabled); ask the current one, as dockerd does.
        let Some(chain) = self.chain() else {
            return resp;
        };
        let (rparts, rbody) = resp.into_parts();
        areq.response_status_code = rparts.status.as_u16();
        areq.response_headers = header_map(&rparts.headers);
        let buffer = rparts.status != StatusCode::SWITCHING_PROTOCOLS
            && rbody
                .size_hint()
                .exact()
                .is_some_and(|n| n <= MAX_BODY as u64);
        let rbody = if buffer {
            match rbody.collect().await {
                Ok(c) => {
                    let b = c.to_bytes();
                    if !credentials {
                        areq.response_body = b.to_vec();
                    }
                    Body::from(b)
                }
                Err(e) => {
                    return error_response(&Error::internal(format!(
                        "reading the response for authorization: {e}"
                    )))
                }
            }
        } else {
            rbody
        };
        if let Err(resp) = self.ask(&chain, AUTHZ_RES, areq).await {
            tracing::info!(
                method = %areq.request_method,
                uri = %areq.request_uri,
                "response refused by authorization"
            );
            return resp;
        }
        Response::from_parts(rparts, rbody)
    }

    /// Puts `areq` to every plugin of `chain` in order; the first that does
    /// not allow ends it with the 403 to send.
    async fn ask(
        &self,
        chain: &[String],
        method: &str,
        areq: &authz::Request,
    ) -> Result<(), Response<Body>> {
        for name in chain {
            let forbidden =
                |message: String| error_response(&Error::new(ErrorKind::Forbidden, message));
            match self.call(name, method, areq).await {
                Ok(r) if r.allow => {}
                Ok(r) => {
                    return Err(forbidden(format!(
                        "authorization denied by plugin {name}: {}",
                        r.msg
                    )))
                }
                Err(e) => {
                    tracing::warn!(plugin = %name, "{method} failed: {e}");
                    return Err(forbidden(format!(
                        "plugin {name} failed with error: {method}: {e}"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// What the plugins are shown of a request: the user of a TLS client
/// certificate, the method, the target as sent, the body (`shown`) and the
/// headers without credentials.
fn plugin_request(parts: &Parts, shown: Vec<u8>) -> authz::Request {
    let (user, method) = match parts.extensions.get::<ConnInfo>() {
        Some(ConnInfo {
            peer_cert: Some(der),
            ..
        }) => (subject_common_name(der).unwrap_or_default(), "TLS"),
        _ => (String::new(), ""),
    };
    authz::Request {
        user,
        user_authn_method: method.to_string(),
        request_method: parts.method.to_string(),
        request_uri: parts.uri.path_and_query().map_or_else(
            || parts.uri.path().to_string(),
            |pq| pq.as_str().to_string(),
        ),
        request_body: shown,
        request_headers: header_map(&parts.headers),
        request_peer_certificates: parts
            .extensions
            .get::<ConnInfo>()
            .and_then(|c| c.peer_cert.as_ref())
            .map(|der| vec![authz::peer_certificate(der)])
            .unwrap_or_default(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::App;
    use axum::routing::{get, post};
    use std::sync::Mutex;

    type Rule = dyn Fn(&str, &authz::Request) -> Result<authz::Response, String> + Send + Sync;
    type Handled = Arc<Mutex<Vec<Vec<u8>>>>;

    /// Plugins in the same process: each answers by a rule and records
    /// what it saw; found through the registry's plugin resolver.
    struct Fake {
        seen: Mutex<Vec<(String, authz::Request)>>,
        rule: Box<Rule>,
    }

    struct FakeDriver {
        name: String,
        fake: Arc<Fake>,
    }

    impl FakeDriver {
        fn answer(
            &self,
            method: &str,
            req: &authz::Request,
        ) -> berth_types::Result<authz::Response> {
            self.fake
                .seen
                .lock()
                .unwrap()
                .push((format!("{} {method}", self.name), req.clone()));
            (self.fake.rule)(&self.name, req).map_err(Error::internal)
        }
    }

    #[async_trait::async_trait]
    impl AuthzDriver for FakeDriver {
        fn name(&self) -> &str {
            &self.name
        }
        async fn authz_req(&self, req: &authz::Request) -> berth_types::Result<authz::Response> {
            self.answer(AUTHZ_REQ, req)
        }
        async fn authz_res(&self, req: &authz::Request) -> berth_types::Result<authz::Response> {
            self.answer(AUTHZ_RES, req)
        }
    }

    struct FakePlugins(Arc<Fake>);

    #[async_trait::async_trait]
    impl berth_core::drivers::PluginResolver<dyn AuthzDriver> for FakePlugins {
        async fn resolve(&self, name: &str) -> berth_types::Result<Option<Arc<dyn AuthzDriver>>> {
            Ok(["one", "two"].contains(&name).then(|| {
                Arc::new(FakeDriver {
                    name: name.to_string(),
                    fake: self.0.clone(),
                }) as Arc<dyn AuthzDriver>
            }))
        }
        fn active(&self) -> Vec<String> {
            vec![]
        }
    }

    fn app(
        rule: impl Fn(&str, &authz::Request) -> Result<authz::Response, String> + Send + Sync + 'static,
    ) -> (App, Arc<Fake>, Handled) {
        let handled = Arc::new(Mutex::new(Vec::new()));
        let h = handled.clone();
        let routes = axum::Router::new()
            .route("/_ping", get(|| async { "OK" }))
            .route(
                "/echo",
                post(move |b: bytes::Bytes| {
                    let h = h.clone();
                    async move {
                        h.lock().unwrap().push(b.to_vec());
                        b
                    }
                }),
            );
        let fake = Arc::new(Fake {
            seen: Mutex::new(Vec::new()),
            rule: Box::new(rule),
        });
        let drivers = AuthzDrivers::new(berth_core::drivers::DriverKind::Authz);
        drivers.set_plugins(Arc::new(FakePlugins(fake.clone())));
        let authz = Authz::new(Arc::new(drivers), vec!["one".into(), "two".into()]);
        (App::new(routes).with_authz(authz), fake, handled)
    }

    async fn send(app: &App, req: Request<Body>) -> (StatusCode, String) {
        let r = app.handle(req).await;
        let s = r.status();
        let b = r.into_body().collect().await.unwrap().to_bytes();
        (s, String::from_utf8_lossy(&b).into_owned())
    }

    fn chunked(parts: &[&'static [u8]]) -> Body {
        let parts: Vec<&'static [u8]> = parts.to_vec();
        let s = futures_util::stream::iter(
            parts
                .into_iter()
                .map(|p| Ok::<_, std::io::Error>(bytes::Bytes::from_static(p))),
        );
        Body::from_stream(s)
    }

    #[tokio::test]
    async fn chunked_body_is_shown_whole_and_handled_the_same() {
        let (app, fake, handled) = app(|_, _| Ok(authz::Response::allow()));
        let req = Request::post("/v1.41/echo")
            .header("transfer-encoding", "chunked")
            .body(chunked(&[b"{\"Na", b"me\":", b"\"x\"}"]))
            .unwrap();
        let (st, body) = send(&app, req).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(body, r#"{"Name":"x"}"#);
        let seen = fake.seen.lock().unwrap();
        let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "one AuthZPlugin.AuthZReq",
                "two AuthZPlugin.AuthZReq",
                "one AuthZPlugin.AuthZRes",
                "two AuthZPlugin.AuthZRes"
            ]
        );
        let r = &seen[0].1;
        assert_eq!(r.request_uri, "/v1.41/echo");
        assert_eq!(r.request_body, br#"{"Name":"x"}"#);
        assert_eq!(r.request_headers["Content-Length"], "12");
        assert!(!r.request_headers.contains_key("Transfer-Encoding"));
        let res = &seen[3].1;
        assert_eq!(res.response_status_code, 200);
        assert_eq!(res.response_body, br#"{"Name":"x"}"#);
        assert_eq!(handled.lock().unwrap()[0], br#"{"Name":"x"}"#);
    }

    #[tokio::test]
    async fn oversized_bodies_are_refused_unseen_and_unhandled() {
        let (app, fake, handled) = app(|_, _| Ok(authz::Response::allow()));
        static BIG: [u8; MAX_BODY + 1] = [b' '; MAX_BODY + 1];
        // Declared too large.
        let req = Request::post("/echo")
            .header("content-length", BIG.len())
            .body(Body::from(&BIG[..]))
            .unwrap();
        let (st, body) = send(&app, req).await;
        assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert!(body.contains("exceeds 1048576 bytes"), "{body}");
        // Streamed without a length.
        let req = Request::post("/echo")
            .body(chunked(&[&BIG[..MAX_BODY], b"x"]))
            .unwrap();
        let (st, _) = send(&app, req).await;
        assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
        // Exactly the limit passes.
        let req = Request::post("/echo")
            .body(chunked(&[&BIG[..MAX_BODY]]))
            .unwrap();
        assert_eq!(send(&app, req).await.0, StatusCode::OK);
        let seen = fake.seen.lock().unwrap();
        assert!(seen.iter().all(|(_, r)| r.request_body.len() == MAX_BODY));
        assert_eq!(handled.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn any_failure_or_denial_is_a_403_and_never_reaches_the_handler() {
        let (app, fake, handled) =
            app(
                |plugin, r| match (plugin, r.request_body.as_slice(), r.response_status_code) {
                    ("one", b"deny", _) => Ok(authz::Response::deny("no way")),
                    ("two", b"fail", _) => Err("plugin \"two\" is not responding".into()),
                    ("two", b"noallow", _) => Ok(authz::Response::default()),
                    ("two", b"res", 200) => Ok(authz::Response::deny("not this answer")),
                    _ => Ok(authz::Response::allow()),
                },
            );
        let post = |b: &'static str| Request::post("/echo").body(Body::from(b)).unwrap();
        let (st, body) = send(&app, post("deny")).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert_eq!(
            body,
            r#"{"message":"authorization denied by plugin one: no way"}"#
        );
        let (st, body) = send(&app, post("fail")).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert!(
            body.contains("plugin two failed with error: AuthZPlugin.AuthZReq: plugin \\\"two\\\" is not responding"),
            "{body}"
        );
        let (st, _) = send(&app, post("noallow")).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert!(handled.lock().unwrap().is_empty());
        // A denied response: the handler ran, its answer does not leave.
        let (st, body) = send(&app, post("res")).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert!(body.contains("not this answer"), "{body}");
        assert_eq!(handled.lock().unwrap().len(), 1);
        // The denying plugin ends the chain: "two" never saw "deny".
        let seen = fake.seen.lock().unwrap();
        assert!(!seen
            .iter()
            .any(|(n, r)| n.starts_with("two") && r.request_body == b"deny"));
    }

    #[tokio::test]
    async fn ping_and_path_tricks_go_through_the_check() {
        let (app, fake, _) = app(|_, r| {
            if r.request_uri.contains("_ping") {
                Ok(authz::Response::deny("no ping"))
            } else {
                Ok(authz::Response::allow())
            }
        });
        let get = |u: &str| Request::get(u).body(Body::empty()).unwrap();
        assert_eq!(send(&app, get("/_ping")).await.0, StatusCode::FORBIDDEN);
        assert_eq!(
            send(&app, get("/v1.44/_ping")).await.0,
            StatusCode::FORBIDDEN
        );
        let (st, body) = send(&app, get("/v1.44/../_ping")).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(send(&app, get("//_ping")).await.0, StatusCode::BAD_REQUEST);
        assert_eq!(send(&app, get("/%5fping")).await.0, StatusCode::BAD_REQUEST);
        let seen = fake.seen.lock().unwrap();
        let uris: Vec<&str> = seen.iter().map(|(_, r)| r.request_uri.as_str()).collect();
        assert_eq!(uris, ["/_ping", "/v1.44/_ping"]);
    }

    #[tokio::test]
    async fn a_plugin_no_one_has_denies_with_the_registrys_message() {
        let (app, fake, handled) = app(|_, _| Ok(authz::Response::allow()));
        app.authz()
            .unwrap()
            .set_plugins(vec!["one".into(), "gone".into()]);
        let req = Request::post("/echo").body(Body::from("x")).unwrap();
        let (st, body) = send(&app, req).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert!(
            body.contains(
                r#"plugin gone failed with error: AuthZPlugin.AuthZReq: plugin \"gone\" not found"#
            ),
            "{body}"
        );
        assert_eq!(fake.seen.lock().unwrap().len(), 1);
        assert!(handled.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn no_plugins_no_calls_and_the_chain_is_live() {
        let (app, fake, _) = app(|_, _| Ok(authz::Response::deny("closed")));
        let authz = app.authz().unwrap().clone();
        authz.set_plugins(vec![]);
        let get = || Request::get("/_ping").body(Body::empty()).unwrap();
        assert_eq!(send(&app, get()).await.0, StatusCode::OK);
        assert!(fake.seen.lock().unwrap().is_empty());
        authz.set_plugins(vec!["two".into()]);
        assert_eq!(send(&app, get()).await.0, StatusCode::FORBIDDEN);
        authz.remove_plugin("two");
        assert_eq!(authz.plugins(), Vec::<String>::new());
        assert_eq!(send(&app, get()).await.0, StatusCode::OK);
    }
}
