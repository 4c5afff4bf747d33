//! Container root filesystems as overlay snapshots. The store prepares the
//! directories and returns a description of the mount; the caller mounts.
//!
//! Lower directories are named through the short links under `l/`. When
//! the absolute paths would not fit in the one page the kernel accepts for
//! mount options, the description uses paths relative to the store root and
//! says so in `cwd`: the mount must then be made from that directory
//! ([`mount_rootfs`] does it in a child process, as dockerd does).

use crate::error::{ImageError, IoContext, Result};
use crate::store::{ImageStore, SnapshotMeta};
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The kernel copies at most one page of mount data.
const MAX_MOUNT_DATA: usize = 4000;

/// How to mount a container's rootfs; independent of the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootfsMount {
    pub fstype: String,
    pub source: String,
    pub options: Vec<String>,
    /// When set, the paths in `options` are relative to this directory.
    pub cwd: Option<PathBuf>,
}

impl RootfsMount {
    pub fn data(&self) -> String {
        self.options.join(",")
    }
}

fn valid_id(cid: &str) -> bool {
    !cid.is_empty()
        && cid.len() <= 128
        && cid != "."
        && cid != ".."
        && cid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl ImageStore {
    /// Prepares the rootfs snapshot of `container_id` on top of `image`
    /// (any name the store resolves). Idempotent for the same pair.
    pub fn prepare_rootfs(&self, image: &str, container_id: &str) -> Result<RootfsMount> {
        if !valid_id(container_id) {
            return Err(ImageError::InvalidArgument(format!(
                "invalid container ID {container_id:?}"
            )));
        }
        let mut st = self.lock();
        let id = self.resolve_in(&st, image)?;
        let chain_ids = st.images[&id].chain_ids.clone();
        if let Some(s) = st.snapshots.get(container_id) {
            if s.image_id != id {
                return Err(ImageError::Conflict(format!(
                    "snapshot for {container_id} already exists on another image"
                )));
            }
        } else {
            let dir = self.snapshot_dir(container_id);
            let tmp = self.tmp_dir("snap")?;
            for d in ["upper", "work", "empty"] {
                fs::create_dir_all(tmp.join(d)).ctx(|| "create snapshot".into())?;
            }
            let meta = SnapshotMeta {
                image_id: id.clone(),
                chain_ids: chain_ids.clone(),
            };
            berth_core::atomic::write_json(&tmp.join("meta.json"), &meta)
                .ctx(|| "write snapshot meta".into())?;
            fs::rename(&tmp, &dir).ctx(|| "commit snapshot".into())?;
            st.snapshots.insert(container_id.to_string(), meta);
        }
        let links: Vec<String> = chain_ids
            .iter()
            .rev()
            .map(|c| format!("l/{}", st.layers[c].link))
            .collect();
        let rel_snap = format!("snapshots/{container_id}");
        let build = |prefix: &str| -> Vec<String> {
            let lower = if links.is_empty() {
                format!("{prefix}{rel_snap}/empty")
            } else {
                links
                    .iter()
                    .map(|l| format!("{prefix}{l}"))
                    .collect::<Vec<_>>()
                    .join(":")
            };
            vec![
                format!("lowerdir={lower}"),
                format!("upperdir={prefix}{rel_snap}/upper"),
                format!("workdir={prefix}{rel_snap}/work"),
            ]
        };
        let abs_prefix = format!("{}/", self.root.display());
        let options = build(&abs_prefix);
        let m = if options.join(",").len() <= MAX_MOUNT_DATA {
            RootfsMount {
                fstype: "overlay".into(),
                source: "overlay".into(),
                options,
                cwd: None,
            }
        } else {
            RootfsMount {
                fstype: "overlay".into(),
                source: "overlay".into(),
                options: build(""),
                cwd: Some(self.root.clone()),
            }
        };
        if m.data().len() > MAX_MOUNT_DATA {
            return Err(ImageError::Unsupported(format!(
                "image has too many layers ({}) for one overlay mount",
                chain_ids.len()
            )));
        }
        Ok(m)
    }

    /// Removes a container's snapshot (it must be unmounted).
    pub fn cleanup(&self, container_id: &str) -> Result<()> {
        if !valid_id(container_id) {
            return Err(ImageError::InvalidArgument(format!(
                "invalid container ID {container_id:?}"
            )));
        }
        let mut st = self.lock();
        if st.snapshots.remove(container_id).is_some() {
            self.discard_dir(&self.snapshot_dir(container_id));
        }
        Ok(())
    }

    /// The writable layer of a container (for `docker diff`, `cp`, size).
    pub fn upper_dir(&self, container_id: &str) -> PathBuf {
        self.snapshot_dir(container_id).join("upper")
    }
}

fn cstr(s: &[u8]) -> Result<CString> {
    CString::new(s).map_err(|_| ImageError::InvalidArgument("NUL in mount argument".into()))
}

/// Mounts a described rootfs at `target`. With `cwd` set, the mount is made
/// by a forked child that changes into `cwd` first, so the daemon's own
/// working directory never changes.
pub fn mount_rootfs(m: &RootfsMount, target: &Path) -> Result<()> {
    let src = cstr(m.source.as_bytes())?;
    let fstype = cstr(m.fstype.as_bytes())?;
    let data = cstr(m.data().as_bytes())?;
    let tgt = cstr(target.as_os_str().as_bytes())?;
    let Some(cwd) = &m.cwd else {
        // SAFETY: all pointers are valid NUL-terminated strings living
        // across the call.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                tgt.as_ptr(),
                fstype.as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        if rc != 0 {
            return Err(ImageError::io(
                "mount overlay",
                std::io::Error::last_os_error(),
            ));
        }
        return Ok(());
    };
    let cwd = cstr(cwd.as_os_str().as_bytes())?;
    // SAFETY: the child only calls async-signal-safe functions (chdir,
    // mount, _exit) on memory prepared before the fork.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            // SAFETY: see above; pointers are valid C strings.
            unsafe {
                if libc::chdir(cwd.as_ptr()) != 0 {
                    libc::_exit(*libc::__errno_location());
                }
                let rc = libc::mount(
                    src.as_ptr(),
                    tgt.as_ptr(),
                    fstype.as_ptr(),
                    0,
                    data.as_ptr().cast(),
                );
                libc::_exit(if rc == 0 {
                    0
                } else {
                    *libc::__errno_location()
                });
            }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            match nix::sys::wait::waitpid(child, None) {
                Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
                Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => Err(ImageError::io(
                    "mount overlay",
                    std::io::Error::from_raw_os_error(code),
                )),
                Ok(other) => Err(ImageError::io(
                    "mount overlay",
                    std::io::Error::other(format!("mount helper ended: {other:?}")),
                )),
                Err(e) => Err(ImageError::io("wait for mount helper", e.into())),
            }
        }
        Err(e) => Err(ImageError::io("fork mount helper", e.into())),
    }
}

/// Unmounts a rootfs mounted with [`mount_rootfs`].
pub fn unmount_rootfs(target: &Path) -> Result<()> {
    nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH)
        .map_err(|e| ImageError::io("unmount rootfs", e.into()))
}
