//! Capabilities and `SecurityOpt` (no-new-privileges, seccomp, AppArmor).

use super::defaults::{ALL_CAPS, DEFAULT_CAPS, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS};
use crate::{seccomp, Result, RuntimeError};
use berth_types::container::HostConfig;
use serde_json::{json, Value};

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

/// dockerd's masked and read-only paths (or the request's own), unless
/// the container is privileged.
pub(super) fn confine_paths(linux: &mut Value, hc: &HostConfig) {
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
}

/// The seccomp profile to load: none when unconfined or privileged, the
/// request's own profile, or dockerd's default for the capability set.
pub(super) fn seccomp_profile(
    hc: &HostConfig,
    sec: &SecurityOptions,
    caps: &[String],
) -> Result<Option<Value>> {
    Ok(match &sec.seccomp {
        Some(None) => None,
        Some(Some(profile)) => Some(
            seccomp::from_docker_profile(profile, caps).map_err(RuntimeError::InvalidParameter)?,
        ),
        None if hc.privileged => None,
        None => Some(seccomp::default_profile(caps)),
    })
}
