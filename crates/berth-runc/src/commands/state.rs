//! `state`: runc's JSON description of one container.

use liboci_cli::State;

use super::{load, RuncState};
use crate::cli::Globals;
use crate::error::{Result, RuncError};

pub fn state(args: State, g: &Globals) -> Result<()> {
    let c = load(g, &args.container_id)?;
    let json = serde_json::to_string_pretty(&RuncState::of(&c, false))
        .map_err(|e| RuncError::Other(format!("cannot encode state: {e}")))?;
    println!("{json}");
    Ok(())
}
