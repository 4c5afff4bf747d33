//! One conformance suite per driver kind, run by every built-in and by
//! plugins of that kind.

pub mod ipam;
pub mod log;
pub mod network;
