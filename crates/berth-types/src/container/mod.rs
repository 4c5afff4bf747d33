//! Container wire types: the `POST /containers/create` body (Config,
//! HostConfig, NetworkingConfig), the inspect body (`ContainerJSON`) and the
//! list entry (`ContainerSummary`), with dockerd's JSON field names.
//!
//! Request types are lenient on purpose: every field is optional or
//! defaulted, `null` is accepted wherever a client may send it, and unknown
//! fields are ignored, so that no docker CLI / SDK version fails to
//! deserialise. Loosely specified fields that berth does not interpret are
//! kept as `serde_json::Value` so they round-trip in inspect.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

mod config;
mod create;
mod host;
mod inspect;
mod list;

pub use config::*;
pub use create::*;
pub use host::*;
pub use inspect::*;
pub use list::*;

/// `null` → `T::default()`.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// dockerd's `StrSlice`: a JSON string or an array of strings (or null).
/// `None` means "not set" (use the image's value); `Some(vec![])` is an
/// explicit empty list (e.g. `--entrypoint ""`).
fn str_or_seq<'de, D>(d: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StrSlice {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<StrSlice>::deserialize(d)? {
        None => None,
        Some(StrSlice::One(s)) => Some(vec![s]),
        Some(StrSlice::Many(v)) => Some(v),
    })
}

/// Accepts a number or a numeric string (old clients send `StopTimeout` etc. as either).
fn opt_i64_lenient<'de, D>(d: D) -> Result<Option<i64>, D::Error>
where
    D: Deserializer<'de>,
{
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .or(Some(i64::MAX))),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("invalid number {s:?}"))),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected a number, got {other}"
        ))),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// What docker CLI 28 sends for `docker run -it --rm --name x busybox sh`
    /// (nulls and all).
    const CLI_RUN: &str = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":true,
    "AttachStdout":true,"AttachStderr":true,"Tty":true,"OpenStdin":true,"StdinOnce":true,
    "Env":[],"Cmd":["sh"],"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,
    "OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"",
    "LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{},
    "RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true,"VolumeDriver":"",
    "VolumesFrom":null,"ConsoleSize":[50,200],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"",
    "Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"",
    "Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,
    "PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"",
    "UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,
    "CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],
    "BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,
    "CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"",
    "Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,
    "MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":null,
    "Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,
    "MaskedPaths":null,"ReadonlyPaths":null},
    "NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":null,"Links":null,
    "Aliases":null,"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"",
    "EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"",
    "GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}"#;

    #[test]
    fn parses_docker_cli_run_body() {
        let r = ContainerCreateRequest::from_json(CLI_RUN.as_bytes()).unwrap();
        assert_eq!(r.config.image, "busybox");
        assert_eq!(r.config.cmd.as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(r.config.entrypoint, None);
        assert!(r.config.tty && r.config.open_stdin && r.config.stdin_once);
        assert!(r.host_config.auto_remove);
        assert_eq!(r.host_config.restart_policy.name, "no");
        assert_eq!(r.host_config.console_size, vec![50, 200]);
        assert_eq!(r.host_config.pids_limit, None);
        assert!(r.networking_config.endpoints_config.contains_key("default"));
    }

    #[test]
    fn accepts_string_cmd_unknown_fields_and_nulls() {
        let r = ContainerCreateRequest::from_json(
            br#"{"Image":"x","Cmd":"echo hi","Entrypoint":"","Labels":null,
            "SomethingNew":{"a":1},"StopTimeout":"7",
            "HostConfig":{"Memory":1048576,"NanoCpus":1500000000,"PidsLimit":10,
            "CapAdd":["NET_ADMIN"],"Ulimits":[{"Name":"nofile","Soft":10,"Hard":20}],
            "Tmpfs":{"/run":"rw,size=1m"},"Mounts":[{"Type":"bind","Source":"/tmp",
            "Target":"/mnt","ReadOnly":true,"BindOptions":{"Propagation":"rprivate"}}],
            "Future":true}}"#,
        )
        .unwrap();
        assert_eq!(r.config.cmd, Some(vec!["echo hi".to_string()]));
        assert_eq!(r.config.entrypoint, Some(vec![String::new()]));
        assert_eq!(r.config.stop_timeout, Some(7));
        assert!(r.config.labels.is_empty());
        let h = &r.host_config;
        assert_eq!(h.memory, 1 << 20);
        assert_eq!(h.nano_cpus, 1_500_000_000);
        assert_eq!(h.pids_limit, Some(10));
        assert_eq!(h.ulimits.as_ref().unwrap()[0].name, "nofile");
        assert_eq!(h.mounts.as_ref().unwrap()[0].target, "/mnt");
        assert!(h.mounts.as_ref().unwrap()[0].read_only);
    }

    #[test]
    fn empty_body_is_default_and_garbage_is_invalid() {
        assert_eq!(
            ContainerCreateRequest::from_json(b"  ").unwrap(),
            ContainerCreateRequest::default()
        );
        let e = ContainerCreateRequest::from_json(b"{\"Cmd\": 5}").unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::InvalidParameter);
    }

    #[test]
    fn state_default_uses_zero_times() {
        let v = serde_json::to_value(ContainerState::default()).unwrap();
        assert_eq!(v["StartedAt"], ZERO_TIME);
        assert_eq!(v["Status"], "created");
        assert_eq!(v["OOMKilled"], false);
        assert!(v.get("Health").is_none());
    }
}
