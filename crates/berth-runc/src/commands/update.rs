//! `update`: change a running container's cgroup limits, from an OCI `LinuxResources`
//! document (`--resources FILE`, `-` for stdin, as `docker update` sends it) or from
//! runc's individual flags.

use std::io::Read;

use libcgroups::common::{CgroupManager, ControllerOpt};
use libcontainer::oci_spec::runtime::LinuxResources;
use liboci_cli::Update;
use serde_json::{json, Map, Value};

use super::cgroup_manager;
use crate::cli::Globals;
use crate::error::{Result, RuncError};

pub fn update(args: Update, g: &Globals) -> Result<()> {
    let resources = match &args.resources {
        Some(path) => {
            let mut text = String::new();
            let read = if path.as_os_str() == "-" {
                std::io::stdin().read_to_string(&mut text)
            } else {
                std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text))
            };
            read.map_err(|e| RuncError::io(format!("cannot read {}", path.display()), e))?;
            parse_resources(&text)?
        }
        None => resources_from_flags(&args)?,
    };
    let manager = cgroup_manager(g, &args.container_id)?;
    manager
        .apply(&ControllerOpt {
            resources: &resources,
            disable_oom_killer: false,
            oom_score_adj: None,
            freezer_state: None,
        })
        .map_err(|e| {
            RuncError::Other(format!(
                "cannot update resources of {}: {e}",
                args.container_id
            ))
        })
}

/// A `LinuxResources` JSON document.
pub fn parse_resources(text: &str) -> Result<LinuxResources> {
    serde_json::from_str(text).map_err(|e| RuncError::Usage(format!("invalid resources: {e}")))
}

/// The same document, built from runc's flags (only those given).
fn resources_from_flags(a: &Update) -> Result<LinuxResources> {
    let mut doc = Map::new();
    let mut cpu = Map::new();
    let put = |m: &mut Map<String, Value>, k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), v);
        }
    };
    put(&mut cpu, "shares", a.cpu_share.map(|v| json!(v)));
    put(&mut cpu, "quota", a.cpu_quota.map(|v| json!(v)));
    put(&mut cpu, "period", a.cpu_period.map(|v| json!(v)));
    put(
        &mut cpu,
        "realtimeRuntime",
        a.cpu_rt_runtime.map(|v| json!(v)),
    );
    put(
        &mut cpu,
        "realtimePeriod",
        a.cpu_rt_period.map(|v| json!(v)),
    );
    put(&mut cpu, "cpus", a.cpuset_cpus.clone().map(Value::from));
    put(&mut cpu, "mems", a.cpuset_mems.clone().map(Value::from));
    let mut mem = Map::new();
    put(&mut mem, "limit", a.memory.map(|v| json!(v)));
    put(
        &mut mem,
        "reservation",
        a.memory_reservation.map(|v| json!(v)),
    );
    put(&mut mem, "swap", a.memory_swap.map(|v| json!(v)));
    if !cpu.is_empty() {
        doc.insert("cpu".into(), Value::Object(cpu));
    }
    if !mem.is_empty() {
        doc.insert("memory".into(), Value::Object(mem));
    }
    if let Some(limit) = a.pids_limit {
        doc.insert("pids".into(), json!({ "limit": limit }));
    }
    if let Some(weight) = a.blkio_weight {
        doc.insert("blockIO".into(), json!({ "weight": weight }));
    }
    parse_resources(&Value::Object(doc).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_update_document_parses() {
        let r = parse_resources(
            r#"{"memory":{"limit":67108864},"cpu":{"shares":512,"quota":50000,"period":100000},"pids":{"limit":42}}"#,
        )
        .unwrap();
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(67108864));
        assert_eq!(r.cpu().as_ref().unwrap().shares(), Some(512));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 42);
        assert!(parse_resources("{\"pids\":7}").is_err());
    }
}
