//! Resource limits (`linux.resources`) and the host's cgroup facts they depend on.

use super::defaults::DEFAULT_CGROUP_PARENT;
use crate::{Result, RuntimeError};
use berth_types::container::HostConfig;
use serde_json::{json, Map, Value};
use std::path::Path;

/// Whether memory+swap limits can be set (cgroup v1 needs swap accounting;
/// v2 always has memory.swap.max below the root). Without it dockerd drops
/// the swap limit rather than failing.
pub fn swap_limit_supported() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() || host_is_cgroup_v2()
}

/// Whether the host runs the unified cgroup v2 hierarchy only (then
/// dockerd gives containers a private cgroup namespace by default).
pub fn host_is_cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// `linux.resources`: the device rules, memory, CPU, pids and block I/O.
pub(super) fn resources(hc: &HostConfig, devices_rules: Vec<Value>) -> Result<Value> {
    let mut resources = serde_json::Map::new();
    resources.insert("devices".into(), json!(devices_rules));
    let memory = memory(hc)?;
    if !memory.is_empty() {
        resources.insert("memory".into(), Value::Object(memory));
    }
    let cpu = cpu(hc)?;
    if !cpu.is_empty() {
        resources.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = hc.pids_limit.filter(|p| *p > 0) {
        resources.insert("pids".into(), json!({"limit": p}));
    }
    if hc.blkio_weight > 0 {
        resources.insert("blockIO".into(), json!({"weight": hc.blkio_weight}));
    }
    Ok(Value::Object(resources))
}

fn memory(hc: &HostConfig) -> Result<Map<String, Value>> {
    let mut memory = serde_json::Map::new();
    if hc.memory > 0 {
        if hc.memory < 6 << 20 {
            return Err(RuntimeError::InvalidParameter(
                "Minimum memory limit allowed is 6MB".into(),
            ));
        }
        memory.insert("limit".into(), json!(hc.memory));
        let swap = match hc.memory_swap {
            0 => hc.memory * 2,
            s => s,
        };
        if swap > 0 && swap < hc.memory {
            return Err(RuntimeError::InvalidParameter(
                "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
            ));
        }
        if swap_limit_supported() {
            memory.insert("swap".into(), json!(swap));
        }
    }
    if hc.memory_reservation > 0 {
        memory.insert("reservation".into(), json!(hc.memory_reservation));
    }
    if let Some(s) = hc.memory_swappiness.filter(|s| *s >= 0) {
        memory.insert("swappiness".into(), json!(s));
    }
    if let Some(true) = hc.oom_kill_disable {
        memory.insert("disableOOMKiller".into(), json!(true));
    }
    Ok(memory)
}

fn cpu(hc: &HostConfig) -> Result<Map<String, Value>> {
    let mut cpu = serde_json::Map::new();
    if hc.nano_cpus < 0 {
        return Err(RuntimeError::InvalidParameter(
            "invalid value for NanoCpus: must be positive".into(),
        ));
    }
    if hc.nano_cpus > 0 {
        let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
        if hc.nano_cpus < 10_000_000 || hc.nano_cpus > ncpu * 1_000_000_000 {
            return Err(RuntimeError::InvalidParameter(format!(
                "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
            )));
        }
        if hc.cpu_quota > 0 || hc.cpu_period > 0 {
            return Err(RuntimeError::InvalidParameter(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set".into(),
            ));
        }
        let period: i64 = 100_000;
        cpu.insert("period".into(), json!(period));
        cpu.insert("quota".into(), json!(hc.nano_cpus * period / 1_000_000_000));
    }
    if hc.cpu_period > 0 {
        cpu.insert("period".into(), json!(hc.cpu_period));
    }
    if hc.cpu_quota > 0 {
        cpu.insert("quota".into(), json!(hc.cpu_quota));
    }
    if hc.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(hc.cpu_shares));
    }
    if !hc.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(hc.cpuset_cpus));
    }
    if !hc.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), json!(hc.cpuset_mems));
    }
    Ok(cpu)
}

/// `linux.cgroupsPath`: `CgroupParent` (default `/berth`) and the container id.
pub(super) fn cgroups_path(hc: &HostConfig, id: &str) -> String {
    let parent = if hc.cgroup_parent.is_empty() {
        DEFAULT_CGROUP_PARENT.to_string()
    } else if hc.cgroup_parent.starts_with('/') {
        hc.cgroup_parent.clone()
    } else {
        format!("/{}", hc.cgroup_parent)
    };
    format!("{}/{}", parent.trim_end_matches('/'), id)
}
