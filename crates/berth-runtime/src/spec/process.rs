//! The container's process: its environment, user, capabilities, ulimits,
//! terminal, and the `--init` binary in front of its command.

use super::defaults::DEFAULT_PATH_ENV;
use super::image::{env_key, merge_env};
use super::{ResolvedUser, SecurityOptions};
use crate::{Result, RuntimeError};
use berth_types::container::{ContainerConfig, HostConfig};
use serde_json::{json, Value};
use std::path::PathBuf;

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

/// Environment: PATH, HOSTNAME, TERM, then the container's own.
pub(super) fn environment(
    config: &ContainerConfig,
    hostname: &str,
    user: &ResolvedUser,
) -> Vec<String> {
    let mut env = vec![DEFAULT_PATH_ENV.to_string(), format!("HOSTNAME={hostname}")];
    if config.tty {
        env.push("TERM=xterm".into());
    }
    merge_env(&mut env, config.env.as_deref().unwrap_or(&[]));
    if !env.iter().any(|e| env_key(e) == "HOME") {
        env.push(format!("HOME={}", user.home));
    }
    env
}

/// `HostConfig.Ulimits` as OCI `process.rlimits`.
pub(super) fn rlimits(hc: &HostConfig) -> Result<Vec<Value>> {
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
    Ok(rlimits)
}

/// What the spec's `process` is made of, resolved beforehand.
pub(super) struct ProcessParts<'a> {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub user: &'a ResolvedUser,
    pub caps: &'a [String],
    pub sec: &'a SecurityOptions,
    pub rlimits: Vec<Value>,
}

/// The spec's `process` object.
pub(super) fn process(config: &ContainerConfig, hc: &HostConfig, p: ProcessParts<'_>) -> Value {
    let ProcessParts {
        args,
        env,
        user,
        caps,
        sec,
        rlimits,
    } = p;
    let (eff, perm): (Vec<String>, Vec<String>) = if user.uid == 0 {
        (caps.to_vec(), caps.to_vec())
    } else {
        (Vec::new(), Vec::new())
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
    process
}
