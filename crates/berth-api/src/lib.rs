//! berth-api: the Docker Engine API over HTTP. One module per resource, each
//! depending on a narrow backend; errors are mapped to statuses in
//! [`error::status_of`] and nowhere else.
//!
//! [`serve::App`] wraps the routes of every module in the outer layer that
//! strips and checks the `/v1.NN` prefix and guarantees that every error
//! leaves as `{"message": ...}`, and, when authorization plugins are
//! configured, in [`authz`]'s check of every request and response.

pub mod authz;
pub mod containers;
pub mod error;
pub mod events;
pub mod headers;
pub mod images;
pub mod networks;
pub mod plugins;
pub mod query;
pub mod serve;
pub mod streams;
pub mod system;
pub mod unserved;
pub mod version;
pub mod volumes;

pub use error::{ApiError, ApiResult};
