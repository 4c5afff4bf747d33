//! The namespaces a container gets (`linux.namespaces`): new ones unless a
//! `host` mode shares the host's, or a network namespace to join.

use super::SpecOptions;
use berth_types::container::HostConfig;
use serde_json::{json, Value};

pub(super) fn namespaces(hc: &HostConfig, opts: &SpecOptions) -> Vec<Value> {
    let mut namespaces = vec![json!({"type": "mount"})];
    if hc.pid_mode != "host" {
        namespaces.push(json!({"type": "pid"}));
    }
    if hc.ipc_mode != "host" {
        namespaces.push(json!({"type": "ipc"}));
    }
    if hc.uts_mode != "host" {
        namespaces.push(json!({"type": "uts"}));
    }
    match (&opts.netns_path, hc.network_mode.as_str()) {
        (Some(p), _) => namespaces.push(json!({"type": "network", "path": p})),
        (None, "host") => {}
        (None, _) => namespaces.push(json!({"type": "network"})),
    }
    let private_cgroupns = match hc.cgroupns_mode.as_str() {
        "private" => true,
        "host" => false,
        _ => opts.default_private_cgroupns,
    };
    if private_cgroupns {
        namespaces.push(json!({"type": "cgroup"}));
    }
    namespaces
}
