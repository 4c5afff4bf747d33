//! `start`: let a created container's init exec the user's process.

use liboci_cli::Start;

use super::load;
use crate::cli::Globals;
use crate::error::{Result, RuncError};

pub fn start(args: Start, g: &Globals) -> Result<()> {
    let mut c = load(g, &args.container_id)?;
    c.start().map_err(|e| {
        RuncError::container(format!("cannot start container {}", args.container_id), e)
    })
}
