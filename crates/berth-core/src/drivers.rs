//! One registry per driver kind, keyed by (kind, name): volume, network,
//! IPAM, log and authorization drivers are all found the same way.
//!
//! Built-in drivers register first, each under its own name, at the one
//! place that builds it. A name that no built-in holds goes to the kind's
//! plugin resolver (legacy or managed plugins, supplied by berth-plugins),
//! which hands back the same trait object a built-in would be. Callers ask
//! the registry for a name and never compare driver names themselves.

use async_trait::async_trait;
use berth_types::{Error, Result};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The kinds of driver berth has, one registry each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DriverKind {
    Volume,
    Network,
    Ipam,
    Log,
    Authz,
}

impl DriverKind {
    /// dockerd's message for a driver name that nothing answers to.
    pub fn not_found(self, name: &str) -> Error {
        Error::not_found(match self {
            DriverKind::Volume => {
                format!("error looking up volume plugin {name}: plugin \"{name}\" not found")
            }
            DriverKind::Log => {
                format!("error looking up logging plugin {name}: plugin \"{name}\" not found")
            }
            DriverKind::Network | DriverKind::Ipam | DriverKind::Authz => {
                format!("plugin \"{name}\" not found")
            }
        })
    }
}

/// Finds the plugins of one kind by name. berth-plugins implements it over
/// legacy (on-disk) and managed plugins.
#[async_trait]
pub trait PluginResolver<T: ?Sized + Send + Sync>: Send + Sync {
    /// The plugin named `name` as a driver, activated if need be; `Ok(None)`
    /// when no plugin of this kind has that name.
    async fn resolve(&self, name: &str) -> Result<Option<Arc<T>>>;
    /// The names of the plugins of this kind that are up now (for `/info`
    /// and for listings that ask every driver).
    fn active(&self) -> Vec<String>;
    /// Like [`resolve`](Self::resolve), but a plugin that is not there or
    /// not answering yet is waited for, up to `bound` (one starting after
    /// the daemon). The default does not wait.
    async fn resolve_within(&self, name: &str, bound: Duration) -> Result<Option<Arc<T>>> {
        let _ = bound;
        self.resolve(name).await
    }
    /// The name the plugin `name` is shown as (a managed plugin's `x` is
    /// `x:latest`).
    fn canonical(&self, name: &str) -> String {
        name.to_string()
    }
    /// Every plugin of this kind a listing asks (dockerd's `volume ls`
    /// asks plugins that are not active yet too), without waiting for any.
    /// The default: the active ones.
    async fn survey(&self) -> Survey<T> {
        let mut s = Survey::default();
        for n in self.active() {
            match self.resolve(&n).await {
                Ok(Some(d)) => s.drivers.push((n, d)),
                Ok(None) => {}
                Err(e) => s.unavailable.push((n, e)),
            }
        }
        s
    }
}

/// Every driver of a kind a listing asks, by the name each is shown as,
/// and the ones that should have answered and could not.
pub struct Survey<T: ?Sized> {
    pub drivers: Vec<(String, Arc<T>)>,
    /// (name, why) of each plugin a listing must warn about.
    pub unavailable: Vec<(String, Error)>,
}

impl<T: ?Sized> Default for Survey<T> {
    fn default() -> Self {
        Survey {
            drivers: Vec::new(),
            unavailable: Vec::new(),
        }
    }
}

/// The drivers of one kind: built-ins in the order they registered, then
/// the plugin resolver.
pub struct DriverRegistry<T: ?Sized + Send + Sync> {
    kind: DriverKind,
    builtins: RwLock<Vec<(String, Arc<T>)>>,
    default: RwLock<Option<String>>,
    plugins: RwLock<Option<Arc<dyn PluginResolver<T>>>>,
}

impl<T: ?Sized + Send + Sync> DriverRegistry<T> {
    pub fn new(kind: DriverKind) -> Self {
        DriverRegistry {
            kind,
            builtins: RwLock::new(Vec::new()),
            default: RwLock::new(None),
            plugins: RwLock::new(None),
        }
    }

    pub fn kind(&self) -> DriverKind {
        self.kind
    }

    /// Adds a built-in driver. The first one registered is the default
    /// until [`set_default`](Self::set_default) says otherwise. A name
    /// registered twice is a bug of the wiring and refused.
    pub fn register(&self, name: &str, driver: Arc<T>) -> Result<()> {
        let mut b = self.builtins.write().unwrap();
        if b.iter().any(|(n, _)| n == name) {
            return Err(Error::internal(format!(
                "{:?} driver {name:?} registered twice",
                self.kind
            )));
        }
        b.push((name.to_string(), driver));
        Ok(())
    }

    /// The driver an empty name means (daemon configuration may change it).
    pub fn set_default(&self, name: &str) {
        *self.default.write().unwrap() = Some(name.to_string());
    }

    /// The name an empty driver name stands for.
    pub fn default_name(&self) -> String {
        if let Some(d) = self.default.read().unwrap().clone() {
            return d;
        }
        self.builtins
            .read()
            .unwrap()
            .first()
            .map(|(n, _)| n.clone())
            .unwrap_or_default()
    }

    /// Where names that no built-in holds are looked up.
    pub fn set_plugins(&self, resolver: Arc<dyn PluginResolver<T>>) {
        *self.plugins.write().unwrap() = Some(resolver);
    }

    /// The built-in named `name`, if there is one.
    pub fn builtin(&self, name: &str) -> Option<Arc<T>> {
        self.builtins
            .read()
            .unwrap()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.clone())
    }

    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin(name).is_some()
    }

    /// The built-ins, in registration order.
    pub fn builtins(&self) -> Vec<(String, Arc<T>)> {
        self.builtins.read().unwrap().clone()
    }

    pub fn builtin_names(&self) -> Vec<String> {
        self.builtins
            .read()
            .unwrap()
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Built-ins, then the plugins of this kind that are up.
    pub fn names(&self) -> Vec<String> {
        let mut v = self.builtin_names();
        if let Some(p) = self.resolver() {
            for n in p.active() {
                if !v.contains(&n) {
                    v.push(n);
                }
            }
        }
        v
    }

    fn resolver(&self) -> Option<Arc<dyn PluginResolver<T>>> {
        self.plugins.read().unwrap().clone()
    }

    /// The driver named `name` (empty: the default): a built-in first,
    /// then a plugin. Nothing by that name is dockerd's "not found".
    pub async fn get(&self, name: &str) -> Result<Arc<T>> {
        let name = self.name_or_default(name);
        if let Some(d) = self.builtin(&name) {
            return Ok(d);
        }
        match self.resolver() {
            Some(p) => p
                .resolve(&name)
                .await?
                .ok_or_else(|| self.kind.not_found(&name)),
            None => Err(self.kind.not_found(&name)),
        }
    }
}

impl<T: ?Sized + Send + Sync> DriverRegistry<T> {
    fn name_or_default(&self, name: &str) -> String {
        if name.is_empty() {
            self.default_name()
        } else {
            name.to_string()
        }
    }

    /// Like [`get`](Self::get), but a plugin is waited for, up to `bound`,
    /// if it is not up yet (a built-in never is waited for).
    pub async fn wait_for(&self, name: &str, bound: Duration) -> Result<Arc<T>> {
        let name = self.name_or_default(name);
        if let Some(d) = self.builtin(&name) {
            return Ok(d);
        }
        match self.resolver() {
            Some(p) => p
                .resolve_within(&name, bound)
                .await?
                .ok_or_else(|| self.kind.not_found(&name)),
            None => Err(self.kind.not_found(&name)),
        }
    }

    /// The name `name` is shown as: the default's for an empty one, a
    /// built-in's own, else what the plugin resolver says.
    pub fn canonical(&self, name: &str) -> String {
        let name = self.name_or_default(name);
        if self.is_builtin(&name) {
            return name;
        }
        match self.resolver() {
            Some(p) => p.canonical(&name),
            None => name,
        }
    }

    /// Every driver a listing asks: the built-ins in order, then the
    /// plugins the resolver surveys, each name once.
    pub async fn survey(&self) -> Survey<T> {
        let mut s = Survey {
            drivers: self.builtins(),
            unavailable: Vec::new(),
        };
        if let Some(p) = self.resolver() {
            let found = p.survey().await;
            for (n, d) in found.drivers {
                if !s.drivers.iter().any(|(m, _)| *m == n) {
                    s.drivers.push((n, d));
                }
            }
            s.unavailable = found.unavailable;
        }
        s
    }
}

impl<T: ?Sized + Send + Sync> std::fmt::Debug for DriverRegistry<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .builtins
            .read()
            .unwrap()
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        f.debug_struct("DriverRegistry")
            .field("kind", &self.kind)
            .field("builtins", &names)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_types::ErrorKind;
    use std::sync::Mutex;

    trait Named: Send + Sync {
        fn who(&self) -> String;
    }
    struct Fixed(&'static str);
    impl Named for Fixed {
        fn who(&self) -> String {
            self.0.to_string()
        }
    }

    #[derive(Default)]
    struct Plugins {
        asked: Mutex<Vec<String>>,
    }
    #[async_trait]
    impl PluginResolver<dyn Named> for Plugins {
        async fn resolve(&self, name: &str) -> Result<Option<Arc<dyn Named>>> {
            self.asked.lock().unwrap().push(name.to_string());
            Ok((name == "plug").then(|| Arc::new(Fixed("plugin")) as Arc<dyn Named>))
        }
        fn active(&self) -> Vec<String> {
            vec!["plug".into()]
        }
    }

    fn reg() -> (DriverRegistry<dyn Named>, Arc<Plugins>) {
        let r = DriverRegistry::<dyn Named>::new(DriverKind::Network);
        r.register("bridge", Arc::new(Fixed("bridge"))).unwrap();
        r.register("host", Arc::new(Fixed("host"))).unwrap();
        let p = Arc::new(Plugins::default());
        r.set_plugins(p.clone());
        (r, p)
    }

    #[tokio::test]
    async fn built_ins_answer_before_plugins_are_asked() {
        let (r, p) = reg();
        assert_eq!(r.get("host").await.unwrap().who(), "host");
        assert!(p.asked.lock().unwrap().is_empty());
        assert_eq!(r.get("plug").await.unwrap().who(), "plugin");
        assert_eq!(*p.asked.lock().unwrap(), vec!["plug".to_string()]);
    }

    #[tokio::test]
    async fn an_empty_name_is_the_default() {
        let (r, _) = reg();
        assert_eq!(r.default_name(), "bridge");
        assert_eq!(r.get("").await.unwrap().who(), "bridge");
        r.set_default("host");
        assert_eq!(r.get("").await.unwrap().who(), "host");
    }

    #[tokio::test]
    async fn unknown_names_get_the_kinds_message() {
        let (r, _) = reg();
        let e = r.get("asdf").await.err().unwrap();
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(e.message, "plugin \"asdf\" not found");
        let v = DriverRegistry::<dyn Named>::new(DriverKind::Volume);
        let e = v.get("asdf").await.err().unwrap();
        assert_eq!(
            e.message,
            "error looking up volume plugin asdf: plugin \"asdf\" not found"
        );
    }

    #[tokio::test]
    async fn survey_and_canonical_names_go_built_ins_first() {
        let (r, _) = reg();
        let s = r.survey().await;
        let names: Vec<&str> = s.drivers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["bridge", "host", "plug"]);
        assert_eq!(s.drivers[2].1.who(), "plugin");
        assert!(s.unavailable.is_empty());
        assert_eq!(r.canonical(""), "bridge");
        assert_eq!(r.canonical("plug"), "plug");
        assert_eq!(
            r.wait_for("host", Duration::from_secs(1))
                .await
                .unwrap()
                .who(),
            "host"
        );
        assert_eq!(
            r.wait_for("plug", Duration::ZERO).await.unwrap().who(),
            "plugin"
        );
        assert!(r.wait_for("asdf", Duration::ZERO).await.is_err());
    }

    #[test]
    fn names_list_built_ins_then_plugins_once() {
        let (r, _) = reg();
        assert_eq!(r.names(), vec!["bridge", "host", "plug"]);
        assert!(r.register("host", Arc::new(Fixed("again"))).is_err());
        assert!(r.is_builtin("bridge") && !r.is_builtin("plug"));
    }
}
