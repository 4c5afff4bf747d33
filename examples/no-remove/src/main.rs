//! no-remove: a volume plugin that keeps each volume in a directory under
//! its root, like the local driver, and refuses every Remove.
//!
//! Usage: `no-remove [--socket PATH] [--root DIR] [--name NAME]`
//! (defaults: `/run/docker/plugins/NAME.sock`, `/var/lib/no-remove`, `no-remove`).

use berth_plugin_sdk::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

struct NoRemove {
    root: PathBuf,
    /// Mount IDs per volume.
    mounts: Mutex<BTreeMap<String, Vec<String>>>,
}

impl NoRemove {
    fn dir(&self, name: &str) -> HResult<PathBuf> {
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(format!("invalid volume name \"{name}\""));
        }
        Ok(self.root.join(name))
    }
    fn existing(&self, name: &str) -> HResult<PathBuf> {
        let d = self.dir(name)?;
        if d.is_dir() {
            Ok(d)
        } else {
            Err(format!("no such volume: {name}"))
        }
    }
}

#[async_trait]
impl VolumeHandler for NoRemove {
    async fn create(&self, req: CreateRequest) -> HResult<()> {
        if let Some(k) = req.opts.keys().next() {
            return Err(format!("no-remove takes no options (got \"{k}\")"));
        }
        std::fs::create_dir_all(self.dir(&req.name)?).map_err(|e| e.to_string())
    }
    async fn remove(&self, req: NameRequest) -> HResult<()> {
        Err(format!(
            "no-remove: volume {} is protected; this driver never removes volumes",
            req.name
        ))
    }
    async fn mount(&self, req: MountRequest) -> HResult<String> {
        let d = self.existing(&req.name)?;
        self.mounts
            .lock()
            .unwrap()
            .entry(req.name)
            .or_default()
            .push(req.id);
        Ok(d.display().to_string())
    }
    async fn unmount(&self, req: MountRequest) -> HResult<()> {
        self.existing(&req.name)?;
        let mut m = self.mounts.lock().unwrap();
        let ids = m.entry(req.name).or_default();
        ids.retain(|i| *i != req.id);
        Ok(())
    }
    async fn path(&self, req: NameRequest) -> HResult<String> {
        Ok(self.existing(&req.name)?.display().to_string())
    }
    async fn get(&self, req: NameRequest) -> HResult<PluginVolume> {
        let d = self.existing(&req.name)?;
        let mounts = self
            .mounts
            .lock()
            .unwrap()
            .get(&req.name)
            .map_or(0, Vec::len);
        let mut status = BTreeMap::new();
        status.insert("mounts".to_string(), mounts.into());
        Ok(PluginVolume {
            name: req.name,
            mountpoint: d.display().to_string(),
            created_at: String::new(),
            status,
        })
    }
    async fn list(&self) -> HResult<Vec<PluginVolume>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.root)
            .map_err(|e| e.to_string())?
            .flatten()
        {
            if e.path().is_dir() {
                out.push(PluginVolume {
                    name: e.file_name().to_string_lossy().into_owned(),
                    mountpoint: e.path().display().to_string(),
                    ..Default::default()
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

fn main() {
    let mut name = "no-remove".to_string();
    let mut socket = None;
    let mut root = PathBuf::from("/var/lib/no-remove");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next().unwrap_or_else(|| {
                eprintln!("no-remove: {a} needs a value");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--socket" => socket = Some(PathBuf::from(val())),
            "--root" => root = PathBuf::from(val()),
            "--name" => name = val(),
            _ => {
                eprintln!("usage: no-remove [--socket PATH] [--root DIR] [--name NAME]");
                std::process::exit(2);
            }
        }
    }
    let socket =
        socket.unwrap_or_else(|| PathBuf::from(format!("/run/docker/plugins/{name}.sock")));
    if let Err(e) = std::fs::create_dir_all(&root) {
        eprintln!("no-remove: creating {}: {e}", root.display());
        std::process::exit(1);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let driver = NoRemove {
        root,
        mounts: Mutex::new(BTreeMap::new()),
    };
    if let Err(e) = rt.block_on(PluginServer::new().volume(driver).serve_unix(&socket)) {
        eprintln!("no-remove: serving on {}: {e}", socket.display());
        std::process::exit(1);
    }
}
