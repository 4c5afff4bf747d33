//! `delete`: remove a stopped (or, with `--force`, any) container's cgroup and state.

use liboci_cli::Delete;

use super::{exists, load};
use crate::cli::Globals;
use crate::error::{Result, RuncError};

pub fn delete(args: Delete, g: &Globals) -> Result<()> {
    // Like runc, forcing the deletion of a container that is already gone is no error.
    if args.force && !exists(g, &args.container_id)? {
        return Ok(());
    }
    let mut c = load(g, &args.container_id)?;
    c.delete(args.force).map_err(|e| {
        RuncError::container(format!("cannot delete container {}", args.container_id), e)
    })
}
