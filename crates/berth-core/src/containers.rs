//! Container records and their store: one JSON file per container under
//! `<data-root>/containers/<id>/config.json`, written atomically; names,
//! ID prefixes and dockerd's naming rules.

use crate::atomic::write_json;
use crate::lifecycle::{Move, Status, Step};
use berth_types::container::{
    ContainerConfig, ContainerState, HostConfig, MountPoint, NetworkingConfig, ZERO_TIME,
};
use berth_types::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// Everything berth keeps about one container.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ContainerRecord {
    pub id: String,
    /// With the leading slash, as dockerd reports it.
    pub name: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    /// Unix nanoseconds of `created`.
    pub created_nanos: i64,
    pub path: String,
    pub args: Vec<String>,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    /// The image as the client named it.
    pub image_ref: String,
    /// `sha256:...` of the image config.
    pub image_id: String,
    pub state: ContainerState,
    pub restart_count: i64,
    /// The runtime chosen at create time.
    pub runtime: String,
    #[serde(default)]
    pub mounts: Vec<MountPoint>,
    /// Set by an explicit stop, so `unless-stopped` and `always` know not to
    /// bring it back on daemon start.
    #[serde(default)]
    pub manually_stopped: bool,
    /// Whether the container ever started (dockerd's HasBeenStartedBefore).
    #[serde(default)]
    pub has_been_started: bool,
    /// Unix nanoseconds of the last start, for `execDuration`.
    #[serde(default)]
    pub started_nanos: i64,
    /// `NetworkingConfig` of create (aliases, static IPs, extra networks),
    /// plus networks a stopped container was connected to.
    #[serde(default)]
    pub networking: NetworkingConfig,
    /// Set when the container was disconnected from the network of its
    /// `NetworkMode`: its next start skips that network (dockerd keeps
    /// `NetworkMode` as it was and drops the network from the container's
    /// networks). Connecting it again clears the flag.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub left_mode_network: bool,
}

impl ContainerRecord {
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    pub fn is_running(&self) -> bool {
        self.state.running
    }

    /// Where the container is in its [`lifecycle`](crate::lifecycle).
    pub fn status(&self) -> Status {
        Status::parse(&self.state.status)
    }

    /// The status clients are shown: a container whose start failed before
    /// it ever ran is stored as exited but shown (and filtered) as created,
    /// as dockerd does.
    pub fn shown_status(&self) -> Status {
        match self.status() {
            Status::Exited if !self.has_been_started => Status::Created,
            s => s,
        }
    }

    /// Where `mv` leads this container, or dockerd's refusal.
    pub fn transition(&self, mv: Move) -> Result<Step> {
        crate::lifecycle::transition(&self.id, &self.name, self.status(), mv)
    }

    /// Puts the record in a state that [`Self::transition`] returned,
    /// keeping dockerd's flags (`Running`, `Paused`, ...) coherent with it.
    pub fn set_state(&mut self, status: Status) {
        self.state.status = status.as_str().to_string();
        self.state.running = status.is_running();
        self.state.paused = status == Status::Paused;
        self.state.restarting = status == Status::Restarting;
        self.state.dead = status == Status::Dead;
        if !self.state.running {
            self.state.pid = 0;
        }
    }

    /// Applies an observed move (started, exited, ...) when it leads
    /// anywhere; an impossible one is logged and changes nothing.
    pub fn apply(&mut self, mv: Move) {
        match self.transition(mv) {
            Ok(Step::To(s)) => self.set_state(s),
            Ok(Step::Unchanged) => {}
            Err(e) => tracing::warn!("{e}"),
        }
    }

    pub fn reset_times(&mut self) {
        self.state.started_at = ZERO_TIME.into();
        self.state.finished_at = ZERO_TIME.into();
    }
}

/// The name rule dockerd enforces: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, optional
/// leading slash.
pub fn validate_name(name: &str) -> Result<String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut chars = bare.chars();
    let ok = bare.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        return Err(Error::invalid(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(format!("/{bare}"))
}

const LEFT: &[&str] = &[
    "amber", "brisk", "calm", "dapper", "eager", "fond", "gentle", "hardy", "idle", "jolly",
    "keen", "lucid", "merry", "nimble", "odd", "plucky", "quiet", "rapid", "steady", "tidy",
    "upbeat", "vivid", "wry", "young", "zesty",
];
const RIGHT: &[&str] = &[
    "anchor", "buoy", "cable", "dock", "eddy", "ferry", "galley", "harbor", "inlet", "jetty",
    "keel", "lagoon", "mooring", "narrows", "oar", "pier", "quay", "rudder", "sail", "tide",
    "umiak", "vessel", "wharf", "yawl", "zephyr",
];

/// A random `adjective_noun` name (berth's own word lists).
pub fn random_name() -> String {
    let r = random_u64();
    let l = LEFT[(r % LEFT.len() as u64) as usize];
    let n = RIGHT[((r >> 16) % RIGHT.len() as u64) as usize];
    format!("{l}_{n}")
}

use crate::ids::random_u64;
pub use crate::ids::{fill_random, new_id};

type Shared = Arc<Mutex<ContainerRecord>>;

#[derive(Default)]
struct Index {
    by_id: HashMap<String, Shared>,
    /// name (with slash) -> id
    names: HashMap<String, String>,
}

/// All containers, loaded at start-up and kept in memory; each change is
/// written through to disk.
pub struct ContainerStore {
    dir: PathBuf,
    index: RwLock<Index>,
}

impl ContainerStore {
    pub fn open(dir: &Path) -> Result<ContainerStore> {
        std::fs::create_dir_all(dir)?;
        let mut index = Index::default();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let p = entry.path().join("config.json");
            let Ok(data) = std::fs::read(&p) else {
                continue;
            };
            match serde_json::from_slice::<ContainerRecord>(&data) {
                Ok(rec) => {
                    index.names.insert(rec.name.clone(), rec.id.clone());
                    index
                        .by_id
                        .insert(rec.id.clone(), Arc::new(Mutex::new(rec)));
                }
                Err(e) => tracing::warn!("skipping unreadable container {}: {e}", p.display()),
            }
        }
        Ok(ContainerStore {
            dir: dir.to_path_buf(),
            index: RwLock::new(index),
        })
    }

    /// The container's own directory (config, logs, exit status).
    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    fn persist(&self, rec: &ContainerRecord) -> Result<()> {
        write_json(&self.dir_of(&rec.id).join("config.json"), rec)
            .map_err(|e| Error::internal(format!("saving container {}: {e}", rec.short_id())))
    }

    /// Adds a new container under a name; a taken name is dockerd's 409.
    pub fn insert(&self, rec: ContainerRecord) -> Result<Shared> {
        let mut idx = self.index.write().unwrap();
        if let Some(other) = idx.names.get(&rec.name) {
            return Err(name_conflict(&rec.name, other));
        }
        self.persist(&rec)?;
        idx.names.insert(rec.name.clone(), rec.id.clone());
        let id = rec.id.clone();
        let shared = Arc::new(Mutex::new(rec));
        idx.by_id.insert(id, shared.clone());
        Ok(shared)
    }

    /// Adds a new container under a generated name, `gen(0)` first: a name
    /// another create took in the meantime is generated again, `gen(1)`,
    /// `gen(2)`, ... (up to 16 tries).
    pub fn insert_generated(
        &self,
        mut rec: ContainerRecord,
        mut gen: impl FnMut(u32) -> String,
    ) -> Result<Shared> {
        let mut last = None;
        for n in 0..16 {
            rec.name = gen(n);
            match self.insert(rec.clone()) {
                Err(e) if e.kind == ErrorKind::Conflict => last = Some(e),
                r => return r,
            }
        }
        Err(last.unwrap_or_else(|| Error::internal("no name")))
    }

    /// Finds a container by full ID, name, or unique ID prefix.
    pub fn get(&self, reference: &str) -> Result<Shared> {
        let idx = self.index.read().unwrap();
        if let Some(c) = idx.by_id.get(reference) {
            return Ok(c.clone());
        }
        let name = if reference.starts_with('/') {
            reference.to_string()
        } else {
            format!("/{reference}")
        };
        if let Some(id) = idx.names.get(&name) {
            if let Some(c) = idx.by_id.get(id) {
                return Ok(c.clone());
            }
        }
        if !reference.is_empty() && reference.bytes().all(|c| c.is_ascii_hexdigit()) {
            let mut found = idx.by_id.iter().filter(|(id, _)| id.starts_with(reference));
            if let Some((_, c)) = found.next() {
                if found.next().is_some() {
                    return Err(Error::invalid(format!(
                        "multiple IDs found with provided prefix: {reference}"
                    )));
                }
                return Ok(c.clone());
            }
        }
        Err(Error::not_found(format!("No such container: {reference}")))
    }

    /// Applies `f` to the record and writes it through.
    pub fn update<T>(&self, c: &Shared, f: impl FnOnce(&mut ContainerRecord) -> T) -> Result<T> {
        let mut rec = c.lock().unwrap();
        let out = f(&mut rec);
        self.persist(&rec)?;
        Ok(out)
    }

    pub fn rename(&self, c: &Shared, new_name: &str) -> Result<(String, String)> {
        let new_name = validate_name(new_name)?;
        let mut idx = self.index.write().unwrap();
        let mut rec = c.lock().unwrap();
        if rec.name == new_name {
            return Err(Error::invalid(
                "Renaming a container with the same name as its current name",
            ));
        }
        if let Some(other) = idx.names.get(&new_name) {
            return Err(name_conflict(&new_name, other));
        }
        let old = std::mem::replace(&mut rec.name, new_name.clone());
        if let Err(e) = self.persist(&rec) {
            rec.name = old;
            return Err(e);
        }
        idx.names.remove(&old);
        idx.names.insert(new_name.clone(), rec.id.clone());
        Ok((old, new_name))
    }

    /// Forgets a container and deletes its directory.
    pub fn remove(&self, id: &str) -> Result<()> {
        let mut idx = self.index.write().unwrap();
        if let Some(c) = idx.by_id.remove(id) {
            let name = c.lock().unwrap().name.clone();
            idx.names.remove(&name);
        }
        drop(idx);
        match std::fs::remove_dir_all(self.dir_of(id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::new(
                ErrorKind::Internal,
                format!("removing container directory: {e}"),
            )),
        }
    }

    /// Snapshots of every record, oldest first.
    pub fn list(&self) -> Vec<ContainerRecord> {
        let idx = self.index.read().unwrap();
        let mut v: Vec<ContainerRecord> = idx
            .by_id
            .values()
            .map(|c| c.lock().unwrap().clone())
            .collect();
        v.sort_by_key(|r| r.created_nanos);
        v
    }

    pub fn handles(&self) -> Vec<Shared> {
        self.index.read().unwrap().by_id.values().cloned().collect()
    }
}

fn name_conflict(name: &str, id: &str) -> Error {
    Error::conflict(format!(
        "Conflict. The container name \"{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, name: &str) -> ContainerRecord {
        ContainerRecord {
            id: id.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_container_that_never_ran_is_shown_as_created() {
        let mut r = rec("c1", "/c1");
        r.state.status = Status::Exited.as_str().into();
        assert_eq!(r.shown_status(), Status::Created);
        r.has_been_started = true;
        assert_eq!(r.shown_status(), Status::Exited);
        r.state.status = Status::Running.as_str().into();
        assert_eq!(r.shown_status(), Status::Running);
    }

    #[test]
    fn names_follow_dockerds_rule() {
        assert_eq!(validate_name("web-1").unwrap(), "/web-1");
        assert_eq!(validate_name("/a.b_c").unwrap(), "/a.b_c");
        for bad in ["a", "-x", "_x", "a b", "a/b", "", "/"] {
            let e = validate_name(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidParameter, "{bad}");
        }
        assert!(validate_name(&random_name()).is_ok());
    }

    #[test]
    fn a_generated_name_taken_meanwhile_is_generated_again() {
        let dir = tempfile::tempdir().unwrap();
        let s = ContainerStore::open(dir.path()).unwrap();
        s.insert(rec("aaaa000000", "/calm_dock")).unwrap();
        let mut asked = Vec::new();
        let c = s
            .insert_generated(rec("bbbb000000", "/x"), |n| {
                asked.push(n);
                if n < 2 {
                    "/calm_dock".into()
                } else {
                    "/calm_dock2".into()
                }
            })
            .unwrap();
        assert_eq!(c.lock().unwrap().name, "/calm_dock2");
        assert_eq!(asked, [0, 1, 2]);
        let e = s
            .insert_generated(rec("cccc000000", "/x"), |_| "/calm_dock".into())
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Conflict);
    }

    #[test]
    fn lookup_by_id_name_and_prefix_and_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let s = ContainerStore::open(dir.path()).unwrap();
        s.insert(rec("abcdef0123", "/one")).unwrap();
        s.insert(rec("abc9990000", "/two")).unwrap();
        let e = s.insert(rec("ffff", "/one")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Conflict);
        assert!(e
            .message
            .contains("already in use by container \"abcdef0123\""));
        assert_eq!(s.get("one").unwrap().lock().unwrap().id, "abcdef0123");
        assert_eq!(s.get("/two").unwrap().lock().unwrap().id, "abc9990000");
        assert_eq!(s.get("abcd").unwrap().lock().unwrap().id, "abcdef0123");
        assert_eq!(s.get("abc").unwrap_err().kind, ErrorKind::InvalidParameter);
        assert_eq!(s.get("nope").unwrap_err().kind, ErrorKind::NotFound);
        let c = s.get("one").unwrap();
        s.rename(&c, "uno").unwrap();
        assert_eq!(s.rename(&c, "two").unwrap_err().kind, ErrorKind::Conflict);
        s.update(&c, |r| r.set_state(Status::Running)).unwrap();
        drop(s);
        let s = ContainerStore::open(dir.path()).unwrap();
        let c = s.get("uno").unwrap();
        assert!(c.lock().unwrap().state.running);
        assert!(s.get("one").is_err());
        s.remove("abcdef0123").unwrap();
        assert!(s.get("uno").is_err());
        assert!(!dir.path().join("abcdef0123").exists());
        assert!(new_id().len() == 64);
    }
}
