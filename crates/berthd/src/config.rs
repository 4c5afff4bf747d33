//! Flags and daemon.json, merged the way dockerd merges them: a key in the
//! file that dockerd does not know is an error, and so is a setting given
//! both as a flag and in the file.

use anyhow::{bail, Context, Result};
use berth_types::system::RuntimeInfo;
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use berth_engine::Config;

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

/// (flag id, daemon.json key) pairs whose conflicts are checked.
const FLAG_KEYS: &[(&str, &str)] = &[
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

/// Parses the command line (without argv[0]'s multicall handling).
pub fn load(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Config> {
    // Let clap print help, version and usage errors itself.
    let matches = Flags::command()
        .try_get_matches_from(args)
        .unwrap_or_else(|e| e.exit());
    let flags = Flags::from_arg_matches(&matches)?;
    let explicit_config = is_explicit(&matches, "config_file");
    let file = read_config_file(&flags.config_file, explicit_config)?;
    merge(
        &flags,
        &matches,
        file.map(|m| (flags.config_file.clone(), m)),
    )
}

fn is_explicit(m: &ArgMatches, id: &str) -> bool {
    matches!(m.value_source(id), Some(ValueSource::CommandLine))
}

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

fn merge(
    flags: &Flags,
    matches: &ArgMatches,
    file: Option<(PathBuf, Map<String, Value>)>,
) -> Result<Config> {
    let explicit: Vec<&str> = FLAG_KEYS
        .iter()
        .filter(|(id, _)| is_explicit(matches, id))
        .map(|(_, k)| *k)
        .collect();
    let flag_value = |key: &str| -> String {
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
    };
    let mut cfg = Config {
        hosts: flags.host.clone(),
        data_root: flags.data_root.clone(),
        exec_root: flags.exec_root.clone(),
        pidfile: flags.pidfile.clone(),
        config_file: None,
        log_level: flags.log_level.clone(),
        debug: flags.debug,
        tls: flags.tls,
        tlsverify: flags.tlsverify,
        tlscacert: flags.tlscacert.clone(),
        tlscert: flags.tlscert.clone(),
        tlskey: flags.tlskey.clone(),
        runtimes: parse_add_runtimes(&flags.add_runtime)?,
        default_runtime: flags.default_runtime.clone(),
        authorization_plugins: flags.authorization_plugin.clone(),
        live_restore: flags.live_restore,
        iptables: flags.iptables,
        ip_forward: flags.ip_forward,
        bridge: flags.bridge.clone(),
        bip: flags.bip.clone(),
        experimental: flags.experimental,
        group: flags.group.clone(),
        labels: flags.label.clone(),
        default_address_pools: None,
        ignored_keys: Vec::new(),
        plugin_start_timeout: flags.plugin_start_timeout,
    };
    if let Some((path, file)) = file {
        let prefix = format!(
            "unable to configure the berth daemon with file {}",
            path.display()
        );
        cfg.ignored_keys = check_keys(&file, &explicit, &flag_value)
            .map_err(|e| anyhow::anyhow!("{prefix}: {e}"))?;
        apply_file(&mut cfg, &file).map_err(|e| anyhow::anyhow!("{prefix}: {e}"))?;
        cfg.config_file = Some(path);
    }
    if cfg.hosts.is_empty() {
        cfg.hosts.push(DEFAULT_SOCKET.to_string());
    }
    if cfg.debug {
        cfg.log_level = "debug".into();
    }
    validate_log_level(&cfg.log_level)?;
    Ok(cfg)
}

fn validate_log_level(level: &str) -> Result<()> {
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
fn apply_file(cfg: &mut Config, file: &Map<String, Value>) -> std::result::Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], file: Option<&str>) -> Result<Config> {
        let mut argv = vec!["berthd".to_string()];
        argv.extend(args.iter().map(|s| s.to_string()));
        let matches = Flags::command().try_get_matches_from(argv)?;
        let flags = Flags::from_arg_matches(&matches)?;
        let file = file.map(|f| {
            (
                PathBuf::from("/x/daemon.json"),
                serde_json::from_str::<Map<String, Value>>(f).unwrap(),
            )
        });
        merge(&flags, &matches, file)
    }

    #[test]
    fn defaults() {
        let c = run(&[], None).unwrap();
        assert_eq!(c.hosts, vec![DEFAULT_SOCKET]);
        assert_eq!(c.data_root, PathBuf::from("/var/lib/berth"));
        assert!(c.iptables);
    }

    #[test]
    fn unknown_key_is_an_error() {
        let e = run(&[], Some(r#"{"debug":true,"bogus-key":1}"#)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to configure the berth daemon with file /x/daemon.json: the following directives don't match any configuration option: bogus-key"
        );
    }

    #[test]
    fn flag_and_key_conflict() {
        let e = run(
            &["-H", "unix:///tmp/a.sock"],
            Some(r#"{"hosts":["unix:///tmp/b.sock"]}"#),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("specified both as a flag and in the configuration file: hosts: (from flag: unix:///tmp/a.sock, from file: [unix:///tmp/b.sock])"),
            "{e}"
        );
        // The same key without the flag is fine.
        let c = run(&[], Some(r#"{"hosts":["unix:///tmp/b.sock"]}"#)).unwrap();
        assert_eq!(c.hosts, vec!["unix:///tmp/b.sock"]);
    }

    #[test]
    fn file_values_apply_and_dockerd_keys_are_reported() {
        let c = run(
            &["--debug"],
            Some(r#"{"labels":["a=b"],"runtimes":{"x":{"path":"/bin/x","runtimeArgs":["--y"]}},"mtu":1400,"iptables":false}"#),
        )
        .unwrap();
        assert_eq!(c.labels, vec!["a=b"]);
        assert_eq!(c.runtimes["x"].runtime_args, vec!["--y"]);
        assert_eq!(c.ignored_keys, vec!["mtu"]);
        assert_eq!(c.log_level, "debug");
        assert!(!c.iptables);
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(run(&[], Some(r#"{"debug":"yes"}"#)).is_err());
        assert!(run(&[], Some(r#"{"log-level":"loud"}"#)).is_err());
        assert!(run(&["--add-runtime", "noequals"], None).is_err());
        assert!(run(&["--add-runtime", "a=/x", "--add-runtime", "a=/y"], None).is_err());
        let c = run(
            &["--add-runtime", "custom=/opt/rt", "--iptables=false"],
            None,
        )
        .unwrap();
        assert_eq!(c.runtimes["custom"].path, "/opt/rt");
        assert!(!c.iptables);
    }
}
