//! The one error enum of berth-engine. The backends answer the API with
//! [`berth_types::Error`] (its closed kinds map to HTTP statuses); this enum
//! is what assembling the engine can fail with, composed over the errors
//! of the crates it assembles.

use berth_types::Error as ApiError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    #[error(transparent)]
    Runtime(#[from] berth_runtime::RuntimeError),
    #[error(transparent)]
    Network(#[from] berth_network::NetError),
    #[error(transparent)]
    Plugins(#[from] berth_plugins::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// What the engine was doing when `source` failed; shown as
    /// `context: source` by a caller that prints the chain.
    #[error("{context}")]
    Context {
        context: String,
        #[source]
        source: Box<Error>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds what the engine was doing to an error of any composed crate.
pub trait Context<T> {
    fn context(self, context: impl Into<String>) -> Result<T>;
    fn with_context<C: Into<String>>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::Context {
            context: context.into(),
            source: Box::new(e.into()),
        })
    }
    fn with_context<C: Into<String>>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| Error::Context {
            context: f().into(),
            source: Box::new(e.into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn context_keeps_the_cause_as_source() {
        let r: std::result::Result<(), _> = Err(ApiError::invalid("bad value"));
        let e = r.context("opening the volume store").unwrap_err();
        assert_eq!(e.to_string(), "opening the volume store");
        assert_eq!(e.source().unwrap().to_string(), "bad value");
    }

    #[test]
    fn composed_errors_convert_with_from() {
        let e: Error = std::io::Error::other("disk").into();
        assert!(matches!(e, Error::Io(_)));
        let e: Error = berth_runtime::RuntimeError::UnknownRuntime("x".into()).into();
        assert_eq!(e.to_string(), "unknown or invalid runtime name: x");
    }
}
