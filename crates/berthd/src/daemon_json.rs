//! daemon.json: reading it, dockerd's rules for its keys (unknown ones and
//! flag conflicts are errors), applying it, and the part SIGHUP re-reads.

use crate::flags::validate_log_level;
use anyhow::{bail, Context, Result};
use berth_engine::Config;
use berth_types::system::RuntimeInfo;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// daemon.json keys berth implements.
const IMPLEMENTED_KEYS: &[&str] = &[
    "hosts",
    "data-root",
    "exec-root",
    "pidfile",
    "log-level",
    "debug",
    "tls",
    "tlsverify",
    "tlscacert",
    "tlscert",
    "tlskey",
    "runtimes",
    "default-runtime",
    "authorization-plugins",
    "live-restore",
    "iptables",
    "ip-forward",
    "bridge",
    "bip",
    "experimental",
    "group",
    "labels",
    "default-address-pools",
];

/// dockerd options berth accepts in daemon.json but does not act on yet;
/// each is logged as ignored at start-up, so nothing is silently dropped.
const KNOWN_DOCKERD_KEYS: &[&str] = &[
    "allow-nondistributable-artifacts",
    "api-cors-header",
    "bip6",
    "builder",
    "cdi-spec-dirs",
    "cgroup-parent",
    "containerd",
    "containerd-namespace",
    "containerd-plugins-namespace",
    "default-cgroupns-mode",
    "default-gateway",
    "default-gateway-v6",
    "default-ipc-mode",
    "default-network-opts",
    "default-shm-size",
    "default-ulimits",
    "dns",
    "dns-opts",
    "dns-search",
    "exec-opts",
    "features",
    "fixed-cidr",
    "fixed-cidr-v6",
    "host-gateway-ip",
    "icc",
    "init",
    "init-path",
    "insecure-registries",
    "ip",
    "ip-masq",
    "ip6tables",
    "ipv6",
    "log-driver",
    "log-format",
    "log-opts",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "max-download-attempts",
    "min-api-version",
    "mtu",
    "no-new-privileges",
    "node-generic-resources",
    "oom-score-adjust",
    "proxies",
    "raw-logs",
    "registry-mirrors",
    "seccomp-profile",
    "selinux-enabled",
    "shutdown-timeout",
    "storage-driver",
    "storage-opts",
    "swarm-default-advertise-addr",
    "userland-proxy",
    "userland-proxy-path",
    "userns-remap",
];

/// Reads daemon.json. A missing default file is fine; a missing file named
/// with --config-file is an error, as in dockerd.
pub fn read_config_file(path: &Path, explicit: bool) -> Result<Option<Map<String, Value>>> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("unable to read {}", path.display())),
    };
    if data.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Some(Map::new()));
    }
    let v: Value = serde_json::from_slice(&data).with_context(|| {
        format!(
            "unable to configure the berth daemon with file {}: invalid JSON",
            path.display()
        )
    })?;
    match v {
        Value::Object(m) => Ok(Some(m)),
        _ => bail!(
            "unable to configure the berth daemon with file {}: the file must hold a JSON object",
            path.display()
        ),
    }
}

/// Checks daemon.json's keys: unknown ones and flag conflicts are errors.
/// Returns the dockerd keys berth ignores.
pub fn check_keys(
    file: &Map<String, Value>,
    explicit_flag_keys: &[&str],
    flag_values: &dyn Fn(&str) -> String,
) -> std::result::Result<Vec<String>, String> {
    let mut unknown: Vec<&str> = file
        .keys()
        .map(String::as_str)
        .filter(|k| !IMPLEMENTED_KEYS.contains(k) && !KNOWN_DOCKERD_KEYS.contains(k))
        .collect();
    unknown.sort();
    if !unknown.is_empty() {
        return Err(format!(
            "the following directives don't match any configuration option: {}",
            unknown.join(", ")
        ));
    }
    let mut conflicts = Vec::new();
    for key in explicit_flag_keys {
        if let Some(v) = file.get(*key) {
            conflicts.push(format!(
                "{key}: (from flag: {}, from file: {})",
                flag_values(key),
                value_text(v)
            ));
        }
    }
    if !conflicts.is_empty() {
        return Err(format!(
            "the following directives are specified both as a flag and in the configuration file: {}",
            conflicts.join(", ")
        ));
    }
    Ok(file
        .keys()
        .filter(|k| KNOWN_DOCKERD_KEYS.contains(&k.as_str()))
        .cloned()
        .collect())
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(value_text).collect::<Vec<_>>().join(" ")
        ),
        other => other.to_string(),
    }
}

fn str_of(v: &Value, key: &str) -> std::result::Result<String, String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{key} must be a string"))
}

fn bool_of(v: &Value, key: &str) -> std::result::Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("{key} must be a boolean"))
}

fn strings_of(v: &Value, key: &str) -> std::result::Result<Vec<String>, String> {
    match v {
        Value::Array(a) => a.iter().map(|x| str_of(x, key)).collect(),
        _ => Err(format!("{key} must be a list of strings")),
    }
}

/// Applies the keys of daemon.json that berth acts on.
pub fn apply_file(cfg: &mut Config, file: &Map<String, Value>) -> std::result::Result<(), String> {
    for (k, v) in file {
        match k.as_str() {
            "hosts" => cfg.hosts = strings_of(v, k)?,
            "data-root" => cfg.data_root = str_of(v, k)?.into(),
            "exec-root" => cfg.exec_root = str_of(v, k)?.into(),
            "pidfile" => cfg.pidfile = str_of(v, k)?.into(),
            "tlscacert" => cfg.tlscacert = Some(str_of(v, k)?.into()),
            "tlscert" => cfg.tlscert = Some(str_of(v, k)?.into()),
            "tlskey" => cfg.tlskey = Some(str_of(v, k)?.into()),
            "tls" => cfg.tls = bool_of(v, k)?,
            "tlsverify" => cfg.tlsverify = bool_of(v, k)?,
            "iptables" => cfg.iptables = bool_of(v, k)?,
            "ip-forward" => cfg.ip_forward = bool_of(v, k)?,
            "bridge" => cfg.bridge = Some(str_of(v, k)?),
            "bip" => cfg.bip = Some(str_of(v, k)?),
            "group" => cfg.group = str_of(v, k)?,
            "default-address-pools" => cfg.default_address_pools = Some(v.clone()),
            _ => {}
        }
    }
    let reloadable = Reloadable::from_file(file)?;
    reloadable.apply(cfg);
    Ok(())
}

/// The settings SIGHUP re-reads from daemon.json.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reloadable {
    pub debug: Option<bool>,
    pub log_level: Option<String>,
    pub labels: Option<Vec<String>>,
    pub live_restore: Option<bool>,
    pub default_runtime: Option<String>,
    pub runtimes: Option<BTreeMap<String, RuntimeInfo>>,
    pub authorization_plugins: Option<Vec<String>>,
    pub experimental: Option<bool>,
}

impl Reloadable {
    pub fn from_file(file: &Map<String, Value>) -> std::result::Result<Self, String> {
        let mut r = Reloadable::default();
        for (k, v) in file {
            match k.as_str() {
                "debug" => r.debug = Some(bool_of(v, k)?),
                "log-level" => {
                    let l = str_of(v, k)?;
                    validate_log_level(&l).map_err(|e| e.to_string())?;
                    r.log_level = Some(l)
                }
                "labels" => r.labels = Some(strings_of(v, k)?),
                "live-restore" => r.live_restore = Some(bool_of(v, k)?),
                "default-runtime" => r.default_runtime = Some(str_of(v, k)?),
                "authorization-plugins" => r.authorization_plugins = Some(strings_of(v, k)?),
                "experimental" => r.experimental = Some(bool_of(v, k)?),
                "runtimes" => {
                    let m: BTreeMap<String, RuntimeInfo> =
                        serde_json::from_value(v.clone()).map_err(|e| format!("runtimes: {e}"))?;
                    for (name, rt) in &m {
                        if rt.path.is_empty() {
                            return Err(format!("runtime {name}: path is required"));
                        }
                    }
                    r.runtimes = Some(m);
                }
                _ => {}
            }
        }
        Ok(r)
    }

    pub fn apply(&self, cfg: &mut Config) {
        if let Some(v) = self.debug {
            cfg.debug = v;
        }
        if let Some(v) = &self.log_level {
            cfg.log_level = v.clone();
        }
        if let Some(v) = &self.labels {
            cfg.labels = v.clone();
        }
        if let Some(v) = self.live_restore {
            cfg.live_restore = v;
        }
        if let Some(v) = &self.default_runtime {
            cfg.default_runtime = Some(v.clone());
        }
        if let Some(v) = &self.runtimes {
            cfg.runtimes.extend(v.clone());
        }
        if let Some(v) = &self.authorization_plugins {
            cfg.authorization_plugins = v.clone();
        }
        if let Some(v) = self.experimental {
            cfg.experimental = v;
        }
    }
}
