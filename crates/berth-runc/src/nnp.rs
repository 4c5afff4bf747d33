//! Works around libcontainer 0.7 reading `process.noNewPrivileges` as "is it present"
//! rather than "is it true".
//!
//! libcontainer loads the seccomp filter early (while the init still has CAP_SYS_ADMIN)
//! only when `noNewPrivileges` is absent; when it is present, even as `false`, it loads
//! the filter last, after dropping capabilities, without setting no_new_privs either. The
//! kernel then refuses the filter (EACCES), which libseccomp reports as ECANCELED, so any
//! spec with `"noNewPrivileges": false` and a seccomp profile — every spec berthd writes —
//! fails to start. runc checks the value. The OCI spec defines an absent field as false,
//! so dropping an explicit `false` keeps the meaning and gets runc's order back.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Result, RuncError};

/// Removes `noNewPrivileges: false` from an OCI process object. Returns whether it did.
pub fn strip_false_nnp(process: &mut Value) -> bool {
    match process.as_object_mut() {
        Some(obj) if obj.get("noNewPrivileges") == Some(&Value::Bool(false)) => {
            obj.remove("noNewPrivileges");
            true
        }
        _ => false,
    }
}

/// Rewrites a bundle's config.json in place (atomically) when its process carries
/// `noNewPrivileges: false`. Leaves the file untouched otherwise.
pub fn normalize_bundle_spec(config: &Path) -> Result<()> {
    let raw = std::fs::read(config).map_err(|e| RuncError::io(config.display().to_string(), e))?;
    // A spec libcontainer cannot parse is left for libcontainer to report.
    let Ok(mut spec) = serde_json::from_slice::<Value>(&raw) else {
        return Ok(());
    };
    let Some(process) = spec.get_mut("process") else {
        return Ok(());
    };
    if !strip_false_nnp(process) {
        return Ok(());
    }
    let tmp = config.with_extension(format!("json.berth-{}", std::process::id()));
    let body = serde_json::to_vec(&spec).map_err(|e| RuncError::Other(e.to_string()))?;
    std::fs::write(&tmp, body).map_err(|e| RuncError::io(tmp.display().to_string(), e))?;
    std::fs::rename(&tmp, config).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        RuncError::io(config.display().to_string(), e)
    })
}

/// A normalised copy of an `exec --process` file, removed when dropped.
pub struct ProcessFile(PathBuf);

impl ProcessFile {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ProcessFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// For `exec --process FILE`: when FILE says `noNewPrivileges: false`, writes a copy
/// without it next to the container's state and returns it; `None` means use FILE as is.
pub fn normalize_process_file(file: &Path, state_dir: &Path) -> Result<Option<ProcessFile>> {
    let raw = std::fs::read(file).map_err(|e| RuncError::io(file.display().to_string(), e))?;
    let Ok(mut process) = serde_json::from_slice::<Value>(&raw) else {
        return Ok(None);
    };
    if !strip_false_nnp(&mut process) {
        return Ok(None);
    }
    let copy = state_dir.join(format!("exec-process-{}.json", std::process::id()));
    let body = serde_json::to_vec(&process).map_err(|e| RuncError::Other(e.to_string()))?;
    std::fs::write(&copy, body).map_err(|e| RuncError::io(copy.display().to_string(), e))?;
    Ok(Some(ProcessFile(copy)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strips_only_explicit_false() {
        let mut p = json!({"args": ["sh"], "noNewPrivileges": false});
        assert!(strip_false_nnp(&mut p));
        assert_eq!(p, json!({"args": ["sh"]}));

        let mut p = json!({"args": ["sh"], "noNewPrivileges": true});
        assert!(!strip_false_nnp(&mut p));
        assert_eq!(p["noNewPrivileges"], json!(true));

        let mut p = json!({"args": ["sh"]});
        assert!(!strip_false_nnp(&mut p));
    }

    #[test]
    fn bundle_spec_rewritten_keeping_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.json");
        let spec = json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["echo", "hi"], "noNewPrivileges": false},
            "linux": {"seccomp": {"defaultAction": "SCMP_ACT_ERRNO"}}
        });
        std::fs::write(&cfg, serde_json::to_vec(&spec).unwrap()).unwrap();
        normalize_bundle_spec(&cfg).unwrap();
        let got: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
        assert_eq!(got["process"], json!({"args": ["echo", "hi"]}));
        assert_eq!(got["linux"], spec["linux"]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn process_file_copy_only_when_needed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.json");
        std::fs::write(&f, br#"{"args":["id"],"cwd":"/","noNewPrivileges":true}"#).unwrap();
        assert!(normalize_process_file(&f, dir.path()).unwrap().is_none());
        std::fs::write(&f, br#"{"args":["id"],"cwd":"/","noNewPrivileges":false}"#).unwrap();
        let copy = normalize_process_file(&f, dir.path()).unwrap().unwrap();
        let got: Value = serde_json::from_slice(&std::fs::read(copy.path()).unwrap()).unwrap();
        assert_eq!(got, json!({"args": ["id"], "cwd": "/"}));
        let p = copy.path().to_owned();
        drop(copy);
        assert!(!p.exists());
    }
}
