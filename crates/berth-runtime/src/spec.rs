//! OCI runtime spec generation with dockerd's defaults.
//!
//! Two pure steps: [`merge_image_config`] folds the image's config into the
//! create request's Config (what inspect shows), and [`build_spec`] turns the
//! merged Config + HostConfig + rootfs + resolved mounts into an
//! `oci_spec::runtime::Spec`. The spec is assembled as JSON and parsed by
//! oci-spec, so whatever we produce is checked against its schema types.
//!
//! `--init`: the init is `docker-init` (tini-static, shipped with Debian's
//! `tini` package and pulled in by docker.io) found by [`find_init_binary`],
//! bind-mounted read-only at `/sbin/docker-init` and put in front of the
//! command as `/sbin/docker-init -- CMD...`, as dockerd does. berthd itself
//! is not used: it is dynamically linked and would not run in images
//! without glibc.

use crate::{seccomp, Result, RuntimeError};
use berth_types::container::{ContainerConfig, HostConfig};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const DEFAULT_PATH_ENV: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Default /dev/shm size (64 MiB), as dockerd.
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;
/// Where the init binary is mounted in the container.
pub const INIT_PATH_IN_CONTAINER: &str = "/sbin/docker-init";
/// Default cgroup parent (cgroupfs driver): `/berth/<id>`.
pub const DEFAULT_CGROUP_PARENT: &str = "/berth";

/// dockerd's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability Linux knows (0..=40).
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// dockerd's default masked paths.
pub const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// dockerd's default read-only paths.
pub const DEFAULT_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The part of an image's config (`config` in the OCI image config) that
/// shapes the process.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ImageRuntimeConfig {
    #[serde(rename = "Env")]
    pub env: Option<Vec<String>>,
    #[serde(rename = "Cmd")]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "Entrypoint")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "WorkingDir")]
    pub working_dir: Option<String>,
    #[serde(rename = "User")]
    pub user: Option<String>,
    #[serde(rename = "Labels")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "StopSignal")]
    pub stop_signal: Option<String>,
    #[serde(rename = "ExposedPorts")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(rename = "Volumes")]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(rename = "Healthcheck")]
    pub healthcheck: Option<berth_types::container::HealthConfig>,
}

fn env_key(kv: &str) -> &str {
    kv.split_once('=').map_or(kv, |(k, _)| k)
}

/// Replaces or appends each of `overrides` in `base` by variable name.
pub fn merge_env(base: &mut Vec<String>, overrides: &[String]) {
    for kv in overrides {
        let key = env_key(kv);
        match base.iter_mut().find(|e| env_key(e) == key) {
            Some(slot) => *slot = kv.clone(),
            None => base.push(kv.clone()),
        }
    }
}

/// dockerd's merge of the image config into a create request's Config.
pub fn merge_image_config(config: &mut ContainerConfig, image: &ImageRuntimeConfig) {
    if config.user.is_empty() {
        config.user = image.user.clone().unwrap_or_default();
    }
    if let Some(img_env) = &image.env {
        let mut env = img_env.clone();
        merge_env(&mut env, config.env.as_deref().unwrap_or(&[]));
        config.env = Some(env);
    }
    if let Some(labels) = &image.labels {
        for (k, v) in labels {
            config.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if config.entrypoint.as_ref().is_none_or(Vec::is_empty) {
        if config.cmd.as_ref().is_none_or(Vec::is_empty) {
            config.cmd = image.cmd.clone();
        }
        if config.entrypoint.is_none() {
            config.entrypoint = image.entrypoint.clone();
        }
    }
    if config.working_dir.is_empty() {
        config.working_dir = image.working_dir.clone().unwrap_or_default();
    }
    if config.stop_signal.is_none() {
        config.stop_signal = image.stop_signal.clone();
    }
    // Ports and volumes are unions of the image's and the container's, as
    // dockerd merges them (the CLI sends empty maps, not nulls).
    if let Some(ports) = &image.exposed_ports {
        let mine = config.exposed_ports.get_or_insert_with(Default::default);
        for (k, v) in ports {
            mine.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if let Some(vols) = &image.volumes {
        let mine = config.volumes.get_or_insert_with(Default::default);
        for (k, v) in vols {
            mine.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if config.healthcheck.is_none() {
        config.healthcheck = image.healthcheck.clone();
    }
}

/// The process's argv from a merged Config: entrypoint then cmd. An
/// entrypoint of `[""]` (`--entrypoint ""`) means none.
pub fn argv(config: &ContainerConfig) -> Result<Vec<String>> {
    let mut out: Vec<String> = config
        .entrypoint
        .iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect();
    if out.is_empty() && config.entrypoint.as_ref().is_some_and(|e| !e.is_empty()) {
        // explicit empty entrypoint: only the cmd remains
    }
    out.extend(config.cmd.iter().flatten().cloned());
    if out.is_empty() {
        return Err(RuntimeError::InvalidParameter(
            "no command specified".to_string(),
        ));
    }
    Ok(out)
}

/// A mount already resolved to a host source (binds, volumes, tmpfs,
/// the /etc/hosts-style files the daemon writes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedMount {
    pub destination: String,
    /// "bind" or "tmpfs".
    pub typ: String,
    pub source: String,
    pub options: Vec<String>,
}

/// One `Binds` entry: `SRC:DST[:OPTS]`, OPTS a comma list of ro/rw,
/// propagation (shared, slave, private, rshared, rslave, rprivate), z/Z,
/// nocopy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindSpec {
    /// A host path (absolute) or a volume name.
    pub source: String,
    pub destination: String,
    pub read_only: bool,
    pub propagation: Option<String>,
    pub nocopy: bool,
}

impl BindSpec {
    pub fn is_host_path(&self) -> bool {
        self.source.starts_with('/')
    }
}

const PROPAGATIONS: &[&str] = &[
    "shared", "slave", "private", "rshared", "rslave", "rprivate",
];

/// Parses one `HostConfig.Binds` entry.
pub fn parse_bind(s: &str) -> Result<BindSpec> {
    let bad = || RuntimeError::InvalidParameter(format!("invalid volume specification: '{s}'"));
    let parts: Vec<&str> = s.split(':').collect();
    let (source, destination, opts) = match parts.as_slice() {
        [src, dst] => (*src, *dst, ""),
        [src, dst, opts] => (*src, *dst, *opts),
        _ => return Err(bad()),
    };
    if source.is_empty() || !destination.starts_with('/') {
        return Err(bad());
    }
    if destination == "/" {
        return Err(RuntimeError::InvalidParameter(format!(
            "invalid specification: destination can't be '/' in '{s}'"
        )));
    }
    let mut spec = BindSpec {
        source: source.to_string(),
        destination: destination.to_string(),
        read_only: false,
        propagation: None,
        nocopy: false,
    };
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => spec.read_only = true,
            "rw" => spec.read_only = false,
            "z" | "Z" => {}
            "nocopy" => spec.nocopy = true,
            p if PROPAGATIONS.contains(&p) => spec.propagation = Some(p.to_string()),
            _ => return Err(bad()),
        }
    }
    Ok(spec)
}

/// Resolves `Binds`, `Mounts` and `Tmpfs` of a HostConfig. Named volumes
/// are handed to `volume(name, destination)`, which returns the volume's
/// host path (the daemon's volume store creates it if needed).
pub fn resolve_mounts(
    hc: &HostConfig,
    mut volume: impl FnMut(&str, &str) -> Result<PathBuf>,
) -> Result<Vec<ResolvedMount>> {
    let mut out: Vec<ResolvedMount> = Vec::new();
    let push = |m: ResolvedMount, out: &mut Vec<ResolvedMount>| -> Result<()> {
        if out.iter().any(|o| o.destination == m.destination) {
            return Err(RuntimeError::InvalidParameter(format!(
                "Duplicate mount point: {}",
                m.destination
            )));
        }
        out.push(m);
        Ok(())
    };
    for b in hc.binds.iter().flatten() {
        let spec = parse_bind(b)?;
        let source = if spec.is_host_path() {
            spec.source.clone()
        } else {
            volume(&spec.source, &spec.destination)?
                .to_string_lossy()
                .into_owned()
        };
        let mut options = vec!["rbind".to_string()];
        options.push(if spec.read_only { "ro" } else { "rw" }.into());
        options.push(
            spec.propagation
                .clone()
                .unwrap_or_else(|| "rprivate".into()),
        );
        push(
            ResolvedMount {
                destination: spec.destination,
                typ: "bind".into(),
                source,
                options,
            },
            &mut out,
        )?;
    }
    for m in hc.mounts.iter().flatten() {
        if !m.target.starts_with('/') {
            return Err(RuntimeError::InvalidParameter(format!(
                "invalid mount config for type \"{}\": invalid mount path: '{}' mount path must be absolute",
                m.typ, m.target
            )));
        }
        let ro = if m.read_only { "ro" } else { "rw" };
        let resolved = match m.typ.as_str() {
            "bind" => {
                if !m.source.starts_with('/') {
                    return Err(RuntimeError::InvalidParameter(format!(
                        "invalid mount config for type \"bind\": invalid mount path: '{}' mount path must be absolute",
                        m.source
                    )));
                }
                let create = m
                    .bind_options
                    .as_ref()
                    .and_then(|b| b.create_mountpoint)
                    .unwrap_or(false);
                if !create && !Path::new(&m.source).exists() {
                    return Err(RuntimeError::InvalidParameter(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        m.source
                    )));
                }
                let recursive = !m
                    .bind_options
                    .as_ref()
                    .and_then(|b| b.non_recursive)
                    .unwrap_or(false);
                let prop = m
                    .bind_options
                    .as_ref()
                    .and_then(|b| b.propagation.clone())
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "rprivate".into());
                ResolvedMount {
                    destination: m.target.clone(),
                    typ: "bind".into(),
                    source: m.source.clone(),
                    options: vec![
                        if recursive { "rbind" } else { "bind" }.into(),
                        ro.into(),
                        prop,
                    ],
                }
            }
            "volume" => {
                let name = if m.source.is_empty() {
                    // anonymous volume: the daemon picks a name
                    ""
                } else {
                    m.source.as_str()
                };
                let src = volume(name, &m.target)?;
                ResolvedMount {
                    destination: m.target.clone(),
                    typ: "bind".into(),
                    source: src.to_string_lossy().into_owned(),
                    options: vec!["rbind".into(), ro.into(), "rprivate".into()],
                }
            }
            "tmpfs" => {
                let mut options = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
                if let Some(t) = &m.tmpfs_options {
                    if let Some(size) = t.size_bytes.filter(|s| *s > 0) {
                        options.push(format!("size={size}"));
                    }
                    if let Some(mode) = t.mode.filter(|m| *m != 0) {
                        options.push(format!("mode={mode:o}"));
                    }
                    for kv in t.options.iter().flatten() {
                        options.push(kv.join("="));
                    }
                }
                if m.read_only {
                    options.push("ro".into());
                }
                ResolvedMount {
                    destination: m.target.clone(),
                    typ: "tmpfs".into(),
                    source: "tmpfs".into(),
                    options: normalize_tmpfs_options(options),
                }
            }
            other => {
                return Err(RuntimeError::InvalidParameter(format!(
                    "mount type \"{other}\" is not supported"
                )))
            }
        };
        push(resolved, &mut out)?;
    }
    for (dest, opts) in hc.tmpfs.iter().flatten() {
        if !dest.starts_with('/') {
            return Err(RuntimeError::InvalidParameter(format!(
                "invalid tmpfs mount path {dest:?}: must be absolute"
            )));
        }
        let mut options = vec!["noexec".into(), "nosuid".into(), "nodev".into()];
        options.extend(opts.split(',').filter(|o| !o.is_empty()).map(String::from));
        push(
            ResolvedMount {
                destination: dest.clone(),
                typ: "tmpfs".into(),
                source: "tmpfs".into(),
                options: normalize_tmpfs_options(options),
            },
            &mut out,
        )?;
    }
    Ok(out)
}

/// Later options win over their opposites (`exec` cancels `noexec`, ...).
fn normalize_tmpfs_options(opts: Vec<String>) -> Vec<String> {
    let opposite = |o: &str| -> Option<String> {
        Some(match o {
            "exec" => "noexec".into(),
            "noexec" => "exec".into(),
            "suid" => "nosuid".into(),
            "nosuid" => "suid".into(),
            "dev" => "nodev".into(),
            "nodev" => "dev".into(),
            "ro" => "rw".into(),
            "rw" => "ro".into(),
            _ => return None,
        })
    };
    let mut out: Vec<String> = Vec::new();
    for o in opts {
        if let Some(op) = opposite(&o) {
            out.retain(|x| *x != op && *x != o);
        } else if let Some((k, _)) = o.split_once('=') {
            let prefix = format!("{k}=");
            out.retain(|x| !x.starts_with(&prefix));
        }
        out.push(o);
    }
    out
}

/// A user resolved against the rootfs's /etc/passwd and /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn read_passwd(rootfs: &Path) -> Vec<PasswdEntry> {
    let text = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .collect()
}

/// (name, gid, members)
fn read_group(rootfs: &Path) -> Vec<(String, u32, Vec<String>)> {
    let text = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some((
                f[0].to_string(),
                f[2].parse().ok()?,
                f[3].split(',')
                    .filter(|m| !m.is_empty())
                    .map(String::from)
                    .collect(),
            ))
        })
        .collect()
}

/// Resolves `User` (`""`, `uid`, `name`, `uid:gid`, `name:group`) plus
/// `GroupAdd` the way dockerd does: names through the image's own
/// /etc/passwd and /etc/group, supplementary groups from group membership.
pub fn resolve_user(rootfs: &Path, user: &str, group_add: &[String]) -> Result<ResolvedUser> {
    let passwd = read_passwd(rootfs);
    let groups = read_group(rootfs);
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = if let Ok(uid) = u.parse::<u32>() {
        passwd.iter().find(|p| p.uid == uid)
    } else {
        Some(passwd.iter().find(|p| p.name == u).ok_or_else(|| {
            RuntimeError::InvalidParameter(format!(
                "unable to find user {u}: no matching entries in passwd file"
            ))
        })?)
    };
    let uid = match u.parse::<u32>() {
        Ok(uid) => uid,
        Err(_) => entry.map(|e| e.uid).unwrap_or(0),
    };
    let find_group = |g: &str| -> Result<u32> {
        if let Ok(gid) = g.parse::<u32>() {
            return Ok(gid);
        }
        groups
            .iter()
            .find(|(n, _, _)| n == g)
            .map(|(_, gid, _)| *gid)
            .ok_or_else(|| {
                RuntimeError::InvalidParameter(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            })
    };
    let gid = match g {
        Some(g) if !g.is_empty() => find_group(g)?,
        _ => entry.map(|e| e.gid).unwrap_or(0),
    };
    let mut additional: Vec<u32> = Vec::new();
    if g.is_none() {
        if let Some(e) = entry {
            for (_, ggid, members) in &groups {
                if members.contains(&e.name) && !additional.contains(ggid) {
                    additional.push(*ggid);
                }
            }
        }
    }
    for ga in group_add {
        let gid = find_group(ga)?;
        if !additional.contains(&gid) {
            additional.push(gid);
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids: additional,
        home: entry.map(|e| e.home.clone()).unwrap_or_else(|| "/".into()),
    })
}

fn normalize_cap(c: &str) -> Result<String> {
    let up = c.trim().to_ascii_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if !ALL_CAPS.contains(&full.as_str()) {
        return Err(RuntimeError::InvalidParameter(format!(
            "unknown capability: \"{full}\""
        )));
    }
    Ok(full)
}

/// The capability set from dockerd's defaults, CapAdd and CapDrop (names
/// with or without `CAP_`, any case, `ALL`).
pub fn capabilities(privileged: bool, add: &[String], drop: &[String]) -> Result<Vec<String>> {
    if privileged {
        return Ok(ALL_CAPS.iter().map(|s| s.to_string()).collect());
    }
    let add: Vec<String> = add
        .iter()
        .map(|c| normalize_cap(c))
        .collect::<Result<_>>()?;
    let drop: Vec<String> = drop
        .iter()
        .map(|c| normalize_cap(c))
        .collect::<Result<_>>()?;
    let mut caps: Vec<String> = if add.iter().any(|c| c == "ALL") {
        ALL_CAPS.iter().map(|s| s.to_string()).collect()
    } else if drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    if !add.iter().any(|c| c == "ALL") {
        caps.retain(|c| !drop.contains(c));
    } else {
        caps.retain(|c| !drop.contains(c));
    }
    for c in add {
        if c != "ALL" && !caps.contains(&c) {
            caps.push(c);
        }
    }
    Ok(caps)
}

/// SecurityOpt parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecurityOptions {
    pub no_new_privileges: bool,
    /// None = default profile; Some(None) = unconfined; Some(Some(json)) = custom.
    pub seccomp: Option<Option<Value>>,
    pub apparmor: Option<String>,
    pub label_disable: bool,
}

pub fn parse_security_opts(opts: &[String]) -> Result<SecurityOptions> {
    let mut out = SecurityOptions::default();
    for o in opts {
        let (k, v) = match o.split_once(['=', ':']) {
            Some((k, v)) => (k, Some(v)),
            None => (o.as_str(), None),
        };
        match (k, v) {
            ("no-new-privileges", None) => out.no_new_privileges = true,
            ("no-new-privileges", Some(v)) => {
                out.no_new_privileges = v.parse::<bool>().map_err(|_| {
                    RuntimeError::InvalidParameter(format!("invalid --security-opt 2: {o:?}"))
                })?
            }
            ("seccomp", Some("unconfined")) => out.seccomp = Some(None),
            ("seccomp", Some("builtin")) | ("seccomp", Some("default")) => out.seccomp = None,
            ("seccomp", Some(json_text)) => {
                let v: Value = serde_json::from_str(json_text).map_err(|e| {
                    RuntimeError::InvalidParameter(format!("Decoding seccomp profile failed: {e}"))
                })?;
                out.seccomp = Some(Some(v));
            }
            ("apparmor", Some(p)) => out.apparmor = Some(p.to_string()),
            ("label", Some(v)) => {
                if v == "disable" {
                    out.label_disable = true;
                }
            }
            ("systempaths", Some("unconfined")) => {}
            _ => {
                return Err(RuntimeError::InvalidParameter(format!(
                    "invalid --security-opt 1: {o:?}"
                )))
            }
        }
    }
    Ok(out)
}

/// The network-identity files dockerd bind-mounts into a container.
#[derive(Debug, Clone, Default)]
pub struct EtcFiles<'a> {
    pub hostname: &'a str,
    pub domainname: &'a str,
    /// `HostConfig.ExtraHosts`: `name:ip` (also `name=ip`).
    pub extra_hosts: &'a [String],
    /// `HostConfig.Dns`, `DnsSearch`, `DnsOptions`; empty = derive from the host.
    pub dns: &'a [String],
    pub dns_search: &'a [String],
    pub dns_options: &'a [String],
    /// The container's own addresses (none with loopback-only networking).
    pub addresses: &'a [String],
}

/// Writes `hosts`, `hostname` and `resolv.conf` into `dir` (the
/// container's data dir) and returns the bind mounts for them. Without DNS
/// overrides, resolv.conf is the host's minus loopback nameservers (they
/// would point into the container's own netns).
pub fn write_etc_files(
    dir: &Path,
    f: &EtcFiles<'_>,
    host_resolv_conf: &str,
) -> Result<Vec<ResolvedMount>> {
    let io = |what: &str| RuntimeError::io(format!("writing {what}"));
    let fqdn = if f.domainname.is_empty() {
        f.hostname.to_string()
    } else {
        format!("{}.{}", f.hostname, f.domainname)
    };
    let mut hosts = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for eh in f.extra_hosts {
        let (name, ip) = eh
            .split_once('=')
            .or_else(|| eh.split_once(':'))
            .ok_or_else(|| {
                RuntimeError::InvalidParameter(format!(
                    "invalid extra host {eh:?}: expected name:ip"
                ))
            })?;
        hosts.push_str(&format!("{ip}\t{name}\n"));
    }
    for a in f.addresses {
        if f.hostname == fqdn {
            hosts.push_str(&format!("{a}\t{}\n", f.hostname));
        } else {
            hosts.push_str(&format!("{a}\t{fqdn} {}\n", f.hostname));
        }
    }
    let mut resolv = String::new();
    let mut nameservers = 0;
    for line in host_resolv_conf.lines() {
        let t = line.trim();
        if let Some(ns) = t.strip_prefix("nameserver") {
            let ns = ns.trim();
            if ns.starts_with("127.") || ns == "::1" || !f.dns.is_empty() {
                continue;
            }
            nameservers += 1;
        } else if (t.starts_with("search") && !f.dns_search.is_empty())
            || (t.starts_with("options") && !f.dns_options.is_empty())
        {
            continue;
        }
        resolv.push_str(line);
        resolv.push('\n');
    }
    for ns in f.dns {
        resolv.push_str(&format!("nameserver {ns}\n"));
        nameservers += 1;
    }
    if nameservers == 0 {
        // dockerd's fallback when the host only has loopback resolvers.
        resolv.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    if !f.dns_search.is_empty() {
        resolv.push_str(&format!("search {}\n", f.dns_search.join(" ")));
    }
    if !f.dns_options.is_empty() {
        resolv.push_str(&format!("options {}\n", f.dns_options.join(" ")));
    }
    let files = [
        ("hosts", "/etc/hosts", hosts),
        ("hostname", "/etc/hostname", format!("{}\n", f.hostname)),
        ("resolv.conf", "/etc/resolv.conf", resolv),
    ];
    let mut mounts = Vec::new();
    for (name, dest, content) in files {
        let p = dir.join(name);
        berth_core::atomic::write_atomic(&p, content.as_bytes()).map_err(io(name))?;
        mounts.push(ResolvedMount {
            destination: dest.into(),
            typ: "bind".into(),
            source: p.to_string_lossy().into_owned(),
            options: vec!["rbind".into(), "rprivate".into()],
        });
    }
    Ok(mounts)
}

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

/// Where `--init` finds its init: docker-init or tini-static on PATH or
/// in the usual libexec places.
pub fn find_init_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH");
    for name in ["docker-init", "tini-static"] {
        if let Some(p) = crate::registry::find_in_path(name, path.as_deref()) {
            return Some(p);
        }
    }
    [
        "/usr/libexec/docker/docker-init",
        "/usr/local/libexec/docker/docker-init",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Everything [`build_spec`] needs besides the merged Config and HostConfig.
#[derive(Debug, Clone, Default)]
pub struct SpecOptions {
    /// The container id (64 hex); the default hostname is its first 12 chars.
    pub id: String,
    /// The prepared (mounted) rootfs.
    pub rootfs: PathBuf,
    /// Binds, volumes, tmpfs and daemon-written files, already resolved.
    pub mounts: Vec<ResolvedMount>,
    /// Needed when HostConfig.Init is true.
    pub init_path: Option<PathBuf>,
    /// A network namespace to join instead of creating a new one.
    pub netns_path: Option<PathBuf>,
    /// Give the container a private cgroup namespace when CgroupnsMode is
    /// empty (dockerd does this on cgroup v2 hosts).
    pub default_private_cgroupns: bool,
}

fn rlimit_type(name: &str) -> Result<String> {
    const KNOWN: &[&str] = &[
        "as",
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ];
    let n = name.to_ascii_lowercase();
    if !KNOWN.contains(&n.as_str()) {
        return Err(RuntimeError::InvalidParameter(format!(
            "invalid ulimit type: {name}"
        )));
    }
    Ok(format!("RLIMIT_{}", n.to_ascii_uppercase()))
}

fn default_mounts(shm_size: i64, privileged: bool) -> Vec<Value> {
    let cg_opts: Vec<&str> = if privileged {
        vec!["nosuid", "noexec", "nodev", "relatime", "rw"]
    } else {
        vec!["nosuid", "noexec", "nodev", "relatime", "ro"]
    };
    vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", if privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": cg_opts}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm_size}")]}),
    ]
}

fn default_device_rules() -> Vec<Value> {
    let mut rules = vec![json!({"allow": false, "access": "rwm"})];
    let allow = |t: &str, major: Option<i64>, minor: Option<i64>, access: &str| json!({"allow": true, "type": t, "major": major, "minor": minor, "access": access});
    rules.push(allow("c", None, None, "m"));
    rules.push(allow("b", None, None, "m"));
    for (maj, min) in [
        (1, 3),
        (1, 8),
        (1, 7),
        (5, 0),
        (1, 5),
        (1, 9),
        (5, 1),
        (5, 2),
    ] {
        rules.push(allow("c", Some(maj), Some(min), "rwm"));
    }
    rules.push(allow("c", Some(136), None, "rwm"));
    rules
}

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

fn strip_dot(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/".into()
    } else {
        t.to_string()
    }
}

/// Builds the OCI spec for a container from its merged Config (see
/// [`merge_image_config`]) and HostConfig.
pub fn build_spec(config: &ContainerConfig, hc: &HostConfig, opts: &SpecOptions) -> Result<Spec> {
    let v = build_spec_json(config, hc, opts)?;
    serde_json::from_value(v).map_err(|e| RuntimeError::Spec(e.to_string()))
}

/// [`build_spec`] before oci-spec's typing (useful to inspect in tests).
pub fn build_spec_json(
    config: &ContainerConfig,
    hc: &HostConfig,
    opts: &SpecOptions,
) -> Result<Value> {
    let mut args = argv(config)?;
    if !config.working_dir.is_empty() && !config.working_dir.starts_with('/') {
        return Err(RuntimeError::InvalidParameter(format!(
            "the working directory '{}' is invalid, it needs to be an absolute path",
            config.working_dir
        )));
    }
    let hostname = if config.hostname.is_empty() {
        opts.id.chars().take(12).collect()
    } else {
        config.hostname.clone()
    };
    let user = resolve_user(
        &opts.rootfs,
        &config.user,
        hc.group_add.as_deref().unwrap_or(&[]),
    )?;

    // Environment: PATH, HOSTNAME, TERM, then the container's own.
    let mut env = vec![DEFAULT_PATH_ENV.to_string(), format!("HOSTNAME={hostname}")];
    if config.tty {
        env.push("TERM=xterm".into());
    }
    merge_env(&mut env, config.env.as_deref().unwrap_or(&[]));
    if !env.iter().any(|e| env_key(e) == "HOME") {
        env.push(format!("HOME={}", user.home));
    }

    let caps = capabilities(
        hc.privileged,
        hc.cap_add.as_deref().unwrap_or(&[]),
        hc.cap_drop.as_deref().unwrap_or(&[]),
    )?;
    let sec = parse_security_opts(hc.security_opt.as_deref().unwrap_or(&[]))?;
    let (eff, perm): (Vec<String>, Vec<String>) = if user.uid == 0 {
        (caps.clone(), caps.clone())
    } else {
        (Vec::new(), Vec::new())
    };

    let mut rlimits = Vec::new();
    for u in hc.ulimits.iter().flatten() {
        if u.soft > u.hard && u.hard >= 0 {
            return Err(RuntimeError::InvalidParameter(format!(
                "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                u.soft, u.hard
            )));
        }
        rlimits.push(
            json!({"type": rlimit_type(&u.name)?, "soft": u.soft as u64, "hard": u.hard as u64}),
        );
    }

    let mut mounts = default_mounts(
        if hc.shm_size > 0 {
            hc.shm_size
        } else {
            DEFAULT_SHM_SIZE
        },
        hc.privileged,
    );
    let mut user_mounts = opts.mounts.clone();
    if hc.init.unwrap_or(false) {
        let init = opts.init_path.as_ref().ok_or_else(|| {
            RuntimeError::InvalidParameter(
                "--init requested but no init binary (docker-init or tini-static) was found".into(),
            )
        })?;
        user_mounts.push(ResolvedMount {
            destination: INIT_PATH_IN_CONTAINER.into(),
            typ: "bind".into(),
            source: init.to_string_lossy().into_owned(),
            options: vec!["bind".into(), "ro".into()],
        });
        args.splice(0..0, [INIT_PATH_IN_CONTAINER.to_string(), "--".to_string()]);
    }
    // A user mount replaces a default one at the same place (and anything under it).
    for um in &user_mounts {
        let dest = strip_dot(&um.destination);
        mounts.retain(|m| {
            let d = m["destination"].as_str().unwrap_or_default();
            d != dest && !d.starts_with(&format!("{dest}/"))
        });
    }
    // Parents before children: sort user mounts by depth, stable.
    user_mounts.sort_by_key(|m| strip_dot(&m.destination).matches('/').count());
    for um in &user_mounts {
        mounts.push(json!({
            "destination": strip_dot(&um.destination),
            "type": um.typ,
            "source": um.source,
            "options": um.options,
        }));
    }

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

    // Resources.
    let mut resources = serde_json::Map::new();
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
    resources.insert("devices".into(), json!(devices_rules));
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
    if !memory.is_empty() {
        resources.insert("memory".into(), Value::Object(memory));
    }
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
    if !cpu.is_empty() {
        resources.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = hc.pids_limit.filter(|p| *p > 0) {
        resources.insert("pids".into(), json!({"limit": p}));
    }
    if hc.blkio_weight > 0 {
        resources.insert("blockIO".into(), json!({"weight": hc.blkio_weight}));
    }

    let parent = if hc.cgroup_parent.is_empty() {
        DEFAULT_CGROUP_PARENT.to_string()
    } else if hc.cgroup_parent.starts_with('/') {
        hc.cgroup_parent.clone()
    } else {
        format!("/{}", hc.cgroup_parent)
    };

    let mut process = json!({
        "terminal": config.tty,
        "user": {"uid": user.uid, "gid": user.gid},
        "args": args,
        "env": env,
        "cwd": if config.working_dir.is_empty() { "/".to_string() } else { config.working_dir.clone() },
        "capabilities": {"bounding": caps, "effective": eff, "permitted": perm},
    });
    // Only written when set: youki's libcontainer, given an explicit
    // `false`, loads the seccomp filter after dropping CAP_SYS_ADMIN and
    // without no_new_privs, which the kernel refuses ("failed to load seccomp
    // context"); absent means false to every runtime.
    if sec.no_new_privileges {
        process["noNewPrivileges"] = json!(true);
    }
    if !user.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(user.additional_gids);
    }
    if config.tty && hc.console_size.len() == 2 && hc.console_size[0] > 0 {
        process["consoleSize"] = json!({"height": hc.console_size[0], "width": hc.console_size[1]});
    }
    if !rlimits.is_empty() {
        process["rlimits"] = json!(rlimits);
    }
    if hc.oom_score_adj != 0 {
        process["oomScoreAdj"] = json!(hc.oom_score_adj);
    }
    if let Some(p) = sec.apparmor.as_ref().filter(|p| p.as_str() != "unconfined") {
        process["apparmorProfile"] = json!(p);
    }

    let mut linux = json!({
        "namespaces": namespaces,
        "resources": Value::Object(resources),
        "cgroupsPath": format!("{}/{}", parent.trim_end_matches('/'), opts.id),
    });
    if !devices.is_empty() {
        linux["devices"] = json!(devices);
    }
    if !hc.privileged {
        linux["maskedPaths"] = json!(hc
            .masked_paths
            .clone()
            .unwrap_or_else(|| DEFAULT_MASKED_PATHS.iter().map(|s| s.to_string()).collect()));
        linux["readonlyPaths"] =
            json!(hc
                .readonly_paths
                .clone()
                .unwrap_or_else(|| DEFAULT_READONLY_PATHS
                    .iter()
                    .map(|s| s.to_string())
                    .collect()));
    }
    if let Some(s) = &hc.sysctls {
        if !s.is_empty() {
            linux["sysctl"] = json!(s);
        }
    }
    let seccomp = match &sec.seccomp {
        Some(None) => None,
        Some(Some(profile)) => Some(
            seccomp::from_docker_profile(profile, &caps).map_err(RuntimeError::InvalidParameter)?,
        ),
        None if hc.privileged => None,
        None => Some(seccomp::default_profile(&caps)),
    };
    if let Some(s) = seccomp {
        linux["seccomp"] = s;
    }

    Ok(json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": opts.rootfs, "readonly": hc.readonly_rootfs},
        "hostname": hostname,
        "mounts": mounts,
        "linux": linux,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_types::container::ContainerCreateRequest;

    fn req(s: &str) -> ContainerCreateRequest {
        ContainerCreateRequest::from_json(s.as_bytes()).unwrap()
    }

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nwheel:x:10:root\nwww:x:33:\nstaff:x:50:www\n",
        )
        .unwrap();
        d
    }

    fn opts(rootfs: &Path) -> SpecOptions {
        SpecOptions {
            id: "0123456789abcdef0123".into(),
            rootfs: rootfs.to_path_buf(),
            ..Default::default()
        }
    }

    #[test]
    fn merge_follows_dockerd() {
        let image = ImageRuntimeConfig {
            env: Some(vec!["PATH=/img".into(), "A=1".into()]),
            cmd: Some(vec!["sh".into()]),
            entrypoint: Some(vec!["/entry".into()]),
            working_dir: Some("/w".into()),
            user: Some("www".into()),
            ..Default::default()
        };
        let mut c = req(r#"{"Env":["A=2","B=3"]}"#).config;
        merge_image_config(&mut c, &image);
        assert_eq!(c.env.unwrap(), vec!["PATH=/img", "A=2", "B=3"]);
        assert_eq!(c.user, "www");
        assert_eq!(c.working_dir, "/w");
        assert_eq!(c.entrypoint.unwrap(), vec!["/entry"]);
        assert_eq!(c.cmd.unwrap(), vec!["sh"]);
        // A user entrypoint drops the image's cmd.
        let mut c = req(r#"{"Entrypoint":["echo"]}"#).config;
        merge_image_config(&mut c, &image);
        assert_eq!(argv(&c).unwrap(), vec!["echo"]);
        // A user cmd replaces the image cmd but keeps its entrypoint.
        let mut c = req(r#"{"Cmd":["x"]}"#).config;
        merge_image_config(&mut c, &image);
        assert_eq!(argv(&c).unwrap(), vec!["/entry", "x"]);
        // --entrypoint "" with a cmd.
        let mut c = req(r#"{"Entrypoint":[""],"Cmd":["ls"]}"#).config;
        merge_image_config(&mut c, &image);
        assert_eq!(argv(&c).unwrap(), vec!["ls"]);
        let c = req("{}").config;
        assert!(argv(&c).is_err());
    }

    #[test]
    fn default_spec_matches_dockerd_defaults() {
        let r = rootfs();
        let q = req(r#"{"Cmd":["echo","hi"],"Env":["FOO=bar"]}"#);
        let v = build_spec_json(&q.config, &q.host_config, &opts(r.path())).unwrap();
        assert_eq!(v["hostname"], "0123456789ab");
        assert_eq!(v["process"]["args"], json!(["echo", "hi"]));
        assert_eq!(
            v["process"]["env"],
            json!([
                DEFAULT_PATH_ENV,
                "HOSTNAME=0123456789ab",
                "FOO=bar",
                "HOME=/root"
            ])
        );
        assert_eq!(
            v["process"]["capabilities"]["bounding"],
            json!(DEFAULT_CAPS)
        );
        assert_eq!(
            v["process"]["user"],
            json!({"uid": 0, "gid": 0, "additionalGids": [10]})
        );
        assert_eq!(v["process"]["terminal"], false);
        assert_eq!(v["linux"]["maskedPaths"], json!(DEFAULT_MASKED_PATHS));
        assert_eq!(v["linux"]["readonlyPaths"], json!(DEFAULT_READONLY_PATHS));
        assert_eq!(v["linux"]["cgroupsPath"], "/berth/0123456789abcdef0123");
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, vec!["mount", "pid", "ipc", "uts", "network"]);
        let dests: Vec<&str> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            vec![
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm"
            ]
        );
        assert!(v["mounts"][6]["options"]
            .as_array()
            .unwrap()
            .contains(&json!("size=67108864")));
        assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(
            v["linux"]["resources"]["devices"][0],
            json!({"allow": false, "access": "rwm"})
        );
        assert!(v["linux"]["resources"].get("memory").is_none());
        // And oci-spec accepts it.
        build_spec(&q.config, &q.host_config, &opts(r.path())).unwrap();
    }

    #[test]
    fn host_config_knobs() {
        let r = rootfs();
        let q = req(
            r#"{"Cmd":["sh"],"Tty":true,"User":"www","Hostname":"box","WorkingDir":"/srv",
            "HostConfig":{"Memory":67108864,"NanoCpus":1500000000,"CpuShares":512,"PidsLimit":20,
            "CapAdd":["net_admin","CAP_SYS_TIME"],"CapDrop":["MKNOD","cap_chown"],
            "ReadonlyRootfs":true,"ShmSize":1048576,"ConsoleSize":[30,100],
            "Ulimits":[{"Name":"nofile","Soft":100,"Hard":200}],
            "SecurityOpt":["no-new-privileges:true"],"GroupAdd":["root"],
            "Tmpfs":{"/run":"rw,exec,size=1m"},"Sysctls":{"net.ipv4.ip_forward":"1"}}}"#,
        );
        let mut o = opts(r.path());
        o.mounts = resolve_mounts(&q.host_config, |_, _| unreachable!()).unwrap();
        let v = build_spec_json(&q.config, &q.host_config, &o).unwrap();
        let p = &v["process"];
        assert_eq!(p["terminal"], true);
        assert_eq!(p["consoleSize"], json!({"height": 30, "width": 100}));
        assert_eq!(
            p["user"],
            json!({"uid": 33, "gid": 33, "additionalGids": [50, 0]})
        );
        assert_eq!(p["cwd"], "/srv");
        assert!(p["env"].as_array().unwrap().contains(&json!("TERM=xterm")));
        assert!(p["env"]
            .as_array()
            .unwrap()
            .contains(&json!("HOME=/var/www")));
        assert_eq!(p["noNewPrivileges"], true);
        assert_eq!(
            p["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}])
        );
        let bounding: Vec<String> =
            serde_json::from_value(p["capabilities"]["bounding"].clone()).unwrap();
        assert!(
            bounding.contains(&"CAP_NET_ADMIN".into()) && bounding.contains(&"CAP_SYS_TIME".into())
        );
        assert!(!bounding.contains(&"CAP_MKNOD".into()) && !bounding.contains(&"CAP_CHOWN".into()));
        // Non-root: no effective/permitted caps.
        assert_eq!(p["capabilities"]["effective"], json!([]));
        assert_eq!(v["hostname"], "box");
        assert_eq!(v["root"]["readonly"], true);
        let res = &v["linux"]["resources"];
        if swap_limit_supported() {
            assert_eq!(res["memory"], json!({"limit": 67108864, "swap": 134217728}));
        } else {
            assert_eq!(res["memory"], json!({"limit": 67108864}));
        }
        assert_eq!(
            res["cpu"],
            json!({"period": 100000, "quota": 150000, "shares": 512})
        );
        assert_eq!(res["pids"], json!({"limit": 20}));
        assert_eq!(v["linux"]["sysctl"], json!({"net.ipv4.ip_forward": "1"}));
        let mounts = v["mounts"].as_array().unwrap();
        let shm = mounts
            .iter()
            .find(|m| m["destination"] == "/dev/shm")
            .unwrap();
        assert!(shm["options"]
            .as_array()
            .unwrap()
            .contains(&json!("size=1048576")));
        let run = mounts.iter().find(|m| m["destination"] == "/run").unwrap();
        assert_eq!(
            run["options"],
            json!(["nosuid", "nodev", "rw", "exec", "size=1m"])
        );
        // SYS_TIME brings clock_settime into the seccomp allow-list.
        assert!(v["linux"]["seccomp"]
            .to_string()
            .contains("\"clock_settime\""));
        build_spec(&q.config, &q.host_config, &o).unwrap();
    }

    #[test]
    fn privileged_unconfined_init_and_errors() {
        let r = rootfs();
        let q = req(
            r#"{"Cmd":["top"],"HostConfig":{"Privileged":true,"Init":true,"NetworkMode":"host"}}"#,
        );
        let mut o = opts(r.path());
        o.init_path = Some("/usr/bin/docker-init".into());
        let v = build_spec_json(&q.config, &q.host_config, &o).unwrap();
        assert_eq!(
            v["process"]["args"],
            json!(["/sbin/docker-init", "--", "top"])
        );
        assert_eq!(
            v["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            ALL_CAPS.len()
        );
        assert!(v["linux"].get("seccomp").is_none());
        assert!(v["linux"].get("maskedPaths").is_none());
        assert_eq!(
            v["linux"]["resources"]["devices"],
            json!([{"allow": true, "access": "rwm"}])
        );
        assert!(!v["linux"]["namespaces"].to_string().contains("network"));
        assert!(v["mounts"].to_string().contains("/sbin/docker-init"));
        o.init_path = None;
        assert!(build_spec_json(&q.config, &q.host_config, &o).is_err());

        let q = req(
            r#"{"Cmd":["x"],"HostConfig":{"SecurityOpt":["seccomp=unconfined"],"CapDrop":["ALL"],"CapAdd":["kill"]}}"#,
        );
        let v = build_spec_json(&q.config, &q.host_config, &opts(r.path())).unwrap();
        assert!(v["linux"].get("seccomp").is_none());
        assert_eq!(
            v["process"]["capabilities"]["bounding"],
            json!(["CAP_KILL"])
        );

        for bad in [
            r#"{"Cmd":["x"],"HostConfig":{"CapAdd":["NOPE"]}}"#,
            r#"{"Cmd":["x"],"User":"ghost"}"#,
            r#"{"Cmd":["x"],"HostConfig":{"NanoCpus":1000000000,"CpuQuota":1000}}"#,
            r#"{"Cmd":["x"],"HostConfig":{"Memory":1000}}"#,
            r#"{"Cmd":["x"],"HostConfig":{"SecurityOpt":["bogus"]}}"#,
            r#"{"Cmd":["x"],"HostConfig":{"Ulimits":[{"Name":"nope","Soft":1,"Hard":1}]}}"#,
            r#"{"Cmd":["x"],"WorkingDir":"relative"}"#,
            r#"{"Cmd":["x"],"HostConfig":{"NanoCpus":1000}}"#,
            r#"{"Cmd":["x"],"HostConfig":{"NanoCpus":1000000000000}}"#,
        ] {
            let q = req(bad);
            let e = build_spec_json(&q.config, &q.host_config, &opts(r.path())).unwrap_err();
            assert!(matches!(e, RuntimeError::InvalidParameter(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn binds_and_mounts() {
        assert_eq!(
            parse_bind("/src:/dst:ro,rshared").unwrap(),
            BindSpec {
                source: "/src".into(),
                destination: "/dst".into(),
                read_only: true,
                propagation: Some("rshared".into()),
                nocopy: false
            }
        );
        assert!(parse_bind("/src").is_err());
        assert!(parse_bind("/src:rel").is_err());
        assert!(parse_bind("/a:/b:bogus").is_err());
        let q = req(r#"{"HostConfig":{"Binds":["/tmp:/a","vol:/b:ro"],
            "Mounts":[{"Type":"tmpfs","Target":"/c","TmpfsOptions":{"SizeBytes":4096}},
                      {"Type":"bind","Source":"/tmp","Target":"/d","ReadOnly":true}]}}"#);
        let m = resolve_mounts(&q.host_config, |name, dest| {
            assert_eq!((name, dest), ("vol", "/b"));
            Ok(PathBuf::from("/var/lib/berth/volumes/vol/_data"))
        })
        .unwrap();
        assert_eq!(m[0].options, vec!["rbind", "rw", "rprivate"]);
        assert_eq!(m[1].source, "/var/lib/berth/volumes/vol/_data");
        assert_eq!(m[1].options, vec!["rbind", "ro", "rprivate"]);
        assert_eq!(m[2].options, vec!["nosuid", "nodev", "noexec", "size=4096"]);
        assert_eq!(m[3].options, vec!["rbind", "ro", "rprivate"]);
        let dup = req(r#"{"HostConfig":{"Binds":["/tmp:/a","/tmp:/a"]}}"#);
        assert!(resolve_mounts(&dup.host_config, |_, _| unreachable!()).is_err());
        let missing =
            req(r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/no/such","Target":"/x"}]}}"#);
        assert!(resolve_mounts(&missing.host_config, |_, _| unreachable!()).is_err());
    }

    #[test]
    fn etc_files() {
        let d = tempfile::tempdir().unwrap();
        let m = write_etc_files(
            d.path(),
            &EtcFiles {
                hostname: "box",
                extra_hosts: &["db:10.0.0.5".into()],
                ..Default::default()
            },
            "# host\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch example.org\n",
        )
        .unwrap();
        assert_eq!(
            m.iter().map(|m| m.destination.as_str()).collect::<Vec<_>>(),
            vec!["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]
        );
        let hosts = std::fs::read_to_string(d.path().join("hosts")).unwrap();
        assert!(hosts.starts_with("127.0.0.1\tlocalhost\n") && hosts.contains("10.0.0.5\tdb\n"));
        assert_eq!(
            std::fs::read_to_string(d.path().join("hostname")).unwrap(),
            "box\n"
        );
        assert_eq!(
            std::fs::read_to_string(d.path().join("resolv.conf")).unwrap(),
            "# host\nnameserver 192.0.2.1\nsearch example.org\n"
        );
        write_etc_files(
            d.path(),
            &EtcFiles {
                hostname: "box",
                dns: &["192.0.2.9".into()],
                ..Default::default()
            },
            "nameserver 127.0.0.53\n",
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("resolv.conf")).unwrap(),
            "nameserver 192.0.2.9\n"
        );
        assert!(write_etc_files(
            d.path(),
            &EtcFiles {
                hostname: "b",
                extra_hosts: &["bad".into()],
                ..Default::default()
            },
            ""
        )
        .is_err());
    }

    #[test]
    fn users() {
        let r = rootfs();
        let u = resolve_user(r.path(), "", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids.clone()), (0, 0, vec![10]));
        let u = resolve_user(r.path(), "1000:1000", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 1000, "/"));
        let u = resolve_user(r.path(), "www:wheel", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (33, 10));
        assert!(u.additional_gids.is_empty());
        assert!(resolve_user(r.path(), "www:nogroup", &[]).is_err());
    }
}
