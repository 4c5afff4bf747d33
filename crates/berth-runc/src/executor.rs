//! The workload executor: libcontainer's default one, except that the
//! command is looked up the way runc looks it up (Go's `exec.LookPath`
//! inside the container) and a failure is reported in runc's words:
//!
//! - `exec: "x": executable file not found in $PATH`
//! - `exec: "/x": stat /x: no such file or directory`
//! - `exec: "/x": permission denied` (not executable, or a directory)
//!
//! dockerd and the docker CLI read these words: they make a command that
//! cannot be found exit 127 and one that cannot be run exit 126.

use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[derive(Clone)]
pub struct RuncExecutor {
    inner: DefaultExecutor,
}

impl Default for RuncExecutor {
    fn default() -> RuncExecutor {
        RuncExecutor {
            inner: DefaultExecutor {},
        }
    }
}

impl Executor for RuncExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        self.inner.exec(spec)
    }

    /// Runs inside the container (after pivot_root and the chdir to its
    /// working directory), before it waits for `start`.
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let Some(process) = spec.process().as_ref() else {
            return Err(ExecutorValidationError::ArgValidationError(
                "spec did not contain process".into(),
            ));
        };
        let Some(name) = process.args().as_ref().and_then(|a| a.first()) else {
            return Ok(());
        };
        let path = process
            .env()
            .as_ref()
            .and_then(|env| env.iter().find_map(|e| e.strip_prefix("PATH=")))
            .unwrap_or("");
        look_path(name, path).map_err(ExecutorValidationError::ArgValidationError)
    }
}

/// Go's `exec.LookPath` (Unix): a name with a slash is used as it is, any
/// other is searched in `path`; the error is Go's `exec.Error` text.
pub fn look_path(name: &str, path: &str) -> Result<(), String> {
    if name.contains('/') {
        return find_executable(Path::new(name)).map_err(|why| format!("exec: {name:?}: {why}"));
    }
    for dir in path.split(':') {
        // An empty entry is the current directory, as in Go.
        let dir = if dir.is_empty() { "." } else { dir };
        if find_executable(&Path::new(dir).join(name)).is_ok() {
            return Ok(());
        }
    }
    Err(format!(
        "exec: {name:?}: executable file not found in $PATH"
    ))
}

/// Go's `findExecutable`: a file that is not a directory and has an
/// execute bit.
fn find_executable(p: &Path) -> Result<(), String> {
    let m = std::fs::metadata(p).map_err(|e| {
        let text = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        };
        format!("stat {}: {text}", p.display())
    })?;
    if !m.is_dir() && m.permissions().mode() & 0o111 != 0 {
        Ok(())
    } else {
        Err("permission denied".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runcs_words_for_each_failure() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("tool");
        std::fs::write(&exe, b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"x").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let d = dir.path().display().to_string();

        assert_eq!(look_path("tool", &format!("/nonexistent:{d}")), Ok(()));
        assert_eq!(look_path(exe.to_str().unwrap(), ""), Ok(()));
        assert_eq!(
            look_path("nosuchcmd", &d).unwrap_err(),
            "exec: \"nosuchcmd\": executable file not found in $PATH"
        );
        // Found in PATH but not executable: not found, as in Go.
        assert!(look_path("plain", &d)
            .unwrap_err()
            .ends_with("executable file not found in $PATH"));
        let p = plain.display().to_string();
        assert_eq!(
            look_path(&p, &d).unwrap_err(),
            format!("exec: {p:?}: permission denied")
        );
        assert_eq!(
            look_path(&d, "").unwrap_err(),
            format!("exec: {d:?}: permission denied")
        );
        assert_eq!(
            look_path("/no/such", "").unwrap_err(),
            "exec: \"/no/such\": stat /no/such: no such file or directory"
        );
    }
}
