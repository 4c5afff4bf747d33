//! `ps`: the processes of a container's cgroup, as a JSON list of pids or as `ps` rows.

use libcgroups::common::CgroupManager;
use liboci_cli::Ps;

use super::cgroup_manager;
use crate::cli::Globals;
use crate::error::{Result, RuncError};

pub fn ps(args: Ps, g: &Globals) -> Result<()> {
    let id = &args.container_id;
    let manager = cgroup_manager(g, id)?;
    let mut pids: Vec<i32> = manager
        .get_all_pids()
        .map_err(|e| RuncError::Other(format!("cannot list pids of {id}: {e}")))?
        .iter()
        .map(|p| p.as_raw())
        .collect();
    pids.sort_unstable();

    match args.format.as_str() {
        "json" => {
            println!(
                "{}",
                serde_json::to_string(&pids).map_err(|e| RuncError::Other(e.to_string()))?
            );
            Ok(())
        }
        "table" => print_table(&pids, &args.ps_options),
        other => Err(RuncError::Usage(format!("invalid format option: {other}"))),
    }
}

/// Runs `ps` (default `-ef`) and keeps the header and the rows of our pids.
fn print_table(pids: &[i32], options: &[String]) -> Result<()> {
    let default = ["-ef".to_owned()];
    let opts = if options.is_empty() {
        &default[..]
    } else {
        options
    };
    let out = std::process::Command::new("ps")
        .args(opts)
        .output()
        .map_err(|e| RuncError::io("cannot run ps", e))?;
    if !out.status.success() {
        return Err(RuncError::Other(format!(
            "ps: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{}", filter_ps(&text, pids)?);
    Ok(())
}

/// Keeps the header of `ps` output and the rows whose PID column is one of `pids`.
fn filter_ps(text: &str, pids: &[i32]) -> Result<String> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| RuncError::Other("couldn't find PID field in ps output".to_owned()))?;
    let mut out = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_container_rows() {
        let text = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 04:00 ? 00:00:01 init\nroot 42 1 0 04:00 ? 00:00:00 sh\n";
        assert_eq!(
            filter_ps(text, &[42]).unwrap(),
            "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 04:00 ? 00:00:00 sh\n"
        );
        assert!(filter_ps("A B\n1 2\n", &[1]).is_err());
    }
}
