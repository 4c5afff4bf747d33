//! berth-testkit: start a real `berthd` on a temporary data root and socket,
//! talk to it with the docker CLI or raw HTTP, build tiny images, and stop it.
//! [`suites`] holds the conformance suite of each driver kind.

pub mod bins;
pub mod daemon;
pub mod http;
pub mod image;
pub mod suites;

pub use bins::workspace_bin;
pub use daemon::{Cleanup, TestDaemon};
pub use http::{http_get_local, request, Response};
