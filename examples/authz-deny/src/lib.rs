//! authz-deny: an authorization plugin (Docker's `AuthZPlugin` protocol)
//! that denies requests matching a rule and allows the rest.
//!
//! Usage: `authz-deny [--name NAME] [--socket PATH] [--deny "METHOD /path"]... [--log FILE]`
//!
//! - `--name`: the plugin's name (default `authz-deny`); it listens on
//!   `/run/docker/plugins/NAME.sock` unless `--socket` says otherwise, so
//!   `berthd --authorization-plugin NAME` (or dockerd) finds it.
//! - `--deny "METHOD /path"`: refuse requests with that HTTP method whose
//!   path, without the `/vN.NN` prefix and the query, starts with `/path`.
//!   Repeatable. Default: `DELETE /volumes/` (`docker volume rm`).
//! - `--log FILE`: append every call received as one JSON line
//!   `{"call": "AuthZReq"|"AuthZRes", "request": {...}, "body": "..."}`.

use berth_plugin_sdk::{async_trait, authz, AuthzHandler, PluginServer};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// One denied operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub method: String,
    pub prefix: String,
}

impl Rule {
    pub fn parse(s: &str) -> Result<Rule, String> {
        let (m, p) = s
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("invalid rule {s:?}: want \"METHOD /path\""))?;
        if !p.starts_with('/') {
            return Err(format!("invalid rule {s:?}: the path must start with /"));
        }
        Ok(Rule {
            method: m.to_ascii_uppercase(),
            prefix: p.trim().to_string(),
        })
    }
}

/// The path of a request URI without its version prefix and query.
pub fn api_path(uri: &str) -> &str {
    let path = uri.split('?').next().unwrap_or("");
    if let Some(rest) = path.strip_prefix("/v") {
        let end = rest.find('/').unwrap_or(rest.len());
        let seg = &rest[..end];
        if !seg.is_empty() && seg.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
            return if end == rest.len() { "/" } else { &rest[end..] };
        }
    }
    path
}

pub struct DenyPlugin {
    pub name: String,
    pub rules: Vec<Rule>,
    log: Option<Mutex<std::fs::File>>,
}

impl DenyPlugin {
    pub fn new(name: &str, rules: Vec<Rule>, log: Option<PathBuf>) -> std::io::Result<Self> {
        let log = match log {
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            )),
            None => None,
        };
        Ok(DenyPlugin {
            name: name.to_string(),
            rules,
            log,
        })
    }

    /// The decision on one request.
    pub fn decide(&self, req: &authz::Request) -> authz::Response {
        let path = api_path(&req.request_uri);
        for r in &self.rules {
            if req.request_method.eq_ignore_ascii_case(&r.method) && path.starts_with(&r.prefix) {
                return authz::Response::deny(format!(
                    "{} {} is not allowed by policy",
                    req.request_method, path
                ));
            }
        }
        authz::Response::allow()
    }

    fn record(&self, call: &str, req: &authz::Request) {
        if let Some(f) = &self.log {
            let line = serde_json::json!({
                "call": call,
                "request": req,
                "body": String::from_utf8_lossy(&req.request_body),
            });
            let mut f = f.lock().unwrap();
            let _ = writeln!(f, "{line}");
            let _ = f.flush();
        }
    }
}

#[async_trait]
impl AuthzHandler for DenyPlugin {
    async fn authz_req(&self, req: authz::Request) -> authz::Response {
        self.record("AuthZReq", &req);
        self.decide(&req)
    }
    async fn authz_res(&self, req: authz::Request) -> authz::Response {
        self.record("AuthZRes", &req);
        authz::Response::allow()
    }
}

/// Parses the flags and serves until SIGTERM or SIGINT (the socket is
/// removed then).
pub async fn run(args: Vec<String>) -> Result<(), String> {
    let mut name = "authz-deny".to_string();
    let mut socket = None;
    let mut rules = Vec::new();
    let mut log = None;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--name" => name = val()?,
            "--socket" => socket = Some(PathBuf::from(val()?)),
            "--deny" => rules.push(Rule::parse(&val()?)?),
            "--log" => log = Some(PathBuf::from(val()?)),
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    if rules.is_empty() {
        rules.push(Rule::parse("DELETE /volumes/")?);
    }
    let socket =
        socket.unwrap_or_else(|| PathBuf::from(format!("/run/docker/plugins/{name}.sock")));
    let plugin = DenyPlugin::new(&name, rules, log).map_err(|e| format!("opening the log: {e}"))?;
    PluginServer::new()
        .authz(plugin)
        .serve_unix(&socket)
        .await
        .map_err(|e| format!("serving on {}: {e}", socket.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_prefix_and_query() {
        assert_eq!(api_path("/v1.41/volumes/x?force=1"), "/volumes/x");
        assert_eq!(api_path("/volumes/x"), "/volumes/x");
        assert_eq!(api_path("/v1.41"), "/");
        assert_eq!(api_path("/vfoo/x"), "/vfoo/x");
    }

    #[test]
    fn denies_only_what_the_rules_say() {
        let p = DenyPlugin::new("d", vec![Rule::parse("delete /volumes/").unwrap()], None).unwrap();
        let req = |m: &str, u: &str| authz::Request {
            request_method: m.into(),
            request_uri: u.into(),
            ..Default::default()
        };
        let r = p.decide(&req("DELETE", "/v1.50/volumes/data"));
        assert!(!r.allow);
        assert_eq!(r.msg, "DELETE /volumes/data is not allowed by policy");
        assert!(p.decide(&req("GET", "/v1.50/volumes/data")).allow);
        assert!(p.decide(&req("DELETE", "/containers/x")).allow);
        assert!(Rule::parse("DELETE").is_err());
        assert!(Rule::parse("DELETE volumes").is_err());
    }
}
