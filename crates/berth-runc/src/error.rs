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
    fn kinds_map_to_berth_errors() {
        let e: BerthError = RuncError::NotFound("x".into()).into();
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(e.message, "container x does not exist");
        let e: BerthError = RuncError::container("create", LibcontainerError::Exist).into();
        assert_eq!(e.kind, ErrorKind::Conflict);
    }
}
