//! One module per verb. Shared here: finding a container's state, runc's state JSON, and
//! turning a wait status into an exit code.

use std::path::{Path, PathBuf};

use libcontainer::container::{Container, ContainerStatus};
use libcontainer::error::LibcontainerError;
use nix::sys::wait::WaitStatus;
use serde::Serialize;

use crate::cli::{ensure_root, Globals};
use crate::error::{Result, RuncError};

pub mod create;
pub mod delete;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

/// The directory holding one container's state, `<root>/<id>`.
fn container_dir(g: &Globals, id: &str) -> Result<PathBuf> {
    validate_id(id)?;
    let root = ensure_root(&g.root)?;
    let root = std::fs::canonicalize(&root)
        .map_err(|e| RuncError::io(format!("cannot resolve {}", root.display()), e))?;
    Ok(root.join(id))
}

/// An ID must name exactly one directory under the root: no separators, no `.`/`..`.
fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'));
    if ok {
        Ok(())
    } else {
        Err(RuncError::Other(format!(
            "invalid container id format: {id}"
        )))
    }
}

fn exists(g: &Globals, id: &str) -> Result<bool> {
    Ok(container_dir(g, id)?.join("state.json").exists())
}

/// Loads a container's state, refreshed against its init process.
fn load(g: &Globals, id: &str) -> Result<Container> {
    let dir = container_dir(g, id)?;
    if !dir.join("state.json").exists() {
        return Err(RuncError::NotFound(id.to_owned()));
    }
    load_dir(dir).map_err(|e| RuncError::container(format!("cannot load state of {id}"), e))
}

/// The cgroup manager of a container, from the cgroup path recorded at create.
fn cgroup_manager(g: &Globals, id: &str) -> Result<libcgroups::common::AnyCgroupManager> {
    use libcgroups::common::{create_cgroup_manager, CgroupConfig};
    let c = load(g, id)?;
    let cfg = c
        .spec()
        .map_err(|e| RuncError::container(format!("cannot read config of {id}"), e))?;
    create_cgroup_manager(CgroupConfig {
        cgroup_path: cfg.cgroup_path,
        systemd_cgroup: c.systemd(),
        container_name: id.to_owned(),
    })
    .map_err(|e| RuncError::Other(format!("cannot open cgroup of {id}: {e}")))
}

/// `Container::load`, retried for a moment while the state file reads as broken:
/// libcontainer rewrites state.json in place (truncate, then write), so a command that
/// reads it while another saves it (`state` during `start`) can see a torn file.
pub fn load_dir(dir: PathBuf) -> std::result::Result<Container, LibcontainerError> {
    let mut tries = 0;
    loop {
        match Container::load(dir.clone()) {
            Err(LibcontainerError::State(_)) if tries < 50 && dir.join("state.json").exists() => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            other => return other,
        }
    }
}

/// runc's `state` JSON (also the element of `list --format json`).
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct RuncState {
    pub oci_version: String,
    pub id: String,
    /// 0 once the container has stopped, as runc reports it.
    pub pid: i32,
    pub status: &'static str,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::HashMap<String, String>>,
    pub owner: String,
}

pub fn status_name(s: ContainerStatus) -> &'static str {
    match s {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    }
}

impl RuncState {
    /// `state` reports an empty owner for root, `list` the creator's user name (runc does
    /// both).
    pub fn of(c: &Container, owner_name: bool) -> Self {
        let status = c.status();
        let pid = match status {
            ContainerStatus::Stopped => 0,
            _ => c.pid().map(|p| p.as_raw()).unwrap_or(0),
        };
        let owner = match c.state.creator {
            Some(0) | None if !owner_name => String::new(),
            _ => c
                .creator()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        RuncState {
            oci_version: libcontainer::oci_spec::runtime::VERSION
                .trim_start_matches('v')
                .to_owned(),
            id: c.id().to_owned(),
            pid,
            status: status_name(status),
            bundle: c.bundle().clone(),
            rootfs: rootfs_of(c.bundle()),
            created: c
                .created()
                .and_then(|t| t.timestamp_nanos_opt())
                .map(rfc3339_nanos)
                .unwrap_or_default(),
            annotations: c.state.annotations.clone().filter(|a| !a.is_empty()),
            owner,
        }
    }
}

/// Go's RFC3339Nano (trailing zeros of the fraction dropped), in UTC.
fn rfc3339_nanos(nanos: i64) -> String {
    berth_types::timestamp::format_nanos(i128::from(nanos))
}

/// The bundle's `root.path`, made absolute against the bundle, as runc reports it.
fn rootfs_of(bundle: &Path) -> PathBuf {
    let path = std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["root"]["path"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("rootfs"));
    if path.is_absolute() {
        path
    } else {
        bundle.join(path)
    }
}

/// A process's exit as a shell would report it: the code, or 128 + the signal.
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    #[test]
    fn exit_codes_follow_the_shell() {
        let p = Pid::from_raw(1);
        assert_eq!(exit_code(WaitStatus::Exited(p, 3)), Some(3));
        assert_eq!(
            exit_code(WaitStatus::Signaled(p, Signal::SIGKILL, false)),
            Some(137)
        );
        assert_eq!(exit_code(WaitStatus::StillAlive), None);
    }

    #[test]
    fn ids_that_escape_the_root_are_refused() {
        for bad in ["", ".", "..", "a/b", "../x", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
        for good in ["c1", "abc-DEF_0.1", "a+b"] {
            assert!(validate_id(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn created_time_is_rfc3339_with_nanos() {
        assert_eq!(
            rfc3339_nanos(1_500_000_000_123_456_789),
            "2017-07-14T02:40:00.123456789Z"
        );
        assert_eq!(
            rfc3339_nanos(1_500_000_000_000_000_000),
            "2017-07-14T02:40:00Z"
        );
    }

    #[test]
    fn rootfs_is_resolved_against_the_bundle() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"root":{"path":"rfs"}}"#).unwrap();
        assert_eq!(rootfs_of(dir.path()), dir.path().join("rfs"));
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"root":{"path":"/abs"}}"#,
        )
        .unwrap();
        assert_eq!(rootfs_of(dir.path()), PathBuf::from("/abs"));
    }
}
