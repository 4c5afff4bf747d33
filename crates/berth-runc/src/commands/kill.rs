//! `kill`: signal the init process (or, with `--all`, every process of the container).

use libcontainer::container::ContainerStatus;
use libcontainer::error::LibcontainerError;
use libcontainer::signal::Signal;

use super::load;
use crate::cli::{Globals, Kill};
use crate::error::{Result, RuncError};

pub fn kill(args: Kill, g: &Globals) -> Result<()> {
    let signal =
        Signal::try_from(args.signal.as_str()).map_err(|e| RuncError::Other(e.to_string()))?;
    let mut c = load(g, &args.container_id)?;
    if c.status() == ContainerStatus::Stopped && !args.all {
        return Err(RuncError::NotRunning(args.container_id));
    }
    c.kill(signal, args.all).map_err(|e| match e {
        LibcontainerError::IncorrectStatus(ContainerStatus::Stopped) => {
            RuncError::NotRunning(args.container_id.clone())
        }
        e => RuncError::container(format!("cannot signal container {}", args.container_id), e),
    })
}
