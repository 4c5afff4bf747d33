//! The volume store: every volume berth knows (named and anonymous), its
//! driver, labels and options, and which containers use it. One JSON file
//! per volume under `<root>/_meta/`, written atomically; local volume data
//! under `<root>/<name>/_data` like dockerd. Operations on one volume are
//! serialised by a per-name lock; no lock is shared across volumes while a
//! driver (possibly a plugin) is called.

mod drivers;
mod listing;

use crate::registry::Registry;
use crate::resolver::VolumePlugins;
use berth_core::drivers::{DriverKind, DriverRegistry};
use berth_core::events::EventSink;
use berth_core::volumes::{Scope, VolumeDriver};
use berth_core::Filters;
use berth_types::volume::Volume;
use berth_types::{Error, ErrorKind, EventType, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The label dockerd puts on anonymous volumes.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
struct Record {
    name: String,
    driver: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    options: BTreeMap<String, String>,
    created_at: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    anonymous: bool,
    /// Containers that reference the volume (created, running or stopped).
    #[serde(default)]
    refs: BTreeSet<String>,
    /// Containers that have it mounted now, with the driver's path.
    #[serde(default)]
    mounts: BTreeMap<String, String>,
    /// The last mountpoint a driver reported.
    #[serde(default)]
    mountpoint: String,
    /// The driver was a managed plugin since removed, and the volume's
    /// data with it: nothing is left to ask, `rm` just forgets it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    driver_removed: bool,
}

/// What `docker volume create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Empty: an anonymous volume with a generated name.
    pub name: String,
    /// Empty: the default driver (the built-in registered first).
    pub driver: String,
    pub driver_opts: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

pub struct VolumeStore {
    root: PathBuf,
    meta: PathBuf,
    /// Built-ins (`local`) first, then volume plugins, by name.
    drivers: DriverRegistry<dyn VolumeDriver>,
    registry: Arc<Registry>,
    events: Arc<dyn EventSink>,
    records: Mutex<BTreeMap<String, Record>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// dockerd's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok_first = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if name.len() < 2 {
        return Err(Error::invalid(format!(
            "volume name is too short, names should be at least two alphanumeric characters: \"{name}\""
        )));
    }
    if !ok_first || !ok_rest {
        return Err(Error::invalid(format!(
            "\"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"
        )));
    }
    Ok(())
}

fn now_rfc3339() -> String {
    berth_types::timestamp::now_seconds()
}

fn dir_size(p: &Path) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if m.is_dir() {
        std::fs::read_dir(p)
            .map(|rd| rd.flatten().map(|e| dir_size(&e.path())).sum())
            .unwrap_or(0)
    } else if m.is_file() {
        m.len()
    } else {
        0
    }
}

impl VolumeStore {
    /// Opens the store under `root` (berth uses `<data-root>/volumes`),
    /// loading every volume record written before.
    pub fn open(
        root: impl Into<PathBuf>,
        registry: Arc<Registry>,
        events: Arc<dyn EventSink>,
    ) -> Result<Arc<VolumeStore>> {
        let root = root.into();
        let meta = root.join("_meta");
        std::fs::create_dir_all(&meta)?;
        let drivers = DriverRegistry::<dyn VolumeDriver>::new(DriverKind::Volume);
        crate::local::register(&drivers, &root)?;
        drivers.set_plugins(VolumePlugins::new(registry.clone()));
        let mut records = BTreeMap::new();
        for e in std::fs::read_dir(&meta)?.flatten() {
            let p = e.path();
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            match std::fs::read(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Record>(&b).map_err(|e| e.to_string()))
            {
                Ok(r) => {
                    records.insert(r.name.clone(), r);
                }
                Err(e) => tracing::warn!("skipping volume record {}: {e}", p.display()),
            }
        }
        Ok(Arc::new(VolumeStore {
            root,
            meta,
            drivers,
            registry,
            events,
            records: Mutex::new(records),
            locks: Mutex::new(HashMap::new()),
        }))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The volume drivers, built-in and plugins, by name.
    pub fn drivers(&self) -> &DriverRegistry<dyn VolumeDriver> {
        &self.drivers
    }

    /// Where a volume's data is on the host, when its driver (a built-in)
    /// says without being asked.
    fn host_data(&self, r: &Record) -> Option<PathBuf> {
        self.drivers.builtin(&r.driver)?.host_data(&r.name)
    }

    /// The volumes whose driver `is_driver` accepts (a plugin refusing to
    /// be disabled names them). Read from the records, so it holds across
    /// restarts.
    pub fn volumes_with_driver(&self, is_driver: impl Fn(&str) -> bool) -> Vec<String> {
        self.records
            .lock()
            .unwrap()
            .values()
            .filter(|r| is_driver(&r.driver))
            .map(|r| r.name.clone())
            .collect()
    }

    fn lock_for(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap()
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    fn save(&self, r: &Record) -> Result<()> {
        berth_core::atomic::write_json(&self.meta.join(format!("{}.json", r.name)), r)?;
        Ok(())
    }

    fn record(&self, name: &str) -> Option<Record> {
        self.records.lock().unwrap().get(name).cloned()
    }

    fn update(&self, name: &str, f: impl FnOnce(&mut Record)) -> Result<Record> {
        let r = {
            let mut recs = self.records.lock().unwrap();
            let r = recs
                .get_mut(name)
                .ok_or_else(|| Error::not_found(format!("get {name}: no such volume")))?;
            f(r);
            r.clone()
        };
        self.save(&r)?;
        Ok(r)
    }

    fn emit(&self, action: &str, name: &str, mut attrs: BTreeMap<String, String>, driver: &str) {
        attrs.insert("driver".into(), driver.to_string());
        self.events.emit(EventType::Volume, action, name, attrs);
    }

    fn to_volume(&self, r: &Record) -> Volume {
        let mountpoint = match self.host_data(r) {
            Some(p) => p.display().to_string(),
            None => r.mountpoint.clone(),
        };
        Volume {
            name: r.name.clone(),
            driver: r.driver.clone(),
            mountpoint,
            created_at: Some(r.created_at.clone()),
            status: None,
            labels: r.labels.clone(),
            scope: if r.scope.is_empty() {
                Scope::default().as_str().into()
            } else {
                r.scope.clone()
            },
            options: r.options.clone(),
            usage_data: None,
        }
    }

    /// `docker volume create`. Creating an existing name with the same (or
    /// no) driver returns the existing volume, as dockerd does; so does a
    /// name a driver already has (found by asking every driver when none
    /// is given), which berth then keeps a record of.
    pub async fn create(&self, opts: CreateOptions) -> Result<Volume> {
        let anonymous = opts.name.is_empty();
        let name = if anonymous {
            berth_core::ids::new_id()
        } else {
            validate_name(&opts.name)?;
            opts.name.clone()
        };
        let gate = self.lock_for(&name);
        let _g = gate.lock().await;
        if let Some(r) = self.record(&name).filter(|r| !r.driver_removed) {
            if !opts.driver.is_empty() && !self.same_driver(&r.driver, &opts.driver) {
                return Err(Error::conflict(format!(
                    "a volume with name {name} already exists with driver \"{}\" but driver \"{}\" was specified",
                    r.driver,
                    self.canonical_driver(&opts.driver)
                )));
            }
            return Ok(self.to_volume(&r));
        }
        if let Some(r) = self.record(&name) {
            // Its plugin was removed with the volume's data: made anew,
            // unless containers still name the old one (dockerd's rule).
            if !r.refs.is_empty() {
                return Err(Error::conflict(format!(
                    "found references to volume '{name}' in driver '{}' but the volume was not found in the driver -- you may need to remove containers referencing this volume or force remove the volume to re-create it",
                    r.driver
                )));
            }
        }
        let (driver, exists) = self.driver_for_new(&name, &opts.driver, anonymous).await?;
        // The name users see: `x:latest` for a managed plugin asked for as `x`.
        let driver_name = driver.name().to_string();
        if !exists {
            driver
                .create(&name, &opts.driver_opts)
                .await
                .map_err(|e| self.driver_error(&driver_name, "create", &name, e))?;
        }
        let scope = driver.scope().await.unwrap_or_default().as_str();
        let mut labels = opts.labels;
        if anonymous {
            labels.insert(ANONYMOUS_LABEL.into(), String::new());
        }
        let mountpoint = if driver.host_data(&name).is_some() {
            String::new()
        } else {
            driver.path(&name).await.unwrap_or_default()
        };
        let r = Record {
            name: name.clone(),
            driver: driver_name.clone(),
            labels,
            options: opts.driver_opts,
            created_at: now_rfc3339(),
            scope: scope.to_string(),
            anonymous,
            mountpoint,
            ..Default::default()
        };
        self.save(&r)?;
        self.records.lock().unwrap().insert(name.clone(), r.clone());
        self.emit("create", &name, BTreeMap::new(), &driver_name);
        Ok(self.to_volume(&r))
    }

    /// An anonymous volume (`-v /path`), labelled as dockerd labels them.
    pub async fn create_anonymous(&self, driver: &str) -> Result<Volume> {
        self.create(CreateOptions {
            driver: driver.to_string(),
            ..Default::default()
        })
        .await
    }

    /// `docker volume inspect`. A plugin volume's status comes from the
    /// plugin; a volume berth has no record of is looked for in every
    /// driver, as dockerd does.
    pub async fn inspect(&self, name: &str) -> Result<Volume> {
        let Some(r) = self.record(name) else {
            let (d, dv) = self
                .find_in_drivers(name)
                .await
                .ok_or_else(|| Error::not_found(format!("get {name}: no such volume")))?;
            let scope = d.scope().await.unwrap_or_default();
            return Ok(drivers::foreign_volume(d.name(), dv, scope));
        };
        let mut v = self.to_volume(&r);
        if self.host_data(&r).is_none() {
            match self.driver(&r.driver).await {
                Ok(d) => match d.get(name).await {
                    Ok(dv) => {
                        if !dv.mountpoint.is_empty() {
                            v.mountpoint = dv.mountpoint;
                        }
                        if !dv.status.is_empty() {
                            v.status = Some(dv.status);
                        }
                    }
                    Err(e) => tracing::warn!("volume {name}: plugin get: {e}"),
                },
                Err(e) => tracing::warn!("volume {name}: {e}"),
            }
        }
        Ok(v)
    }

    /// Containers that reference volume `name`.
    pub fn in_use(&self, name: &str) -> Vec<String> {
        self.record(name)
            .map(|r| r.refs.into_iter().collect())
            .unwrap_or_default()
    }

    /// `docker volume rm`. In use is a conflict, even with `force`; with
    /// `force` a missing volume is fine and a driver error does not keep
    /// the record.
    pub async fn remove(&self, name: &str, force: bool) -> Result<()> {
        let gate = self.lock_for(name);
        let _g = gate.lock().await;
        let Some(r) = self.record(name) else {
            return self.remove_foreign(name, force).await;
        };
        if !r.refs.is_empty() {
            let ids: Vec<&str> = r.refs.iter().map(String::as_str).collect();
            return Err(Error::conflict(format!(
                "remove {name}: volume is in use - [{}]",
                ids.join(", ")
            )));
        }
        let res = if r.driver_removed {
            Ok(())
        } else {
            match self.driver(&r.driver).await {
            Ok(d) => d
                .remove(name)
                .await
                .map_err(|e| self.driver_error(&r.driver, "remove", name, e)),
            Err(e) => Err(Error::new(
                e.kind,
                format!(
                    "remove {name}: {}: start the plugin, or remove the volume with --force to forget it",
                    e.message
                ),
            )),
            }
        };
        if let Err(e) = res {
            if !force {
                return Err(e);
            }
            tracing::warn!("force-removing volume {name}: driver error ignored: {e}");
        }
        self.records.lock().unwrap().remove(name);
        let _ = std::fs::remove_file(self.meta.join(format!("{name}.json")));
        self.emit("destroy", name, BTreeMap::new(), &r.driver);
        Ok(())
    }

    /// `docker volume prune`: unused volumes; only anonymous ones unless the
    /// `all` filter is true (API 1.42+). Filters: `label`, `label!`, `all`.
    pub async fn prune(&self, filters: &Filters) -> Result<(Vec<String>, u64)> {
        filters.validate(&["label", "label!", "all"])?;
        let all = filters.bool_value("all")?.unwrap_or(false);
        let recs: Vec<Record> = self.records.lock().unwrap().values().cloned().collect();
        let mut deleted = Vec::new();
        let mut space = 0;
        for r in recs {
            if !r.refs.is_empty() || (!all && !r.anonymous) {
                continue;
            }
            if !filters.match_labels("label", &r.labels) {
                continue;
            }
            if filters.contains("label!") && filters.match_labels("label!", &r.labels) {
                continue;
            }
            let size = self.host_data(&r).map(|p| dir_size(&p)).unwrap_or(0);
            match self.remove(&r.name, false).await {
                Ok(()) => {
                    deleted.push(r.name);
                    space += size;
                }
                Err(e) if e.kind == ErrorKind::Conflict => {}
                Err(e) => tracing::warn!("prune: {e}"),
            }
        }
        Ok((deleted, space))
    }

    /// Records that `container` uses volume `name` (at create). Makes it
    /// "in use" for `rm` and not dangling.
    pub fn add_ref(&self, name: &str, container: &str) -> Result<()> {
        self.update(name, |r| {
            r.refs.insert(container.to_string());
        })
        .map(|_| ())
    }

    /// Drops `container`'s reference to `name`.
    pub fn remove_ref(&self, name: &str, container: &str) -> Result<()> {
        self.update(name, |r| {
            r.refs.remove(container);
        })
        .map(|_| ())
    }

    /// Mounts `name` for `container` (the driver's mount ID is the
    /// container ID) and returns the host path to bind. Also adds the
    /// container's reference.
    pub async fn mount(&self, name: &str, container: &str) -> Result<PathBuf> {
        self.mount_at(name, container, "", true).await
    }

    /// [`mount`](Self::mount) with the event attributes dockerd sends.
    pub async fn mount_at(
        &self,
        name: &str,
        container: &str,
        destination: &str,
        read_write: bool,
    ) -> Result<PathBuf> {
        let gate = self.lock_for(name);
        let _g = gate.lock().await;
        let r = self
            .record(name)
            .ok_or_else(|| Error::not_found(format!("get {name}: no such volume")))?;
        let d = self.driver(&r.driver).await?;
        let path = d
            .mount(name, container)
            .await
            .map_err(|e| self.driver_error(&r.driver, "mount", name, e))?;
        let p = path.display().to_string();
        self.update(name, |r| {
            r.refs.insert(container.to_string());
            r.mounts.insert(container.to_string(), p.clone());
            r.mountpoint = p.clone();
        })?;
        let mut attrs = BTreeMap::new();
        attrs.insert("container".into(), container.to_string());
        if !destination.is_empty() {
            attrs.insert("destination".into(), destination.to_string());
        }
        attrs.insert("read/write".into(), read_write.to_string());
        attrs.insert("propagation".into(), String::new());
        self.emit("mount", name, attrs, &r.driver);
        Ok(path)
    }

    /// Unmounts `name` for `container` (stop, kill, exit). The reference
    /// stays until [`remove_ref`](Self::remove_ref) or
    /// [`release_container`](Self::release_container).
    pub async fn unmount(&self, name: &str, container: &str) -> Result<()> {
        let gate = self.lock_for(name);
        let _g = gate.lock().await;
        let r = self
            .record(name)
            .ok_or_else(|| Error::not_found(format!("get {name}: no such volume")))?;
        if !r.mounts.contains_key(container) {
            return Ok(());
        }
        let d = self.driver(&r.driver).await?;
        let res = d.unmount(name, container).await;
        self.update(name, |r| {
            r.mounts.remove(container);
        })?;
        let mut attrs = BTreeMap::new();
        attrs.insert("container".into(), container.to_string());
        self.emit("unmount", name, attrs, &r.driver);
        res.map_err(|e| self.driver_error(&r.driver, "unmount", name, e))
    }

    /// Names of the volumes `container` has mounted now.
    pub fn mounted_by(&self, container: &str) -> Vec<String> {
        self.records
            .lock()
            .unwrap()
            .values()
            .filter(|r| r.mounts.contains_key(container))
            .map(|r| r.name.clone())
            .collect()
    }

    /// A container is gone (`rm`): unmount what it still has mounted, drop
    /// its references and, with `remove_anonymous` (`--rm`, `rm -v`),
    /// remove its anonymous volumes no other container uses. Keeps going
    /// on errors and returns them all.
    pub async fn release_container(&self, container: &str, remove_anonymous: bool) -> Vec<Error> {
        let mut errs = Vec::new();
        for name in self.mounted_by(container) {
            if let Err(e) = self.unmount(&name, container).await {
                errs.push(e);
            }
        }
        let names: Vec<(String, bool)> = self
            .records
            .lock()
            .unwrap()
            .values()
            .filter(|r| r.refs.contains(container))
            .map(|r| (r.name.clone(), r.anonymous))
            .collect();
        for (name, anonymous) in names {
            if let Err(e) = self.remove_ref(&name, container) {
                errs.push(e);
                continue;
            }
            if anonymous && remove_anonymous && self.in_use(&name).is_empty() {
                if let Err(e) = self.remove(&name, false).await {
                    errs.push(e);
                }
            }
        }
        errs
    }
}

impl VolumeStore {
    /// A driver's error: a built-in's as it is, a plugin's prefixed as
    /// dockerd prefixes it, keeping its kind.
    fn driver_error(&self, driver: &str, op: &str, name: &str, e: Error) -> Error {
        if self.drivers.is_builtin(driver) {
            return e;
        }
        Error::new(
            e.kind,
            format!(
                "{op} {name}: VolumeDriver.{}: {}",
                capitalize(op),
                e.message
            ),
        )
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
