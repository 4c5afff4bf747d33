//! What the bench reads from /proc: resident memory, process trees, mounts.

use std::collections::HashMap;
use std::fs;

/// `VmRSS` of a `/proc/PID/status` text, in bytes. `None` for kernel threads and exited tasks.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    let scale = match words.next() {
        Some("kB") | None => 1024,
        Some("mB") | Some("MB") => 1024 * 1024,
        Some(_) => return None,
    };
    Some(value * scale)
}

/// The fields of `/proc/PID/stat` the bench uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub pid: u32,
    pub comm: String,
    pub ppid: u32,
    /// Start time in clock ticks after boot: with the pid, it names one process for its lifetime.
    pub start_time: u64,
}

/// Parses a `/proc/PID/stat` line. The command name is in parentheses and may itself contain
/// spaces and parentheses, so the fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let comm = text.get(open + 1..close)?.to_owned();
    // After ")": state(3) ppid(4) ... starttime(22); index 0 here is field 3.
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let ppid = rest.get(1)?.parse().ok()?;
    let start_time = rest.get(19)?.parse().ok()?;
    Some(Stat {
        pid,
        comm,
        ppid,
        start_time,
    })
}

/// Reads `/proc/PID/stat`; `None` once the process is gone.
pub fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// All live processes, read from /proc.
pub fn all_processes() -> Vec<Stat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(stat)
        .collect()
}

/// `root` and every process below it in `procs`, parents before children.
pub fn tree(root: u32, procs: &[Stat]) -> Vec<Stat> {
    let mut children: HashMap<u32, Vec<&Stat>> = HashMap::new();
    for p in procs {
        children.entry(p.ppid).or_default().push(p);
    }
    let mut out: Vec<Stat> = procs.iter().filter(|p| p.pid == root).cloned().collect();
    let mut i = 0;
    while i < out.len() {
        let pid = out[i].pid;
        if let Some(kids) = children.get(&pid) {
            out.extend(kids.iter().map(|s| (*s).clone()));
        }
        i += 1;
    }
    out
}

/// Resident memory of one process of a tree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProcRss {
    pub pid: u32,
    pub comm: String,
    pub rss_bytes: u64,
}

/// `VmRSS` of `root` and all its descendants, one entry each.
pub fn tree_rss(root: u32) -> Vec<ProcRss> {
    tree(root, &all_processes())
        .into_iter()
        .filter_map(|s| {
            let status = fs::read_to_string(format!("/proc/{}/status", s.pid)).ok()?;
            Some(ProcRss {
                pid: s.pid,
                comm: s.comm,
                rss_bytes: parse_vm_rss(&status).unwrap_or(0),
            })
        })
        .collect()
}

pub use berth_core::mountinfo::mounts_under;

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    const STATUS: &str = "Name:\tdockerd\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t 1587712 kB\nVmRSS:\t   78904 kB\nRssAnon:\t   30000 kB\nThreads:\t12\n";

    #[test]
    fn vm_rss_in_bytes() {
        assert_eq!(parse_vm_rss(STATUS), Some(78904 * 1024));
        // Kernel threads have no VmRSS line.
        assert_eq!(
            parse_vm_rss("Name:\tkthreadd\nState:\tS (sleeping)\n"),
            None
        );
        assert_eq!(parse_vm_rss("VmRSS:\tlots kB\n"), None);
    }

    #[test]
    fn stat_with_awkward_comm() {
        let line = "4242 (my (odd) name) S 17 4242 4242 0 -1 4194560 1 0 0 0 3 4 0 0 20 0 9 0 123456 1000 200 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            s,
            Stat {
                pid: 4242,
                comm: "my (odd) name".into(),
                ppid: 17,
                start_time: 123456
            }
        );
        assert_eq!(parse_stat("12 (x) S"), None);
    }

    #[test]
    fn tree_walks_descendants_only() {
        let p = |pid, ppid| Stat {
            pid,
            comm: format!("p{pid}"),
            ppid,
            start_time: 0,
        };
        let procs = vec![p(1, 0), p(10, 1), p(11, 10), p(12, 11), p(20, 1), p(13, 10)];
        let pids: Vec<u32> = tree(10, &procs).iter().map(|s| s.pid).collect();
        assert_eq!(pids, vec![10, 11, 13, 12]);
        assert!(tree(99, &procs).is_empty());
    }

    #[test]
    fn own_process_is_measured() {
        let me = std::process::id();
        let rss = tree_rss(me);
        assert_eq!(rss[0].pid, me);
        assert!(rss[0].rss_bytes > 0);
        assert_eq!(stat(me).unwrap().pid, me);
    }

    #[test]
    fn mounts_below_a_dir_deepest_first() {
        let mi = "22 1 8:0 / / rw - ext4 /dev/vda rw\n\
                  40 22 0:40 / /tmp/b-1/data rw - tmpfs tmpfs rw\n\
                  41 40 0:41 / /tmp/b-1/data/overlay2/x/merged rw - overlay overlay rw\n\
                  42 22 0:42 / /tmp/b-10 rw - tmpfs tmpfs rw\n\
                  43 22 0:43 / /tmp/b-1/with\\040space rw - tmpfs tmpfs rw\n";
        let m = mounts_under(mi, Path::new("/tmp/b-1"));
        assert_eq!(
            m,
            vec![
                PathBuf::from("/tmp/b-1/data/overlay2/x/merged"),
                PathBuf::from("/tmp/b-1/data"),
                PathBuf::from("/tmp/b-1/with space"),
            ]
        );
    }
}
