//! The plugin side of berth-core's driver registries: volume and
//! authorization plugins, legacy (found on disk) or managed (registered by
//! the engine), found by name in the plugin [`Registry`] and handed back
//! behind the same driver trait a built-in implements.

use crate::authz_proxy::AuthzPluginDriver;
use crate::registry::{Plugin, Registry};
use crate::volume_proxy::VolumePluginDriver;
use async_trait::async_trait;
use berth_core::authz::AuthzDriver;
use berth_core::drivers::{DriverKind, DriverRegistry, PluginResolver, Survey};
use berth_core::volumes::VolumeDriver;
use berth_types::volume::subsystem;
use berth_types::Result;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A plugin lookup's outcome for a registry: unknown names are `None`
/// (the registry words the kind's "not found"), other failures are kept.
fn found<T>(r: crate::Result<T>) -> Result<Option<T>> {
    match r {
        Ok(p) => Ok(Some(p)),
        Err(crate::Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Volume plugins as [`VolumeDriver`]s, one proxy per activation.
pub struct VolumePlugins {
    registry: Arc<Registry>,
    proxies: Mutex<HashMap<String, Arc<VolumePluginDriver>>>,
}

impl VolumePlugins {
    pub fn new(registry: Arc<Registry>) -> Arc<VolumePlugins> {
        Arc::new(VolumePlugins {
            registry,
            proxies: Mutex::new(HashMap::new()),
        })
    }

    /// The proxy for this activation of `plugin` (a new one after the
    /// plugin was activated afresh).
    fn proxy(&self, plugin: Arc<Plugin>) -> Arc<dyn VolumeDriver> {
        let mut px = self.proxies.lock().unwrap();
        let p = px
            .entry(plugin.name().to_string())
            .or_insert_with(|| Arc::new(VolumePluginDriver::new(plugin.clone())));
        if !p.is_for(&plugin) {
            *p = Arc::new(VolumePluginDriver::new(plugin));
        }
        p.clone()
    }
}

#[async_trait]
impl PluginResolver<dyn VolumeDriver> for VolumePlugins {
    async fn resolve(&self, name: &str) -> Result<Option<Arc<dyn VolumeDriver>>> {
        Ok(found(self.registry.get(name, subsystem::VOLUME).await)?.map(|p| self.proxy(p)))
    }

    fn active(&self) -> Vec<String> {
        self.registry.activated(subsystem::VOLUME)
    }

    async fn resolve_within(
        &self,
        name: &str,
        bound: Duration,
    ) -> Result<Option<Arc<dyn VolumeDriver>>> {
        let p = self
            .registry
            .wait_for(name, subsystem::VOLUME, bound)
            .await?;
        Ok(Some(self.proxy(p)))
    }

    fn canonical(&self, name: &str) -> String {
        self.registry.canonical(name)
    }

    /// What dockerd asks in `volume ls`: enabled managed volume plugins,
    /// then legacy ones on disk, activated without waiting. A managed one
    /// that does not answer is a warning; a legacy one that does not
    /// answer, or is no volume plugin, is skipped as dockerd skips it.
    /// Each plugin once, by its shown name.
    async fn survey(&self) -> Survey<dyn VolumeDriver> {
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
        let got = futures_util::future::join_all(names.into_iter().map(|(n, m)| async move {
            let r = self.registry.get_now(&n, subsystem::VOLUME).await;
            (n, m, r)
        }))
        .await;
        let mut s = Survey::default();
        let mut seen = BTreeSet::new();
        for (name, is_managed, r) in got {
            match r {
                Ok(p) => {
                    if seen.insert(p.name().to_string()) {
                        s.drivers.push((p.name().to_string(), self.proxy(p)));
                    }
                }
                Err(e) if is_managed => s.unavailable.push((name, e.into())),
                Err(crate::Error::NotImplements(..)) => {}
                Err(e) => tracing::debug!("volume ls: skipping plugin {name}: {e}"),
            }
        }
        s
    }
}

/// Authorization plugins as [`AuthzDriver`]s.
pub struct AuthzPlugins {
    registry: Arc<Registry>,
}

impl AuthzPlugins {
    pub fn new(registry: Arc<Registry>) -> Arc<AuthzPlugins> {
        Arc::new(AuthzPlugins { registry })
    }
}

#[async_trait]
impl PluginResolver<dyn AuthzDriver> for AuthzPlugins {
    async fn resolve(&self, name: &str) -> Result<Option<Arc<dyn AuthzDriver>>> {
        Ok(found(self.registry.get(name, subsystem::AUTHZ).await)?
            .map(|p| Arc::new(AuthzPluginDriver::new(name, p)) as Arc<dyn AuthzDriver>))
    }

    fn active(&self) -> Vec<String> {
        self.registry.activated(subsystem::AUTHZ)
    }

    fn canonical(&self, name: &str) -> String {
        self.registry.canonical(name)
    }
}

/// The authorization drivers over `registry`: no built-ins, every name a
/// plugin.
pub fn authz_registry(registry: Arc<Registry>) -> Arc<DriverRegistry<dyn AuthzDriver>> {
    let r = DriverRegistry::<dyn AuthzDriver>::new(DriverKind::Authz);
    r.set_plugins(AuthzPlugins::new(registry));
    Arc::new(r)
}
