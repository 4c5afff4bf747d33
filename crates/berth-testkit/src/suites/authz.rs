//! The authorization conformance suite. A plugin under test follows the
//! suite's rules, on the request URI (`/_ping?suite=...`):
//!
//! - `suite=deny`: `AuthZReq` answers `Allow: false`, `Msg: "suite denies"`;
//! - `suite=error`: `AuthZReq` answers `Err: "suite fails"`;
//! - `suite=deny-response`: `AuthZReq` allows, `AuthZRes` answers
//!   `Allow: false`, `Msg: "suite denies the response"`;
//! - anything else is allowed in both phases.
//!
//! [`run`] checks, through a daemon whose chain is that one plugin, that
//! berth lets the allowed through and turns every other answer into a 403
//! carrying the plugin's words. [`SuitePlugin`] is the rule set with the
//! SDK; [`python_script`] the same in Python's standard library.

use crate::TestDaemon;
use berth_plugin_sdk::{async_trait, authz, AuthzHandler, PluginServer};
use std::path::{Path, PathBuf};

/// The rule set's decision for one call (`res`: the `AuthZRes` phase).
pub fn decide(req: &authz::Request, res: bool) -> authz::Response {
    let rule = req
        .request_uri
        .split_once("suite=")
        .map(|(_, r)| r.split('&').next().unwrap_or(""))
        .unwrap_or("");
    match (rule, res) {
        ("deny", false) => authz::Response::deny("suite denies"),
        ("error", false) => authz::Response {
            err: "suite fails".into(),
            ..Default::default()
        },
        ("deny-response", true) => authz::Response::deny("suite denies the response"),
        _ => authz::Response::allow(),
    }
}

/// The suite's rules as an SDK authorization plugin.
pub struct SuitePlugin;

#[async_trait]
impl AuthzHandler for SuitePlugin {
    async fn authz_req(&self, req: authz::Request) -> authz::Response {
        decide(&req, false)
    }
    async fn authz_res(&self, req: authz::Request) -> authz::Response {
        decide(&req, true)
    }
}

/// Serves [`SuitePlugin`] on `socket` from a thread of its own, for as
/// long as the process lives.
pub fn serve_sdk(socket: &Path) {
    let _ = std::fs::remove_file(socket);
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = rt.block_on(async { tokio::net::UnixListener::bind(socket) });
    let listener = listener.unwrap();
    std::thread::spawn(move || {
        let _ = rt.block_on(PluginServer::new().authz(SuitePlugin).serve(listener));
    });
}

/// The suite's rules in Python's standard library:
/// `python3 authz_suite.py SOCKET`.
pub fn python_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/authz_suite.py")
}

/// Runs every check against `d`, whose authorization chain is the one
/// plugin `plugin`, which follows the suite's rules. Panics on the first
/// failure.
pub fn run(d: &TestDaemon, plugin: &str) {
    // Allowed, both phases.
    let r = d.get("/_ping?suite=allow");
    assert_eq!(r.status, 200, "allow: {}", r.text());
    assert_eq!(r.text(), "OK");
    // Denied with the plugin's message.
    let r = d.get("/_ping?suite=deny");
    assert_eq!(r.status, 403, "deny: {}", r.text());
    assert_eq!(
        r.json()["message"],
        format!("authorization denied by plugin {plugin}: suite denies")
    );
    // The plugin's error denies too, and says so.
    let r = d.get("/_ping?suite=error");
    assert_eq!(r.status, 403, "error: {}", r.text());
    let m = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(
        m.contains(&format!("plugin {plugin} failed with error"))
            && m.contains("AuthZPlugin.AuthZReq")
            && m.contains("suite fails"),
        "error: {m}"
    );
    // Handled, then its response denied: the answer never leaves.
    let r = d.get("/_ping?suite=deny-response");
    assert_eq!(r.status, 403, "deny-response: {}", r.text());
    assert_eq!(
        r.json()["message"],
        format!("authorization denied by plugin {plugin}: suite denies the response")
    );
    assert_ne!(r.text(), "OK");
    // And the chain still lets the allowed through afterwards.
    assert_eq!(d.get("/_ping").status, 200);
}
