//! The one error type of berth-bench's library: what can stop the measuring
//! of an engine. The binary adds context with anyhow.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::http::HttpError;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// An i/o step that failed, named by what it was doing.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    UnnamedIo(#[from] io::Error),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("socket path {} is too long for a unix socket; use --tmp-dir", .0.display())]
    SocketPathTooLong(PathBuf),
    #[error("{name} exited during start ({status}); its log ends with:\n{log}")]
    ExitedDuringStart {
        name: &'static str,
        status: String,
        log: String,
    },
    #[error("{name} did not answer /_ping within {timeout:?}; its log ends with:\n{log}")]
    StartTimeout {
        name: &'static str,
        timeout: Duration,
        log: String,
    },
    #[error("{name} did not exit within {grace:?} of SIGTERM and was killed")]
    StopForced { name: &'static str, grace: Duration },
    #[error("{name} left processes behind that were killed: {}", .left.join(", "))]
    LeftBehind {
        name: &'static str,
        left: Vec<String>,
    },
    #[error("interrupted")]
    Interrupted,
}

pub type Result<T, E = BenchError> = std::result::Result<T, E>;

/// Names the i/o step an error came from (`.at(|| "opening the log")`).
pub trait IoContext<T> {
    fn at<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|source| BenchError::Io {
            what: what().into(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_like_the_chain() {
        let e = Err::<(), _>(io::Error::from(io::ErrorKind::NotFound))
            .at(|| "opening the engine log")
            .unwrap_err();
        assert_eq!(e.to_string(), "opening the engine log: entity not found");
        let e = BenchError::LeftBehind {
            name: "dockerd",
            left: vec!["containerd (12)".into(), "shim (13)".into()],
        };
        assert_eq!(
            e.to_string(),
            "dockerd left processes behind that were killed: containerd (12), shim (13)"
        );
    }
}
