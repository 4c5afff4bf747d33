//! `/containers/...`: create, list, inspect, the lifecycle verbs, wait,
//! attach (hijacked), logs and resize. The handlers parse and frame; the
//! [`ContainerBackend`] does the work.

use crate::error::{error_response, ApiResult};
use crate::query::{bool_param, filters_param, int_param, str_param, Query};
use crate::streams::{parse_detach_keys, stream_content_type, DetachScanner, Scan};
use crate::version::ApiVersion;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use berth_core::Filters;
use berth_types::container::{
    ContainerCreateRequest, ContainerCreateResponse, ContainerJson, ContainerSummary,
    ContainerWaitResponse,
};
use berth_types::{Error, Result};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Whether a verb changed anything (dockerd answers 304 when it did not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    Yes,
    No,
}

#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub all: bool,
    pub limit: Option<i64>,
    pub size: bool,
    pub filters: Filters,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: Option<&str>) -> Result<Self> {
        match s.unwrap_or("not-running") {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(Error::invalid(format!("invalid condition: \"{other}\""))),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Replay the log before streaming.
    pub logs: bool,
    /// Stream live output.
    pub stream: bool,
}

/// A live attachment to a container.
pub struct AttachSession {
    pub tty: bool,
    /// The container's output in wire form (multiplexed frames without a
    /// TTY, raw bytes with one), ending when the container exits.
    pub output: BoxStream<'static, Bytes>,
    /// The container's stdin, when asked for and the container has one open.
    pub input: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    /// Called when the client detaches with the detach keys.
    pub on_detach: Option<Box<dyn FnOnce() + Send>>,
}

#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    /// Unix nanoseconds.
    pub since: Option<i128>,
    pub until: Option<i128>,
    pub timestamps: bool,
    /// "all" is `None`.
    pub tail: Option<usize>,
}

/// A log stream: whether the container has a TTY, and the bytes in wire
/// form (framed unless TTY, with timestamps when asked).
pub struct LogStream {
    pub tty: bool,
    pub chunks: BoxStream<'static, Bytes>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PruneReport {
    #[serde(rename = "ContainersDeleted")]
    pub containers_deleted: Vec<String>,
    #[serde(rename = "SpaceReclaimed")]
    pub space_reclaimed: u64,
}

/// A wait registered with the backend; resolves when the condition holds.
pub type WaitFuture = futures_util::future::BoxFuture<'static, ContainerWaitResponse>;

#[async_trait::async_trait]
pub trait ContainerBackend: Send + Sync + 'static {
    async fn create(
        &self,
        name: Option<String>,
        req: ContainerCreateRequest,
        version: ApiVersion,
    ) -> Result<ContainerCreateResponse>;
    async fn list(&self, opts: ListOptions) -> Result<Vec<ContainerSummary>>;
    async fn inspect(&self, id: &str, size: bool) -> Result<ContainerJson>;
    async fn start(&self, id: &str) -> Result<Changed>;
    async fn stop(&self, id: &str, signal: Option<String>, timeout: Option<i64>)
        -> Result<Changed>;
    async fn kill(&self, id: &str, signal: Option<String>) -> Result<()>;
    async fn restart(&self, id: &str, signal: Option<String>, timeout: Option<i64>) -> Result<()>;
    /// Registers the wait at once (so a `next-exit` wait sent before start
    /// sees that start's exit) and returns what resolves it.
    async fn wait(&self, id: &str, condition: WaitCondition) -> Result<WaitFuture>;
    async fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<()>;
    async fn rename(&self, id: &str, new_name: &str) -> Result<()>;
    async fn pause(&self, id: &str) -> Result<()>;
    async fn unpause(&self, id: &str) -> Result<()>;
    async fn prune(&self, filters: Filters) -> Result<PruneReport>;
    async fn attach(&self, id: &str, opts: AttachOptions) -> Result<AttachSession>;
    async fn logs(&self, id: &str, opts: LogsOptions) -> Result<LogStream>;
    async fn resize(&self, id: &str, height: u16, width: u16) -> Result<()>;
}

type B = Arc<dyn ContainerBackend>;

pub fn routes(backend: B) -> Router {
    Router::new()
        .route("/containers/create", post(create))
        .route("/containers/json", get(list))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}", delete(remove))
        .with_state(backend)
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn changed(c: Changed) -> Response {
    match c {
        Changed::Yes => no_content(),
        Changed::No => StatusCode::NOT_MODIFIED.into_response(),
    }
}

/// Reads a JSON body of at most `limit` bytes.
async fn read_body(body: Body, limit: usize) -> Result<Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let msg = e.to_string();
        if msg.contains("length limit") {
            Error::new(
                berth_types::ErrorKind::TooLarge,
                format!("request body is larger than {limit} bytes"),
            )
        } else {
            Error::invalid(format!("reading the request body: {msg}"))
        }
    })
}

const CREATE_BODY_LIMIT: usize = 4 << 20;

async fn create(
    State(b): State<B>,
    Extension(v): Extension<ApiVersion>,
    axum::extract::Query(q): axum::extract::Query<Query>,
    body: Body,
) -> ApiResult<Response> {
    let data = read_body(body, CREATE_BODY_LIMIT).await?;
    let req = ContainerCreateRequest::from_json(&data)?;
    if req.config.image.is_empty() {
        return Err(Error::invalid("config cannot be empty in order to create a container").into());
    }
    let name = str_param(&q, "name").map(str::to_string);
    let resp = b.create(name, req, v).await?;
    Ok((StatusCode::CREATED, Json(resp)).into_response())
}

async fn list(
    State(b): State<B>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<Json<Vec<ContainerSummary>>> {
    let filters = filters_param(&q)?;
    filters.validate(&[
        "id",
        "name",
        "label",
        "status",
        "exited",
        "ancestor",
        "before",
        "since",
        "volume",
        "network",
        "health",
        "is-task",
        "publish",
        "expose",
        "isolation",
    ])?;
    let opts = ListOptions {
        all: bool_param(&q, "all"),
        limit: int_param(&q, "limit")?,
        size: bool_param(&q, "size"),
        filters,
    };
    Ok(Json(b.list(opts).await?))
}

async fn inspect(
    State(b): State<B>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<Json<ContainerJson>> {
    Ok(Json(b.inspect(&id, bool_param(&q, "size")).await?))
}

async fn start(State(b): State<B>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(changed(b.start(&id).await?))
}

fn stop_params(q: &Query) -> Result<(Option<String>, Option<i64>)> {
    Ok((
        str_param(q, "signal").map(str::to_string),
        int_param(q, "t")?,
    ))
}

async fn stop(
    State(b): State<B>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<Response> {
    let (sig, t) = stop_params(&q)?;
    Ok(changed(b.stop(&id, sig, t).await?))
}

async fn restart(
    State(b): State<B>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<Response> {
    let (sig, t) = stop_params(&q)?;
    b.restart(&id, sig, t).await?;
    Ok(no_content())
}

async fn kill(
    State(b): State<B>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<Response> {
    b.kill(&id, str_param(&q, "signal").map(str::to_string))
        .await?;
    Ok(no_content())
}

async fn wait(
    State(b): State<B>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<Response> {
    let cond = WaitCondition::parse(q.get("condition").map(String::as_str))?;
    let fut = b.wait(&id, cond).await?;
    // Headers go out now; the body when the condition holds, as dockerd does.
    let body = futures_util::stream::once(async move {
        let r = fut.await;
        Ok::<_, std::convert::Infallible>(Bytes::from(serde_json::to_vec(&r).unwrap_or_default()))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

async fn remove(
    State(b): State<B>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<Response> {
    if bool_param(&q, "link") {
        return Err(Error::invalid("links are not supported by berth").into());
    }
    b.remove(&id, bool_param(&q, "force"), bool_param(&q, "v"))
        .await?;
    Ok(no_content())
}

async fn rename(
    State(b): State<B>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<Response> {
    let name = str_param(&q, "name").ok_or_else(|| Error::invalid("new name is required"))?;
    b.rename(&id, name).await?;
    Ok(no_content())
}

async fn pause(State(b): State<B>, Path(id): Path<String>) -> ApiResult<Response> {
    b.pause(&id).await?;
    Ok(no_content())
}

async fn unpause(State(b): State<B>, Path(id): Path<String>) -> ApiResult<Response> {
    b.unpause(&id).await?;
    Ok(no_content())
}

async fn prune(
    State(b): State<B>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<Json<PruneReport>> {
    let f = filters_param(&q)?;
    f.validate(&["until", "label", "label!"])?;
    Ok(Json(b.prune(f).await?))
}

async fn resize(
    State(b): State<B>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<Response> {
    let dim = |k: &str| -> Result<u16> {
        let v = int_param(&q, k)?.unwrap_or(0);
        u16::try_from(v).map_err(|_| Error::invalid(format!("invalid {k}: {v}")))
    };
    b.resize(&id, dim("h")?, dim("w")?).await?;
    Ok(StatusCode::OK.into_response())
}

fn parse_time_param(q: &Query, key: &str) -> Result<Option<i128>> {
    let Some(v) = str_param(q, key) else {
        return Ok(None);
    };
    if v == "0" {
        return Ok(None);
    }
    // Unix seconds with optional fraction, as the CLI sends after converting.
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let s: i128 = secs
        .parse()
        .map_err(|_| Error::invalid(format!("invalid value for {key}: {v}")))?;
    let mut nanos: i128 = 0;
    if !frac.is_empty() {
        if frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return Err(Error::invalid(format!("invalid value for {key}: {v}")));
        }
        nanos = format!("{frac:0<9}").parse().unwrap_or(0);
    }
    Ok(Some(s * 1_000_000_000 + nanos))
}

async fn logs(
    State(b): State<B>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<Response> {
    let opts = LogsOptions {
        stdout: bool_param(&q, "stdout"),
        stderr: bool_param(&q, "stderr"),
        follow: bool_param(&q, "follow"),
        since: parse_time_param(&q, "since")?,
        until: parse_time_param(&q, "until")?,
        timestamps: bool_param(&q, "timestamps"),
        tail: match str_param(&q, "tail") {
            None | Some("all") => None,
            Some(t) => Some(
                t.parse::<i64>()
                    .map(|n| n.max(0) as usize)
                    .map_err(|_| Error::invalid(format!("invalid value for tail: {t}")))?,
            ),
        },
    };
    if !opts.stdout && !opts.stderr {
        return Err(Error::invalid("Bad parameters: you must choose at least one stream").into());
    }
    let s = b.logs(&id, opts).await?;
    let body = s.chunks.map(Ok::<_, std::convert::Infallible>);
    Ok((
        [(header::CONTENT_TYPE, stream_content_type(s.tty))],
        Body::from_stream(body),
    )
        .into_response())
}

async fn attach(
    State(b): State<B>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<Query>,
    req: Request,
) -> Response {
    match attach_inner(b, id, q, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

async fn attach_inner(b: B, id: String, q: Query, mut req: Request) -> Result<Response> {
    let opts = AttachOptions {
        stdin: bool_param(&q, "stdin"),
        stdout: bool_param(&q, "stdout"),
        stderr: bool_param(&q, "stderr"),
        logs: bool_param(&q, "logs"),
        stream: bool_param(&q, "stream"),
    };
    let keys = parse_detach_keys(q.get("detachKeys").map(String::as_str).unwrap_or(""))?;
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    let session = b.attach(&id, opts).await?;
    let tty = session.tty;
    let ctype = HeaderValue::from_static(stream_content_type(tty));
    if !upgrade {
        // No hijack: stream the output as the response body (no stdin).
        let body = session.output.map(Ok::<_, std::convert::Infallible>);
        let mut r = Response::new(Body::from_stream(body));
        r.headers_mut().insert(header::CONTENT_TYPE, ctype);
        return Ok(r);
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let io = match on_upgrade.await {
            Ok(io) => TokioIo::new(io),
            Err(e) => {
                tracing::debug!("attach upgrade failed: {e}");
                return;
            }
        };
        pump(io, session, keys).await;
    });
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, ctype);
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    Ok(r)
}

/// Copies the container's output to the client and the client's input to
/// the container until the output ends, the client goes away, or the client
/// types the detach keys.
async fn pump<IO>(io: IO, session: AttachSession, keys: Vec<u8>)
where
    IO: tokio::io::AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    let AttachSession {
        tty,
        mut output,
        input,
        on_detach,
    } = session;
    let (detach_tx, mut detach_rx) = tokio::sync::oneshot::channel::<()>();
    let stdin_task = tokio::spawn(async move {
        let Some(mut input) = input else {
            // Keep reading so a closed client is noticed; discard input.
            let mut buf = [0u8; 1024];
            while matches!(rd.read(&mut buf).await, Ok(n) if n > 0) {}
            return;
        };
        let mut scanner = DetachScanner::new(if tty { keys } else { Vec::new() });
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            match scanner.feed(&buf[..n]) {
                Scan::Forward(data) => {
                    if input.write_all(&data).await.is_err() {
                        break;
                    }
                }
                Scan::Detach(data) => {
                    let _ = input.write_all(&data).await;
                    let _ = detach_tx.send(());
                    return;
                }
            }
            let _ = input.flush().await;
        }
        // Client closed its side: close the container's stdin.
        let _ = input.shutdown().await;
    });
    loop {
        tokio::select! {
            chunk = output.next() => match chunk {
                Some(data) => {
                    if wr.write_all(&data).await.is_err() { break; }
                    let _ = wr.flush().await;
                }
                None => break,
            },
            r = &mut detach_rx => {
                if r.is_ok() {
                    if let Some(f) = on_detach { f(); }
                    break;
                }
                // The stdin side ended without detaching: keep streaming output.
                detach_rx = tokio::sync::oneshot::channel().1;
            }
        }
    }
    let _ = wr.shutdown().await;
    stdin_task.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_conditions() {
        assert_eq!(
            WaitCondition::parse(None).unwrap(),
            WaitCondition::NotRunning
        );
        assert_eq!(
            WaitCondition::parse(Some("next-exit")).unwrap(),
            WaitCondition::NextExit
        );
        assert!(WaitCondition::parse(Some("soon")).is_err());
    }

    #[test]
    fn log_times() {
        let q: Query = [("since".to_string(), "12.5".to_string())]
            .into_iter()
            .collect();
        assert_eq!(parse_time_param(&q, "since").unwrap(), Some(12_500_000_000));
        let q: Query = [("since".to_string(), "x".to_string())]
            .into_iter()
            .collect();
        assert!(parse_time_param(&q, "since").is_err());
    }
}
