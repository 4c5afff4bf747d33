//! The built-in `local` volume driver: a directory `<root>/<name>/_data`,
//! like dockerd's, optionally with a filesystem mounted on it from dockerd's
//! `type`, `o` and `device` options (a tmpfs, a bind of a host path, ...).
//! The filesystem is mounted on the first `mount` ID and unmounted after the last.

use async_trait::async_trait;
use berth_core::drivers::DriverRegistry;
use berth_core::volumes::{DriverVolume, Scope, VolumeDriver};
use berth_types::{Error, Result};
use nix::mount::{MntFlags, MsFlags};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The one place the built-in's name is spelled: its registration.
pub const LOCAL: &str = "local";
const OPTS_FILE: &str = "opts.json";

/// A parsed set of local driver options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountOpts {
    pub fstype: String,
    pub device: String,
    pub flags: u64,
    pub data: String,
}

impl MountOpts {
    /// Validates dockerd's `type`/`o`/`device` options; `None` when the
    /// volume is a plain directory.
    pub fn parse(opts: &BTreeMap<String, String>) -> Result<Option<MountOpts>> {
        for k in opts.keys() {
            if !matches!(k.as_str(), "type" | "o" | "device" | "size") {
                return Err(Error::invalid(format!("invalid option: \"{k}\"")));
            }
        }
        let get = |k: &str| opts.get(k).map(String::as_str).unwrap_or("");
        let (fstype, o, device) = (get("type"), get("o"), get("device"));
        if opts.contains_key("size") {
            return Err(Error::invalid(
                "quota size requested but no quota support (use o=size=... with type=tmpfs)",
            ));
        }
        if fstype.is_empty() && o.is_empty() && device.is_empty() {
            return Ok(None);
        }
        if fstype.is_empty() {
            return Err(Error::invalid("missing required option: \"type\""));
        }
        let mut flags = MsFlags::empty();
        let mut data = Vec::new();
        for part in o.split(',').filter(|p| !p.is_empty()) {
            let f = match part {
                "ro" => MsFlags::MS_RDONLY,
                "rw" => MsFlags::empty(),
                "bind" => MsFlags::MS_BIND,
                "rbind" => MsFlags::MS_BIND | MsFlags::MS_REC,
                "nosuid" => MsFlags::MS_NOSUID,
                "nodev" => MsFlags::MS_NODEV,
                "noexec" => MsFlags::MS_NOEXEC,
                "sync" => MsFlags::MS_SYNCHRONOUS,
                "noatime" => MsFlags::MS_NOATIME,
                "nodiratime" => MsFlags::MS_NODIRATIME,
                "relatime" => MsFlags::MS_RELATIME,
                "strictatime" => MsFlags::MS_STRICTATIME,
                "dirsync" => MsFlags::MS_DIRSYNC,
                "mand" => MsFlags::MS_MANDLOCK,
                other => {
                    data.push(other.to_string());
                    continue;
                }
            };
            flags |= f;
        }
        if fstype != "tmpfs" && device.is_empty() {
            return Err(Error::invalid("missing required option: \"device\""));
        }
        if flags.contains(MsFlags::MS_BIND) && !Path::new(device).is_absolute() {
            return Err(Error::invalid(format!(
                "bind device must be an absolute path: \"{device}\""
            )));
        }
        Ok(Some(MountOpts {
            fstype: fstype.to_string(),
            device: if device.is_empty() {
                fstype.to_string()
            } else {
                device.to_string()
            },
            flags: flags.bits(),
            data: data.join(","),
        }))
    }

    fn mount_on(&self, target: &Path) -> Result<()> {
        let flags = MsFlags::from_bits_truncate(self.flags as _);
        let data = (!self.data.is_empty()).then_some(self.data.as_str());
        let fstype = (!flags.contains(MsFlags::MS_BIND)).then_some(self.fstype.as_str());
        nix::mount::mount(Some(self.device.as_str()), target, fstype, flags, data).map_err(
            |e| {
                Error::internal(format!(
                    "mounting {} ({}) on {}: {e}",
                    self.device,
                    self.fstype,
                    target.display()
                ))
            },
        )?;
        // A read-only bind needs a remount to take effect.
        if flags.contains(MsFlags::MS_BIND | MsFlags::MS_RDONLY) {
            let re = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
            nix::mount::mount(None::<&str>, target, None::<&str>, re, None::<&str>).map_err(
                |e| Error::internal(format!("remounting {} read-only: {e}", target.display())),
            )?;
        }
        Ok(())
    }
}

pub use berth_core::mountinfo::is_mountpoint;

/// Registers the `local` driver, its volumes under `root`, as a built-in
/// of `registry` (the first, so the default of an empty driver name).
pub fn register(registry: &DriverRegistry<dyn VolumeDriver>, root: &Path) -> Result<()> {
    registry.register(LOCAL, Arc::new(LocalDriver::new(root)?))
}

pub struct LocalDriver {
    root: PathBuf,
    /// Mount IDs per volume, for volumes with mount options.
    mounts: Mutex<HashMap<String, BTreeSet<String>>>,
}

impl LocalDriver {
    /// Volumes live under `root` (berth uses `<data-root>/volumes`).
    pub fn new(root: impl Into<PathBuf>) -> Result<LocalDriver> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(LocalDriver {
            root,
            mounts: Mutex::new(HashMap::new()),
        })
    }

    pub fn data_path(&self, name: &str) -> PathBuf {
        self.root.join(name).join("_data")
    }

    fn exists(&self, name: &str) -> bool {
        self.data_path(name).is_dir()
    }

    fn opts(&self, name: &str) -> Result<Option<MountOpts>> {
        match std::fs::read(self.root.join(name).join(OPTS_FILE)) {
            Ok(b) => {
                let m: BTreeMap<String, String> = serde_json::from_slice(&b)
                    .map_err(|e| Error::internal(format!("volume {name}: bad options: {e}")))?;
                MountOpts::parse(&m)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn no_such(name: &str) -> Error {
        Error::not_found(format!("no such volume: {name}"))
    }
}

#[async_trait]
impl VolumeDriver for LocalDriver {
    fn name(&self) -> &str {
        LOCAL
    }

    async fn create(&self, name: &str, opts: &BTreeMap<String, String>) -> Result<()> {
        let parsed = MountOpts::parse(opts)?;
        if let Some(m) = &parsed {
            if m.flags & MsFlags::MS_BIND.bits() != 0 && !Path::new(&m.device).exists() {
                return Err(Error::invalid(format!(
                    "failed to mount local volume: bind source path does not exist: {}",
                    m.device
                )));
            }
        }
        if self.exists(name) {
            return Ok(());
        }
        let dir = self.root.join(name);
        std::fs::create_dir_all(dir.join("_data"))?;
        if parsed.is_some() {
            berth_core::atomic::write_json(&dir.join(OPTS_FILE), opts)?;
        }
        Ok(())
    }

    async fn remove(&self, name: &str) -> Result<()> {
        if !self.root.join(name).exists() {
            return Err(Self::no_such(name));
        }
        let data = self.data_path(name);
        if self.opts(name)?.is_some() {
            if let Some(ids) = self.mounts.lock().unwrap().get(name) {
                if !ids.is_empty() {
                    return Err(Error::conflict(format!("volume {name} is mounted")));
                }
            }
            if is_mountpoint(&data) {
                let _ = nix::mount::umount2(&data, MntFlags::MNT_DETACH);
            }
        }
        std::fs::remove_dir_all(self.root.join(name))?;
        Ok(())
    }

    async fn mount(&self, name: &str, id: &str) -> Result<PathBuf> {
        if !self.exists(name) {
            return Err(Self::no_such(name));
        }
        let data = self.data_path(name);
        if let Some(m) = self.opts(name)? {
            let mut mounts = self.mounts.lock().unwrap();
            let ids = mounts.entry(name.to_string()).or_default();
            if ids.is_empty() && !is_mountpoint(&data) {
                m.mount_on(&data)?;
            }
            ids.insert(id.to_string());
        }
        Ok(data)
    }

    async fn unmount(&self, name: &str, id: &str) -> Result<()> {
        if !self.exists(name) {
            return Err(Self::no_such(name));
        }
        if self.opts(name)?.is_some() {
            let data = self.data_path(name);
            let mut mounts = self.mounts.lock().unwrap();
            let ids = mounts.entry(name.to_string()).or_default();
            ids.remove(id);
            if ids.is_empty() && is_mountpoint(&data) {
                nix::mount::umount2(&data, MntFlags::MNT_DETACH)
                    .map_err(|e| Error::internal(format!("unmounting {}: {e}", data.display())))?;
            }
        }
        Ok(())
    }

    async fn path(&self, name: &str) -> Result<String> {
        if !self.exists(name) {
            return Err(Self::no_such(name));
        }
        Ok(self.data_path(name).display().to_string())
    }

    async fn get(&self, name: &str) -> Result<DriverVolume> {
        if !self.exists(name) {
            return Err(Self::no_such(name));
        }
        Ok(DriverVolume {
            name: name.to_string(),
            mountpoint: self.data_path(name).display().to_string(),
            created_at: None,
            status: BTreeMap::new(),
        })
    }

    async fn list(&self) -> Result<Vec<DriverVolume>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.root)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('_') || !self.exists(&name) {
                continue;
            }
            out.push(DriverVolume {
                mountpoint: self.data_path(&name).display().to_string(),
                name,
                created_at: None,
                status: BTreeMap::new(),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn scope(&self) -> Result<Scope> {
        Ok(Scope::Local)
    }

    fn host_data(&self, name: &str) -> Option<PathBuf> {
        Some(self.data_path(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_dockerd_local_options() {
        assert_eq!(MountOpts::parse(&m(&[])).unwrap(), None);
        let t = MountOpts::parse(&m(&[("type", "tmpfs"), ("o", "size=1m,uid=1000,noexec")]))
            .unwrap()
            .unwrap();
        assert_eq!(t.device, "tmpfs");
        assert_eq!(t.data, "size=1m,uid=1000");
        assert_eq!(t.flags, MsFlags::MS_NOEXEC.bits());
        let b = MountOpts::parse(&m(&[
            ("type", "none"),
            ("o", "bind,ro"),
            ("device", "/srv"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(b.flags, (MsFlags::MS_BIND | MsFlags::MS_RDONLY).bits());
        assert!(MountOpts::parse(&m(&[("o", "bind")])).is_err());
        assert!(MountOpts::parse(&m(&[("type", "ext4")])).is_err());
        assert!(MountOpts::parse(&m(&[("bogus", "1")])).is_err());
        assert!(
            MountOpts::parse(&m(&[("type", "none"), ("o", "bind"), ("device", "rel")])).is_err()
        );
    }
}
