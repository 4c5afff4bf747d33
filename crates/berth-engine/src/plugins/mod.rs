//! Managed plugins: installed from a directory's tar, kept under
//! `<data-root>/plugins/<id>/` (`config.json`, `rootfs/`, `state.json`),
//! run as containers through the shim and the default runtime, found by
//! name through the daemon's plugin registry while enabled.
//!
//! - [`store`](self): records, names, create, set, remove (this file);
//! - [`run`]: the OCI spec from a manifest, starting, readiness, stopping;
//! - [`lifecycle`]: enable, disable, supervision with back-off, daemon
//!   start-up and shutdown;
//! - [`backend`]: the `/plugins` routes' backend.

pub mod backend;
mod lifecycle;
mod run;

use berth_core::events::EventBus;
use berth_plugins::managed;
use berth_runtime::{RuntimeEntry, ShimClient};
use berth_types::plugin::{Plugin, PluginConfig, PluginRootfs, PluginRunState, PluginSettings};
use berth_types::{Error, EventType, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What is kept per plugin in `state.json` (the manifest is `config.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
struct Record {
    id: String,
    name: String,
    reference: String,
    enabled: bool,
    settings: PluginSettings,
    created: String,
}

/// One plugin in memory.
pub(crate) struct Entry {
    id: String,
    dir: PathBuf,
    config: PluginConfig,
    rec: Mutex<Record>,
    run: Mutex<PluginRunState>,
    shim: Mutex<Option<ShimClient>>,
    /// Serialises enable, disable, set, remove and restarts of this plugin.
    op: tokio::sync::Mutex<()>,
    /// Bumped whenever the plugin is stopped on purpose; a supervisor from
    /// an older epoch gives up instead of restarting it.
    epoch: AtomicU64,
}

impl Entry {
    fn rec(&self) -> Record {
        self.rec.lock().unwrap().clone()
    }
    fn name(&self) -> String {
        self.rec.lock().unwrap().name.clone()
    }
    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }
    fn bump_epoch(&self) -> u64 {
        self.epoch.fetch_add(1, Ordering::SeqCst) + 1
    }
    fn set_run(&self, f: impl FnOnce(&mut PluginRunState)) {
        f(&mut self.run.lock().unwrap());
    }
}

/// Tunables of the plugin manager.
#[derive(Debug, Clone)]
pub struct PluginOptions {
    /// How long daemon start-up waits for an enabled plugin to answer
    /// `Plugin.Activate` before going on (it keeps starting in the background).
    pub start_wait: Duration,
}

impl Default for PluginOptions {
    fn default() -> Self {
        PluginOptions {
            start_wait: Duration::from_secs(10),
        }
    }
}

pub struct Plugins {
    root: PathBuf,
    exec_root: PathBuf,
    exe: PathBuf,
    runtime: RuntimeEntry,
    registry: Arc<berth_plugins::Registry>,
    volumes: Arc<berth_plugins::VolumeStore>,
    events: Arc<EventBus>,
    opts: PluginOptions,
    entries: Mutex<BTreeMap<String, Arc<Entry>>>,
    /// Serialises creates, so two of one name cannot race.
    create_lock: Mutex<()>,
    /// Told when a plugin is disabled: its registry names and subsystems
    /// (the authorization chain drops a disabled authz plugin).
    on_disable: Mutex<Option<DisableHook>>,
}

/// See [`Plugins::on_disable`].
pub type DisableHook = Box<dyn Fn(&[String], &[String]) + Send + Sync>;

/// `name` as dockerd shows it: `no-remove:latest`, `user/p:1.0`.
pub fn normalise_name(name: &str) -> Result<String> {
    let r = berth_image::Reference::parse(name)
        .map_err(|e| Error::invalid(format!("invalid plugin name {name:?}: {e}")))?;
    if r.digest.is_some() {
        return Err(Error::invalid(format!(
            "invalid plugin name {name:?}: a digest is not allowed"
        )));
    }
    Ok(r.with_default_tag().familiar())
}

/// The full reference dockerd keeps beside the name.
fn full_reference(name: &str) -> String {
    berth_image::Reference::parse_tagged(name)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| name.to_string())
}

use berth_types::timestamp::now as now_rfc3339;

fn not_found(name: &str) -> Error {
    Error::not_found(format!("plugin \"{name}\" not found"))
}

impl Plugins {
    /// Opens the store under `<data_root>/plugins`, loading every plugin
    /// created before. Nothing is started here; see [`Plugins::start_enabled`].
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        data_root: &Path,
        exec_root: &Path,
        runtime: RuntimeEntry,
        registry: Arc<berth_plugins::Registry>,
        volumes: Arc<berth_plugins::VolumeStore>,
        events: Arc<EventBus>,
        opts: PluginOptions,
    ) -> Result<Arc<Plugins>> {
        let root = data_root.join("plugins");
        std::fs::create_dir_all(&root)?;
        let exe = std::env::current_exe()
            .map_err(|e| Error::internal(format!("finding berthd's executable: {e}")))?;
        let mut entries = BTreeMap::new();
        for e in std::fs::read_dir(&root)?.flatten() {
            let dir = e.path();
            let id = e.file_name().to_string_lossy().into_owned();
            if !berth_image::digest::is_hex64(&id) {
                // A create that died half-way.
                if id.starts_with("tmp-") {
                    let _ = std::fs::remove_dir_all(&dir);
                }
                continue;
            }
            match load_entry(&id, &dir) {
                Ok(en) => {
                    entries.insert(id, Arc::new(en));
                }
                Err(err) => tracing::warn!("skipping plugin {}: {err}", dir.display()),
            }
        }
        // Volumes are shown with the plugin's full name (`x:latest`, as
        // dockerd shows them); records written with the bare one get it.
        for e in entries.values() {
            let name = e.name();
            if let Err(err) = volumes.rename_driver(&Self::registry_names(&name), &name) {
                tracing::warn!("volumes of plugin {name}: {}", err.message);
            }
        }
        Ok(Arc::new(Plugins {
            root,
            exec_root: exec_root.join("plugins"),
            exe,
            runtime,
            registry,
            volumes,
            events,
            opts,
            entries: Mutex::new(entries),
            create_lock: Mutex::new(()),
            on_disable: Mutex::new(None),
        }))
    }

    /// Sets what is told, with the plugin's names and subsystems, whenever
    /// a plugin is disabled (or removed with force).
    pub fn on_disable(&self, hook: DisableHook) {
        *self.on_disable.lock().unwrap() = Some(hook);
    }

    fn notify_disabled(&self, e: &Entry) {
        if let Some(h) = self.on_disable.lock().unwrap().as_ref() {
            h(
                &Self::registry_names(&e.name()),
                &managed::subsystems(&e.config),
            );
        }
    }

    fn emit(&self, action: &str, e: &Entry) {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_string(), e.name());
        self.events.publish(EventType::Plugin, action, &e.id, attrs);
    }

    fn save(&self, e: &Entry) -> Result<()> {
        let r = e.rec();
        berth_core::atomic::write_json(&e.dir.join("state.json"), &r)?;
        Ok(())
    }

    /// A plugin by name (with or without `:latest`), full ID or unique ID prefix.
    pub(crate) fn find(&self, name: &str) -> Result<Arc<Entry>> {
        let entries = self.entries.lock().unwrap();
        if let Ok(n) = normalise_name(name) {
            if let Some(e) = entries.values().find(|e| e.rec.lock().unwrap().name == n) {
                return Ok(e.clone());
            }
        }
        if let Some(e) = entries.get(name) {
            return Ok(e.clone());
        }
        if name.len() >= 3 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let m: Vec<_> = entries
                .iter()
                .filter(|(id, _)| id.starts_with(name))
                .collect();
            match m.len() {
                1 => return Ok(m[0].1.clone()),
                n if n > 1 => {
                    return Err(Error::invalid(format!(
                        "multiple plugins found with ID prefix {name}"
                    )))
                }
                _ => {}
            }
        }
        Err(not_found(name))
    }

    fn all(&self) -> Vec<Arc<Entry>> {
        self.entries.lock().unwrap().values().cloned().collect()
    }

    pub(crate) fn to_api(&self, e: &Entry) -> Plugin {
        let r = e.rec();
        let state = r.enabled.then(|| e.run.lock().unwrap().clone());
        Plugin {
            id: e.id.clone(),
            name: r.name,
            enabled: r.enabled,
            settings: r.settings,
            plugin_reference: r.reference,
            config: e.config.clone(),
            state,
        }
    }

    pub fn list(&self, f: &berth_core::Filters) -> Result<Vec<Plugin>> {
        let enable = f.bool_value("enable")?.or(f.bool_value("enabled")?);
        let mut out: Vec<Plugin> = self
            .all()
            .iter()
            .map(|e| self.to_api(e))
            .filter(|p| enable.is_none_or(|want| p.enabled == want))
            .filter(|p| {
                f.any("capability", |c| {
                    p.config
                        .interface
                        .types
                        .iter()
                        .any(|t| managed::capability_of(t) == c)
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub fn inspect(&self, name: &str) -> Result<Plugin> {
        Ok(self.to_api(&*self.find(name)?))
    }

    /// The privileges a local plugin asks for.
    pub fn privileges(&self, name: &str) -> Result<Vec<berth_types::plugin::PluginPrivilege>> {
        match self.find(name) {
            Ok(e) => Ok(managed::privileges(&e.config, &e.rec().settings)),
            Err(err) if err.kind == berth_types::ErrorKind::NotFound => {
                Err(Error::not_implemented(format!(
                    "plugin {name:?} is not installed here, and fetching a remote plugin's privileges needs berth's registry client, which is not there yet"
                )))
            }
            Err(err) => Err(err),
        }
    }

    /// `docker plugin create NAME DIR` (and offline install of the same
    /// tar): a disabled plugin from `config.json` and `rootfs/`. Blocking.
    pub fn create(&self, name: &str, input: &mut dyn Read) -> Result<()> {
        let name = normalise_name(name)?;
        let _one = self.create_lock.lock().unwrap();
        if self.find(&name).is_ok() {
            return Err(Error::conflict(format!("plugin \"{name}\" already exists")));
        }
        let tmp = self
            .root
            .join(format!("tmp-{}", berth_core::ids::random_hex(8)));
        std::fs::create_dir_all(&tmp)?;
        let r = self.create_in(&name, input, &tmp);
        if r.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        let e = r?;
        self.emit("create", &e);
        Ok(())
    }

    fn create_in(&self, name: &str, input: &mut dyn Read, tmp: &Path) -> Result<Arc<Entry>> {
        // Hash the tar as sent; gunzip it if it came compressed.
        let mut hashing = berth_image::digest::HashingReader::new(input);
        let mut magic = [0u8; 2];
        let n = read_full(&mut hashing, &mut magic)?;
        let head = std::io::Cursor::new(magic[..n].to_vec());
        let chained = head.chain(&mut hashing);
        let unpacked = if n == 2 && magic == [0x1f, 0x8b] {
            berth_image::unpack::unpack_layer(flate2::read::GzDecoder::new(chained), tmp)
        } else {
            berth_image::unpack::unpack_layer(chained, tmp)
        };
        unpacked.map_err(|e| Error::invalid(format!("reading the plugin archive: {e}")))?;
        let (diff_id, _) = hashing
            .finish()
            .map_err(|e| Error::invalid(format!("reading the plugin archive: {e}")))?;
        let manifest = std::fs::read(tmp.join("config.json")).map_err(|_| {
            Error::invalid("the plugin archive has no config.json at its top level")
        })?;
        let mut config = PluginConfig::from_manifest(&manifest).map_err(Error::invalid)?;
        managed::validate(&config)?;
        if !tmp.join("rootfs").is_dir() {
            return Err(Error::invalid(
                "the plugin archive has no rootfs/ directory beside config.json",
            ));
        }
        config.rootfs = Some(PluginRootfs {
            typ: "layers".into(),
            diff_ids: vec![diff_id],
        });
        let bytes = serde_json::to_vec(&config).map_err(|e| Error::internal(e.to_string()))?;
        let id = berth_image::digest::sha256_bytes(&bytes)
            .trim_start_matches("sha256:")
            .to_string();
        if let Some(other) = self.entries.lock().unwrap().get(&id) {
            return Err(Error::conflict(format!(
                "a plugin with the same content already exists as \"{}\"",
                other.name()
            )));
        }
        berth_core::atomic::write_atomic(&tmp.join("config.json"), &bytes)?;
        let rec = Record {
            id: id.clone(),
            name: name.to_string(),
            reference: full_reference(name),
            enabled: false,
            settings: managed::initial_settings(&config),
            created: now_rfc3339(),
        };
        berth_core::atomic::write_json(&tmp.join("state.json"), &rec)?;
        let dir = self.root.join(&id);
        std::fs::rename(tmp, &dir)?;
        let e = Arc::new(new_entry(id.clone(), dir, config, rec));
        self.entries.lock().unwrap().insert(id, e.clone());
        Ok(e)
    }

    /// `docker plugin set`: only while disabled, only what is settable.
    pub async fn set(&self, name: &str, args: &[String]) -> Result<()> {
        let e = self.find(name)?;
        let _op = e.op.lock().await;
        let r = e.rec();
        if r.enabled {
            return Err(Error::conflict(format!(
                "cannot set on an active plugin \"{}\": disable it first",
                r.name
            )));
        }
        let settings = managed::apply_set(&e.config, &r.settings, args)?;
        e.rec.lock().unwrap().settings = settings;
        self.save(&e)
    }

    /// `docker plugin rm [-f]`.
    pub async fn remove(self: &Arc<Self>, name: &str, force: bool) -> Result<()> {
        let e = self.find(name)?;
        if e.rec().enabled {
            if !force {
                return Err(Error::conflict(format!(
                    "plugin \"{}\" is enabled: disable it first, or remove it with --force",
                    e.name()
                )));
            }
            self.disable_entry(&e, true).await?;
        }
        let _op = e.op.lock().await;
        self.entries.lock().unwrap().remove(&e.id);
        let dir = e.dir.clone();
        let exec_dir = self.exec_dir(&e.id);
        tokio::task::spawn_blocking(move || {
            run::unmount_propagated(&dir);
            let gone = dir.with_file_name(format!(
                "tmp-rm-{}",
                dir.file_name().unwrap_or_default().to_string_lossy()
            ));
            // Rename first: a crash half-way never leaves a half plugin behind.
            let target = if std::fs::rename(&dir, &gone).is_ok() {
                gone
            } else {
                dir
            };
            if let Err(e) = std::fs::remove_dir_all(&target) {
                tracing::warn!("removing {}: {e}", target.display());
            }
            let _ = std::fs::remove_dir_all(exec_dir);
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?;
        // Its volumes' data went with its directory; their records stay
        // until `volume rm`, which then has no driver to ask.
        let mut names = Self::registry_names(&e.name());
        names.push(e.id.clone());
        if let Err(err) = self.volumes.driver_removed(&names) {
            tracing::warn!("volumes of removed plugin {}: {}", e.name(), err.message);
        }
        self.emit("remove", &e);
        Ok(())
    }

    /// The plugin's directory under the exec root (its socket dir and shim).
    fn exec_dir(&self, id: &str) -> PathBuf {
        self.exec_root.join(&id[..id.len().min(24)])
    }

    /// Names the registry knows a plugin by.
    fn registry_names(name: &str) -> Vec<String> {
        let mut v = vec![name.to_string()];
        if let Some(bare) = name.strip_suffix(":latest") {
            v.push(bare.to_string());
        }
        v
    }

    /// Volumes whose driver is this plugin (under any of its names).
    fn volumes_using(&self, e: &Entry) -> Vec<String> {
        let name = e.name();
        let id = e.id.clone();
        let mut v = self
            .volumes
            .volumes_with_driver(|d| d == id || normalise_name(d).is_ok_and(|n| n == name));
        v.sort();
        v
    }
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::invalid(format!("reading the plugin archive: {e}"))),
        }
    }
    Ok(n)
}

fn new_entry(id: String, dir: PathBuf, config: PluginConfig, rec: Record) -> Entry {
    Entry {
        id,
        dir,
        config,
        rec: Mutex::new(rec),
        run: Mutex::new(PluginRunState {
            status: "stopped".into(),
            ..Default::default()
        }),
        shim: Mutex::new(None),
        op: tokio::sync::Mutex::new(()),
        epoch: AtomicU64::new(0),
    }
}

fn load_entry(id: &str, dir: &Path) -> std::result::Result<Entry, String> {
    let cfg = std::fs::read(dir.join("config.json")).map_err(|e| e.to_string())?;
    let config: PluginConfig = serde_json::from_slice(&cfg).map_err(|e| e.to_string())?;
    let st = std::fs::read(dir.join("state.json")).map_err(|e| e.to_string())?;
    let rec: Record = serde_json::from_slice(&st).map_err(|e| e.to_string())?;
    if rec.id != id {
        return Err(format!("state.json names {} instead", rec.id));
    }
    Ok(new_entry(id.to_string(), dir.to_path_buf(), config, rec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_dockerd_shows_them() {
        assert_eq!(normalise_name("no-remove").unwrap(), "no-remove:latest");
        assert_eq!(normalise_name("user/p:1.0").unwrap(), "user/p:1.0");
        assert_eq!(
            normalise_name("localhost:5000/p").unwrap(),
            "localhost:5000/p:latest"
        );
        assert!(normalise_name("Upper").is_err());
        assert!(normalise_name(&format!("p@sha256:{}", "a".repeat(64))).is_err());
        assert_eq!(
            full_reference("no-remove"),
            "docker.io/library/no-remove:latest"
        );
        assert_eq!(
            Plugins::registry_names("no-remove:latest"),
            ["no-remove:latest", "no-remove"]
        );
        assert_eq!(Plugins::registry_names("p:1.0"), ["p:1.0"]);
    }
}
