//! Plugins by name: found on disk and activated on first use (never all at
//! once), with what they implement cached. Activation is retried while a
//! plugin is starting (its socket refuses connections); an unknown name fails
//! at once. No lock is held across a call to a plugin.

use crate::client::{Client, ClientOptions};
use crate::discovery::{Discovery, Endpoint};
use crate::error::{Error, Result};
use berth_types::volume::ActivateResponse;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct RegistryOptions {
    pub client: ClientOptions,
    /// How long `Plugin.Activate` is retried while the plugin refuses connections.
    pub activate_window: Duration,
    /// The deadline of one `Plugin.Activate` call.
    pub activate_timeout: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            client: ClientOptions::default(),
            activate_window: Duration::from_secs(5),
            activate_timeout: Duration::from_secs(5),
        }
    }
}

/// Maps paths a plugin reports (a volume's mountpoint) from its own mount
/// namespace to the host: under `propagated` (in-plugin prefix, host dir)
/// when they start with it, else under `rootfs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathScope {
    pub rootfs: std::path::PathBuf,
    pub propagated: Option<(String, std::path::PathBuf)>,
}

impl PathScope {
    pub fn to_host(&self, p: &str) -> String {
        if p.is_empty() {
            return String::new();
        }
        if let Some((inner, host)) = &self.propagated {
            let inner = inner.trim_end_matches('/');
            if let Some(rest) = p.strip_prefix(inner) {
                if rest.is_empty() || rest.starts_with('/') {
                    return host
                        .join(rest.trim_start_matches('/'))
                        .display()
                        .to_string();
                }
            }
        }
        self.rootfs
            .join(p.trim_start_matches('/'))
            .display()
            .to_string()
    }
}

/// A plugin the daemon runs itself (a managed plugin), registered by name
/// and found before anything on disk. What it implements comes from its
/// manifest, not from its `Plugin.Activate` answer.
#[derive(Debug, Clone)]
pub struct NamedEndpoint {
    pub endpoint: Endpoint,
    pub implements: Vec<String>,
    pub scope: Option<PathScope>,
}

/// An activated plugin.
#[derive(Debug)]
pub struct Plugin {
    pub client: Client,
    pub implements: Vec<String>,
    /// Set for managed plugins, whose paths live in their own rootfs.
    pub scope: Option<PathScope>,
}

impl Plugin {
    pub fn name(&self) -> &str {
        self.client.name()
    }
    pub fn implements(&self, subsystem: &str) -> bool {
        self.implements.iter().any(|s| s == subsystem)
    }
    /// A path the plugin reported, as the host sees it.
    pub fn host_path(&self, p: &str) -> String {
        match &self.scope {
            Some(s) => s.to_host(p),
            None => p.to_string(),
        }
    }
}

pub struct Registry {
    discovery: Discovery,
    opts: RegistryOptions,
    active: Mutex<HashMap<String, Arc<Plugin>>>,
    /// Managed plugins by name, checked before disk discovery.
    named: Mutex<HashMap<String, NamedEndpoint>>,
    /// One activation at a time per name; callers of other names never wait.
    activating: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Registry {
    pub fn new(discovery: Discovery, opts: RegistryOptions) -> Registry {
        Registry {
            discovery,
            opts,
            active: Mutex::new(HashMap::new()),
            named: Mutex::new(HashMap::new()),
            activating: Mutex::new(HashMap::new()),
        }
    }

    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }

    /// Registers a managed plugin under each of `names` (e.g. `x:latest`
    /// and `x`); later lookups of those names reach it, not the disk.
    pub fn add_named(&self, names: &[String], ep: NamedEndpoint) {
        let mut named = self.named.lock().unwrap();
        for n in names {
            named.insert(n.clone(), ep.clone());
        }
        drop(named);
        self.forget(names);
    }

    /// Unregisters `names` and drops their cached activations.
    pub fn remove_named(&self, names: &[String]) {
        let mut named = self.named.lock().unwrap();
        for n in names {
            named.remove(n);
        }
        drop(named);
        self.forget(names);
    }

    /// Drops the cached activations of `names`: the next use activates afresh.
    pub fn forget(&self, names: &[String]) {
        let mut active = self.active.lock().unwrap();
        for n in names {
            active.remove(n);
        }
    }

    /// Managed plugins registered for `subsystem` (each name once).
    pub fn named_for(&self, subsystem: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .named
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, e)| e.implements.iter().any(|s| s == subsystem))
            .map(|(n, _)| n.clone())
            .collect();
        v.sort();
        v
    }

    /// Managed plugins registered for `subsystem`, each once, by the name
    /// it shows (`x:latest`, never its bare alias `x`).
    pub fn managed_for(&self, subsystem: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .named
            .lock()
            .unwrap()
            .values()
            .filter(|e| e.implements.iter().any(|s| s == subsystem))
            .map(|e| e.endpoint.name.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The name a plugin shows for `name`: a managed plugin's full name for
    /// any of its aliases (`x` → `x:latest`), else `name` itself.
    pub fn canonical(&self, name: &str) -> String {
        match self.named.lock().unwrap().get(name) {
            Some(e) => e.endpoint.name.clone(),
            None => name.to_string(),
        }
    }

    /// Names of the activated plugins implementing `subsystem`.
    pub fn activated(&self, subsystem: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .active
            .lock()
            .unwrap()
            .values()
            .filter(|p| p.implements(subsystem))
            .map(|p| p.name().to_string())
            .collect();
        v.sort();
        v
    }

    fn cached(&self, name: &str) -> Option<Arc<Plugin>> {
        let mut active = self.active.lock().unwrap();
        let p = active.get(name)?.clone();
        // A plugin whose socket or spec went away is looked up afresh.
        if !p.client.endpoint().source.exists() {
            active.remove(name);
            return None;
        }
        Some(p)
    }

    /// The plugin `name`, activated if need be, which must implement `subsystem`.
    pub async fn get(&self, name: &str, subsystem: &str) -> Result<Arc<Plugin>> {
        let p = match self.cached(name) {
            Some(p) => p,
            None => self.activate(name).await?,
        };
        if !p.implements(subsystem) {
            return Err(Error::NotImplements(
                name.to_string(),
                subsystem.to_string(),
            ));
        }
        Ok(p)
    }

    /// Like [`get`](Self::get), but a plugin that refuses connections is not
    /// waited for: one activation attempt (asking every plugin on disk, as
    /// `docker volume ls` does, must not stall on a stale socket).
    pub async fn get_now(&self, name: &str, subsystem: &str) -> Result<Arc<Plugin>> {
        let p = match self.cached(name) {
            Some(p) => p,
            None => self.activate_within(name, Duration::ZERO).await?,
        };
        if !p.implements(subsystem) {
            return Err(Error::NotImplements(
                name.to_string(),
                subsystem.to_string(),
            ));
        }
        Ok(p)
    }

    /// Like [`get`](Self::get), but a plugin that is not on disk or not
    /// answering yet is waited for, up to `bound` (a restarted container
    /// whose volume plugin starts after berthd).
    pub async fn wait_for(
        &self,
        name: &str,
        subsystem: &str,
        bound: Duration,
    ) -> Result<Arc<Plugin>> {
        let deadline = Instant::now() + bound;
        let mut delay = Duration::from_millis(50);
        loop {
            match self.get(name, subsystem).await {
                Ok(p) => return Ok(p),
                Err(e @ (Error::NotFound(_) | Error::Unavailable { .. })) => {
                    if Instant::now() + delay > deadline {
                        return Err(match e {
                            Error::NotFound(_) => Error::Unavailable {
                                plugin: name.to_string(),
                                reason: format!("not found within {:.1}s", bound.as_secs_f64()),
                            },
                            e => e,
                        });
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn activate(&self, name: &str) -> Result<Arc<Plugin>> {
        self.activate_within(name, self.opts.activate_window).await
    }

    /// Activates `name`, retrying for up to `window` while it refuses
    /// connections.
    async fn activate_within(&self, name: &str, window: Duration) -> Result<Arc<Plugin>> {
        let gate = self
            .activating
            .lock()
            .unwrap()
            .entry(name.to_string())
            .or_default()
            .clone();
        let _one = gate.lock().await;
        if let Some(p) = self.cached(name) {
            return Ok(p);
        }
        let start = Instant::now();
        let mut delay = Duration::from_millis(50);
        loop {
            let named = self.named.lock().unwrap().get(name).cloned();
            let ep = match &named {
                Some(n) => n.endpoint.clone(),
                None => self
                    .discovery
                    .find(name)?
                    .ok_or_else(|| Error::NotFound(name.to_string()))?,
            };
            match self.activate_once(ep).await {
                Ok(mut p) => {
                    if let Some(n) = named {
                        p.implements = n.implements;
                        p.scope = n.scope;
                    }
                    let p = Arc::new(p);
                    tracing::info!(plugin = name, implements = ?p.implements, "plugin activated");
                    self.active
                        .lock()
                        .unwrap()
                        .insert(name.to_string(), p.clone());
                    return Ok(p);
                }
                // Refusing connections: the plugin may still be starting.
                Err(e @ Error::Unavailable { .. }) => {
                    if start.elapsed() + delay > window {
                        return Err(e);
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn activate_once(&self, ep: Endpoint) -> Result<Plugin> {
        let client = Client::new(ep, self.opts.client.clone());
        let raw = client
            .call_raw(
                "Plugin.Activate",
                b"{}".to_vec(),
                self.opts.activate_timeout,
                false,
            )
            .await?;
        let a: ActivateResponse = client.decode("Plugin.Activate", &raw)?;
        Ok(Plugin {
            client,
            implements: a.implements,
            scope: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_paths_map_to_the_host() {
        let s = PathScope {
            rootfs: "/d/p/rootfs".into(),
            propagated: Some(("/data/".into(), "/d/p/propagated-mount".into())),
        };
        assert_eq!(
            s.to_host("/data/volumes/v1"),
            "/d/p/propagated-mount/volumes/v1"
        );
        assert_eq!(s.to_host("/data"), "/d/p/propagated-mount/");
        assert_eq!(s.to_host("/database/x"), "/d/p/rootfs/database/x");
        assert_eq!(s.to_host("/var/lib/x"), "/d/p/rootfs/var/lib/x");
        assert_eq!(s.to_host(""), "");
        let no_prop = PathScope {
            rootfs: "/r".into(),
            propagated: None,
        };
        assert_eq!(no_prop.to_host("/data/v"), "/r/data/v");
    }

    #[tokio::test]
    async fn named_endpoints_come_before_the_disk_and_go_away() {
        let r = Registry::new(
            Discovery::new(vec![], vec![]),
            RegistryOptions {
                activate_window: Duration::from_millis(200),
                ..Default::default()
            },
        );
        let ep = NamedEndpoint {
            endpoint: Endpoint {
                name: "p:latest".into(),
                addr: crate::discovery::Addr::Unix("/nonexistent/p.sock".into()),
                tls: None,
                source: "/nonexistent/p.sock".into(),
            },
            implements: vec!["authz".into()],
            scope: None,
        };
        let names = vec!["p:latest".to_string(), "p".to_string()];
        r.add_named(&names, ep);
        assert_eq!(r.named_for("authz"), ["p", "p:latest"]);
        assert_eq!(r.managed_for("authz"), ["p:latest"]);
        assert_eq!(r.canonical("p"), "p:latest");
        assert_eq!(r.canonical("p:latest"), "p:latest");
        assert_eq!(r.canonical("legacy"), "legacy");
        assert!(r.named_for("VolumeDriver").is_empty());
        // Registered but not answering: unavailable, not unknown.
        let e = r.get("p", "authz").await.unwrap_err();
        assert!(matches!(e, Error::Unavailable { .. }), "{e}");
        let e = r.get_now("p", "authz").await.unwrap_err();
        assert!(matches!(e, Error::Unavailable { .. }), "{e}");
        r.remove_named(&names);
        assert_eq!(r.canonical("p"), "p");
        let e = r.get("p", "authz").await.unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e}");
    }
}
