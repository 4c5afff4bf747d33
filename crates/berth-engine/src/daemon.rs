//! The daemon: its identity, configuration, event bus and subsystems, and the
//! glue that turns them into the API's backends.

use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::system::HostFacts;
use berth_core::events::{EventBus, JournalLimits};
use berth_types::system::{PluginsInfo, RuntimeInfo, Version};
use berth_types::EventType;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::containers::Containers;
use berth_image::ImageStore;
use berth_runtime::RuntimeRegistry;

/// Counts of containers by state, for `/info`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ContainerCounts {
    pub total: u64,
    pub running: u64,
    pub paused: u64,
    pub stopped: u64,
}

pub struct Daemon {
    pub id: String,
    pub facts: HostFacts,
    pub version: Version,
    pub config: RwLock<Config>,
    pub events: Arc<EventBus>,
    pub images: Arc<ImageStore>,
    pub containers: Arc<Containers>,
    /// Plugins by name (legacy ones found on disk), shared by every subsystem.
    #[allow(dead_code)] // read by the authorization and managed-plugin layers
    pub plugins: Arc<berth_plugins::Registry>,
    pub volumes: Arc<berth_plugins::VolumeStore>,
    /// Managed plugins (installed and run by berthd).
    pub managed: Arc<crate::plugins::Plugins>,
    /// The authorization plugin chain every API request goes through.
    pub authz: Arc<berth_api::authz::Authz>,
    log_reload: Box<dyn Fn(&str) + Send + Sync>,
}

/// The runtime registry from the built-ins and the configuration.
fn runtime_registry(cfg: &Config) -> Result<RuntimeRegistry> {
    let exe = std::env::current_exe().context("finding berthd's executable")?;
    let mut reg = RuntimeRegistry::new(exe);
    for (name, rt) in &cfg.runtimes {
        reg.add(name, &rt.path, rt.runtime_args.clone())
            .with_context(|| format!("runtime {name}"))?;
    }
    if let Some(d) = &cfg.default_runtime {
        reg.set_default(d).context("--default-runtime")?;
    }
    Ok(reg)
}

impl Daemon {
    pub fn new(cfg: Config, log_reload: Box<dyn Fn(&str) + Send + Sync>) -> Result<Arc<Daemon>> {
        let facts = HostFacts::read();
        let id = engine_id(&cfg.data_root)?;
        let events = EventBus::open(&cfg.data_root.join("events"), JournalLimits::default())
            .context("opening the event journal")?;
        let images = Arc::new(ImageStore::open(&cfg.data_root).context("opening the image store")?);
        let plugins = Arc::new(berth_plugins::Registry::new(
            Default::default(),
            Default::default(),
        ));
        let volumes = berth_plugins::VolumeStore::open(
            cfg.data_root.join("volumes"),
            plugins.clone(),
            events.clone(),
        )
        .context("opening the volume store")?;
        let managed = crate::plugins::Plugins::open(
            &cfg.data_root,
            &cfg.exec_root,
            {
                let reg = runtime_registry(&cfg)?;
                reg.get(reg.default_name())
                    .context("the default runtime")?
                    .clone()
            },
            plugins.clone(),
            volumes.clone(),
            events.clone(),
            crate::plugins::PluginOptions {
                start_wait: std::time::Duration::from_secs(cfg.plugin_start_timeout),
            },
        )
        .context("opening the plugin store")?;
        let containers = Containers::new(
            &cfg.data_root,
            &cfg.exec_root,
            images.clone(),
            runtime_registry(&cfg)?,
            volumes.clone(),
            events.clone(),
        )
        .context("opening the container store")?;
        let users = Arc::downgrade(&containers);
        images.set_usage_check(Arc::new(move |image_id: &str| {
            users
                .upgrade()
                .map(|c| c.users_of_image(image_id))
                .unwrap_or_default()
        }));
        let authz = crate::authz::chain(plugins.clone(), cfg.authorization_plugins.clone());
        {
            // dockerd takes a disabled managed authz plugin out of the chain.
            let chain = authz.clone();
            managed.on_disable(Box::new(move |names, subsystems| {
                if subsystems
                    .iter()
                    .any(|s| s == berth_types::volume::subsystem::AUTHZ)
                {
                    names.iter().for_each(|n| chain.remove_plugin(n));
                }
            }));
        }
        Ok(Arc::new(Daemon {
            id,
            version: crate::system::build_version(&facts),
            facts,
            config: RwLock::new(cfg),
            events,
            images,
            containers,
            authz,
            plugins,
            volumes,
            managed,
            log_reload,
        }))
    }

    pub fn container_counts(&self) -> ContainerCounts {
        self.containers.counts()
    }

    pub fn image_count(&self) -> u64 {
        self.images.count() as u64
    }

    pub fn storage_driver(&self) -> String {
        "overlay2".into()
    }

    pub fn plugins_info(&self) -> PluginsInfo {
        PluginsInfo {
            log: self.plugins_log(),
            volume: self.volumes.driver_names(),
            authorization: self.authz.plugins(),
            ..Default::default()
        }
    }

    pub fn plugins_log(&self) -> Vec<String> {
        berth_runtime::logdriver::names()
    }

    pub fn logging_driver(&self) -> String {
        berth_runtime::logdriver::default_name()
    }

    pub fn runtimes_info(&self) -> BTreeMap<String, RuntimeInfo> {
        self.containers.runtimes.read().unwrap().info()
    }

    pub fn default_runtime_name(&self) -> String {
        self.containers
            .runtimes
            .read()
            .unwrap()
            .default_name()
            .to_string()
    }

    pub fn security_options(&self) -> Vec<String> {
        let mut o = vec!["name=seccomp,profile=builtin".to_string()];
        if berth_runtime::spec::host_is_cgroup_v2() {
            o.push("name=cgroupns".into());
        }
        o
    }

    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if !self.facts.swap_limit {
            w.push("WARNING: No swap limit support".to_string());
        }
        w
    }

    /// SIGHUP: applies `update` (the settings berthd re-read from
    /// daemon.json) to what can change while running, and announces it
    /// with a `daemon reload` event.
    pub fn reload(&self, update: impl FnOnce(&mut Config)) {
        let attrs = {
            let mut cfg = self.config.write().unwrap();
            update(&mut cfg);
            self.authz.set_plugins(cfg.authorization_plugins.clone());
            if cfg.debug {
                cfg.log_level = "debug".into();
            }
            (self.log_reload)(&cfg.log_level);
            match runtime_registry(&cfg) {
                Ok(reg) => *self.containers.runtimes.write().unwrap() = reg,
                Err(e) => tracing::error!("reload: runtimes not changed: {}", chain(&e)),
            }
            reload_attributes(&cfg, &self.facts.hostname)
        };
        self.events
            .publish(EventType::Daemon, "reload", &self.id, attrs);
    }
}

/// An error and its causes on one line, `a: b: c`.
fn chain(e: &Error) -> String {
    let mut s = e.to_string();
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        s.push_str(": ");
        s.push_str(&next.to_string());
        cur = next;
    }
    s
}

/// The attributes of a `daemon reload` event: the reloaded settings, as
/// dockerd reports them.
fn reload_attributes(cfg: &Config, hostname: &str) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    a.insert("name".into(), hostname.to_string());
    a.insert("debug".into(), cfg.debug.to_string());
    a.insert("log-level".into(), cfg.log_level.clone());
    a.insert(
        "labels".into(),
        serde_json::to_string(&cfg.labels).unwrap_or_default(),
    );
    a.insert("live-restore".into(), cfg.live_restore.to_string());
    a.insert(
        "default-runtime".into(),
        cfg.default_runtime.clone().unwrap_or_default(),
    );
    a.insert(
        "runtimes".into(),
        cfg.runtimes.keys().cloned().collect::<Vec<_>>().join(" "),
    );
    a.insert(
        "authorization-plugins".into(),
        serde_json::to_string(&cfg.authorization_plugins).unwrap_or_default(),
    );
    a.insert("experimental".into(), cfg.experimental.to_string());
    a
}

/// The daemon's stable ID, created on first start and kept in the data root.
fn engine_id(data_root: &Path) -> Result<String> {
    let path = data_root.join("engine-id");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim();
        if !s.is_empty() {
            return Ok(s.to_string());
        }
    }
    let h = berth_core::ids::random_hex(16);
    let id = format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    );
    berth_core::atomic::write_atomic(&path, id.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}
