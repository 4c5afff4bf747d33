//! A failed start as dockerd reports it. dockerd (through containerd) says
//! `failed to create shim task: OCI runtime create failed: <the runtime's
//! message>: unknown`, and then sorts the failure as its
//! `translateContainerdStartErr` does: a command that cannot be found is a
//! 400 and exit code 127, one that cannot be run a 400 and 126, a mount of
//! a file onto a directory (or back) a 400 and 127 with a hint; anything
//! else stays a 500 with exit code 128. The docker CLI reads the same
//! words to exit 127 or 126 from `docker run`.

use berth_types::{Error, ErrorKind};

const CREATE_FAILED: &str = "OCI runtime create failed: ";
const START_FAILED: &str = "OCI runtime start failed: ";

/// dockerd's error for a start that failed with `e`, and the exit code it
/// records. `cmd` is the container's command (its `Path`).
pub(super) fn translate(cmd: &str, e: Error) -> (Error, i64) {
    if !is_runtime_failure(&e.message) {
        // berthd's own checks (a missing network, a volume plugin) keep
        // their kind and words.
        return (e, 128);
    }
    let message = dockerd_wording(&e.message);
    let lower = message.to_lowercase();
    let has = |s: &str| lower.contains(s);
    let not_found = (cmd.is_empty() || has(&cmd.to_lowercase()))
        && (has("executable file not found")
            || has("no such file or directory")
            || has("system cannot find the file specified"));
    let (kind, code, message) = if not_found {
        (ErrorKind::InvalidParameter, 127, message)
    } else if has("permission denied") {
        (ErrorKind::InvalidParameter, 126, message)
    } else if has("not a directory") {
        let hint = ": Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type";
        (ErrorKind::InvalidParameter, 127, format!("{message}{hint}"))
    } else {
        (ErrorKind::Internal, 128, message)
    };
    (Error::new(kind, message), code)
}

fn is_runtime_failure(message: &str) -> bool {
    message.starts_with(CREATE_FAILED) || message.starts_with(START_FAILED)
}

/// `OCI runtime create failed: <stderr of the runtime>` in containerd's
/// words, with the runtime's logrus-shaped lines (`time=... level=error
/// msg="..."`, as runc and the embedded runtime write them) reduced to
/// their messages.
fn dockerd_wording(message: &str) -> String {
    let (prefix, rest) = if let Some(r) = message.strip_prefix(CREATE_FAILED) {
        ("failed to create shim task: OCI runtime create failed: ", r)
    } else if let Some(r) = message.strip_prefix(START_FAILED) {
        ("failed to start shim task: OCI runtime start failed: ", r)
    } else {
        return message.to_string();
    };
    let text: Vec<String> = rest
        .lines()
        .map(|l| logrus_msg(l).unwrap_or_else(|| l.trim().to_string()))
        .filter(|l| !l.is_empty())
        .collect();
    format!("{prefix}{}: unknown", text.join(": "))
}

/// The `msg` of a logrus text line, unquoted.
fn logrus_msg(line: &str) -> Option<String> {
    let l = line.trim();
    if !l.starts_with("time=") && !l.starts_with("level=") {
        return None;
    }
    let start = l.find(" msg=")? + " msg=".len();
    let v = &l[start..];
    if !v.starts_with('"') {
        return Some(v.split(' ').next().unwrap_or_default().to_string());
    }
    // Go's quoting of the value: ends at the first unescaped quote.
    let b = v.as_bytes();
    let mut i = 1;
    while i < b.len() && b[i] != b'"' {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    let quoted = v.get(..=i)?;
    serde_json::from_str::<String>(quoted)
        .ok()
        .or_else(|| Some(quoted.trim_matches('"').replace("\\\"", "\"")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(msg: &str) -> Error {
        Error::internal(format!("{CREATE_FAILED}{msg}"))
    }

    #[test]
    fn runc_not_found_is_dockerds_400_and_127() {
        let e = runtime(
            r#"time="2026-12-02T07:00:59Z" level=error msg="runc create failed: unable to start container process: exec: \"nosuchcmd\": executable file not found in $PATH""#,
        );
        let (e, code) = translate("nosuchcmd", e);
        assert_eq!(code, 127);
        assert_eq!(e.kind, ErrorKind::InvalidParameter);
        assert_eq!(
            e.message,
            r#"failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "nosuchcmd": executable file not found in $PATH: unknown"#
        );
    }

    #[test]
    fn permission_denied_is_126() {
        let e = runtime(
            r#"time="x" level=error msg="cannot create container abc: unable to start container process: exec: \"/bin/noexec\": permission denied""#,
        );
        let (e, code) = translate("/bin/noexec", e);
        assert_eq!((e.kind, code), (ErrorKind::InvalidParameter, 126));
        assert!(e
            .message
            .ends_with(r#"exec: "/bin/noexec": permission denied: unknown"#));
    }

    #[test]
    fn other_failures_keep_500_and_128() {
        let (e, code) = translate("sh", runtime("plain stderr line\n"));
        assert_eq!((e.kind, code), (ErrorKind::Internal, 128));
        assert_eq!(
            e.message,
            "failed to create shim task: OCI runtime create failed: plain stderr line: unknown"
        );
        // Not found, but not the command: a mount source, say. (dockerd
        // matches the command anywhere in its message: `sh` is in "shim".)
        let (_, code) = translate("true", runtime("mount /x: no such file or directory"));
        assert_eq!(code, 128);
        let (e, code) = translate("sh", Error::not_found("network x not found"));
        assert_eq!((e.kind, code), (ErrorKind::NotFound, 128));
        assert_eq!(e.message, "network x not found");
        let (e, code) = translate("sh", runtime("mount: not a directory"));
        assert_eq!((e.kind, code), (ErrorKind::InvalidParameter, 127));
        assert!(e.message.contains("Are you trying to mount"));
    }
}
