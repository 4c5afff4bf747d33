//! The userland side of a published port.
//!
//! The daemon binds HOST_IP:HOST_PORT itself ([`BoundPort::bind`]): that
//! reserves the port, so a port in use fails there with a clear error and
//! an ephemeral port (`-p 80`) is known at once. The bound socket is then
//! handed to the container's port proxy process ([`crate::proxy_process`],
//! `berthd proxy`), which runs the forwarding loops below until the
//! container's networking is torn down — whether or not the daemon is
//! running meanwhile.
//!
//! The proxy carries what DNAT does not: connections from the host itself
//! (berth DNATs in `prerouting` only, so host-local traffic, notably to
//! 127.0.0.1, reaches the proxy), and everything when `--iptables=false`.

use crate::error::{NetError, Result};
use crate::firewall::Proto;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// A host port the daemon has bound for a container, not yet served.
pub struct BoundPort {
    pub proto: Proto,
    /// The address as bound (the real port when 0 was asked for).
    pub host: SocketAddrV4,
    socket: Socket,
}

enum Socket {
    Tcp(std::net::TcpListener),
    Udp(std::net::UdpSocket),
}

impl BoundPort {
    /// Binds `host_ip:host_port` (port 0 = an ephemeral port). A port in
    /// use is a [`NetError::Conflict`] worded as dockerd words it.
    pub fn bind(proto: Proto, host_ip: Ipv4Addr, host_port: u16) -> Result<BoundPort> {
        let addr = SocketAddrV4::new(host_ip, host_port);
        let in_use = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                NetError::Conflict(format!(
                    "driver failed programming external connectivity: Bind for {addr} failed: port is already allocated"
                ))
            } else {
                NetError::io(format!("binding {}/{}", addr, proto.as_str()), e)
            }
        };
        let (socket, local) = match proto {
            Proto::Tcp => {
                let l = std::net::TcpListener::bind(addr).map_err(in_use)?;
                let a = l.local_addr();
                (Socket::Tcp(l), a)
            }
            Proto::Udp => {
                let s = std::net::UdpSocket::bind(addr).map_err(in_use)?;
                let a = s.local_addr();
                (Socket::Udp(s), a)
            }
        };
        let host = match local.map_err(|e| NetError::io("local_addr", e))? {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(a) => {
                return Err(NetError::Invalid(format!("bound an IPv6 address {a}")));
            }
        };
        Ok(BoundPort {
            proto,
            host,
            socket,
        })
    }

    /// The socket, for handing it to the proxy process.
    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.socket {
            Socket::Tcp(l) => l.as_fd(),
            Socket::Udp(s) => s.as_fd(),
        }
    }
}

/// Accepts on `l` forever, one backend connection per client. Must be
/// called inside a tokio runtime.
pub async fn serve_tcp(l: std::net::TcpListener, backend: SocketAddrV4) -> std::io::Result<()> {
    l.set_nonblocking(true)?;
    let l = TcpListener::from_std(l)?;
    loop {
        let mut c = match l.accept().await {
            Ok((c, _)) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("accept on {:?}: {e}", l.local_addr());
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            if let Ok(mut b) = TcpStream::connect(backend).await {
                let _ = c.set_nodelay(true);
                let _ = b.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut c, &mut b).await;
            }
        });
    }
}

/// Relays datagrams on `s` forever: one backend socket per client,
/// dropped after a minute of silence. Must be called inside a tokio
/// runtime.
pub async fn serve_udp(s: std::net::UdpSocket, backend: SocketAddrV4) -> std::io::Result<()> {
    s.set_nonblocking(true)?;
    let front = Arc::new(UdpSocket::from_std(s)?);
    let mut clients: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((n, from)) = front.recv_from(&mut buf).await else {
            continue;
        };
        clients.retain(|_, s| Arc::strong_count(s) > 1);
        let sock = match clients.get(&from) {
            Some(s) => s.clone(),
            None => {
                let Ok(s) = UdpSocket::bind("0.0.0.0:0").await else {
                    continue;
                };
                if s.connect(backend).await.is_err() {
                    continue;
                }
                let s = Arc::new(s);
                clients.insert(from, s.clone());
                let (f, b) = (front.clone(), s.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65535];
                    while let Ok(Ok(n)) =
                        tokio::time::timeout(Duration::from_secs(60), b.recv(&mut buf)).await
                    {
                        let _ = f.send_to(&buf[..n], from).await;
                    }
                });
                s
            }
        };
        let _ = sock.send(&buf[..n]).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_in_use_is_a_conflict() {
        let a = BoundPort::bind(Proto::Tcp, Ipv4Addr::LOCALHOST, 0).unwrap();
        assert_ne!(a.host.port(), 0, "the ephemeral port is known at once");
        let e = BoundPort::bind(Proto::Tcp, Ipv4Addr::LOCALHOST, a.host.port())
            .err()
            .unwrap();
        assert!(matches!(e, NetError::Conflict(_)), "{e}");
        assert!(e.to_string().contains("port is already allocated"), "{e}");
        let u = BoundPort::bind(Proto::Udp, Ipv4Addr::LOCALHOST, 0).unwrap();
        assert!(BoundPort::bind(Proto::Udp, Ipv4Addr::LOCALHOST, u.host.port()).is_err());
    }
}
