//! berth-runc: berth's embedded default OCI runtime.
//!
//! youki's `libcontainer` behind a runc-compatible command line. berthd enters it as
//! `berthd runc <runc args…>` before any thread or tokio runtime exists, because
//! libcontainer forks and sets up namespaces in ways that are only safe in a fresh
//! single-threaded process. The `berth-runc` binary of this crate is the same entry point
//! on its own, used by the tests as a drop-in for `/usr/bin/runc`.
//!
//! Behaviour follows runc's: the same flags and subcommands, `state`/`list` JSON of the
//! same shape, errors on stderr (and as logrus-shaped lines in `--log`), exit status 1 on
//! failure, the container's exit status from `run`/`exec`, stdio passed straight through
//! to the container unless `--console-socket` asks for a pty master over SCM_RIGHTS.

mod cli;
mod commands;
pub mod error;
mod executor;
pub mod log;
mod nnp;

use std::ffi::OsString;

pub use cli::{DEFAULT_ROOT, NO_SEAL_ENV};
pub use error::RuncError;

/// Runs one runc-style command line (`args` are what follows `runc` on a command line:
/// global flags, then the subcommand) and returns the process exit status.
///
/// Must be called in a fresh single-threaded process (libcontainer forks); berthd calls it
/// first thing in `main` when its first argument is `runc`.
pub fn main_from_args(args: Vec<OsString>) -> i32 {
    cli::main(args)
}
