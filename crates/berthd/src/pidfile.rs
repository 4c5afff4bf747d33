//! The pid file: held with an exclusive lock for the daemon's lifetime, so a
//! second daemon on the same pid file refuses to start, while a file left by
//! a crashed daemon is taken over.

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

pub struct PidFile {
    path: PathBuf,
    _lock: Flock<File>,
}

impl PidFile {
    pub fn acquire(path: &Path) -> Result<PidFile> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("opening pid file {}", path.display()))?;
        let mut old = String::new();
        let _ = f.read_to_string(&mut old);
        let mut lock = match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((_, _)) => bail!(
                "pid file found, ensure berthd is not running or delete {} (held by pid {})",
                path.display(),
                old.trim()
            ),
        };
        // An unlocked file whose pid is a live berthd (one started by an
        // older version without the lock, say) still counts as taken.
        if let Ok(pid) = old.trim().parse::<i32>() {
            if pid != std::process::id() as i32 && is_live_berthd(pid) {
                bail!(
                    "pid file found, ensure berthd is not running or delete {} (pid {pid} is running)",
                    path.display()
                );
            }
        }
        lock.set_len(0)?;
        lock.rewind()?;
        writeln!(lock, "{}", std::process::id())?;
        lock.sync_all()?;
        Ok(PidFile {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }
}

fn is_live_berthd(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim() == "berthd")
        .unwrap_or(false)
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_and_stale_file_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.pid");
        std::fs::write(&p, "999999\n").unwrap();
        let held = PidFile::acquire(&p).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap().trim(),
            std::process::id().to_string()
        );
        let e = PidFile::acquire(&p).err().unwrap();
        assert!(e.to_string().contains("pid file found"), "{e}");
        drop(held);
        assert!(!p.exists());
    }
}
