//! Which volume driver serves a volume. A name resolves to the local
//! driver or a volume plugin (a managed plugin's `x` and `x:latest` are one
//! plugin, shown as `x:latest`); listing, and looking for a volume berth
//! holds no record of, ask every driver dockerd would ask: `local`, every
//! enabled managed volume plugin, and every legacy plugin on disk that
//! answers `Plugin.Activate` at once and implements `VolumeDriver`.

use super::{plugin_error, VolumeStore};
use crate::local::LOCAL;
use crate::volume_proxy::VolumePluginDriver;
use berth_core::volumes::{DriverVolume, Scope, VolumeDriver};
use berth_types::volume::{subsystem, Volume};
use berth_types::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// dockerd's `CreatedAt` for a volume whose driver does not say.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Every driver asked for one listing or search, and what could not be asked.
pub(super) struct DriverSet {
    pub drivers: Vec<Arc<dyn VolumeDriver>>,
    /// `list NAME: why` for each managed plugin that did not answer.
    pub warnings: Vec<String>,
}

impl VolumeStore {
    /// Volume drivers for `/info` `Plugins.Volume`: `local`, then every
    /// activated volume plugin.
    pub fn driver_names(&self) -> Vec<String> {
        let mut v = vec![LOCAL.to_string()];
        v.extend(self.registry.activated(subsystem::VOLUME));
        v
    }

    /// The driver named `name`: the local driver or a volume plugin,
    /// activated on first use. An unknown name fails at once.
    pub async fn driver(&self, name: &str) -> Result<Arc<dyn VolumeDriver>> {
        if name.is_empty() || name == LOCAL {
            return Ok(self.local.clone());
        }
        let plugin = self
            .registry
            .get(name, subsystem::VOLUME)
            .await
            .map_err(|e| match e {
                crate::Error::NotFound(n) => Error::not_found(format!(
                    "error looking up volume plugin {n}: plugin \"{n}\" not found"
                )),
                e => e.into(),
            })?;
        Ok(self.proxy(plugin))
    }

    fn proxy(&self, plugin: Arc<crate::registry::Plugin>) -> Arc<dyn VolumeDriver> {
        let mut px = self.proxies.lock().unwrap();
        let name = plugin.name().to_string();
        let p = px
            .entry(name)
            .or_insert_with(|| Arc::new(VolumePluginDriver::new(plugin.clone())));
        if !p.is_for(&plugin) {
            *p = Arc::new(VolumePluginDriver::new(plugin));
        }
        p.clone()
    }

    /// Waits, up to `bound`, for the volume driver `name` to be up (a
    /// plugin starting after berthd). Never blocks other callers.
    pub async fn wait_for_driver(&self, name: &str, bound: Duration) -> Result<()> {
        if name.is_empty() || name == LOCAL {
            return Ok(());
        }
        let p = self
            .registry
            .wait_for(name, subsystem::VOLUME, bound)
            .await?;
        self.proxy(p);
        Ok(())
    }

    /// The name the driver `name` is shown as: `local` for none, a managed
    /// plugin's full name for its bare one.
    pub(super) fn canonical_driver(&self, name: &str) -> String {
        if name.is_empty() {
            return LOCAL.to_string();
        }
        self.registry.canonical(name)
    }

    /// Whether two spellings name one driver (`x`, `x:latest`), also while
    /// the plugin is not enabled.
    pub(super) fn same_driver(&self, a: &str, b: &str) -> bool {
        let (a, b) = (self.canonical_driver(a), self.canonical_driver(b));
        a == b || without_latest(&a) == without_latest(&b)
    }

    /// Every driver dockerd asks in `volume ls`: local first, then enabled
    /// managed volume plugins, then legacy ones on disk (activated without
    /// waiting; one that does not answer, or is no volume plugin, is
    /// skipped as dockerd skips it). Each plugin once, by its shown name.
    pub(super) async fn all_drivers(&self) -> DriverSet {
        let managed: BTreeSet<String> = self
            .registry
            .managed_for(subsystem::VOLUME)
            .into_iter()
            .collect();
        let mut legacy: BTreeSet<String> =
            self.registry.discovery().scan_names().into_iter().collect();
        legacy.extend(self.registry.activated(subsystem::VOLUME));
        let names: Vec<(String, bool)> = managed
            .iter()
            .map(|n| (n.clone(), true))
            .chain(
                legacy
                    .into_iter()
                    .filter(|n| !managed.contains(n))
                    .map(|n| (n, false)),
            )
            .collect();
        let found = futures_util::future::join_all(names.into_iter().map(|(n, m)| async move {
            let r = self.registry.get_now(&n, subsystem::VOLUME).await;
            (n, m, r)
        }))
        .await;
        let mut set = DriverSet {
            drivers: vec![self.local.clone() as Arc<dyn VolumeDriver>],
            warnings: Vec::new(),
        };
        let mut seen = BTreeSet::from([LOCAL.to_string()]);
        for (name, is_managed, r) in found {
            match r {
                Ok(p) => {
                    if seen.insert(p.name().to_string()) {
                        set.drivers.push(self.proxy(p));
                    }
                }
                Err(e) if is_managed => set.warnings.push(format!("list {name}: {e}")),
                Err(crate::Error::NotImplements(..)) => {}
                Err(e) => tracing::debug!("volume ls: skipping plugin {name}: {e}"),
            }
        }
        set
    }

    /// Asks every driver for volume `name`, which berth holds no record
    /// of; the first driver (in [`all_drivers`](Self::all_drivers) order)
    /// that has it, with what it says.
    pub(super) async fn find_in_drivers(
        &self,
        name: &str,
    ) -> Option<(Arc<dyn VolumeDriver>, DriverVolume)> {
        let set = self.all_drivers().await;
        let got = futures_util::future::join_all(set.drivers.iter().map(|d| d.get(name))).await;
        set.drivers
            .into_iter()
            .zip(got)
            .find_map(|(d, r)| r.ok().map(|v| (d, v)))
    }

    /// The driver a volume berth has no record of goes to, and whether that
    /// driver has it already (dockerd asks `Get` before `Create`). With no
    /// driver named, every driver is asked for the name; `local` if none
    /// has it.
    pub(super) async fn driver_for_new(
        &self,
        name: &str,
        driver: &str,
        anonymous: bool,
    ) -> Result<(Arc<dyn VolumeDriver>, bool)> {
        if anonymous {
            return Ok((self.driver(driver).await?, false));
        }
        if driver.is_empty() {
            return Ok(match self.find_in_drivers(name).await {
                Some((d, _)) => (d, true),
                None => (self.local.clone(), false),
            });
        }
        let d = self.driver(driver).await?;
        let exists = d.get(name).await.is_ok();
        Ok((d, exists))
    }

    /// `docker volume rm` of a volume berth has no record of: removed by
    /// the driver that has it, as dockerd does.
    pub(super) async fn remove_foreign(&self, name: &str, force: bool) -> Result<()> {
        let Some((d, _)) = self.find_in_drivers(name).await else {
            if force {
                return Ok(());
            }
            return Err(Error::not_found(format!("get {name}: no such volume")));
        };
        if let Err(e) = d.remove(name).await {
            if !force {
                return Err(plugin_error(d.name(), "remove", name, e));
            }
            tracing::warn!("force-removing volume {name}: driver error ignored: {e}");
        }
        self.emit("destroy", name, BTreeMap::new(), d.name());
        Ok(())
    }

    /// Records whose driver is one of `aliases` name it `canonical` instead
    /// (records written when berth kept the name as the user typed it).
    pub fn rename_driver(&self, aliases: &[String], canonical: &str) -> Result<()> {
        let names = self.volumes_with_driver(|d| d != canonical && aliases.iter().any(|a| a == d));
        for n in names {
            self.update(&n, |r| r.driver = canonical.to_string())?;
        }
        Ok(())
    }

    /// The managed plugin known by `aliases` was removed, and its volumes'
    /// data with its directory: their records stay (shown, as containers
    /// may name them) until a plain `volume rm`, which asks no driver.
    pub fn driver_removed(&self, aliases: &[String]) -> Result<()> {
        let names = self.volumes_with_driver(|d| aliases.iter().any(|a| a == d));
        for n in names {
            self.update(&n, |r| r.driver_removed = true)?;
        }
        Ok(())
    }
}

fn without_latest(n: &str) -> &str {
    n.strip_suffix(":latest").unwrap_or(n)
}

/// A volume only its driver knows of, as dockerd shows one: no labels,
/// options or references; `CreatedAt` as the driver says.
pub(super) fn foreign_volume(driver: &str, v: DriverVolume, scope: Scope) -> Volume {
    Volume {
        name: v.name,
        driver: driver.to_string(),
        mountpoint: v.mountpoint,
        created_at: Some(v.created_at.unwrap_or_else(|| ZERO_TIME.to_string())),
        status: (!v.status.is_empty()).then_some(v.status),
        labels: BTreeMap::new(),
        scope: scope.as_str().to_string(),
        options: BTreeMap::new(),
        usage_data: None,
    }
}
