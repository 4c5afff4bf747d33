//! One conformance suite per driver kind, run by every built-in and by
//! plugins of that kind.

pub mod authz;
pub mod ipam;
pub mod log;
pub mod network;
pub mod volume;
