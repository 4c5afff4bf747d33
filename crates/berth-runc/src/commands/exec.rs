//! `exec`: start another process inside a running container. Detached, it returns once
//! the process runs (its pid in `--pid-file`); otherwise it waits and exits with the
//! process's status.

use liboci_cli::Exec;

use super::container_dir;
use super::run::wait_foreground;
use crate::cli::Globals;
use crate::error::{Result, RuncError};

pub fn exec(args: Exec, g: &Globals) -> Result<i32> {
    use libcontainer::container::builder::ContainerBuilder;
    use libcontainer::syscall::syscall::SyscallType;

    let id = args.container_id.clone();
    if !container_dir(g, &id)?.join("state.json").exists() {
        return Err(RuncError::NotFound(id));
    }
    if args.process.is_none() && args.command.is_empty() {
        return Err(RuncError::Usage(
            "exec needs a command or --process".to_owned(),
        ));
    }
    let ctx = || format!("cannot exec in container {id}");
    // libcontainer treats any present no_new_privs, even false, as "load seccomp after
    // dropping capabilities", which the kernel refuses (see nnp.rs): pass only `true`,
    // and strip an explicit `false` from a --process file.
    let process_copy = match &args.process {
        Some(p) => crate::nnp::normalize_process_file(p, &container_dir(g, &id)?)?,
        None => None,
    };
    let process = process_copy
        .as_ref()
        .map(|c| c.path().to_owned())
        .or(args.process);
    let (user, group) = match args.user {
        Some((u, gid)) => (Some(u), gid),
        None => (None, None),
    };
    let builder = ContainerBuilder::new(id.clone(), SyscallType::default())
        .with_executor(crate::executor::RuncExecutor::default())
        .with_root_path(&g.root)
        .and_then(|b| b.with_pid_file(args.pid_file.as_ref()))
        .map_err(|e| RuncError::container(ctx(), e))?
        .with_console_socket(args.console_socket.as_ref())
        .with_preserved_fds(args.preserve_fds)
        .validate_id()
        .map_err(|e| RuncError::container(ctx(), e))?
        .as_tenant()
        .with_detach(args.detach)
        .with_cwd(args.cwd.as_ref())
        .with_env(args.env.into_iter().collect())
        .with_process(process.as_ref());
    let builder = if args.no_new_privs {
        builder.with_no_new_privs(true)
    } else {
        builder
    };
    let pid = builder
        .with_container_args(args.command)
        .with_additional_gids(args.additional_gids)
        .with_user(user)
        .with_group(group)
        .with_capabilities(args.cap)
        .with_ignore_paused(args.ignore_paused)
        .with_sub_cgroup(args.cgroup)
        .with_process_label(args.process_label)
        .with_apparmor(args.apparmor)
        .build()
        .map_err(|e| RuncError::container(ctx(), e))?;
    drop(process_copy);
    if args.detach {
        return Ok(0);
    }
    wait_foreground(pid)
}
