//! The errors of the image store, converted into berth's closed error kinds
//! at the crate boundary.

use berth_types::{Error, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("No such image: {0}")]
    NotFound(String),
    #[error("invalid reference format: {0}")]
    InvalidReference(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Conflict(String),
    /// The archive or a layer in it is malformed or hostile.
    #[error("invalid archive: {0}")]
    InvalidArchive(String),
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid JSON in {context}: {source}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },
}

impl ImageError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ImageError::Io {
            context: context.into(),
            source,
        }
    }
    pub fn json(context: impl Into<String>, source: serde_json::Error) -> Self {
        ImageError::Json {
            context: context.into(),
            source,
        }
    }
    pub fn archive(msg: impl Into<String>) -> Self {
        ImageError::InvalidArchive(msg.into())
    }
}

/// Adds a context string to io errors.
pub trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, ImageError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, ImageError> {
        self.map_err(|e| {
            // A hostile tar surfaces as InvalidData from our readers: keep
            // it a client error rather than an internal one.
            if e.kind() == std::io::ErrorKind::InvalidData {
                ImageError::InvalidArchive(format!("{}: {e}", context()))
            } else {
                ImageError::io(context(), e)
            }
        })
    }
}

impl From<ImageError> for Error {
    fn from(e: ImageError) -> Self {
        let kind = match &e {
            ImageError::NotFound(_) => ErrorKind::NotFound,
            ImageError::InvalidReference(_)
            | ImageError::InvalidArgument(_)
            | ImageError::InvalidArchive(_)
            | ImageError::DigestMismatch { .. }
            | ImageError::Json { .. } => ErrorKind::InvalidParameter,
            ImageError::Conflict(_) => ErrorKind::Conflict,
            ImageError::Unsupported(_) => ErrorKind::NotImplemented,
            ImageError::Io { .. } => ErrorKind::Internal,
        };
        Error::new(kind, e.to_string())
    }
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;
