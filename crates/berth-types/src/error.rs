//! The closed set of error kinds. Every crate reports failures as one of
//! these; `berth-api` maps a kind to an HTTP status in exactly one place.

/// What went wrong, as far as a client is concerned. Closed on purpose:
/// a new kind is a new row in the HTTP mapping, never a status picked by a
/// handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is malformed or names an impossible value (400).
    InvalidParameter,
    /// The object asked for does not exist (404).
    NotFound,
    /// The request conflicts with the state of an object (409).
    Conflict,
    /// An authorization plugin or policy refused the request (403).
    Forbidden,
    /// The operation is not possible in the object's current state (409 in dockerd for most).
    InvalidState,
    /// The feature exists in the API but is not available here (501).
    NotImplemented,
    /// A dependency (plugin, runtime, registry) is not reachable (503).
    Unavailable,
    /// A deadline passed (504 is not used by dockerd; it answers 500).
    Timeout,
    /// The request body or a stream is larger than allowed (413).
    TooLarge,
    /// Anything else: a bug or an I/O failure on our side (500).
    Internal,
}

/// An error with a kind and a message meant for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParameter, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotImplemented, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::TimedOut => ErrorKind::Timeout,
            std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
                ErrorKind::InvalidParameter
            }
            _ => ErrorKind::Internal,
        };
        Error::new(kind, e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::invalid(format!("invalid JSON: {e}"))
    }
}

/// The body of every error response: `{"message": "..."}`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ErrorResponse {
    pub message: String,
}
