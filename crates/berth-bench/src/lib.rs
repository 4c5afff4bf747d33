//! berth-bench: measures an Engine API daemon (berthd, dockerd, or anything on a unix socket).
//!
//! `api` measures an engine that is already running; `compare` starts berthd and dockerd itself
//! on temporary roots and prints them side by side. See `docs/bench.md`.

pub mod compare;
pub mod docker_suites;
pub mod engine;
pub mod error;
pub mod http;
pub mod network_suite;
pub mod procfs;
pub mod report;
pub mod stats;
pub mod suite;

pub use error::{BenchError, Result};
