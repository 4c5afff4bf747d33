//! `pause` and `resume`: freeze and thaw the container's cgroup.

use liboci_cli::{Pause, Resume};

use super::load;
use crate::cli::Globals;
use crate::error::{Result, RuncError};

pub fn pause(args: Pause, g: &Globals) -> Result<()> {
    let mut c = load(g, &args.container_id)?;
    c.pause().map_err(|e| {
        RuncError::container(format!("cannot pause container {}", args.container_id), e)
    })
}

pub fn resume(args: Resume, g: &Globals) -> Result<()> {
    let mut c = load(g, &args.container_id)?;
    c.resume().map_err(|e| {
        RuncError::container(format!("cannot resume container {}", args.container_id), e)
    })
}
