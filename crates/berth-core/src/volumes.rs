//! The volume driver trait. The built-in `local` driver and every volume
//! plugin proxy implement it, and both pass one shared conformance suite.
//! A driver describes (a path, a volume) rather than acting on containers:
//! the caller decides what to bind where.

use async_trait::async_trait;
use berth_types::Result;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where a driver's volumes are visible: on this host only, or cluster-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    #[default]
    Local,
    Global,
}

impl Scope {
    /// Docker's spelling; anything but `global` is local.
    pub fn parse(s: &str) -> Scope {
        if s.eq_ignore_ascii_case("global") {
            Scope::Global
        } else {
            Scope::Local
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Local => "local",
            Scope::Global => "global",
        }
    }
}

/// A volume as a driver reports it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DriverVolume {
    pub name: String,
    /// Empty when the driver has not mounted (or does not say).
    pub mountpoint: String,
    pub created_at: Option<String>,
    pub status: BTreeMap<String, serde_json::Value>,
}

/// A volume driver, built in or a plugin. `id` in `mount`/`unmount` names
/// one use of the volume (berth passes the container's ID); a driver mounts
/// on the first ID and unmounts after the last.
#[async_trait]
pub trait VolumeDriver: Send + Sync {
    /// The name users pass as `--driver`.
    fn name(&self) -> &str;
    async fn create(&self, name: &str, opts: &BTreeMap<String, String>) -> Result<()>;
    async fn remove(&self, name: &str) -> Result<()>;
    async fn mount(&self, name: &str, id: &str) -> Result<PathBuf>;
    async fn unmount(&self, name: &str, id: &str) -> Result<()>;
    /// The host path of a volume, empty when it is not mounted.
    async fn path(&self, name: &str) -> Result<String>;
    async fn get(&self, name: &str) -> Result<DriverVolume>;
    async fn list(&self) -> Result<Vec<DriverVolume>>;
    async fn scope(&self) -> Result<Scope>;
    /// Where volume `name`'s data lives on the host, when the driver keeps
    /// it in a place berth knows without asking (the built-in `local`
    /// driver's directory); `None` for a driver that must be asked (a
    /// plugin), the default.
    fn host_data(&self, name: &str) -> Option<PathBuf> {
        let _ = name;
        None
    }
}
