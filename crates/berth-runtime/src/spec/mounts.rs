//! Binds, `Mounts` and `Tmpfs` resolved to host sources, and the spec's mount list.

use super::defaults::{default_mounts, DEFAULT_SHM_SIZE, INIT_PATH_IN_CONTAINER};
use super::SpecOptions;
use crate::{Result, RuntimeError};
use berth_types::container::{HostConfig, Mount};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

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
        push(resolve_bind(b, &mut volume)?, &mut out)?;
    }
    for m in hc.mounts.iter().flatten() {
        push(resolve_api_mount(m, &mut volume)?, &mut out)?;
    }
    for (dest, opts) in hc.tmpfs.iter().flatten() {
        push(resolve_tmpfs(dest, opts)?, &mut out)?;
    }
    Ok(out)
}

/// One `Binds` entry: a host path or a named volume.
fn resolve_bind(
    b: &str,
    volume: &mut impl FnMut(&str, &str) -> Result<PathBuf>,
) -> Result<ResolvedMount> {
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
    Ok(ResolvedMount {
        destination: spec.destination,
        typ: "bind".into(),
        source,
        options,
    })
}

/// One `Mounts` entry (`--mount`): bind, volume or tmpfs.
fn resolve_api_mount(
    m: &Mount,
    volume: &mut impl FnMut(&str, &str) -> Result<PathBuf>,
) -> Result<ResolvedMount> {
    if !m.target.starts_with('/') {
        return Err(RuntimeError::InvalidParameter(format!(
            "invalid mount config for type \"{}\": invalid mount path: '{}' mount path must be absolute",
            m.typ, m.target
        )));
    }
    let ro = if m.read_only { "ro" } else { "rw" };
    let resolved = match m.typ.as_str() {
        "bind" => api_bind_mount(m, ro)?,
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
        "tmpfs" => api_tmpfs_mount(m),
        other => {
            return Err(RuntimeError::InvalidParameter(format!(
                "mount type \"{other}\" is not supported"
            )))
        }
    };
    Ok(resolved)
}

fn api_bind_mount(m: &Mount, ro: &str) -> Result<ResolvedMount> {
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
    Ok(ResolvedMount {
        destination: m.target.clone(),
        typ: "bind".into(),
        source: m.source.clone(),
        options: vec![
            if recursive { "rbind" } else { "bind" }.into(),
            ro.into(),
            prop,
        ],
    })
}

fn api_tmpfs_mount(m: &Mount) -> ResolvedMount {
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

/// One `Tmpfs` entry: `{"/run": "rw,exec,size=1m"}`.
fn resolve_tmpfs(dest: &str, opts: &str) -> Result<ResolvedMount> {
    if !dest.starts_with('/') {
        return Err(RuntimeError::InvalidParameter(format!(
            "invalid tmpfs mount path {dest:?}: must be absolute"
        )));
    }
    let mut options = vec!["noexec".into(), "nosuid".into(), "nodev".into()];
    options.extend(opts.split(',').filter(|o| !o.is_empty()).map(String::from));
    Ok(ResolvedMount {
        destination: dest.to_string(),
        typ: "tmpfs".into(),
        source: "tmpfs".into(),
        options: normalize_tmpfs_options(options),
    })
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

fn strip_dot(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/".into()
    } else {
        t.to_string()
    }
}

/// The spec's `mounts`: dockerd's defaults, minus those a user mount (or
/// the `--init` binary, which also goes in front of `args`) replaces, then
/// the user mounts, parents before children.
pub(super) fn spec_mounts(
    hc: &HostConfig,
    opts: &SpecOptions,
    args: &mut Vec<String>,
) -> Result<Vec<Value>> {
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
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::testutil::req;

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
}
