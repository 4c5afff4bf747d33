//! Filling a new, empty volume from the image's content at the mount
//! destination, as dockerd does the first time a volume is mounted.

use berth_types::{Error, Result};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Resolves `path` inside `root` as if `root` were `/`: symlinks are
/// followed but never lead outside `root`.
pub fn resolve_in_root(root: &Path, path: &str) -> Result<PathBuf> {
    let mut out = root.to_path_buf();
    let mut pending: Vec<String> = path_components(path);
    pending.reverse();
    let mut hops = 0;
    while let Some(c) = pending.pop() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                if out != root {
                    out.pop();
                }
                continue;
            }
            _ => {}
        }
        let next = out.join(&c);
        match std::fs::symlink_metadata(&next) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return Err(Error::invalid(format!("too many symlinks in {path}")));
                }
                let target = std::fs::read_link(&next)?;
                let t = target.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    out = root.to_path_buf();
                }
                let mut more = path_components(&t);
                more.reverse();
                pending.extend(more);
            }
            _ => out = next,
        }
    }
    Ok(out)
}

fn path_components(p: &str) -> Vec<String> {
    Path::new(p)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

fn is_empty_dir(p: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(p)?.next().is_none())
}

/// Copies what the image has at `destination` (under `rootfs`) into
/// `volume`, when `volume` is empty and the image has a directory there.
/// Returns whether anything was copied. Ownership, modes and symlinks are
/// kept; sockets and devices are skipped.
pub fn copy_image_content(rootfs: &Path, destination: &str, volume: &Path) -> Result<bool> {
    if !is_empty_dir(volume)? {
        return Ok(false);
    }
    let src = resolve_in_root(rootfs, destination)?;
    let Ok(meta) = std::fs::metadata(&src) else {
        return Ok(false);
    };
    if !meta.is_dir() {
        return Ok(false);
    }
    copy_dir(&src, volume)?;
    set_owner_mode(volume, &meta)?;
    Ok(true)
}

fn set_owner_mode(p: &Path, m: &std::fs::Metadata) -> Result<()> {
    std::os::unix::fs::lchown(p, Some(m.uid()), Some(m.gid()))?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
    Ok(())
}

fn copy_dir(src: &Path, dst: &Path) -> Result<()> {
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let from = e.path();
        let to = dst.join(e.file_name());
        let m = std::fs::symlink_metadata(&from)?;
        let ft = m.file_type();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
            std::os::unix::fs::lchown(&to, Some(m.uid()), Some(m.gid()))?;
        } else if ft.is_dir() {
            std::fs::create_dir(&to)?;
            copy_dir(&from, &to)?;
            set_owner_mode(&to, &m)?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to)
                .map_err(|e| Error::internal(format!("copying {}: {e}", from.display())))?;
            set_owner_mode(&to, &m)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_into_empty_volume_only_and_stays_in_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rootfs");
        std::fs::create_dir_all(root.join("data/sub")).unwrap();
        std::fs::write(root.join("data/sub/f"), b"hello").unwrap();
        std::fs::set_permissions(
            root.join("data/sub/f"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        std::os::unix::fs::symlink("sub/f", root.join("data/link")).unwrap();
        // /alias -> /data through an absolute link, resolved inside the root.
        std::os::unix::fs::symlink("/data", root.join("alias")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("escape")).unwrap();
        let vol = t.path().join("vol");
        std::fs::create_dir(&vol).unwrap();

        assert!(copy_image_content(&root, "/alias", &vol).unwrap());
        assert_eq!(std::fs::read(vol.join("sub/f")).unwrap(), b"hello");
        assert_eq!(
            std::fs::metadata(vol.join("sub/f")).unwrap().mode() & 0o777,
            0o640
        );
        assert_eq!(
            std::fs::read_link(vol.join("link")).unwrap(),
            Path::new("sub/f")
        );
        // Not empty any more: a second copy does nothing.
        assert!(!copy_image_content(&root, "/data", &vol).unwrap());
        assert_eq!(
            resolve_in_root(&root, "/escape/data").unwrap(),
            root.join("data")
        );
        // Nothing in the image there: nothing copied.
        let vol2 = t.path().join("vol2");
        std::fs::create_dir(&vol2).unwrap();
        assert!(!copy_image_content(&root, "/nope", &vol2).unwrap());
    }
}
