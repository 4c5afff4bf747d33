//! The container's stdio and attached clients: output fanned out to them
//! (docker-framed without a TTY, raw with one), their input queued for the
//! container's stdin.

use super::logging::log_line;
use super::{ClientKind, Shim};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;

impl Shim {
    /// Reads one chunk of container output and fans it out.
    pub(super) fn pump_output(&mut self, is_err: bool) {
        let slot = if is_err {
            &mut self.io.stderr
        } else {
            &mut self.io.stdout
        };
        let Some(fd) = slot.as_ref() else { return };
        let n = match nix::unistd::read(fd.as_raw_fd(), &mut self.buf) {
            Ok(0) | Err(nix::errno::Errno::EIO) => {
                // EOF (EIO: pty with no slave left).
                *slot = None;
                if self.cfg.tty {
                    self.io.stdin = None;
                }
                self.log_eof(is_err);
                return;
            }
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => return,
            Err(e) => {
                log_line(&format!("read output: {e}"));
                *slot = None;
                return;
            }
        };
        self.log_output(is_err, n);
        self.fan_out(is_err, n);
    }

    /// The first `n` bytes of the read buffer to every client attached to that stream.
    fn fan_out(&mut self, is_err: bool, n: usize) {
        let data = &self.buf[..n];
        let tty = self.cfg.tty;
        let mut header = [0u8; 8];
        header[0] = if is_err { 2 } else { 1 };
        header[4..].copy_from_slice(&(n as u32).to_be_bytes());
        self.clients.retain_mut(|c| {
            let ClientKind::Attach { stdout, stderr, .. } = c.kind else {
                return true;
            };
            if (is_err && !stderr) || (!is_err && !stdout) {
                return true;
            }
            let r = if tty {
                c.sock.write_all(data)
            } else {
                c.sock
                    .write_all(&header)
                    .and_then(|_| c.sock.write_all(data))
            };
            r.is_ok()
        });
    }

    pub(super) fn flush_stdin(&mut self) {
        let Some(fd) = self.io.stdin.as_ref() else {
            self.stdin_pending.clear();
            return;
        };
        match nix::unistd::write(fd, &self.stdin_pending) {
            Ok(n) => {
                self.stdin_pending.drain(..n);
            }
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => {
                // The container closed its stdin.
                self.io.stdin = None;
                self.stdin_pending.clear();
            }
        }
        if self.stdin_pending.capacity() > 64 * 1024 && self.stdin_pending.is_empty() {
            self.stdin_pending.shrink_to(4096);
        }
    }

    pub(super) fn write_stdin(&mut self, data: &[u8]) {
        if self.io.stdin.is_none() {
            return;
        }
        self.stdin_pending.extend_from_slice(data);
        self.flush_stdin();
    }

    /// Handles poll events on client `i`; false drops it.
    pub(super) fn client_event(&mut self, i: usize, revents: i16) -> bool {
        match self.clients[i].kind {
            ClientKind::Pending => {
                let mut buf = [0u8; 512];
                let n = match self.clients[i].sock.read(&mut buf) {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => n,
                };
                let c = &mut self.clients[i];
                c.line.extend_from_slice(&buf[..n]);
                let Some(pos) = c.line.iter().position(|&b| b == b'\n') else {
                    return c.line.len() < 512;
                };
                let rest = c.line.split_off(pos + 1);
                let line = String::from_utf8_lossy(&c.line).trim().to_string();
                c.line = Vec::new();
                self.command(i, &line, &rest)
            }
            ClientKind::Attach {
                stdin: true,
                stdin_done: false,
                ..
            } if revents & libc::POLLIN != 0 => {
                let n = {
                    let c = &mut self.clients[i];
                    let mut b = std::mem::take(&mut self.buf);
                    let r = c.sock.read(&mut b);
                    let n = r.unwrap_or_default();
                    if n > 0 {
                        self.stdin_pending.extend_from_slice(&b[..n]);
                    }
                    self.buf = b;
                    n
                };
                if n == 0 {
                    // The client closed its stdin.
                    if let ClientKind::Attach { stdin_done, .. } = &mut self.clients[i].kind {
                        *stdin_done = true;
                    }
                    if self.cfg.stdin_once && !self.cfg.tty {
                        self.io.stdin = None;
                        self.stdin_pending.clear();
                    }
                    let wants_output = matches!(
                        self.clients[i].kind,
                        ClientKind::Attach { stdout: true, .. }
                            | ClientKind::Attach { stderr: true, .. }
                    );
                    return wants_output && revents & libc::POLLHUP == 0;
                }
                self.flush_stdin();
                true
            }
            // Hang-up or error on a client that only receives.
            _ => revents & (libc::POLLHUP | libc::POLLERR) == 0,
        }
    }
}
