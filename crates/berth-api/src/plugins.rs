//! `/plugins`: managed plugins. Create (from a tar of `config.json` and
//! `rootfs/`), list, inspect, enable, disable, set, remove, and the
//! privileges a plugin asks for. Pull, push and upgrade need the registry
//! client and say so. The handlers parse; the [`PluginBackend`] does the work.
//!
//! Plugin names may hold slashes (`user/name:tag`), so everything under
//! `/plugins/` that is not a fixed route is split by [`split_action`].

use crate::error::ApiResult;
use crate::query::{bool_param, filters_param, int_param, str_param, Query};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_core::Filters;
use berth_types::plugin::{Plugin, PluginPrivilege};
use berth_types::{Error, ErrorKind, Result};
use futures_util::TryStreamExt;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

/// The filters `GET /plugins` accepts (the swagger says `enable`, the CLI
/// documents `enabled`: both are taken).
pub const LIST_FILTERS: &[&str] = &["capability", "enable", "enabled"];

/// How long `enable` waits for `Plugin.Activate` when the client gives no timeout.
pub const DEFAULT_ENABLE_TIMEOUT: Duration = Duration::from_secs(30);

#[async_trait::async_trait]
pub trait PluginBackend: Send + Sync + 'static {
    async fn list(&self, filters: Filters) -> Result<Vec<Plugin>>;
    async fn inspect(&self, name: &str) -> Result<Plugin>;
    /// Creates a disabled plugin `name` from a tar (maybe gzipped) of
    /// `config.json` and `rootfs/`. Runs on a blocking thread.
    fn create(&self, name: &str, tar: &mut dyn Read) -> Result<()>;
    async fn enable(&self, name: &str, timeout: Duration) -> Result<()>;
    async fn disable(&self, name: &str, force: bool) -> Result<()>;
    async fn set(&self, name: &str, args: Vec<String>) -> Result<()>;
    async fn remove(&self, name: &str, force: bool) -> Result<()>;
    /// The privileges the plugin `remote` asks for.
    async fn privileges(&self, remote: &str) -> Result<Vec<PluginPrivilege>>;
}

type B = Arc<dyn PluginBackend>;

pub fn routes(backend: B) -> Router {
    Router::new()
        .route("/plugins", get(list))
        .route("/plugins/privileges", get(privileges))
        .route("/plugins/pull", post(pull))
        .route("/plugins/create", post(create))
        .route(
            "/plugins/{*rest}",
            get(get_named).post(post_named).delete(delete_named),
        )
        .with_state(backend)
}

/// What a path under `/plugins/` asks of which plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Inspect,
    Enable,
    Disable,
    Set,
    Push,
    Upgrade,
}

/// Splits `name/.../verb` into the plugin name and the verb; `None` when the
/// verb is unknown or the name empty.
pub fn split_action(rest: &str) -> Option<(String, Action)> {
    let (name, verb) = rest.rsplit_once('/')?;
    let a = match verb {
        "json" => Action::Inspect,
        "enable" => Action::Enable,
        "disable" => Action::Disable,
        "set" => Action::Set,
        "push" => Action::Push,
        "upgrade" => Action::Upgrade,
        _ => return None,
    };
    let name = name.trim_start_matches('/');
    if name.is_empty() {
        return None;
    }
    Some((name.to_string(), a))
}

/// The body of `POST /plugins/{name}/set`: a JSON array of `KEY=VALUE`.
pub fn parse_set(body: &[u8]) -> Result<Vec<String>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    serde_json::from_slice::<Option<Vec<String>>>(body)
        .map(Option::unwrap_or_default)
        .map_err(|e| Error::invalid(format!("invalid JSON: {e}")))
}

/// A privilege list as pull and upgrade send it (checked before the 501).
pub fn parse_privileges(body: &[u8]) -> Result<Vec<PluginPrivilege>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    serde_json::from_slice::<Option<Vec<PluginPrivilege>>>(body)
        .map(Option::unwrap_or_default)
        .map_err(|e| Error::invalid(format!("invalid privileges: {e}")))
}

/// `?timeout=` of enable, in seconds; absent or 0 is the default.
pub fn parse_timeout(q: &Query) -> Result<Duration> {
    match int_param(q, "timeout")? {
        None | Some(0) => Ok(DEFAULT_ENABLE_TIMEOUT),
        Some(n) if n < 0 => Err(Error::invalid(format!("invalid timeout {n}"))),
        Some(n) => Ok(Duration::from_secs(n as u64)),
    }
}

fn needs_registry(what: &str) -> Error {
    Error::not_implemented(format!(
        "plugin {what} needs a registry, and berth's registry client is not there yet; create the plugin from a directory with `docker plugin create NAME DIR` instead"
    ))
}

async fn small_body(body: Body) -> Result<Bytes> {
    const LIMIT: usize = 1 << 20;
    axum::body::to_bytes(body, LIMIT).await.map_err(|e| {
        if e.to_string().contains("length limit") {
            Error::new(
                ErrorKind::TooLarge,
                format!("request body is larger than {LIMIT} bytes"),
            )
        } else {
            Error::invalid(format!("reading the request body: {e}"))
        }
    })
}

async fn list(
    State(b): State<B>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<Json<Vec<Plugin>>> {
    let f = filters_param(&q)?;
    f.validate(LIST_FILTERS)?;
    f.bool_value("enable")?;
    f.bool_value("enabled")?;
    Ok(Json(b.list(f).await?))
}

async fn privileges(
    State(b): State<B>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<Json<Vec<PluginPrivilege>>> {
    let remote = str_param(&q, "remote").ok_or_else(|| Error::invalid("remote is required"))?;
    Ok(Json(b.privileges(remote).await?))
}

async fn pull(body: Body) -> ApiResult<StatusCode> {
    parse_privileges(&small_body(body).await?)?;
    Err(needs_registry("pull").into())
}

async fn create(
    State(b): State<B>,
    axum::extract::Query(q): axum::extract::Query<Query>,
    body: Body,
) -> ApiResult<StatusCode> {
    let name = str_param(&q, "name")
        .ok_or_else(|| Error::invalid("name is required"))?
        .to_string();
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let mut input = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    tokio::task::spawn_blocking(move || {
        let r = b.create(&name, &mut input);
        if r.is_err() {
            // Read the rest, so the client gets the error rather than a
            // broken pipe in the middle of its upload.
            let _ = std::io::copy(&mut input, &mut std::io::sink());
        }
        r
    })
    .await
    .map_err(|e| Error::internal(e.to_string()))??;
    Ok(StatusCode::NO_CONTENT)
}

fn unknown(rest: &str) -> Error {
    Error::not_found(format!("page not found: /plugins/{rest}"))
}

async fn get_named(State(b): State<B>, Path(rest): Path<String>) -> ApiResult<Response> {
    match split_action(&rest) {
        Some((name, Action::Inspect)) => Ok(Json(b.inspect(&name).await?).into_response()),
        _ => Err(unknown(&rest).into()),
    }
}

async fn post_named(
    State(b): State<B>,
    Path(rest): Path<String>,
    axum::extract::Query(q): axum::extract::Query<Query>,
    body: Body,
) -> ApiResult<Response> {
    let Some((name, action)) = split_action(&rest) else {
        return Err(unknown(&rest).into());
    };
    match action {
        Action::Enable => b.enable(&name, parse_timeout(&q)?).await?,
        Action::Disable => b.disable(&name, bool_param(&q, "force")).await?,
        Action::Set => b.set(&name, parse_set(&small_body(body).await?)?).await?,
        Action::Push => {
            b.inspect(&name).await?;
            return Err(needs_registry("push").into());
        }
        Action::Upgrade => {
            parse_privileges(&small_body(body).await?)?;
            b.inspect(&name).await?;
            return Err(needs_registry("upgrade").into());
        }
        Action::Inspect => return Err(unknown(&rest).into()),
    }
    Ok(StatusCode::OK.into_response())
}

async fn delete_named(
    State(b): State<B>,
    Path(rest): Path<String>,
    axum::extract::Query(q): axum::extract::Query<Query>,
) -> ApiResult<StatusCode> {
    let name = rest.trim_start_matches('/');
    if name.is_empty() {
        return Err(unknown(&rest).into());
    }
    b.remove(name, bool_param(&q, "force")).await?;
    Ok(StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_names_with_slashes() {
        assert_eq!(
            split_action("user/name:tag/json"),
            Some(("user/name:tag".into(), Action::Inspect))
        );
        assert_eq!(
            split_action("no-remove/enable"),
            Some(("no-remove".into(), Action::Enable))
        );
        assert_eq!(split_action("x/disable").unwrap().1, Action::Disable);
        assert_eq!(split_action("x/set").unwrap().1, Action::Set);
        assert_eq!(split_action("x/push").unwrap().1, Action::Push);
        assert_eq!(split_action("x/upgrade").unwrap().1, Action::Upgrade);
        assert_eq!(split_action("x/frobnicate"), None);
        assert_eq!(split_action("/json"), None);
        assert_eq!(split_action("json"), None);
    }

    #[test]
    fn parses_bodies_and_timeouts() {
        assert_eq!(parse_set(br#"["DEBUG=1","m.source=/x"]"#).unwrap().len(), 2);
        assert!(parse_set(b"").unwrap().is_empty());
        assert!(parse_set(b"null").unwrap().is_empty());
        assert!(parse_set(br#"{"a":1}"#).is_err());
        let p =
            parse_privileges(br#"[{"Name":"network","Description":"","Value":["host"]}]"#).unwrap();
        assert_eq!(p[0].value, ["host"]);
        assert!(parse_privileges(b"[1]").is_err());
        let q = |v: &str| -> Query { [("timeout".to_string(), v.to_string())].into() };
        assert_eq!(parse_timeout(&q("5")).unwrap(), Duration::from_secs(5));
        assert_eq!(parse_timeout(&q("0")).unwrap(), DEFAULT_ENABLE_TIMEOUT);
        assert_eq!(
            parse_timeout(&Query::new()).unwrap(),
            DEFAULT_ENABLE_TIMEOUT
        );
        assert!(parse_timeout(&q("-1")).is_err());
        assert!(parse_timeout(&q("x")).is_err());
        assert_eq!(needs_registry("pull").kind, ErrorKind::NotImplemented);
    }
}
