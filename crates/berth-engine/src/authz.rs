//! The API's authorization plugins, found by name in the registry of
//! authorization drivers over the daemon's plugin registry (legacy plugins
//! found on disk; managed ones once registered).

use berth_api::authz::Authz;
use std::sync::Arc;

/// The authorization chain over `registry`, starting with `names`.
pub fn chain(registry: Arc<berth_plugins::Registry>, names: Vec<String>) -> Arc<Authz> {
    Authz::new(berth_plugins::authz_registry(registry), names)
}
