//! The shim's two kinds of logging: its own diagnostics (stderr, which is
//! `shim.log`) and the container's output into the log its driver
//! described, split into lines.

use super::Shim;
use crate::logdriver::Stream;
use berth_types::timestamp;
use std::io::{self, Write};

pub(super) fn log_line(msg: &str) {
    let _ = writeln!(
        io::stderr(),
        "{} {msg}",
        timestamp::format_nanos(timestamp::now_nanos())
    );
}

impl Shim {
    /// A stream reached its end: its last, unterminated line goes to the log.
    pub(super) fn log_eof(&mut self, is_err: bool) {
        if let Err(e) = self.log.end(stream(is_err), timestamp::now_nanos()) {
            log_line(&format!("log write: {e}"));
        }
    }

    /// The first `n` bytes of the read buffer, line by line into the log.
    pub(super) fn log_output(&mut self, is_err: bool, n: usize) {
        let now = timestamp::now_nanos();
        if let Err(e) = self.log.write(stream(is_err), &self.buf[..n], now) {
            log_line(&format!("log write: {e}"));
        }
    }
}

fn stream(is_err: bool) -> Stream {
    if is_err {
        Stream::Stderr
    } else {
        Stream::Stdout
    }
}
