//! `spec`: write a default config.json into the bundle, as `runc spec` does.

use std::path::PathBuf;

use libcontainer::oci_spec::runtime::Spec;

use crate::error::{Result, RuncError};

pub fn spec(args: liboci_cli::Spec) -> Result<()> {
    let bundle = args.bundle.unwrap_or_else(|| PathBuf::from("."));
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(RuncError::Other(
            "File config.json exists. Remove it first".to_owned(),
        ));
    }
    let spec = if args.rootless {
        Spec::rootless(
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    } else {
        Spec::default()
    };
    let json = serde_json::to_vec_pretty(&spec).map_err(|e| RuncError::Other(e.to_string()))?;
    std::fs::write(&path, json)
        .map_err(|e| RuncError::io(format!("cannot write {}", path.display()), e))
}
