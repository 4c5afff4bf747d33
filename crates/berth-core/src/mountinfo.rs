//! The kernel's mount table, `/proc/self/mountinfo`: mount points with the
//! octal escapes the kernel writes (`\040` for a space, `\011` tab, `\012`
//! newline, `\134` backslash) undone.

use std::path::{Path, PathBuf};

/// Where the calling process's mount table is read from.
pub const SELF_MOUNTINFO: &str = "/proc/self/mountinfo";

/// Undoes the octal escapes the kernel writes into mountinfo paths.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            // Three octal digits: at most 0o777, which wraps like the kernel's u8.
            let v = (u32::from(b[i + 1] - b'0') << 6)
                | (u32::from(b[i + 2] - b'0') << 3)
                | u32::from(b[i + 3] - b'0');
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount points (field 5) of a mountinfo text, unescaped, in table order.
pub fn mount_points(mountinfo: &str) -> impl Iterator<Item = PathBuf> + '_ {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
}

/// The mount points of the calling process (empty when the table cannot be read).
pub fn read_mount_points() -> Vec<PathBuf> {
    std::fs::read_to_string(SELF_MOUNTINFO)
        .map(|t| mount_points(&t).collect())
        .unwrap_or_default()
}

/// Whether `p` is a mount point, by the kernel's mount table: a bind mount of
/// a directory on the same filesystem has the same device as its parent, so
/// comparing devices is not enough.
pub fn is_mountpoint(p: &Path) -> bool {
    std::fs::read_to_string(SELF_MOUNTINFO)
        .map(|t| mount_points(&t).any(|m| m == p))
        .unwrap_or(false)
}

/// The mount points in a mountinfo text that are `dir` or lie below it,
/// deepest first (the order to unmount them in).
pub fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = mount_points(mountinfo)
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_undone() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/t\\011x\\012y\\134z"), "/t\tx\ny\\z");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/x\\"), "/x\\");
        assert_eq!(unescape("/x\\04"), "/x\\04");
        assert_eq!(unescape("/x\\089"), "/x\\089");
    }

    #[test]
    fn mounts_under_is_deepest_first() {
        let mi = "\
22 1 0:21 / / rw - ext4 /dev/sda1 rw
30 22 0:40 / /tmp/d rw - tmpfs tmpfs rw
31 30 0:41 / /tmp/d/a\\040b/c rw - tmpfs tmpfs rw
32 30 0:42 / /tmp/d/a\\040b rw - tmpfs tmpfs rw
33 22 0:43 / /tmp/dd rw - tmpfs tmpfs rw
";
        assert_eq!(
            mounts_under(mi, Path::new("/tmp/d")),
            vec![
                PathBuf::from("/tmp/d/a b/c"),
                PathBuf::from("/tmp/d/a b"),
                PathBuf::from("/tmp/d"),
            ]
        );
    }

    /// A real tmpfs on a directory whose name has a space is found in the
    /// kernel's own table. Needs CAP_SYS_ADMIN; skipped (with a note) without.
    #[test]
    fn finds_a_real_mount_with_a_space() {
        use nix::mount::{mount, umount2, MntFlags, MsFlags};
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("with space");
        std::fs::create_dir(&dir).unwrap();
        assert!(!is_mountpoint(&dir));
        if let Err(e) = mount(
            Some("tmpfs"),
            &dir,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("size=1m"),
        ) {
            assert_eq!(e, nix::errno::Errno::EPERM, "mount tmpfs: {e}");
            eprintln!("skipped: mounting needs CAP_SYS_ADMIN");
            return;
        }
        let found = is_mountpoint(&dir);
        let listed = read_mount_points().contains(&dir);
        let raw = std::fs::read_to_string(SELF_MOUNTINFO).unwrap();
        let under = mounts_under(&raw, tmp.path());
        umount2(&dir, MntFlags::MNT_DETACH).unwrap();
        assert!(found, "{} not found in mountinfo", dir.display());
        assert!(listed);
        assert_eq!(under, vec![dir.clone()]);
        assert!(
            raw.contains("with\\040space"),
            "the kernel escapes the space"
        );
        assert!(!is_mountpoint(&dir), "unmounted again");
    }
}
