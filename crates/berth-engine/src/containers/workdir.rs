//! The working directory (`-w`, or the image's `WORKDIR`) is made before the
//! runtime starts the container, as dockerd makes it: a directory the image
//! lacks then works with every runtime, not only with those that create it
//! themselves (runc does; the embedded runtime only changes into it).
//!
//! dockerd creates it in the container's writable layer, mode 0755, owned
//! by root, whatever the container's user. A working directory inside a
//! writable bind mount or volume is made in the mount's source instead, as
//! the runtime would make it there; inside a tmpfs or a read-only mount it
//! is left to the runtime.

use berth_runtime::spec::ResolvedMount;
use berth_types::{Error, Result};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};

/// Makes `cwd` exist in the container's view of `rootfs` plus `mounts`.
pub(super) fn ensure_working_dir(rootfs: &Path, cwd: &str, mounts: &[ResolvedMount]) -> Result<()> {
    let parts = components(cwd);
    if parts.is_empty() {
        return Ok(());
    }
    let (base, rel) = match deepest_mount(&parts, mounts) {
        None => (rootfs.to_path_buf(), parts),
        Some((m, depth)) => {
            let writable_dir = m.typ == "bind"
                && !m.options.iter().any(|o| o == "ro")
                && Path::new(&m.source).is_dir();
            if !writable_dir {
                return Ok(());
            }
            (PathBuf::from(&m.source), parts[depth..].to_vec())
        }
    };
    if rel.is_empty() {
        return Ok(());
    }
    let target = berth_plugins::copyup::resolve_in_root(&base, &rel.join("/"))?;
    if target.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&target)
        .map_err(|e| {
            if target.exists() {
                Error::invalid(format!("Cannot mkdir: {cwd} is not a directory"))
            } else {
                Error::internal(format!("creating the working directory {cwd}: {e}"))
            }
        })
}

/// The normal components of an absolute container path (`.` and `..`
/// resolved lexically, as the path is cleaned before use).
fn components(p: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// The mount whose destination holds `path` most closely, and how many of
/// `path`'s components its destination takes.
fn deepest_mount<'a>(
    path: &[String],
    mounts: &'a [ResolvedMount],
) -> Option<(&'a ResolvedMount, usize)> {
    mounts
        .iter()
        .filter_map(|m| {
            let d = components(&m.destination);
            (d.len() <= path.len() && path[..d.len()] == d[..]).then_some((m, d.len()))
        })
        .max_by_key(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn bind(src: &Path, dest: &str, ro: bool) -> ResolvedMount {
        ResolvedMount {
            destination: dest.into(),
            typ: "bind".into(),
            source: src.display().to_string(),
            options: if ro { vec!["ro".into()] } else { vec![] },
        }
    }

    #[test]
    fn made_in_the_rootfs_with_dockerds_mode() {
        let root = tempfile::tempdir().unwrap();
        ensure_working_dir(root.path(), "/no/such/./dir/", &[]).unwrap();
        let m = std::fs::metadata(root.path().join("no/such/dir")).unwrap();
        assert!(m.is_dir());
        assert_eq!(m.permissions().mode() & 0o7777, 0o755);
        // Again: nothing to do.
        ensure_working_dir(root.path(), "/no/such/dir", &[]).unwrap();
        ensure_working_dir(root.path(), "/", &[]).unwrap();
    }

    #[test]
    fn symlinks_stay_inside_the_rootfs() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("esc")).unwrap();
        ensure_working_dir(root.path(), "/esc/w", &[]).unwrap();
        assert!(!outside.path().join("w").exists(), "escaped the rootfs");
        assert!(root
            .path()
            .join(outside.path().strip_prefix("/").unwrap())
            .join("w")
            .is_dir());
    }

    #[test]
    fn inside_mounts() {
        let root = tempfile::tempdir().unwrap();
        let vol = tempfile::tempdir().unwrap();
        let ro = tempfile::tempdir().unwrap();
        let mounts = vec![
            bind(vol.path(), "/data", false),
            bind(ro.path(), "/data/ro", true),
        ];
        ensure_working_dir(root.path(), "/data/sub", &mounts).unwrap();
        assert!(vol.path().join("sub").is_dir());
        assert!(!root.path().join("data").exists());
        ensure_working_dir(root.path(), "/data/ro/x", &mounts).unwrap();
        assert!(!ro.path().join("x").exists(), "read-only mount written");
        assert!(!vol.path().join("ro/x").exists());
    }

    #[test]
    fn a_file_in_the_way_is_dockerds_error() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("f"), b"").unwrap();
        let e = ensure_working_dir(root.path(), "/f", &[]).unwrap_err();
        assert_eq!(e.message, "Cannot mkdir: /f is not a directory");
    }
}
