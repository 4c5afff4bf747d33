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

use crate::error::error_response;
use crate::serve::ConnInfo;
use crate::version::{split_prefix, Prefix};
use axum::body::{Body, HttpBody};
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use berth_types::authz::{self, AUTHZ_REQ, AUTHZ_RES};
use berth_types::{Error, ErrorKind};
use http_body_util::BodyExt;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, RwLock};

/// The largest request (and buffered response) body shown to plugins:
/// dockerd's 1 MiB.
pub const MAX_BODY: usize = 1 << 20;

/// Calls one authorization plugin by name.
#[async_trait::async_trait]
pub trait AuthzCaller: Send + Sync + 'static {
    /// Calls `method` ([`AUTHZ_REQ`] or [`AUTHZ_RES`]) of plugin `plugin`.
    /// `Err` is any failure to get a well-formed answer, with its reason.
    async fn call(
        &self,
        plugin: &str,
        method: &str,
        req: &authz::Request,
    ) -> Result<authz::Response, String>;
}

/// The chain of authorization plugins, shared between the API and whoever
/// changes it (configuration reload, managed plugins).
pub struct Authz {
    plugins: RwLock<Arc<[String]>>,
    caller: Arc<dyn AuthzCaller>,
}

impl Authz {
    pub fn new(caller: Arc<dyn AuthzCaller>, plugins: Vec<String>) -> Arc<Authz> {
        Arc::new(Authz {
            plugins: RwLock::new(plugins.into()),
            caller,
        })
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

        let (user, method) = match parts.extensions.get::<ConnInfo>() {
            Some(ConnInfo {
                peer_cert: Some(der),
                ..
            }) => (subject_common_name(der).unwrap_or_default(), "TLS"),
            _ => (String::new(), ""),
        };
        let mut areq = authz::Request {
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
        };
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
        if let Err(resp) = self.ask(&chain, AUTHZ_RES, &areq).await {
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
            match self.caller.call(name, method, areq).await {
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

/// How much of a refused oversized body is read and thrown away, so the
/// client, still sending, gets the 413 instead of a reset connection.
const DRAIN_MAX: usize = 16 << 20;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads the whole body, up to [`MAX_BODY`]; more is 413, a broken body 400.
async fn read_body(headers: &HeaderMap, mut body: Body) -> Result<bytes::Bytes, Error> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut over = declared.is_some_and(|n| n > MAX_BODY as u64);
    let mut buf = Vec::with_capacity(declared.map_or(0, |n| n.min(MAX_BODY as u64) as usize));
    let mut drained = 0usize;
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    loop {
        let frame = if over {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(f) => f,
                Err(_) => break,
            }
        } else {
            body.frame().await
        };
        match frame {
            None => break,
            Some(Err(_)) if over => break,
            Some(Err(e)) => return Err(Error::invalid(format!("reading the request body: {e}"))),
            Some(Ok(f)) => {
                let Ok(data) = f.into_data() else { continue };
                if over {
                    drained += data.len();
                    if drained > DRAIN_MAX {
                        break;
                    }
                } else if buf.len() + data.len() > MAX_BODY {
                    over = true;
                    drained = buf.len() + data.len();
                    buf = Vec::new();
                } else {
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
    if over {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!(
                "request body exceeds {MAX_BODY} bytes, the most an authorization plugin is shown; the request was refused"
            ),
        ));
    }
    Ok(buf.into())
}

/// Reads and drops up to [`DRAIN_MAX`] bytes of `body`, for at most
/// [`DRAIN_TIME`].
async fn drain(mut body: Body) {
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    let mut n = 0usize;
    while let Ok(Some(Ok(f))) = tokio::time::timeout_at(deadline, body.frame()).await {
        n += f.data_ref().map_or(0, |d| d.len());
        if n > DRAIN_MAX {
            break;
        }
    }
}

/// After buffering, the handler sees a plain `Content-Length` body.
fn normalize_framing(headers: &mut HeaderMap, len: usize) {
    let had_framing = headers.remove(header::TRANSFER_ENCODING).is_some()
        || headers.contains_key(header::CONTENT_LENGTH);
    if had_framing || len > 0 {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
}

/// The path the router will see: the target's path with its version prefix
/// removed, exactly as `App` strips it.
pub fn routed_path(path: &str) -> &str {
    match split_prefix(path) {
        Ok(Prefix::Versioned(_, rest)) => rest,
        _ => path,
    }
}

/// Routes whose request body is a tar stream the handler reads as such:
/// authorized without their body, which is streamed (see the module docs).
pub fn is_upload(method: &Method, routed: &str) -> bool {
    let segs: Vec<&str> = routed.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segs.as_slice()) {
        ("POST", ["images", "load"] | ["build"] | ["images", "create"] | ["plugins", "create"]) => {
            true
        }
        ("PUT", ["containers", id, "archive"]) => !id.is_empty(),
        _ => false,
    }
}

/// Refuses request targets that could be read two ways.
pub fn check_target(uri: &Uri) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid request path: {why}"));
    if uri.scheme().is_some() || uri.authority().is_some() {
        return bad("only origin-form request targets are accepted");
    }
    let path = uri.path();
    if !path.starts_with('/') {
        return bad("the path must start with /");
    }
    let segs: Vec<&str> = path[1..].split('/').collect();
    for (i, seg) in segs.iter().enumerate() {
        if seg.is_empty() && i + 1 < segs.len() {
            return bad("empty path segment");
        }
        if *seg == "." || *seg == ".." {
            return bad("dot segment");
        }
    }
    check_escapes(path, true)?;
    if let Some(q) = uri.query() {
        check_escapes(q, false)?;
    }
    Ok(())
}

/// Bytes a path carries as they are (RFC 3986 `pchar` and `/`); every
/// other byte must be percent-encoded.
fn path_raw(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&c)
}

/// Each name has one spelling in a path: the raw bytes are those of
/// [`path_raw`], and an escape may only stand for a byte that is not raw
/// (except `!'()*`, which Go's client escapes) and is not `/`, `\`, `%` or a
/// control. In the query, raw non-ASCII and escaped letters, digits and
/// `-._` are refused. So decoding cannot turn what a plugin saw into
/// another name.
fn check_escapes(s: &str, in_path: bool) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(c) = hex else {
                return Err("invalid request path: malformed percent escape".into());
            };
            let forbidden = if in_path {
                (path_raw(c) && !b"!'()*".contains(&c))
                    || matches!(c, b'\\' | b'%')
                    || c < 0x20
                    || c == 0x7f
            } else {
                c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_')
            };
            if forbidden {
                return Err(format!(
                    "invalid request path: percent-encoded {:?} is not accepted",
                    c as char
                ));
            }
            i += 3;
        } else {
            let ok = if in_path {
                path_raw(b[i])
            } else {
                b[i].is_ascii()
            };
            if !ok {
                return Err(format!(
                    "invalid request path: {:?} must be percent-encoded",
                    String::from_utf8_lossy(&b[i..=i])
                ));
            }
            i += 1;
        }
    }
    Ok(())
}

/// Headers as plugins get them: Go's canonical names, credentials left out,
/// repeated values joined with ", ".
pub fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    const SECRET: [&str; 5] = [
        "authorization",
        "proxy-authorization",
        "x-registry-auth",
        "x-registry-config",
        "cookie",
    ];
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in headers {
        if SECRET.contains(&k.as_str()) {
            continue;
        }
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        out.entry(canonical_header(k.as_str()))
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(&v);
            })
            .or_insert(v);
    }
    out
}

/// `content-type` → `Content-Type`, as Go's `CanonicalMIMEHeaderKey`.
fn canonical_header(k: &str) -> String {
    let mut up = true;
    k.chars()
        .map(|c| {
            let o = if up {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            up = c == '-';
            o
        })
        .collect()
}

/// One DER element: its tag, content, and what follows it.
fn der(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&l0, rest) = rest.split_first()?;
    let (len, rest) = if l0 < 0x80 {
        (usize::from(l0), rest)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, &x| (a << 8) | usize::from(x));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The subject common name of a DER X.509 certificate (the last one when
/// there are several, as Go reads it).
pub fn subject_common_name(cert: &[u8]) -> Option<String> {
    let (0x30, cert, _) = der(cert)? else {
        return None;
    };
    let (0x30, tbs, _) = der(cert)? else {
        return None;
    };
    let (tag, _, after) = der(tbs)?;
    // [0] version is optional; then serial, signature, issuer, validity.
    let mut rest = if tag == 0xa0 { after } else { tbs };
    for _ in 0..4 {
        rest = der(rest)?.2;
    }
    let (0x30, mut rdns, _) = der(rest)? else {
        return None;
    };
    let mut cn = None;
    while !rdns.is_empty() {
        let (0x31, mut set, r) = der(rdns)? else {
            return None;
        };
        rdns = r;
        while !set.is_empty() {
            let (0x30, atv, r) = der(set)? else {
                return None;
            };
            set = r;
            let (0x06, oid, value) = der(atv)? else {
                return None;
            };
            if oid == [0x55, 0x04, 0x03] {
                let (t, v, _) = der(value)?;
                cn = Some(der_string(t, v)?);
            }
        }
    }
    cn
}

fn der_string(tag: u8, v: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, IA5String, VisibleString
        0x0c | 0x13 | 0x16 | 0x1a => String::from_utf8(v.to_vec()).ok(),
        // TeletexString, read as Latin-1
        0x14 => Some(v.iter().map(|&c| char::from(c)).collect()),
        // BMPString
        0x1e if v.len().is_multiple_of(2) => String::from_utf16(
            &v.chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect::<Vec<_>>(),
        )
        .ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::App;
    use axum::routing::{get, post};
    use std::sync::Mutex;

    fn target(s: &str) -> Result<(), String> {
        check_target(&s.parse::<Uri>().unwrap())
    }

    #[test]
    fn canonical_targets_pass() {
        for t in [
            "/_ping",
            "/",
            "/v1.41/containers/create?name=web",
            "/containers/json?filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D",
            "/images/localhost:5000/busybox:latest/json",
            "/volumes/with%20space",
            "/containers/json?x=%7E",
            "/volumes/a%22b",
            "/volumes/%C3%BC",
            "/images/sha256:abc/json",
            "/images/a@sha256:abc/json",
            "/volumes/a%21b",
        ] {
            assert_eq!(target(t), Ok(()), "{t}");
        }
    }

    #[test]
    fn ambiguous_targets_are_refused() {
        for t in [
            "/v1.41/../containers/create",
            "/v1.41/./containers/create",
            "//containers/create",
            "/v1.41//containers/create",
            "/containers/x/..",
            "/containers/%2e%2e/json",
            "/volumes/my%2dvol",
            "/volumes/a%2Fb",
            "/volumes/%41",
            "/volumes/%25",
            "/volumes/%00",
            "/volumes/%zz",
            "/volumes/%4",
            "/volumes/x?force=%31",
            "/volumes/x?force=%74rue",
            "/volumes/a\\b",
            "/volumes/a%5Cb",
            "/volumes/a\"b",
            "/volumes/{x}",
            "/volumes/ü",
            "/volumes/a%3Ab",
            "/volumes/a%40b",
            "/containers/json?x=ü",
            "http://berth/containers/create",
        ] {
            assert!(target(t).is_err(), "{t} was accepted");
        }
    }

    #[test]
    fn routed_path_strips_one_prefix() {
        assert_eq!(routed_path("/v1.41/containers/json"), "/containers/json");
        assert_eq!(routed_path("/containers/json"), "/containers/json");
        assert_eq!(routed_path("/v1.41/v1.40/_ping"), "/v1.40/_ping");
        assert_eq!(routed_path("/v1.41"), "/");
    }

    #[test]
    fn uploads_are_a_closed_list() {
        assert!(is_upload(&Method::POST, "/images/load"));
        assert!(is_upload(&Method::PUT, "/containers/abc/archive"));
        assert!(!is_upload(&Method::PUT, "/containers//archive"));
        assert!(!is_upload(&Method::POST, "/containers/create"));
        assert!(!is_upload(&Method::GET, "/images/load"));
        assert!(!is_upload(&Method::POST, "/images/load/x"));
        assert!(!is_upload(&Method::POST, "/volumes/create"));
    }

    #[test]
    fn headers_drop_credentials_and_take_go_names() {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert("authorization", HeaderValue::from_static("Bearer x"));
        h.insert("x-registry-auth", HeaderValue::from_static("secret"));
        h.insert("X-REGISTRY-CONFIG", HeaderValue::from_static("secret"));
        h.append("x-multi", HeaderValue::from_static("a"));
        h.append("x-multi", HeaderValue::from_static("b"));
        let m = header_map(&h);
        assert_eq!(
            m.into_iter().collect::<Vec<_>>(),
            vec![
                ("Content-Type".to_string(), "application/json".to_string()),
                ("X-Multi".to_string(), "a, b".to_string()),
            ]
        );
    }

    #[test]
    fn common_name_of_real_certificates() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::OrganizationName, "berth");
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "alice ü");
        let c = p.self_signed(&key).unwrap();
        assert_eq!(subject_common_name(c.der()).as_deref(), Some("alice ü"));

        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(rcgen::DnType::OrganizationName, "no cn");
        let c = p.self_signed(&key).unwrap();
        assert_eq!(subject_common_name(c.der()), None);

        assert_eq!(subject_common_name(b""), None);
        assert_eq!(subject_common_name(&[0x30, 0x85, 1, 2, 3, 4, 5]), None);
        assert_eq!(subject_common_name(&c.der()[..40]), None);
    }

    type Rule = dyn Fn(&str, &authz::Request) -> Result<authz::Response, String> + Send + Sync;
    type Handled = Arc<Mutex<Vec<Vec<u8>>>>;

    /// A plugin in the same process: answers by a rule, records what it saw.
    struct Fake {
        seen: Mutex<Vec<(String, authz::Request)>>,
        rule: Box<Rule>,
    }

    #[async_trait::async_trait]
    impl AuthzCaller for Fake {
        async fn call(
            &self,
            plugin: &str,
            method: &str,
            req: &authz::Request,
        ) -> Result<authz::Response, String> {
            self.seen
                .lock()
                .unwrap()
                .push((format!("{plugin} {method}"), req.clone()));
            (self.rule)(plugin, req)
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
        let authz = Authz::new(fake.clone(), vec!["one".into(), "two".into()]);
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
