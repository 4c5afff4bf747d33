//! Named network namespaces: one per container, bind-mounted on a file
//! under `<exec-root>/netns/<id>` so it outlives the thread that made it
//! and the daemon itself; the runtime joins it by path
//! (`SpecOptions.netns_path`).

use crate::error::{NetError, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Creates a new network namespace and pins it at `path`. Loopback is
/// brought up inside it.
pub fn create(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| NetError::io(format!("creating {}", dir.display()), e))?;
    }
    File::create(path).map_err(|e| NetError::io(format!("creating {}", path.display()), e))?;
    let p = path.to_path_buf();
    // unshare(2) changes only the calling thread's namespace, so a
    // throwaway thread makes the namespace and the bind mount keeps it.
    let r = std::thread::spawn(move || -> Result<()> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| NetError::sys("unshare(CLONE_NEWNET)", e))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &p,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| NetError::sys(format!("bind-mounting the netns on {}", p.display()), e))?;
        set_lo_up()
    })
    .join()
    .map_err(|_| NetError::Invalid("netns thread panicked".into()))?;
    if r.is_err() {
        let _ = umount2(path, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_file(path);
    }
    r
}

/// Whether `path` is a pinned network namespace (a bind mount of nsfs).
pub fn exists(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
        .unwrap_or(false)
}

/// Unpins and removes a namespace file. Missing is fine.
pub fn remove(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(NetError::sys(format!("unmounting {}", path.display()), e)),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetError::io(format!("removing {}", path.display()), e)),
    }
}

/// Runs `f` on a fresh thread that has joined the namespace at `path`.
pub fn run_in<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let file = File::open(path)
        .map_err(|e| NetError::io(format!("opening netns {}", path.display()), e))?;
    std::thread::spawn(move || {
        setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| NetError::sys("setns", e))?;
        f()
    })
    .join()
    .map_err(|_| NetError::Invalid("netns thread panicked".into()))?
}

/// Brings `lo` up in the current thread's namespace.
fn set_lo_up() -> Result<()> {
    crate::link::block_on(async {
        let h = crate::link::Netlink::connect()?;
        h.set_up("lo").await
    })
}

/// Where the namespace of container `id` lives.
pub fn path_for(exec_root: &Path, id: &str) -> PathBuf {
    exec_root.join("netns").join(id)
}
