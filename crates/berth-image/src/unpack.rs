//! Unpacking one layer tar into its own directory, safely.
//!
//! Every path is normalised lexically and rejected if it climbs out with
//! `..`; absolute paths are taken relative to the layer root (as dockerd
//! does); no component of a parent path may be a symlink, and an existing
//! entry is removed (never written through) before a new one is created.
//! Hard-link targets obey the same rules. Whiteouts become overlayfs
//! whiteouts: `.wh.NAME` a 0/0 character device, `.wh..wh..opq` the
//! `trusted.overlay.opaque` xattr on the directory. Device nodes are refused.

use crate::error::{ImageError, IoContext, Result};
use crate::tarsafe::BoundedHeaders;
use std::ffi::{CString, OsStr};
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const MAX_PATH: usize = 4096;

/// Splits a tar path into safe components.
pub fn normalise(raw: &[u8]) -> Result<Vec<String>> {
    if raw.len() > MAX_PATH {
        return Err(ImageError::archive("path too long"));
    }
    let s = std::str::from_utf8(raw).map_err(|_| ImageError::archive("path is not valid UTF-8"))?;
    if s.contains('\0') {
        return Err(ImageError::archive("path contains NUL"));
    }
    let mut out = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(ImageError::archive(format!(
                    "path {s:?} escapes the layer directory"
                )))
            }
            c => out.push(c.to_string()),
        }
    }
    Ok(out)
}

/// Walks (creating when `create`) the directories `comps` below `root`,
/// refusing symlinks and non-directories along the way.
fn safe_dir(root: &Path, comps: &[String], create: bool) -> Result<PathBuf> {
    let mut p = root.to_path_buf();
    for c in comps {
        p.push(c);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(ImageError::archive(format!(
                    "refusing to write through symlinked directory {}",
                    comps.join("/")
                )))
            }
            Ok(_) => {
                return Err(ImageError::archive(format!(
                    "{} is not a directory",
                    comps.join("/")
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                fs::create_dir(&p).ctx(|| format!("mkdir {}", p.display()))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ImageError::archive(format!(
                    "{} is not in the layer",
                    comps.join("/")
                )))
            }
            Err(e) => return Err(ImageError::io(format!("stat {}", p.display()), e)),
        }
    }
    Ok(p)
}

fn remove_existing(p: &Path, keep_dir: bool) -> Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_dir() => {
            if !keep_dir {
                fs::remove_dir_all(p).ctx(|| format!("remove {}", p.display()))?;
            }
        }
        Ok(_) => fs::remove_file(p).ctx(|| format!("remove {}", p.display()))?,
        Err(_) => {}
    }
    Ok(())
}

/// Sets an extended attribute on `p` without following a symlink.
pub fn lsetxattr(p: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let cp = CString::new(p.as_os_str().as_bytes())?;
    let cn = CString::new(name)?;
    // SAFETY: both strings are valid NUL-terminated C strings that outlive
    // the call; value points to value.len() readable bytes.
    let rc = unsafe {
        libc::lsetxattr(
            cp.as_ptr(),
            cn.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn mknod_whiteout(p: &Path) -> Result<()> {
    use nix::sys::stat::{mknod, Mode, SFlag};
    mknod(p, SFlag::S_IFCHR, Mode::empty(), 0)
        .map_err(|e| ImageError::io(format!("mknod whiteout {}", p.display()), e.into()))
}

struct DirTimes {
    path: PathBuf,
    mtime: u64,
}

fn set_mtime(p: &Path, secs: u64) {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    let ts = TimeSpec::new(secs as i64, 0);
    let _ = utimensat(None, p, &ts, &ts, UtimensatFlags::NoFollowSymlink);
}

/// Unpacks the layer tar `src` into the existing directory `dest`. Returns
/// the size of the unpacked content (the sum of regular file sizes).
pub fn unpack_layer<R: Read>(src: R, dest: &Path) -> Result<u64> {
    let mut archive = tar::Archive::new(BoundedHeaders::new(src));
    let mut size = 0u64;
    let mut dirs: Vec<DirTimes> = Vec::new();
    let entries = archive.entries().ctx(|| "read layer".to_string())?;
    for entry in entries {
        let mut entry = entry.ctx(|| "read layer entry".to_string())?;
        let raw_path = entry.path_bytes().into_owned();
        let comps = normalise(&raw_path)?;
        let typ = entry.header().entry_type();
        let Some((name, parents)) = comps.split_last() else {
            continue; // the root itself
        };
        if matches!(typ, tar::EntryType::XGlobalHeader | tar::EntryType::XHeader) {
            continue;
        }
        if whiteout(dest, name, parents)? {
            continue;
        }
        let dir = safe_dir(dest, parents, true)?;
        let target = dir.join(name);
        let Some(n) = create_entry(&mut entry, dest, &target, &comps)? else {
            continue;
        };
        size += n;
        let mtime = entry.header().mtime().unwrap_or(0);
        set_metadata(&mut entry, &target)?;
        if typ == tar::EntryType::Directory {
            dirs.push(DirTimes {
                path: target,
                mtime,
            });
        } else {
            set_mtime(&target, mtime);
        }
    }
    // Directory times last: creating children changed them.
    for d in dirs.iter().rev() {
        set_mtime(&d.path, d.mtime);
    }
    Ok(size)
}

/// Applies a whiteout entry (opaque directory or hidden name); false when
/// `name` is not one.
fn whiteout(dest: &Path, name: &str, parents: &[String]) -> Result<bool> {
    if name == OPAQUE_WHITEOUT {
        let dir = safe_dir(dest, parents, true)?;
        lsetxattr(&dir, "trusted.overlay.opaque", b"y")
            .ctx(|| format!("mark {} opaque", dir.display()))?;
        return Ok(true);
    }
    let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) else {
        return Ok(false);
    };
    if hidden.starts_with(WHITEOUT_PREFIX) || hidden.is_empty() {
        return Ok(true); // aufs metadata (.wh..wh.plnk and friends)
    }
    let dir = safe_dir(dest, parents, true)?;
    let target = dir.join(hidden);
    remove_existing(&target, false)?;
    mknod_whiteout(&target)?;
    Ok(true)
}

/// Creates the file, directory, link or fifo of an entry at `target`.
/// Returns the bytes written, or `None` when the entry needs no metadata
/// (a hard link shares its target's, an unknown type is skipped).
fn create_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    dest: &Path,
    target: &Path,
    comps: &[String],
) -> Result<Option<u64>> {
    match entry.header().entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous => {
            remove_existing(target, false)?;
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(target)
                .ctx(|| format!("create {}", target.display()))?;
            let n = io::copy(entry, &mut f).ctx(|| format!("write {}", target.display()))?;
            return Ok(Some(n));
        }
        tar::EntryType::Directory => {
            remove_existing(target, true)?;
            if fs::symlink_metadata(target).is_err() {
                fs::create_dir(target).ctx(|| format!("mkdir {}", target.display()))?;
            }
        }
        tar::EntryType::Symlink => {
            let link = entry
                .link_name_bytes()
                .ok_or_else(|| ImageError::archive("symlink without target"))?
                .into_owned();
            remove_existing(target, false)?;
            std::os::unix::fs::symlink(OsStr::from_bytes(&link), target)
                .ctx(|| format!("symlink {}", target.display()))?;
        }
        tar::EntryType::Link => {
            hard_link(entry, dest, target)?;
            return Ok(None); // the link shares the target's metadata
        }
        tar::EntryType::Fifo => {
            remove_existing(target, false)?;
            nix::unistd::mkfifo(target, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .map_err(|e| ImageError::io("mkfifo", e.into()))?;
        }
        tar::EntryType::Char | tar::EntryType::Block => {
            return Err(ImageError::archive(format!(
                "device node {} refused",
                comps.join("/")
            )));
        }
        tar::EntryType::GNUSparse => {
            return Err(ImageError::Unsupported("sparse files in layers".into()));
        }
        _ => return Ok(None),
    }
    Ok(Some(0))
}

/// A hard link entry: its target must already be in the layer, and not be
/// a directory.
fn hard_link<R: Read>(entry: &tar::Entry<'_, R>, dest: &Path, target: &Path) -> Result<()> {
    let link = entry
        .link_name_bytes()
        .ok_or_else(|| ImageError::archive("hard link without target"))?
        .into_owned();
    let lcomps = normalise(&link)?;
    let Some((lname, lparents)) = lcomps.split_last() else {
        return Err(ImageError::archive("hard link to the layer root"));
    };
    let ldir = safe_dir(dest, lparents, false)?;
    let src = ldir.join(lname);
    let m = fs::symlink_metadata(&src).map_err(|_| {
        ImageError::archive(format!(
            "hard link target {} is not in the layer",
            lcomps.join("/")
        ))
    })?;
    if m.is_dir() {
        return Err(ImageError::archive("hard link to a directory"));
    }
    if src == target {
        return Ok(());
    }
    remove_existing(target, false)?;
    fs::hard_link(&src, target).ctx(|| format!("link {}", target.display()))
}

/// Ownership, then mode (chown clears set-id bits), then xattrs.
fn set_metadata<R: Read>(entry: &mut tar::Entry<'_, R>, target: &Path) -> Result<()> {
    let header = entry.header();
    let mode = header.mode().unwrap_or(0o644) & 0o7777;
    let uid = header.uid().unwrap_or(0);
    let gid = header.gid().unwrap_or(0);
    let is_symlink = header.entry_type() == tar::EntryType::Symlink;
    std::os::unix::fs::lchown(target, Some(uid as u32), Some(gid as u32))
        .ctx(|| format!("chown {}", target.display()))?;
    if !is_symlink {
        fs::set_permissions(target, fs::Permissions::from_mode(mode))
            .ctx(|| format!("chmod {}", target.display()))?;
    }
    if let Ok(Some(exts)) = entry.pax_extensions() {
        for ext in exts.flatten() {
            if let Ok(key) = ext.key() {
                if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                    let _ = lsetxattr(target, x, ext.value_bytes());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_rejects_escapes() {
        assert_eq!(normalise(b"./a//b/").unwrap(), vec!["a", "b"]);
        assert_eq!(normalise(b"/etc/passwd").unwrap(), vec!["etc", "passwd"]);
        assert!(normalise(b"a/../../b").is_err());
        assert!(normalise(b"../x").is_err());
        assert!(normalise(&vec![b'a'; 5000]).is_err());
    }
}
