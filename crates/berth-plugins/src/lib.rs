//! berth-plugins: Docker-compatible legacy plugins and berth's volumes.
//!
//! - [`discovery`]: find a plugin by name where Docker looks.
//! - [`client`]: the HTTP-over-unix/TCP plugin client: pooled kept-alive
//!   connections, a bound on calls in flight, retries of connections the
//!   plugin could not take yet, deadlines and a circuit breaker per plugin.
//! - [`registry`]: activate plugins lazily by name, cache what they implement.
//! - [`volume_proxy`]: a volume plugin behind berth-core's `VolumeDriver`.
//! - [`authz_proxy`]: an authorization plugin behind berth-core's `AuthzDriver`.
//! - [`resolver`]: volume and authorization plugins found by name for
//!   berth-core's driver registries.
//! - [`local`]: the built-in `local` volume driver.
//! - [`store`]: the volume store the daemon and the API use.
//! - [`managed`]: managed plugins' manifests, privileges and settings.
//! - [`copyup`]: filling a new volume from the image's content.

pub mod authz_proxy;
pub mod client;
pub mod copyup;
pub mod discovery;
pub mod error;
pub mod local;
pub mod managed;
pub mod registry;
pub mod resolver;
pub mod store;
mod transport;
pub mod volume_proxy;

pub use authz_proxy::AuthzPluginDriver;
pub use client::{Client, ClientOptions};
pub use discovery::{Discovery, Endpoint};
pub use error::{Error, Result};
pub use local::LocalDriver;
pub use registry::{NamedEndpoint, PathScope, Plugin, Registry, RegistryOptions};
pub use resolver::{authz_registry, AuthzPlugins, VolumePlugins};
pub use store::{CreateOptions, VolumeStore};
pub use volume_proxy::VolumePluginDriver;
