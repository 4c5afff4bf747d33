//! The one error enum of berth-plugins; it converts into [`berth_types::Error`].

use berth_types::{Error as ApiError, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("plugin \"{0}\" not found")]
    NotFound(String),
    #[error("plugin \"{0}\" does not implement {1}")]
    NotImplements(String, String),
    #[error("plugin \"{plugin}\": {method} did not answer within {secs:.1}s")]
    Timeout {
        plugin: String,
        method: String,
        secs: f64,
    },
    #[error("plugin \"{plugin}\" is not responding: {reason}")]
    Unavailable { plugin: String, reason: String },
    #[error("plugin \"{plugin}\": {method} returned an invalid response: {reason}")]
    Protocol {
        plugin: String,
        method: String,
        reason: String,
    },
    /// The plugin answered with an error of its own (`Err`).
    #[error("{0}")]
    Remote(String),
    #[error("invalid plugin spec {path}: {reason}")]
    Spec { path: String, reason: String },
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
    /// A transport failure (counts against the plugin's circuit breaker),
    /// as opposed to an answer the plugin gave.
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            Error::Timeout { .. } | Error::Unavailable { .. } | Error::Protocol { .. }
        )
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let kind = match &e {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::NotImplements(..) => ErrorKind::InvalidParameter,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Unavailable { .. } => ErrorKind::Unavailable,
            Error::Protocol { .. } | Error::Remote(_) | Error::Io { .. } => ErrorKind::Internal,
            Error::Spec { .. } => ErrorKind::Internal,
            Error::Api(a) => return a.clone(),
        };
        ApiError::new(kind, e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
