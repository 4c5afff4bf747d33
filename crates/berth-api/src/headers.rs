//! The headers dockerd's middleware puts on every response, whatever the
//! route and whether it succeeded: `Api-Version`, `Ostype`, `Server` and
//! `Docker-Experimental`. Clients read `Api-Version` from any response
//! (`/version` included) to negotiate, not only from `/_ping`.

use axum::http::{HeaderMap, HeaderValue};
use berth_types::system::API_VERSION;
use std::sync::Arc;

/// Whether the daemon runs with `--experimental`, read for each response
/// (a config reload may change it).
pub type ExperimentalFn = Arc<dyn Fn() -> bool + Send + Sync>;

/// Who the daemon says it is in each response.
#[derive(Clone)]
pub struct Identity {
    /// `Docker/<version> (linux)`, the form of dockerd's `Server` header.
    server: HeaderValue,
    experimental: ExperimentalFn,
}

impl Identity {
    pub fn new(version: &str, experimental: ExperimentalFn) -> Identity {
        let server = HeaderValue::from_str(&format!("Docker/{version} (linux)"))
            .unwrap_or_else(|_| HeaderValue::from_static("Docker (linux)"));
        Identity {
            server,
            experimental,
        }
    }
}

/// Adds the common headers a handler did not set itself.
pub fn add_common(h: &mut HeaderMap, id: Option<&Identity>) {
    let mut set = |name: &'static str, v: HeaderValue| {
        if !h.contains_key(name) {
            h.insert(name, v);
        }
    };
    set("Api-Version", HeaderValue::from_static(API_VERSION));
    set("Ostype", HeaderValue::from_static("linux"));
    if let Some(id) = id {
        set("Server", id.server.clone());
        let exp = if (id.experimental)() { "true" } else { "false" };
        set("Docker-Experimental", HeaderValue::from_static(exp));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_what_is_missing_and_keeps_what_is_set() {
        let mut h = HeaderMap::new();
        h.insert("Ostype", HeaderValue::from_static("custom"));
        add_common(&mut h, None);
        assert_eq!(h["Api-Version"], API_VERSION);
        assert_eq!(h["Ostype"], "custom");
        assert!(!h.contains_key("Server"));
        let id = Identity::new("1.2.3", Arc::new(|| true));
        add_common(&mut h, Some(&id));
        assert_eq!(h["Server"], "Docker/1.2.3 (linux)");
        assert_eq!(h["Docker-Experimental"], "true");
    }
}
