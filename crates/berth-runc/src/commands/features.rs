//! `features`: what this runtime supports, in the shape of the OCI features document.

use crate::error::{Result, RuncError};

pub fn features() -> Result<()> {
    let doc = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": libcontainer::oci_spec::runtime::VERSION.trim_start_matches('v'),
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["ro", "rw", "bind", "rbind", "nosuid", "nodev", "noexec", "private", "rprivate", "shared", "rshared", "slave", "rslave"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time"],
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false },
            "seccomp": { "enabled": true },
            "apparmor": { "enabled": true },
            "selinux": { "enabled": false }
        },
        "annotations": { "org.berth.runtime": "berth-runc (youki libcontainer 0.7)" }
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| RuncError::Other(e.to_string()))?;
    println!("{text}");
    Ok(())
}
