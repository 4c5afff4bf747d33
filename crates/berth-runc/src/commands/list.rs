//! `list`: every container under the root, as a table, as JSON, or just the IDs.

use std::io::Write;

use super::RuncState;
use crate::cli::{ensure_root, Globals, List};
use crate::error::{Result, RuncError};

pub fn list(args: List, g: &Globals) -> Result<()> {
    let root = ensure_root(&g.root)?;
    let mut states = Vec::new();
    let entries = std::fs::read_dir(&root)
        .map_err(|e| RuncError::io(format!("cannot read {}", root.display()), e))?;
    for entry in entries.flatten() {
        let dir = entry.path();
        if !dir.join("state.json").exists() {
            continue;
        }
        // A container being deleted concurrently just drops out of the list.
        if let Ok(c) = super::load_dir(dir) {
            states.push(RuncState::of(&c, true));
        }
    }
    states.sort_by(|a, b| a.id.cmp(&b.id));

    let out = if args.quiet {
        states.iter().map(|s| format!("{}\n", s.id)).collect()
    } else {
        match args.format.as_str() {
            "json" => {
                serde_json::to_string(&states).map_err(|e| RuncError::Other(e.to_string()))? + "\n"
            }
            "table" => table(&states),
            other => return Err(RuncError::Usage(format!("invalid format option: {other}"))),
        }
    };
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| RuncError::io("stdout", e))
}

/// runc's columns, padded like Go's tabwriter (min width 12, padding 1... close enough to
/// read; tools should use `--format json`).
fn table(states: &[RuncState]) -> String {
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(str::to_owned);
    let rows: Vec<[String; 6]> = states
        .iter()
        .map(|s| {
            [
                s.id.clone(),
                s.pid.to_string(),
                s.status.to_owned(),
                s.bundle.display().to_string(),
                s.created.clone(),
                s.owner.clone(),
            ]
        })
        .collect();
    let mut widths = header.each_ref().map(String::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}
