//! The crate's one error enum; every variant maps onto a closed
//! [`berth_types::ErrorKind`].

use berth_types::{Error, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("netlink: {context}: {source}")]
    Netlink {
        context: String,
        source: rtnetlink::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Sys { context: String, source: nix::Error },
    #[error("firewall: {0}")]
    Firewall(String),
    #[error("port proxy: {0}")]
    Proxy(String),
    /// A driver (built in or a plugin) failed with a kind of its own.
    #[error("{0}")]
    Driver(Error),
    /// Several independent steps of a teardown failed; all were attempted.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Many(Vec<NetError>),
}

pub type Result<T> = std::result::Result<T, NetError>;

impl NetError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        NetError::Io {
            context: context.into(),
            source,
        }
    }
    pub fn sys(context: impl Into<String>, source: nix::Error) -> Self {
        NetError::Sys {
            context: context.into(),
            source,
        }
    }
    pub fn netlink(context: impl Into<String>, source: rtnetlink::Error) -> Self {
        NetError::Netlink {
            context: context.into(),
            source,
        }
    }
}

impl From<Error> for NetError {
    fn from(e: Error) -> Self {
        match e.kind {
            ErrorKind::InvalidParameter => NetError::Invalid(e.message),
            ErrorKind::NotFound => NetError::NotFound(e.message),
            ErrorKind::Conflict => NetError::Conflict(e.message),
            ErrorKind::Forbidden => NetError::Forbidden(e.message),
            _ => NetError::Driver(e),
        }
    }
}

impl From<NetError> for Error {
    fn from(e: NetError) -> Self {
        if let NetError::Driver(e) = e {
            return e;
        }
        let kind = match &e {
            NetError::Invalid(_) => ErrorKind::InvalidParameter,
            NetError::NotFound(_) => ErrorKind::NotFound,
            NetError::Conflict(_) => ErrorKind::Conflict,
            NetError::Forbidden(_) => ErrorKind::Forbidden,
            _ => ErrorKind::Internal,
        };
        Error::new(kind, e.to_string())
    }
}

/// Collects the errors of a teardown that keeps going past each failure.
#[derive(Default)]
pub struct Errors(Vec<NetError>);

impl Errors {
    pub fn check<T>(&mut self, r: Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!("network teardown: {e}");
                self.0.push(e);
                None
            }
        }
    }
    pub fn into_result(self) -> Result<()> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(self.0.into_iter().next().unwrap()),
            _ => Err(NetError::Many(self.0)),
        }
    }
}
