//! The one error type of berth-runc. Every failure of a command ends up here and is
//! printed (and logged) as a single line, the way runc reports errors.

use std::error::Error as StdError;
use std::path::PathBuf;

use berth_types::{Error as BerthError, ErrorKind};
use libcontainer::error::LibcontainerError;

#[derive(Debug, thiserror::Error)]
pub enum RuncError {
    /// Bad command line; the text is clap's rendered message.
    #[error("{0}")]
    Usage(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("JSON specification file {} not found", .0.display())]
    NoSpec(PathBuf),
    /// runc's exact words: containerd matches "container not running".
    #[error("container not running: {0}")]
    NotRunning(String),
    #[error("{context}: {}", chain(source))]
    Container {
        context: String,
        #[source]
        source: LibcontainerError,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Sys {
        context: String,
        #[source]
        source: nix::Error,
    },
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, RuncError>;

impl RuncError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RuncError::Io {
            context: context.into(),
            source,
        }
    }

    pub fn sys(context: impl Into<String>, source: nix::Error) -> Self {
        RuncError::Sys {
            context: context.into(),
            source,
        }
    }

    pub fn container(context: impl Into<String>, source: LibcontainerError) -> Self {
        RuncError::Container {
            context: context.into(),
            source,
        }
    }

    /// A failed create or run. When the container's process could not be
    /// started (its command not found or not executable), says so as runc
    /// does, `CONTEXT: unable to start container process: exec: ...`,
    /// instead of libcontainer's chain of channel errors: dockerd and the
    /// docker CLI read those words for the exit status (127 or 126).
    pub fn start_failure(context: impl Into<String>, source: LibcontainerError) -> Self {
        let context = context.into();
        match exec_failure(&source) {
            Some(why) => RuncError::Other(format!(
                "{context}: unable to start container process: {why}"
            )),
            None => RuncError::Container { context, source },
        }
    }
}

/// The message of the init process's exec failure, if that is what `err`
/// says. Read from the text: libcontainer's `CreateContainerError` keeps
/// its cause out of the `source` chain, so the channel error that carries
/// the message cannot be reached by type. A cleanup error that follows it
/// is dropped (the container is gone either way).
fn exec_failure(err: &(dyn StdError + 'static)) -> Option<String> {
    const MARK: &str = "error in executing process :";
    let text = chain(err);
    let why = &text[text.find(MARK)? + MARK.len()..];
    let why = why.split(". error during cleanup:").next().unwrap_or(why);
    Some(why.trim().to_string())
}

/// Renders an error and all of its causes on one line ("a: b: c"), skipping a cause whose
/// text the line already carries. libcontainer's errors often say only "syscall error" and
/// keep the errno in their source, so the whole chain is what a user needs to see.
pub fn chain(err: &dyn StdError) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}

impl From<RuncError> for BerthError {
    fn from(err: RuncError) -> Self {
        let kind = match &err {
            RuncError::Usage(_) | RuncError::NoSpec(_) => ErrorKind::InvalidParameter,
            RuncError::NotFound(_) => ErrorKind::NotFound,
            RuncError::NotRunning(_) => ErrorKind::InvalidState,
            RuncError::Container {
                source: LibcontainerError::Exist,
                ..
            } => ErrorKind::Conflict,
            RuncError::Container {
                source: LibcontainerError::IncorrectStatus(_),
                ..
            } => ErrorKind::InvalidState,
            _ => ErrorKind::Internal,
        };
        BerthError::new(kind, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_shows_errno_behind_a_vague_message() {
        let err = RuncError::container(
            "failed to start",
            LibcontainerError::OtherSyscall(nix::Error::EPERM),
        );
        let text = err.to_string();
        assert!(text.starts_with("failed to start: syscall error"), "{text}");
        assert!(text.contains("EPERM"), "{text}");
    }

    #[test]
    fn an_exec_failure_is_told_as_runc_tells_it() {
        let inner = "exec process failed with error error in executing process : exec: \"x\": executable file not found in $PATH. error during cleanup: io error";
        let e = RuncError::start_failure(
            "cannot create container c1",
            LibcontainerError::Other(inner.into()),
        );
        assert_eq!(
            e.to_string(),
            "cannot create container c1: unable to start container process: exec: \"x\": executable file not found in $PATH"
        );
        let e = RuncError::start_failure("ctx", LibcontainerError::Other("boom".into()));
        assert_eq!(e.to_string(), "ctx: boom");
    }

    #[test]
    fn kinds_map_to_berth_errors() {
        let e: BerthError = RuncError::NotFound("x".into()).into();
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(e.message, "container x does not exist");
        let e: BerthError = RuncError::container("create", LibcontainerError::Exist).into();
        assert_eq!(e.kind, ErrorKind::Conflict);
    }
}
