//! berth's default seccomp filter, written as an allow-list: every syscall
//! an ordinary containerised program uses is allowed, everything else fails
//! with EPERM. What stays out is what Docker's default profile keeps out —
//! kernel modules, kexec, reboot, clock and swap control, mount and namespace
//! creation, keyrings, bpf/perf, ptrace-like cross-process access, handle
//! based opens — unless the container holds the capability that makes the
//! call meaningful (e.g. `--cap-add SYS_ADMIN` brings mount/unshare/setns).
//! `clone` is allowed only without namespace flags (unless SYS_ADMIN), and
//! `clone3` answers ENOSYS so libc falls back to `clone`, whose flags the
//! filter can see.

use serde_json::{json, Value};

mod syscalls;

use syscalls::{BASE, BY_CAP, CLONE_NS_FLAGS};

fn architectures() -> Vec<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => vec!["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "x86" => vec!["SCMP_ARCH_X86"],
        "aarch64" => vec!["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        "arm" => vec!["SCMP_ARCH_ARM"],
        "riscv64" => vec!["SCMP_ARCH_RISCV64"],
        "s390x" => vec!["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
        "powerpc64" => vec!["SCMP_ARCH_PPC64", "SCMP_ARCH_PPC"],
        _ => vec![],
    }
}

/// The OCI `linux.seccomp` object for a container whose bounding set is
/// `caps` (names with the `CAP_` prefix).
pub fn default_profile(caps: &[String]) -> Value {
    let has = |c: &str| caps.iter().any(|x| x.strip_prefix("CAP_") == Some(c));
    let mut allow: Vec<&str> = BASE.to_vec();
    for (cap, calls) in BY_CAP {
        if has(cap) {
            allow.extend_from_slice(calls);
        }
    }
    allow.sort_unstable();
    allow.dedup();
    let mut syscalls = vec![json!({"names": allow, "action": "SCMP_ACT_ALLOW"})];
    // personality(2): only the harmless personas (Linux, 32-bit emulation, query).
    for persona in [0x0u64, 0x0008, 0x2_0000, 0x2_0008, 0xffff_ffff] {
        syscalls.push(json!({
            "names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": persona, "op": "SCMP_CMP_EQ"}]
        }));
    }
    if !has("SYS_ADMIN") {
        // clone without namespace flags. s390 swaps clone's first two arguments.
        let idx = if std::env::consts::ARCH == "s390x" {
            1
        } else {
            0
        };
        syscalls.push(json!({
            "names": ["clone"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": idx, "value": CLONE_NS_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]
        }));
        syscalls.push(json!({
            "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS
        }));
    }
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::EPERM,
        "architectures": architectures(),
        "syscalls": syscalls,
    })
}

/// Converts a Docker-format seccomp profile (what `--security-opt
/// seccomp=FILE` sends: defaultAction, architectures or archMap, syscalls
/// with names/action/args/errnoRet and optional includes/excludes on caps)
/// into an OCI `linux.seccomp` object.
pub fn from_docker_profile(profile: &Value, caps: &[String]) -> Result<Value, String> {
    let obj = profile
        .as_object()
        .ok_or("seccomp profile must be a JSON object")?;
    let default_action = obj
        .get("defaultAction")
        .and_then(Value::as_str)
        .ok_or("seccomp profile has no defaultAction")?;
    let mut arches: Vec<Value> = obj
        .get("architectures")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(map) = obj.get("archMap").and_then(Value::as_array) {
        let native = architectures();
        for m in map {
            let arch = m.get("architecture").and_then(Value::as_str).unwrap_or("");
            if native.first() == Some(&arch) {
                arches.push(json!(arch));
                if let Some(subs) = m.get("subArchitectures").and_then(Value::as_array) {
                    arches.extend(subs.iter().cloned());
                }
            }
        }
    }
    let has = |c: &str| {
        caps.iter()
            .any(|x| x == c || x.strip_prefix("CAP_") == Some(c))
    };
    let cond_ok = |cond: Option<&Value>, want: bool| -> bool {
        let Some(cond) = cond else { return true };
        match cond.get("caps").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .filter_map(Value::as_str)
                .all(|c| has(c.trim_start_matches("CAP_")) == want),
            None => true,
        }
    };
    let mut syscalls = Vec::new();
    for s in obj
        .get("syscalls")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        if !cond_ok(s.get("includes"), true) || !cond_ok(s.get("excludes"), false) {
            continue;
        }
        let mut names: Vec<Value> = s
            .get("names")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(n) = s.get("name") {
            names.push(n.clone());
        }
        let mut out = json!({
            "names": names,
            "action": s.get("action").cloned().ok_or("a seccomp rule has no action")?,
        });
        for key in ["args", "errnoRet"] {
            if let Some(v) = s.get(key).filter(|v| !v.is_null()) {
                out[key] = v.clone();
            }
        }
        syscalls.push(out);
    }
    let mut out =
        json!({"defaultAction": default_action, "architectures": arches, "syscalls": syscalls});
    if let Some(e) = obj.get("defaultErrnoRet").filter(|v| !v.is_null()) {
        out["defaultErrnoRet"] = e.clone();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(p: &Value) -> Vec<String> {
        p["syscalls"][0]["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn default_blocks_privileged_calls_unless_capability() {
        let p = default_profile(&["CAP_CHOWN".into()]);
        let a = allowed(&p);
        assert!(a.contains(&"read".to_string()) && a.contains(&"execve".to_string()));
        for bad in [
            "mount",
            "unshare",
            "setns",
            "reboot",
            "init_module",
            "kexec_load",
            "bpf",
            "ptrace",
            "keyctl",
        ] {
            assert!(!a.contains(&bad.to_string()), "{bad} allowed");
        }
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
        assert!(p.to_string().contains("\"clone3\""));
        let p = default_profile(&["CAP_SYS_ADMIN".into(), "CAP_SYS_PTRACE".into()]);
        let a = allowed(&p);
        assert!(a.contains(&"mount".to_string()) && a.contains(&"ptrace".to_string()));
        // The profile deserialises as an OCI seccomp object.
        let _: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(p).unwrap();
    }

    #[test]
    fn converts_docker_profile_with_cap_conditions() {
        let prof = json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": null}
            ]
        });
        let out = from_docker_profile(&prof, &["CAP_CHOWN".into()]).unwrap();
        assert_eq!(out["syscalls"].as_array().unwrap().len(), 2);
        assert_eq!(out["syscalls"][1]["errnoRet"], 13);
        assert_eq!(out["defaultErrnoRet"], 1);
        let _: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(out).unwrap();
        assert!(from_docker_profile(&json!({"syscalls": []}), &[]).is_err());
    }
}
