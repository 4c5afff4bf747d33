//! The runtime registry: which runc-compatible runtimes berth may use, by
//! name. Built-ins come first (the embedded runtime, then `runc` and `crun`
//! when found on PATH), then `--add-runtime NAME=PATH` flags and daemon.json
//! `runtimes` entries, which replace a PATH-discovered entry of the same name.

use crate::{Result, RuntimeError};
use berth_types::system::RuntimeInfo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The embedded runtime's name: berthd itself, re-exec'd as `berthd runc ...`.
pub const EMBEDDED_RUNTIME: &str = "berth-runc";

/// Runtimes registered automatically when their binary is on PATH.
const PATH_RUNTIMES: &[&str] = &["runc", "crun"];

/// One runtime: a runc-compatible binary and the arguments that go before
/// the subcommand (`PATH ARGS... create ...`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeEntry {
    pub name: String,
    pub path: PathBuf,
    #[serde(default)]
    pub runtime_args: Vec<String>,
}

/// The daemon.json shape of one `runtimes` value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DaemonJsonRuntime {
    path: Option<String>,
    #[serde(rename = "runtimeArgs", default)]
    runtime_args: Vec<String>,
    #[serde(rename = "runtimeType")]
    runtime_type: Option<String>,
    #[serde(default)]
    options: Option<serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct RuntimeRegistry {
    entries: BTreeMap<String, RuntimeEntry>,
    default: String,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Finds `name` in a PATH-style list of directories.
pub fn find_in_path(name: &str, path_env: Option<&OsStr>) -> Option<PathBuf> {
    let path_env = path_env?;
    std::env::split_paths(path_env)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

impl RuntimeRegistry {
    /// The built-ins: the embedded runtime (`berthd_exe runc`), and runc /
    /// crun if found on `$PATH`. The embedded runtime is the default.
    pub fn new(berthd_exe: impl Into<PathBuf>) -> Self {
        Self::with_path(berthd_exe, std::env::var_os("PATH").as_deref())
    }

    /// Like [`RuntimeRegistry::new`] with an explicit PATH (tests).
    pub fn with_path(berthd_exe: impl Into<PathBuf>, path_env: Option<&OsStr>) -> Self {
        let mut entries = BTreeMap::new();
        entries.insert(
            EMBEDDED_RUNTIME.to_string(),
            RuntimeEntry {
                name: EMBEDDED_RUNTIME.to_string(),
                path: berthd_exe.into(),
                runtime_args: vec!["runc".to_string()],
            },
        );
        for name in PATH_RUNTIMES {
            if let Some(path) = find_in_path(name, path_env) {
                entries.insert(
                    name.to_string(),
                    RuntimeEntry {
                        name: name.to_string(),
                        path,
                        runtime_args: Vec::new(),
                    },
                );
            }
        }
        RuntimeRegistry {
            entries,
            default: EMBEDDED_RUNTIME.to_string(),
        }
    }

    /// Registers (or replaces) a runtime. The embedded runtime's name is reserved.
    pub fn add(&mut self, name: &str, path: impl Into<PathBuf>, args: Vec<String>) -> Result<()> {
        if !valid_name(name) {
            return Err(RuntimeError::InvalidParameter(format!(
                "invalid runtime name {name:?}: only [a-zA-Z0-9_.-] are allowed"
            )));
        }
        if name == EMBEDDED_RUNTIME {
            return Err(RuntimeError::InvalidParameter(format!(
                "runtime name '{name}' is reserved"
            )));
        }
        let path = path.into();
        if path.as_os_str().is_empty() {
            return Err(RuntimeError::InvalidParameter(format!(
                "runtime {name}: path is empty"
            )));
        }
        self.entries.insert(
            name.to_string(),
            RuntimeEntry {
                name: name.to_string(),
                path,
                runtime_args: args,
            },
        );
        Ok(())
    }

    /// One `--add-runtime NAME=PATH` flag value.
    pub fn add_flag(&mut self, value: &str) -> Result<()> {
        let (name, path) = value.split_once('=').ok_or_else(|| {
            RuntimeError::InvalidParameter(format!(
                "invalid --add-runtime value {value:?}: expected NAME=PATH"
            ))
        })?;
        self.add(name.trim(), path.trim(), Vec::new())
    }

    /// The daemon.json `runtimes` object:
    /// `{"NAME": {"path": "...", "runtimeArgs": ["..."]}, ...}`.
    pub fn add_daemon_json(&mut self, runtimes: &serde_json::Value) -> Result<()> {
        let parsed: BTreeMap<String, DaemonJsonRuntime> = serde_json::from_value(runtimes.clone())
            .map_err(|e| {
                RuntimeError::InvalidParameter(format!("invalid daemon.json runtimes: {e}"))
            })?;
        for (name, rt) in parsed {
            if rt.runtime_type.is_some() || rt.options.is_some() {
                return Err(RuntimeError::InvalidParameter(format!(
                    "runtime {name}: runtimeType and options (containerd shims) are not supported; use path and runtimeArgs"
                )));
            }
            let path = rt.path.unwrap_or_default();
            self.add(&name, path, rt.runtime_args)?;
        }
        Ok(())
    }

    /// `--default-runtime NAME`.
    pub fn set_default(&mut self, name: &str) -> Result<()> {
        if !self.entries.contains_key(name) {
            return Err(RuntimeError::UnknownRuntime(name.to_string()));
        }
        self.default = name.to_string();
        Ok(())
    }

    pub fn default_name(&self) -> &str {
        &self.default
    }

    /// The runtime called `name`; the default for "".
    pub fn get(&self, name: &str) -> Result<&RuntimeEntry> {
        let name = if name.is_empty() { &self.default } else { name };
        self.entries
            .get(name)
            .ok_or_else(|| RuntimeError::UnknownRuntime(name.to_string()))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// `Runtimes` of `GET /info`.
    pub fn info(&self) -> BTreeMap<String, RuntimeInfo> {
        self.entries
            .iter()
            .map(|(name, e)| {
                (
                    name.clone(),
                    RuntimeInfo {
                        path: e.path.to_string_lossy().into_owned(),
                        runtime_args: e.runtime_args.clone(),
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn fake_path() -> (tempfile::TempDir, std::ffi::OsString) {
        let d = tempfile::tempdir().unwrap();
        let runc = d.path().join("runc");
        std::fs::write(&runc, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&runc, std::fs::Permissions::from_mode(0o755)).unwrap();
        // crun present but not executable: not registered.
        std::fs::write(d.path().join("crun"), "").unwrap();
        let p = d.path().as_os_str().to_owned();
        (d, p)
    }

    #[test]
    fn builtins_first_and_embedded_default() {
        let (_d, path) = fake_path();
        let r = RuntimeRegistry::with_path("/usr/bin/berthd", Some(&path));
        assert_eq!(r.default_name(), EMBEDDED_RUNTIME);
        let names: Vec<_> = r.names().collect();
        assert_eq!(names, vec!["berth-runc", "runc"]);
        let e = r.get("").unwrap();
        assert_eq!(e.path, Path::new("/usr/bin/berthd"));
        assert_eq!(e.runtime_args, vec!["runc"]);
    }

    #[test]
    fn add_runtime_flag_daemon_json_and_default() {
        let mut r = RuntimeRegistry::with_path("/b", None);
        r.add_flag("custom=/path/to/my_runtime").unwrap();
        r.add_daemon_json(&serde_json::json!({
            "fast": {"path": "/usr/local/bin/fast", "runtimeArgs": ["--debug"]}
        }))
        .unwrap();
        r.set_default("custom").unwrap();
        assert_eq!(r.get("").unwrap().name, "custom");
        let info = r.info();
        assert_eq!(
            serde_json::to_value(&info).unwrap(),
            serde_json::json!({
                "berth-runc": {"path": "/b", "runtimeArgs": ["runc"]},
                "custom": {"path": "/path/to/my_runtime"},
                "fast": {"path": "/usr/local/bin/fast", "runtimeArgs": ["--debug"]}
            })
        );
    }

    #[test]
    fn unknown_and_invalid_names() {
        let mut r = RuntimeRegistry::with_path("/b", None);
        let e = r.get("nope").unwrap_err();
        assert_eq!(e.to_string(), "unknown or invalid runtime name: nope");
        let api: berth_types::Error = e.into();
        assert_eq!(api.kind, berth_types::ErrorKind::InvalidParameter);
        assert!(r.set_default("nope").is_err());
        assert!(r.add_flag("noequals").is_err());
        assert!(r.add_flag("bad name=/x").is_err());
        assert!(r.add_flag("berth-runc=/x").is_err());
        assert!(r.add_flag("x=").is_err());
        assert!(r
            .add_daemon_json(&serde_json::json!({"y": {"runtimeType": "io.containerd.runc.v2"}}))
            .is_err());
    }
}
