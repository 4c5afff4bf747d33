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
    let before = c.status();
    c.kill(signal, args.all).map_err(|e| match e {
        LibcontainerError::IncorrectStatus(ContainerStatus::Stopped) => {
            RuncError::NotRunning(args.container_id.clone())
        }
        e => RuncError::container(format!("cannot signal container {}", args.container_id), e),
    })?;
    keep_status_if_alive(&mut c, before)
        .map_err(|e| RuncError::container(format!("cannot save state of {}", args.container_id), e))
}

/// libcontainer records every signalled container as stopped and, on the next load,
/// takes a live process for a running one. For a created or paused container that
/// survived the signal (SIGCONT, a trapped TERM) that is wrong: it could no longer be
/// started, or it would show as running while frozen. Put the status back then.
fn keep_status_if_alive(
    c: &mut libcontainer::container::Container,
    before: ContainerStatus,
) -> std::result::Result<(), LibcontainerError> {
    if !matches!(before, ContainerStatus::Created | ContainerStatus::Paused) {
        return Ok(());
    }
    c.refresh_status()?;
    if c.status() != ContainerStatus::Stopped {
        c.set_status(before).save()?;
    }
    Ok(())
}
