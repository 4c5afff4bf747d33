//! berth-api: the Docker Engine API over HTTP. One module per resource, each
//! depending on a narrow backend; errors are mapped to statuses in
//! [`error::status_of`] and nowhere else.

pub mod error;
pub mod images;

pub use error::ApiError;
