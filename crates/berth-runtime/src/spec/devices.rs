//! Host devices in the spec: `--device`, and every device for `--privileged`.

use super::defaults::default_device_rules;
use crate::{Result, RuntimeError};
use berth_types::container::HostConfig;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A host device as an OCI `linux.devices` entry.
fn host_device(path: &Path, in_container: &str) -> Result<Option<Value>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let md = std::fs::metadata(path).map_err(RuntimeError::io(format!(
        "error gathering device information while adding custom device {:?}",
        path
    )))?;
    let ft = md.file_type();
    let typ = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else {
        return Ok(None);
    };
    let rdev = md.rdev();
    Ok(Some(json!({
        "path": in_container, "type": typ,
        "major": libc::major(rdev), "minor": libc::minor(rdev),
        "fileMode": md.mode() & 0o7777, "uid": md.uid(), "gid": md.gid(),
    })))
}

/// Every char/block device under /dev (for `--privileged`).
fn all_host_devices() -> Vec<Value> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from("/dev")];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                let skip = ["/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/fd"];
                if !skip.iter().any(|s| p == Path::new(s)) {
                    stack.push(p);
                }
                continue;
            }
            if ft.is_symlink() || p == Path::new("/dev/console") || p == Path::new("/dev/ptmx") {
                continue;
            }
            if let Ok(Some(d)) = host_device(&p, &p.to_string_lossy()) {
                out.push(d);
            }
        }
    }
    out
}

/// The device cgroup rules and the `linux.devices` entries: dockerd's
/// defaults (every device for `--privileged`) plus `HostConfig.Devices`.
pub(super) fn devices(hc: &HostConfig) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut devices_rules = default_device_rules();
    let mut devices: Vec<Value> = Vec::new();
    if hc.privileged {
        devices_rules = vec![json!({"allow": true, "access": "rwm"})];
        devices = all_host_devices();
    }
    for d in hc.devices.iter().flatten() {
        let in_ctr = if d.path_in_container.is_empty() {
            &d.path_on_host
        } else {
            &d.path_in_container
        };
        if let Some(dev) = host_device(Path::new(&d.path_on_host), in_ctr)? {
            let perms = if d.cgroup_permissions.is_empty() {
                "rwm"
            } else {
                &d.cgroup_permissions
            };
            devices_rules.push(
                json!({"allow": true, "type": dev["type"], "major": dev["major"],
                                      "minor": dev["minor"], "access": perms}),
            );
            devices.push(dev);
        }
    }
    Ok((devices_rules, devices))
}
