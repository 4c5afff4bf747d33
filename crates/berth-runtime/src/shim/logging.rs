//! The shim's two kinds of logging: its own diagnostics (stderr, which is
//! `shim.log`) and the container's output into the json-file log, split
//! into lines.

use super::Shim;
use crate::timefmt;
use std::io::{self, Write};

pub(super) fn log_line(msg: &str) {
    let _ = writeln!(
        io::stderr(),
        "{} {msg}",
        timefmt::format_nanos(timefmt::now_nanos())
    );
}

impl Shim {
    /// A stream reached its end: its last, unterminated line goes to the log.
    pub(super) fn log_eof(&mut self, is_err: bool) {
        let stream = if is_err { "stderr" } else { "stdout" };
        let splitter = if is_err {
            &mut self.split_err
        } else {
            &mut self.split_out
        };
        if let Some(log) = self.log.as_mut() {
            let now = timefmt::now_nanos();
            splitter.flush(|l| {
                let _ = log.write_entry(stream, l, now);
            });
        }
    }

    /// The first `n` bytes of the read buffer, line by line into the log.
    pub(super) fn log_output(&mut self, is_err: bool, n: usize) {
        let data = &self.buf[..n];
        let stream = if is_err { "stderr" } else { "stdout" };
        if let Some(log) = self.log.as_mut() {
            let now = timefmt::now_nanos();
            let splitter = if is_err {
                &mut self.split_err
            } else {
                &mut self.split_out
            };
            splitter.push(data, |l| {
                if let Err(e) = log.write_entry(stream, l, now) {
                    log_line(&format!("log write: {e}"));
                }
            });
        }
    }
}
