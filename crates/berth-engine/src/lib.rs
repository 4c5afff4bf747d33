//! berth-engine: the engine as a library. The container service, the
//! managed-plugin lifecycle and the backends of the API's route modules
//! (system, images, volumes, networks, authorization), assembled by
//! [`Daemon`] from the stores of berth-core, berth-image, berth-runtime,
//! berth-network and berth-plugins. berthd parses flags and daemon.json into
//! a [`Config`], constructs the [`Daemon`] and hands its backends to
//! berth-api; nothing here knows about listeners, signals or the pid file.

pub mod authz;
pub mod config;
pub mod containers;
pub mod daemon;
pub mod error;
pub mod images;
pub mod networks;
pub mod plugins;
pub mod supervisor;
pub mod system;
pub mod volumes;

pub use config::Config;
pub use daemon::Daemon;
pub use error::{Error, Result};
