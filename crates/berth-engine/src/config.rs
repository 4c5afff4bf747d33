//! The daemon's effective configuration: flags merged with daemon.json by
//! berthd, read by the engine's parts (and re-applied on SIGHUP).

use berth_types::system::RuntimeInfo;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The daemon's effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub hosts: Vec<String>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub pidfile: PathBuf,
    pub config_file: Option<PathBuf>,
    pub log_level: String,
    pub debug: bool,
    pub tls: bool,
    pub tlsverify: bool,
    pub tlscacert: Option<PathBuf>,
    pub tlscert: Option<PathBuf>,
    pub tlskey: Option<PathBuf>,
    pub runtimes: BTreeMap<String, RuntimeInfo>,
    pub default_runtime: Option<String>,
    pub authorization_plugins: Vec<String>,
    pub live_restore: bool,
    pub iptables: bool,
    pub ip_forward: bool,
    pub bridge: Option<String>,
    pub bip: Option<String>,
    pub experimental: bool,
    pub group: String,
    pub labels: Vec<String>,
    pub default_address_pools: Option<Value>,
    /// daemon.json keys that are dockerd's but not acted on by berth.
    pub ignored_keys: Vec<String>,
    /// `--plugin-start-timeout`, in seconds.
    pub plugin_start_timeout: u64,
}
