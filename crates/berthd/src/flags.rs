//! berthd's command line: dockerd's flag names, the flags' own checks,
//! and the configuration they give before daemon.json is merged.

use anyhow::{bail, Result};
use berth_engine::Config;
use berth_types::system::RuntimeInfo;
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Parser};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const DEFAULT_SOCKET: &str = "unix:///run/berth.sock";
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";

/// berthd's command line: dockerd's flag names.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "berthd",
    version,
    about = "berth: a container engine that speaks the Docker Engine API"
)]
pub struct Flags {
    /// Daemon socket(s) to listen on: unix://PATH or tcp://HOST:PORT.
    #[arg(short = 'H', long = "host", action = ArgAction::Append)]
    pub host: Vec<String>,
    /// Root of persistent state.
    #[arg(long = "data-root", default_value = "/var/lib/berth")]
    pub data_root: PathBuf,
    /// Root of runtime state (sockets, pids).
    #[arg(long = "exec-root", default_value = "/run/berth")]
    pub exec_root: PathBuf,
    /// Path of the pid file.
    #[arg(short = 'p', long = "pidfile", default_value = "/run/berth.pid")]
    pub pidfile: PathBuf,
    /// daemon.json.
    #[arg(long = "config-file", default_value = DEFAULT_CONFIG_FILE)]
    pub config_file: PathBuf,
    /// debug, info, warn, error or fatal.
    #[arg(short = 'l', long = "log-level", default_value = "info")]
    pub log_level: String,
    /// Debug mode (log level debug).
    #[arg(short = 'D', long = "debug", action = ArgAction::SetTrue)]
    pub debug: bool,
    /// Use TLS; implied by --tlsverify.
    #[arg(long = "tls", action = ArgAction::SetTrue)]
    pub tls: bool,
    /// Use TLS and verify client certificates against --tlscacert.
    #[arg(long = "tlsverify", action = ArgAction::SetTrue)]
    pub tlsverify: bool,
    #[arg(long = "tlscacert")]
    pub tlscacert: Option<PathBuf>,
    #[arg(long = "tlscert")]
    pub tlscert: Option<PathBuf>,
    #[arg(long = "tlskey")]
    pub tlskey: Option<PathBuf>,
    /// Register an OCI runtime: NAME=PATH (repeatable).
    #[arg(long = "add-runtime", action = ArgAction::Append)]
    pub add_runtime: Vec<String>,
    /// The runtime used when a container names none.
    #[arg(long = "default-runtime")]
    pub default_runtime: Option<String>,
    /// Authorization plugins to ask, in order (repeatable).
    #[arg(long = "authorization-plugin", action = ArgAction::Append)]
    pub authorization_plugin: Vec<String>,
    /// Keep containers running while the daemon is down (berth always does).
    #[arg(long = "live-restore", action = ArgAction::SetTrue)]
    pub live_restore: bool,
    /// Let berth add iptables/nftables rules.
    #[arg(long = "iptables", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub iptables: bool,
    /// Enable net.ipv4.ip_forward.
    #[arg(long = "ip-forward", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub ip_forward: bool,
    /// Attach containers to this Linux bridge.
    #[arg(short = 'b', long = "bridge")]
    pub bridge: Option<String>,
    /// The default bridge's IP and netmask (CIDR).
    #[arg(long = "bip")]
    pub bip: Option<String>,
    /// Enable experimental features.
    #[arg(long = "experimental", action = ArgAction::SetTrue)]
    pub experimental: bool,
    /// Group that owns the unix socket.
    #[arg(short = 'G', long = "group", default_value = "docker")]
    pub group: String,
    /// Daemon labels (repeatable).
    #[arg(long = "label", action = ArgAction::Append)]
    pub label: Vec<String>,
    /// Seconds start-up waits for each enabled managed plugin to answer
    /// (a slower one keeps starting in the background).
    #[arg(long = "plugin-start-timeout", default_value_t = 10)]
    pub plugin_start_timeout: u64,
}

impl Flags {
    /// The configuration the flags alone give (daemon.json comes on top).
    pub fn to_config(&self) -> Result<Config> {
        Ok(Config {
            hosts: self.host.clone(),
            data_root: self.data_root.clone(),
            exec_root: self.exec_root.clone(),
            pidfile: self.pidfile.clone(),
            config_file: None,
            log_level: self.log_level.clone(),
            debug: self.debug,
            tls: self.tls,
            tlsverify: self.tlsverify,
            tlscacert: self.tlscacert.clone(),
            tlscert: self.tlscert.clone(),
            tlskey: self.tlskey.clone(),
            runtimes: parse_add_runtimes(&self.add_runtime)?,
            default_runtime: self.default_runtime.clone(),
            authorization_plugins: self.authorization_plugin.clone(),
            live_restore: self.live_restore,
            iptables: self.iptables,
            ip_forward: self.ip_forward,
            bridge: self.bridge.clone(),
            bip: self.bip.clone(),
            experimental: self.experimental,
            group: self.group.clone(),
            labels: self.label.clone(),
            default_address_pools: None,
            ignored_keys: Vec::new(),
            plugin_start_timeout: self.plugin_start_timeout,
        })
    }
}

/// (flag id, daemon.json key) pairs whose conflicts are checked.
pub const FLAG_KEYS: &[(&str, &str)] = &[
    ("host", "hosts"),
    ("data_root", "data-root"),
    ("exec_root", "exec-root"),
    ("pidfile", "pidfile"),
    ("log_level", "log-level"),
    ("debug", "debug"),
    ("tls", "tls"),
    ("tlsverify", "tlsverify"),
    ("tlscacert", "tlscacert"),
    ("tlscert", "tlscert"),
    ("tlskey", "tlskey"),
    ("add_runtime", "runtimes"),
    ("default_runtime", "default-runtime"),
    ("authorization_plugin", "authorization-plugins"),
    ("live_restore", "live-restore"),
    ("iptables", "iptables"),
    ("ip_forward", "ip-forward"),
    ("bridge", "bridge"),
    ("bip", "bip"),
    ("experimental", "experimental"),
    ("group", "group"),
    ("label", "labels"),
];

pub fn is_explicit(m: &ArgMatches, id: &str) -> bool {
    matches!(m.value_source(id), Some(ValueSource::CommandLine))
}

/// How dockerd shows a flag's value in a conflict with daemon.json.
pub fn flag_value(matches: &ArgMatches, key: &str) -> String {
    let id = FLAG_KEYS
        .iter()
        .find(|(_, k)| *k == key)
        .map(|(i, _)| *i)
        .unwrap_or("");
    match matches.get_raw(id) {
        Some(vals) => {
            let v: Vec<String> = vals.map(|s| s.to_string_lossy().into_owned()).collect();
            if v.len() == 1 {
                v[0].clone()
            } else {
                format!("[{}]", v.join(" "))
            }
        }
        None => "true".to_string(),
    }
}

pub fn validate_log_level(level: &str) -> Result<()> {
    match level {
        "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "panic" => Ok(()),
        _ => bail!("unable to parse logging level: {level}"),
    }
}

/// `--add-runtime NAME=PATH`.
pub fn parse_add_runtimes(specs: &[String]) -> Result<BTreeMap<String, RuntimeInfo>> {
    let mut out = BTreeMap::new();
    for s in specs {
        let Some((name, path)) = s.split_once('=') else {
            bail!("invalid runtime '{s}': expected NAME=PATH");
        };
        if name.is_empty() || path.is_empty() {
            bail!("invalid runtime '{s}': expected NAME=PATH");
        }
        if out
            .insert(
                name.to_string(),
                RuntimeInfo {
                    path: path.to_string(),
                    runtime_args: Vec::new(),
                },
            )
            .is_some()
        {
            bail!("runtime name '{name}' is given twice");
        }
    }
    Ok(out)
}
