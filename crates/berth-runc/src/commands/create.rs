//! `create`: set up the container and leave its init waiting for `start`.

use liboci_cli::Create;

use super::container_dir;
use crate::cli::Globals;
use crate::error::{Result, RuncError};

pub fn create(args: Create, g: &Globals) -> Result<()> {
    build_init(
        &InitArgs {
            id: &args.container_id,
            bundle: &args.bundle,
            pid_file: args.pid_file.as_deref(),
            console_socket: args.console_socket.as_deref(),
            preserve_fds: args.preserve_fds,
            no_pivot: args.no_pivot,
            detach: true,
        },
        g,
    )
    .map(|_| ())
}

/// What `create` and `run` have in common.
pub struct InitArgs<'a> {
    pub id: &'a str,
    pub bundle: &'a std::path::Path,
    pub pid_file: Option<&'a std::path::Path>,
    pub console_socket: Option<&'a std::path::Path>,
    pub preserve_fds: i32,
    pub no_pivot: bool,
    pub detach: bool,
}

/// Builds an init container from a bundle. Checks first what libcontainer would only
/// report vaguely: a missing bundle or config.json, an ID already in use.
pub fn build_init(a: &InitArgs<'_>, g: &Globals) -> Result<libcontainer::container::Container> {
    use libcontainer::container::builder::ContainerBuilder;
    use libcontainer::syscall::syscall::SyscallType;

    let spec = a.bundle.join("config.json");
    if !spec.is_file() {
        return Err(RuncError::NoSpec(spec));
    }
    let dir = container_dir(g, a.id)?;
    if dir.exists() {
        return Err(RuncError::Other(format!(
            "container with id exists: {}",
            a.id
        )));
    }
    // libcontainer would otherwise load seccomp after dropping CAP_SYS_ADMIN (see nnp.rs).
    crate::nnp::normalize_bundle_spec(&spec)?;
    let ctx = || format!("cannot create container {}", a.id);
    let bundle = std::fs::canonicalize(a.bundle)
        .map_err(|e| RuncError::io(format!("bundle {}", a.bundle.display()), e))?;
    ContainerBuilder::new(a.id.to_owned(), SyscallType::default())
        .with_executor(crate::executor::RuncExecutor::default())
        .with_root_path(&g.root)
        .and_then(|b| b.with_pid_file(a.pid_file))
        .map_err(|e| RuncError::container(ctx(), e))?
        .with_console_socket(a.console_socket)
        .with_preserved_fds(a.preserve_fds)
        .validate_id()
        .map_err(|e| RuncError::container(ctx(), e))?
        .as_init(bundle)
        .with_systemd(g.systemd_cgroup)
        .with_detach(a.detach)
        .with_no_pivot(a.no_pivot)
        .build()
        .map_err(|e| RuncError::start_failure(ctx(), e))
}
