//! The container service: berth-core's records, the image store's
//! snapshots and berth-runtime's shims, put together behind the API's
//! [`ContainerBackend`](berth_api::containers::ContainerBackend). One file per
//! group of verbs.

mod attach;
pub mod backend;
mod create;
mod lifecycle;
mod list;
mod net;
mod remove;
mod start;
mod start_error;
mod volumes;
mod workdir;

use crate::supervisor::{Backoff, Restarts};
use berth_core::containers::{ContainerRecord, ContainerStore};
use berth_core::events::EventBus;
use berth_image::ImageStore;
use berth_runtime::{RuntimeRegistry, ShimClient};
use berth_types::{Error, EventType, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;

pub use attach::PendingAttach;

/// What the daemon keeps in memory per container, beside its record.
pub struct Live {
    /// The shim while the container runs.
    shim: Mutex<Option<ShimClient>>,
    /// Counts exits that have been fully recorded; waiters watch it.
    exits: watch::Sender<u64>,
    /// The exit code of the last recorded exit.
    last_exit: Mutex<i64>,
    removed: watch::Sender<bool>,
    /// Attaches waiting for the next start (docker run, docker start -a).
    pending: Mutex<Vec<PendingAttach>>,
    /// Serialises start, restart and remove of one container.
    op: tokio::sync::Mutex<()>,
    /// Consecutive quick restarts, for the restart policy's back-off.
    restarts: Mutex<Restarts>,
}

impl Live {
    fn new() -> Live {
        Live {
            shim: Mutex::new(None),
            exits: watch::channel(0).0,
            last_exit: Mutex::new(0),
            removed: watch::channel(false).0,
            pending: Mutex::new(Vec::new()),
            op: tokio::sync::Mutex::new(()),
            restarts: Mutex::new(Restarts::new(Backoff::CONTAINER)),
        }
    }

    fn shim(&self) -> Option<ShimClient> {
        self.shim.lock().unwrap().clone()
    }
}

pub struct Containers {
    pub store: ContainerStore,
    pub images: Arc<ImageStore>,
    pub runtimes: RwLock<RuntimeRegistry>,
    pub volumes: Arc<berth_plugins::VolumeStore>,
    events: Arc<EventBus>,
    /// berthd's own executable, re-executed as the shim and the embedded runtime.
    exe: PathBuf,
    exec_root: PathBuf,
    data_root: PathBuf,
    live: Mutex<HashMap<String, Arc<Live>>>,
    /// Set once at daemon start, before any container starts.
    pub network: std::sync::OnceLock<Arc<berth_network::NetworkManager>>,
}

impl Containers {
    pub fn new(
        data_root: &std::path::Path,
        exec_root: &std::path::Path,
        images: Arc<ImageStore>,
        runtimes: RuntimeRegistry,
        volumes: Arc<berth_plugins::VolumeStore>,
        events: Arc<EventBus>,
    ) -> Result<Arc<Containers>> {
        let exe = std::env::current_exe()
            .map_err(|e| Error::internal(format!("finding berthd's executable: {e}")))?;
        Ok(Arc::new(Containers {
            store: ContainerStore::open(&data_root.join("containers"))?,
            images,
            runtimes: RwLock::new(runtimes),
            volumes,
            events,
            exe,
            exec_root: exec_root.to_path_buf(),
            data_root: data_root.to_path_buf(),
            live: Mutex::new(HashMap::new()),
            network: std::sync::OnceLock::new(),
        }))
    }

    fn live(&self, id: &str) -> Arc<Live> {
        self.live
            .lock()
            .unwrap()
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(Live::new()))
            .clone()
    }

    fn paths(&self, id: &str, runtime: &str) -> berth_runtime::shim::ContainerPaths {
        berth_runtime::shim::ContainerPaths::new(&self.exec_root, &self.data_root, id, runtime)
    }

    /// Publishes a container event with dockerd's attributes: the image as
    /// named, the name without its slash, the labels, and `extra`.
    fn emit(&self, rec: &ContainerRecord, action: &str, extra: &[(&str, String)]) {
        let mut attrs = event_attributes(rec);
        for (k, v) in extra {
            attrs.insert((*k).to_string(), v.clone());
        }
        self.events
            .publish(EventType::Container, action, &rec.id, attrs);
    }

    /// The containers using an image (for the image store's 409).
    pub fn users_of_image(&self, image_id: &str) -> Vec<String> {
        self.store
            .list()
            .into_iter()
            .filter(|r| r.image_id == image_id)
            .map(|r| r.id)
            .collect()
    }

    pub fn counts(&self) -> crate::daemon::ContainerCounts {
        let mut c = crate::daemon::ContainerCounts::default();
        for r in self.store.list() {
            c.total += 1;
            if r.state.paused {
                c.paused += 1;
            } else if r.state.running {
                c.running += 1;
            } else {
                c.stopped += 1;
            }
        }
        c
    }
}

/// A container event's attributes: its labels, the image as named and
/// the name without its slash, as dockerd sets them.
fn event_attributes(rec: &ContainerRecord) -> BTreeMap<String, String> {
    let mut attrs: BTreeMap<String, String> = rec.config.labels.clone();
    attrs.insert("image".into(), rec.image_ref.clone());
    attrs.insert("name".into(), rec.name.trim_start_matches('/').to_string());
    attrs
}

pub fn now_nanos() -> i128 {
    berth_types::timestamp::now_nanos()
}

pub fn now_rfc3339() -> String {
    berth_types::timestamp::now()
}

/// `SIGTERM`, `TERM` or `15` as a signal number.
pub fn parse_signal(s: &str) -> Result<i32> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::invalid(format!("Invalid signal: {s}")));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| Error::invalid(format!("Invalid signal: {s}")))
}

fn not_running(id: &str) -> Error {
    Error::conflict(format!("Container {id} is not running"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("kill").unwrap(), 9);
        assert_eq!(parse_signal("10").unwrap(), 10);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("0").is_err());
    }
}
