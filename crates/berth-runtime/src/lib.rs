//! berth-runtime: the execution backend.
//!
//! - [`spec`] turns a container's create request, its image's config and a
//!   rootfs into an OCI runtime spec with dockerd's defaults
//!   ([`seccomp`] holds the default syscall filter).
//! - [`registry`] names the runc-compatible runtimes berth may use.
//! - [`shim`] is the small per-container process (`berthd shim DIR`) that
//!   drives the runtime CLI, owns the container's stdio, writes its log and
//!   records its exit; it outlives the daemon.
//! - [`client`] is the daemon's async handle on a shim: spawn, reconnect,
//!   start, attach, resize, kill, wait, pause/resume.
//! - [`logs`] writes and reads the json-file log format.
//! - [`logdriver`] holds the built-in log drivers (`json-file`, `none`),
//!   their registry, and what carries out a driver's description: the
//!   shim's writer and the daemon's reader.

pub mod client;
pub mod logdriver;
pub mod logs;
pub mod registry;
pub mod seccomp;
pub mod shim;
pub mod spec;

pub use client::{AttachStreams, ExitStatus, ShimClient, ShimStatus};
pub use logs::{LogEntry, LogOptions};
pub use registry::{RuntimeEntry, RuntimeRegistry, EMBEDDED_RUNTIME};
pub use shim::{write_bundle, ContainerPaths, ShimConfig};
pub use spec::{build_spec, merge_image_config, ImageRuntimeConfig, SpecOptions};

use berth_types::{Error as ApiError, ErrorKind};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A runtime name that the registry does not know.
    #[error("unknown or invalid runtime name: {0}")]
    UnknownRuntime(String),
    /// A bad value in a create request, a flag or daemon.json.
    #[error("{0}")]
    InvalidParameter(String),
    /// The runtime CLI failed; the message carries its stderr.
    #[error("{0}")]
    RuntimeFailed(String),
    /// The shim could not be started or talked to.
    #[error("shim: {0}")]
    Shim(String),
    /// The container's shim is gone and left no exit record.
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid OCI spec: {0}")]
    Spec(String),
    /// An error a driver (e.g. a log driver) answered with, kind and all.
    #[error("{0}")]
    Api(#[from] ApiError),
}

impl RuntimeError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RuntimeError {
        let context = context.into();
        move |source| RuntimeError::Io { context, source }
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> Self {
        if let RuntimeError::Api(e) = e {
            return e;
        }
        let kind = match &e {
            RuntimeError::UnknownRuntime(_) | RuntimeError::InvalidParameter(_) => {
                ErrorKind::InvalidParameter
            }
            RuntimeError::NotRunning(_) => ErrorKind::InvalidState,
            RuntimeError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            _ => ErrorKind::Internal,
        };
        ApiError::new(kind, e.to_string())
    }
}
