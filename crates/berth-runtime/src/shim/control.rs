//! The control protocol on `shim.sock`: one command line per connection
//! (`START`, `ATTACH`, `RESIZE`, `CLOSESTDIN`, `STATUS`, `WAIT`).

use super::fds::set_winsize;
use super::runtime::run_runtime;
use super::{ClientKind, Phase, Shim};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::str::SplitWhitespace;

impl Shim {
    fn reply(&mut self, i: usize, msg: &str) -> bool {
        self.clients[i].sock.write_all(msg.as_bytes()).is_ok()
    }

    /// Runs one control command; false drops the client afterwards.
    pub(super) fn command(&mut self, i: usize, line: &str, rest: &[u8]) -> bool {
        let mut words = line.split_whitespace();
        match words.next().unwrap_or("") {
            "START" => self.start(i),
            "ATTACH" => self.attach(i, words, rest),
            "RESIZE" => self.resize(i, words),
            "CLOSESTDIN" => {
                self.io.stdin = None;
                self.stdin_pending.clear();
                self.reply(i, "OK\n");
                false
            }
            "STATUS" => {
                let msg = match (&self.exit, &self.phase) {
                    (Some(e), _) => format!("EXITED {} {}\n", e.exit_code, e.finished_at),
                    (None, Phase::Created) => format!("CREATED {}\n", self.init_pid),
                    (None, Phase::Running) => format!("RUNNING {}\n", self.init_pid),
                };
                self.reply(i, &msg);
                false
            }
            "WAIT" => {
                // Answered in finish(), after the exit record is on disk.
                self.clients[i].kind = ClientKind::Waiter;
                true
            }
            other => {
                let msg = format!("ERR unknown command {other:?}\n");
                self.reply(i, &msg);
                false
            }
        }
    }

    /// `START`: `runtime start`, once, from the created state.
    fn start(&mut self, i: usize) -> bool {
        if !matches!(self.phase, Phase::Created) || self.exit.is_some() {
            self.reply(i, "ERR container is not in the created state\n");
            return false;
        }
        match run_runtime(&self.cfg, &["start", &self.cfg.id]) {
            Ok(()) => {
                self.phase = Phase::Running;
                self.reply(i, "OK\n");
            }
            Err(e) => {
                // Leave nothing half-started: end the created init so
                // the usual exit path records it and deletes the state.
                // SAFETY: kill(2) on the pid of our own (reparented) child.
                unsafe { libc::kill(self.init_pid, libc::SIGKILL) };
                let msg = e.replace('\n', " ");
                self.reply(i, &format!("ERR {msg}\n"));
            }
        }
        false
    }

    /// `ATTACH <stdin> <stdout> <stderr>`: the connection becomes a stream;
    /// bytes after the command line are already stdin.
    fn attach(&mut self, i: usize, mut words: SplitWhitespace<'_>, rest: &[u8]) -> bool {
        let flag = |w: Option<&str>| w == Some("1");
        let (stdin, stdout, stderr) = (flag(words.next()), flag(words.next()), flag(words.next()));
        if !self.reply(i, "OK\n") {
            return false;
        }
        if self.exit.is_some() && self.io.stdout.is_none() && self.io.stderr.is_none() {
            return false;
        }
        self.clients[i].kind = ClientKind::Attach {
            stdin,
            stdout,
            stderr,
            stdin_done: !stdin,
        };
        if stdin && !rest.is_empty() {
            self.write_stdin(rest);
        }
        true
    }

    /// `RESIZE <rows> <cols>` of the container's pty.
    fn resize(&mut self, i: usize, mut words: SplitWhitespace<'_>) -> bool {
        let rows = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        let cols = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        let r = match (&self.io.stdout, self.cfg.tty) {
            (Some(m), true) => set_winsize(m.as_raw_fd(), rows, cols).map_err(|e| e.to_string()),
            _ => Err("container has no tty".to_string()),
        };
        let msg = match r {
            Ok(()) => "OK\n".to_string(),
            Err(e) => format!("ERR {e}\n"),
        };
        self.reply(i, &msg);
        false
    }
}
