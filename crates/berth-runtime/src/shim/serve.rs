//! The shim's main loop: one `poll` over the control socket, SIGCHLD, the
//! container's output and stdin, and the connected clients.

use super::logging::log_line;
use super::{Client, ClientKind, Shim};
use nix::sys::signalfd::SignalFd;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

impl Shim {
    pub(super) fn serve(&mut self, listener: UnixListener, sigfd: SignalFd) {
        let exit_deadline: Option<Instant> = None;
        let mut exit_deadline = exit_deadline;
        loop {
            // After the init has exited, wait for the output to drain (EOF) a little.
            if self.exit.is_some() {
                let drained = self.io.stdout.is_none() && self.io.stderr.is_none();
                let late = exit_deadline.is_some_and(|d| Instant::now() >= d);
                if drained || late {
                    break;
                }
            }
            let mut fds = self.poll_set(&listener, &sigfd);
            let timeout = if self.exit.is_some() { 100 } else { -1 };
            // SAFETY: `fds` is a valid, exclusively borrowed array of pollfd for the call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log_line(&format!("poll: {e}"));
                break;
            }
            let ready = |i: usize| fds[i].revents != 0;
            if ready(1) {
                while let Ok(Some(_)) = sigfd.read_signal() {}
                self.reap();
                if self.exit.is_some() && exit_deadline.is_none() {
                    exit_deadline = Some(Instant::now() + Duration::from_secs(2));
                }
            }
            if ready(2) {
                self.pump_output(false);
            }
            if ready(3) {
                self.pump_output(true);
            }
            if ready(4) {
                self.flush_stdin();
            }
            self.client_events(&fds[5..]);
            if ready(0) {
                self.accept_clients(&listener);
            }
        }
        self.finish();
    }

    /// The descriptors to poll: listener, signalfd, stdout, stderr, stdin
    /// (only while input is pending), then one per client.
    fn poll_set(&self, listener: &UnixListener, sigfd: &SignalFd) -> Vec<libc::pollfd> {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(8 + self.clients.len());
        let pfd = |fd: RawFd, events: i16| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        fds.push(pfd(listener.as_raw_fd(), libc::POLLIN));
        fds.push(pfd(sigfd.as_raw_fd(), libc::POLLIN));
        let out_fd = self.io.stdout.as_ref().map_or(-1, |f| f.as_raw_fd());
        let err_fd = self.io.stderr.as_ref().map_or(-1, |f| f.as_raw_fd());
        fds.push(pfd(out_fd, libc::POLLIN));
        fds.push(pfd(err_fd, libc::POLLIN));
        let stdin_fd = if self.stdin_pending.is_empty() {
            -1
        } else {
            self.io.stdin.as_ref().map_or(-1, |f| f.as_raw_fd())
        };
        fds.push(pfd(stdin_fd, libc::POLLOUT));
        let accept_input = self.stdin_pending.is_empty();
        for c in &self.clients {
            let want = match c.kind {
                ClientKind::Pending => libc::POLLIN,
                ClientKind::Attach {
                    stdin: true,
                    stdin_done: false,
                    ..
                } if accept_input => libc::POLLIN,
                // Watch for hang-up only.
                _ => 0,
            };
            fds.push(pfd(c.sock.as_raw_fd(), want));
        }
        fds
    }

    /// Clients (iterate over a snapshot of indices; handlers may drop some).
    fn client_events(&mut self, fds: &[libc::pollfd]) {
        let mut drop_idx: Vec<usize> = Vec::new();
        for (i, pfd) in fds.iter().enumerate().take(self.clients.len()) {
            let rev = pfd.revents;
            if rev == 0 {
                continue;
            }
            if !self.client_event(i, rev) {
                drop_idx.push(i);
            }
        }
        for i in drop_idx.into_iter().rev() {
            self.clients.remove(i);
        }
    }

    fn accept_clients(&mut self, listener: &UnixListener) {
        while let Ok((sock, _)) = listener.accept() {
            let _ = sock.set_nonblocking(false);
            let _ = sock.set_write_timeout(Some(Duration::from_secs(5)));
            self.clients.push(Client {
                sock,
                line: Vec::new(),
                kind: ClientKind::Pending,
            });
        }
    }
}
