//! Which volume driver serves a volume, through the store's
//! [`DriverRegistry`](berth_core::drivers::DriverRegistry): a name resolves
//! to a built-in or a volume plugin (a managed plugin's `x` and `x:latest`
//! are one plugin, shown as `x:latest`); listing, and looking for a volume
//! berth holds no record of, ask every driver dockerd would ask: the
//! built-ins, every enabled managed volume plugin, and every legacy plugin
//! on disk that answers `Plugin.Activate` at once and implements
//! `VolumeDriver`.

use super::VolumeStore;
use berth_core::volumes::{DriverVolume, Scope, VolumeDriver};
use berth_types::volume::Volume;
use berth_types::{Error, Result};
use std::collections::BTreeMap;
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
    /// Volume drivers for `/info` `Plugins.Volume`: the built-ins, then
    /// every activated volume plugin.
    pub fn driver_names(&self) -> Vec<String> {
        self.drivers.names()
    }

    /// The driver named `name` (empty: the default): a built-in or a
    /// volume plugin, activated on first use. An unknown name fails at once.
    pub async fn driver(&self, name: &str) -> Result<Arc<dyn VolumeDriver>> {
        self.drivers.get(name).await
    }

    /// Waits, up to `bound`, for the volume driver `name` to be up (a
    /// plugin starting after berthd). Never blocks other callers.
    pub async fn wait_for_driver(&self, name: &str, bound: Duration) -> Result<()> {
        self.drivers.wait_for(name, bound).await.map(|_| ())
    }

    /// The name the driver `name` is shown as: the default's for none, a
    /// managed plugin's full name for its bare one.
    pub(super) fn canonical_driver(&self, name: &str) -> String {
        self.drivers.canonical(name)
    }

    /// Whether two spellings name one driver (`x`, `x:latest`), also while
    /// the plugin is not enabled.
    pub(super) fn same_driver(&self, a: &str, b: &str) -> bool {
        let (a, b) = (self.canonical_driver(a), self.canonical_driver(b));
        a == b || without_latest(&a) == without_latest(&b)
    }

    /// Every driver dockerd asks in `volume ls`: the built-ins first, then
    /// the volume plugins the registry's resolver surveys (see
    /// [`VolumePlugins`](crate::resolver::VolumePlugins)); a managed plugin
    /// that does not answer is a warning.
    pub(super) async fn all_drivers(&self) -> DriverSet {
        let s = self.drivers.survey().await;
        DriverSet {
            drivers: s.drivers.into_iter().map(|(_, d)| d).collect(),
            warnings: s
                .unavailable
                .into_iter()
                .map(|(n, e)| format!("list {n}: {e}"))
                .collect(),
        }
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
    /// driver named, every driver is asked for the name; the default
    /// driver if none has it.
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
                None => (self.drivers.get("").await?, false),
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
                return Err(self.driver_error(d.name(), "remove", name, e));
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
