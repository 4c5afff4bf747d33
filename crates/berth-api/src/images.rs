//! `/images`: list, inspect, history, tag, delete, prune, load, save and
//! import. Paths are unversioned (the version prefix is stripped before
//! routing). Image names may contain `/` (`localhost:5000/a/b:tag`), so the
//! per-image routes take the rest of the path and split the verb off its
//! end.
//!
//! The backend is blocking (it reads archives and writes layers); every
//! call runs on a blocking thread. Request bodies are streamed into it and
//! responses streamed out of it, never buffered whole.

use crate::error::{ApiError, ApiResult};
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_core::Filters;
use berth_types::image::{
    DeleteItem, ErrorDetail, HistoryItem, ImageInspect, ImageSummary, ImagesDiskUsage, JsonMessage,
    PruneReport,
};
use berth_types::{Error, Result};
use futures_util::TryStreamExt;
use std::io::{self, Read, Write};
use std::sync::Arc;
use tokio::sync::mpsc;

/// `GET /images/json` options.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub all: bool,
    pub digests: bool,
    pub shared_size: bool,
    pub filters: Filters,
}

/// `POST /images/create?fromSrc=-` options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOptions {
    /// `repo[:tag]`, or empty for an untagged image.
    pub reference: String,
    pub changes: Vec<String>,
    pub message: String,
    pub platform: String,
}

/// What the image routes need from the daemon. Every method may block.
pub trait ImageBackend: Send + Sync {
    fn list(&self, opts: &ListOptions) -> Result<Vec<ImageSummary>>;
    fn inspect(&self, name: &str) -> Result<ImageInspect>;
    fn history(&self, name: &str) -> Result<Vec<HistoryItem>>;
    fn tag(&self, name: &str, repo: &str, tag: &str) -> Result<()>;
    fn remove(&self, name: &str, force: bool, noprune: bool) -> Result<Vec<DeleteItem>>;
    fn prune(&self, filters: &Filters) -> Result<PruneReport>;
    fn disk_usage(&self) -> Result<ImagesDiskUsage>;
    /// Loads an archive; `progress` receives lines such as
    /// `Loaded image: busybox:latest`.
    fn load(&self, input: &mut dyn Read, quiet: bool, progress: &mut dyn FnMut(&str))
        -> Result<()>;
    /// Writes a `docker save` tarball. Must fail before writing when a
    /// name is unknown.
    fn save(&self, names: &[String], out: &mut dyn Write) -> Result<()>;
    /// Imports a root filesystem tarball; returns the image ID.
    fn import(&self, input: &mut dyn Read, opts: &ImportOptions) -> Result<String>;
    /// `POST /images/create?fromImage=`: registry pulls come later.
    fn pull(
        &self,
        _image: &str,
        _tag: &str,
        _progress: &mut dyn FnMut(&JsonMessage),
    ) -> Result<()> {
        Err(Error::not_implemented(
            "pulling images is not supported yet",
        ))
    }
    fn push(&self, _name: &str, _tag: &str) -> Result<()> {
        Err(Error::not_implemented(
            "pushing images is not supported yet",
        ))
    }
}

type Backend = Arc<dyn ImageBackend>;

pub fn routes(backend: Backend) -> Router {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/load", post(load))
        .route("/images/get", get(save_many))
        .route("/images/create", post(create))
        .route("/images/prune", post(prune))
        .route(
            "/images/{*rest}",
            get(get_image).post(post_image).delete(delete_image),
        )
        .with_state(backend)
}

// ---- query parsing (pure) ----

fn hexval(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hexval(b[i + 1]), hexval(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a raw query string into decoded pairs, keeping repeated keys.
pub fn parse_query(raw: Option<&str>) -> Vec<(String, String)> {
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

struct Query(Vec<(String, String)>);

impl Query {
    fn new(raw: Option<String>) -> Self {
        Query(parse_query(raw.as_deref()))
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(kk, _)| kk == k)
            .map(|(_, v)| v.as_str())
    }
    fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(kk, _)| kk == k)
            .map(|(_, v)| v.clone())
            .collect()
    }
    fn str(&self, k: &str) -> String {
        self.get(k).unwrap_or("").to_string()
    }
    /// dockerd's boolean parameters: absent, "", "0", "no", "false" and
    /// "none" are false.
    fn bool(&self, k: &str) -> bool {
        !matches!(
            self.get(k).map(|v| v.to_ascii_lowercase()).as_deref(),
            None | Some("" | "0" | "no" | "false" | "none")
        )
    }
    fn filters(&self) -> Result<Filters> {
        Filters::parse(self.get("filters").unwrap_or(""))
    }
}

/// Parses `GET /images/json`'s query.
pub fn parse_list(raw: Option<&str>) -> Result<ListOptions> {
    let q = Query(parse_query(raw));
    let mut filters = q.filters()?;
    // `filter=` is the pre-1.25 reference filter.
    if let Some(f) = q.get("filter").filter(|f| !f.is_empty()) {
        filters.insert("reference", f);
    }
    Ok(ListOptions {
        all: q.bool("all"),
        digests: q.bool("digests"),
        shared_size: q.bool("shared-size"),
        filters,
    })
}

/// Parses `POST /images/create?fromSrc=-`'s query into import options.
pub fn parse_import(raw: Option<&str>) -> Result<ImportOptions> {
    let q = Query(parse_query(raw));
    let repo = q.str("repo");
    let tag = q.str("tag");
    let reference = match (repo.is_empty(), tag.is_empty()) {
        (true, _) => String::new(),
        (false, true) => repo,
        (false, false) => format!("{repo}:{tag}"),
    };
    Ok(ImportOptions {
        reference,
        changes: q.all("changes"),
        message: q.str("message"),
        platform: q.str("platform"),
    })
}

/// Splits `/images/{rest}` into the image name and the trailing verb.
pub fn split_verb<'a>(rest: &'a str, verbs: &[&str]) -> (&'a str, Option<&'a str>) {
    let rest = rest.trim_start_matches('/');
    if let Some((name, last)) = rest.rsplit_once('/') {
        if verbs.contains(&last) && !name.is_empty() {
            return (name, Some(last));
        }
    }
    (rest, None)
}

// ---- blocking work and streamed bodies ----

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("task failed: {e}")))?
}

/// A `Write` that sends what it is given to a response body.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
    sent: bool,
}

const CHUNK: usize = 256 * 1024;

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.sent = true;
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

/// Runs `produce` on a blocking thread writing into the response body. An
/// error before the first byte becomes an ordinary error response; after
/// it, `late` renders it into the stream (or the stream is cut).
async fn stream_response<F>(
    content_type: &'static str,
    late: fn(&Error) -> Option<Bytes>,
    produce: F,
) -> Response
where
    F: FnOnce(&mut ChannelWriter) -> Result<()> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<io::Result<Bytes>>(4);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<Result<()>>();
    let tx2 = tx.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter {
            tx: tx2,
            buf: Vec::new(),
            sent: false,
        };
        let mut res = produce(&mut w);
        if res.is_ok() {
            if let Err(e) = w.flush() {
                res = Err(Error::internal(e.to_string()));
            }
        }
        match res {
            Err(e) if w.sent => {
                let _ = w.flush();
                let msg = match late(&e) {
                    Some(b) => Ok(b),
                    None => Err(io::Error::other(e.message.clone())),
                };
                let _ = w.tx.blocking_send(msg);
                let _ = done_tx.send(Ok(()));
            }
            other => {
                let _ = done_tx.send(other);
            }
        }
    });
    drop(tx);
    let first = rx.recv().await;
    let first = match first {
        Some(chunk) => chunk,
        None => {
            // Nothing was written: the result decides.
            return match done_rx.await {
                Ok(Err(e)) => ApiError(e).into_response(),
                _ => ([(header::CONTENT_TYPE, content_type)], Body::empty()).into_response(),
            };
        }
    };
    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let stream = futures_util::stream::once(async move { first }).chain_rest(rest);
    (
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(stream),
    )
        .into_response()
}

trait ChainRest: futures_util::Stream + Sized {
    fn chain_rest<S: futures_util::Stream<Item = Self::Item>>(
        self,
        rest: S,
    ) -> futures_util::stream::Chain<Self, S> {
        futures_util::StreamExt::chain(self, rest)
    }
}
impl<S: futures_util::Stream> ChainRest for S {}

fn json_line(m: &JsonMessage) -> Bytes {
    let mut v = serde_json::to_vec(m).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn json_error(e: &Error) -> Option<Bytes> {
    Some(json_line(&JsonMessage {
        error_detail: Some(ErrorDetail {
            message: e.message.clone(),
        }),
        error: Some(e.message.clone()),
        ..Default::default()
    }))
}

/// A blocking reader over a streamed request body.
fn body_reader(body: Body) -> impl Read + Send + 'static {
    let stream = body.into_data_stream().map_err(io::Error::other);
    tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream))
}

// ---- handlers ----

async fn list(
    State(b): State<Backend>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Vec<ImageSummary>>> {
    let opts = parse_list(q.as_deref())?;
    Ok(Json(blocking(move || b.list(&opts)).await?))
}

async fn prune(State(b): State<Backend>, RawQuery(q): RawQuery) -> ApiResult<Json<PruneReport>> {
    let f = Query::new(q).filters()?;
    Ok(Json(blocking(move || b.prune(&f)).await?))
}

async fn load(State(b): State<Backend>, RawQuery(q): RawQuery, body: Body) -> Response {
    let quiet = Query::new(q).bool("quiet");
    let mut input = body_reader(body);
    stream_response("application/json", json_error, move |w| {
        let mut write_err = None;
        let r = b.load(&mut input, quiet, &mut |line| {
            let msg = JsonMessage {
                stream: Some(format!("{line}\n")),
                ..Default::default()
            };
            if let Err(e) = w.write_all(&json_line(&msg)).and_then(|_| w.flush()) {
                write_err = Some(e);
            }
        });
        r?;
        match write_err {
            Some(e) => Err(Error::internal(e.to_string())),
            None => Ok(()),
        }
    })
    .await
}

fn save_response(b: Backend, names: Vec<String>) -> impl std::future::Future<Output = Response> {
    stream_response("application/x-tar", |_| None, move |w| b.save(&names, w))
}

async fn save_many(State(b): State<Backend>, RawQuery(q): RawQuery) -> Response {
    let names = Query::new(q).all("names");
    save_response(b, names).await
}

async fn create(State(b): State<Backend>, RawQuery(q): RawQuery, body: Body) -> Response {
    let query = Query::new(q.clone());
    if let Some(image) = query.get("fromImage").filter(|s| !s.is_empty()) {
        let image = image.to_string();
        let tag = query.str("tag");
        return stream_response("application/json", json_error, move |w| {
            b.pull(&image, &tag, &mut |m| {
                let _ = w.write_all(&json_line(m)).and_then(|_| w.flush());
            })
        })
        .await;
    }
    match query.get("fromSrc") {
        Some("-") => {}
        Some(src) if !src.is_empty() => {
            return ApiError(Error::not_implemented(
                "importing from a URL is not supported: use fromSrc=- and send the archive",
            ))
            .into_response()
        }
        _ => return ApiError(Error::invalid("fromImage or fromSrc is required")).into_response(),
    }
    let opts = match parse_import(q.as_deref()) {
        Ok(o) => o,
        Err(e) => return ApiError(e).into_response(),
    };
    let mut input = body_reader(body);
    stream_response("application/json", json_error, move |w| {
        let id = b.import(&mut input, &opts)?;
        let msg = JsonMessage {
            status: Some(id),
            ..Default::default()
        };
        w.write_all(&json_line(&msg))
            .map_err(|e| Error::internal(e.to_string()))
    })
    .await
}

async fn get_image(
    State(b): State<Backend>,
    Path(rest): Path<String>,
    RawQuery(_q): RawQuery,
    method: Method,
    uri: Uri,
) -> Response {
    match split_verb(&rest, &["json", "history", "get"]) {
        (name, Some("json")) => {
            let name = name.to_string();
            match blocking(move || b.inspect(&name)).await {
                Ok(v) => Json(v).into_response(),
                Err(e) => ApiError(e).into_response(),
            }
        }
        (name, Some("history")) => {
            let name = name.to_string();
            match blocking(move || b.history(&name)).await {
                Ok(v) => Json(v).into_response(),
                Err(e) => ApiError(e).into_response(),
            }
        }
        (name, Some("get")) => save_response(b, vec![name.to_string()]).await,
        _ => crate::serve::not_found(method, uri, Body::empty()).await,
    }
}

async fn post_image(
    State(b): State<Backend>,
    Path(rest): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = Query::new(q);
    let res = match split_verb(&rest, &["tag", "push"]) {
        (name, Some("tag")) => {
            let (name, repo, tag) = (name.to_string(), q.str("repo"), q.str("tag"));
            blocking(move || b.tag(&name, &repo, &tag))
                .await
                .map(|_| StatusCode::CREATED.into_response())
        }
        (name, Some("push")) => {
            let (name, tag) = (name.to_string(), q.str("tag"));
            blocking(move || b.push(&name, &tag))
                .await
                .map(|_| StatusCode::OK.into_response())
        }
        _ => Err(Error::not_found("page not found")),
    };
    res.unwrap_or_else(|e| ApiError(e).into_response())
}

async fn delete_image(
    State(b): State<Backend>,
    Path(rest): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Vec<DeleteItem>>> {
    let q = Query::new(q);
    let (force, noprune) = (q.bool("force"), q.bool("noprune"));
    let name = rest.trim_start_matches('/').to_string();
    Ok(Json(
        blocking(move || b.remove(&name, force, noprune)).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_keep_repeats_and_decode() {
        let q = parse_query(Some(
            "names=busybox&names=localhost%3A5000%2Fa%2Fb%3At&x=a+b&flag",
        ));
        assert_eq!(
            q,
            vec![
                ("names".into(), "busybox".into()),
                ("names".into(), "localhost:5000/a/b:t".into()),
                ("x".into(), "a b".into()),
                ("flag".into(), "".into()),
            ]
        );
        assert_eq!(
            parse_query(Some("a=%zz%4")),
            vec![("a".into(), "%zz%4".into())]
        );
    }

    #[test]
    fn list_and_import_options() {
        let o = parse_list(Some(
            "all=1&digests=true&filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D",
        ))
        .unwrap();
        assert!(o.all && o.digests && !o.shared_size);
        assert_eq!(o.filters.bool_value("dangling").unwrap(), Some(true));
        assert!(parse_list(Some("filters=%7B")).is_err());
        let o = parse_list(Some("all=0&filter=busy*")).unwrap();
        assert!(!o.all);
        assert!(o.filters.exact_match("reference", "busy*"));
        let i = parse_import(Some(
            "fromSrc=-&repo=a%2Fb&tag=v1&changes=CMD+%5B%22sh%22%5D&changes=ENV+A%3D1&message=hi",
        ))
        .unwrap();
        assert_eq!(
            i,
            ImportOptions {
                reference: "a/b:v1".into(),
                changes: vec!["CMD [\"sh\"]".into(), "ENV A=1".into()],
                message: "hi".into(),
                platform: String::new(),
            }
        );
    }

    #[test]
    fn names_with_slashes_split_off_the_verb() {
        let v = ["json", "history", "get"];
        assert_eq!(
            split_verb("localhost:5000/a/b:tag/json", &v),
            ("localhost:5000/a/b:tag", Some("json"))
        );
        assert_eq!(
            split_verb("busybox/history", &v),
            ("busybox", Some("history"))
        );
        assert_eq!(split_verb("a/b", &v), ("a/b", None));
        assert_eq!(split_verb("json", &v), ("json", None));
    }
}
