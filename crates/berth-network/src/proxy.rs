//! The userland proxy for published ports. It binds HOST_IP:HOST_PORT in
//! the host's namespace, which (like dockerd's docker-proxy) reserves the
//! port — a port in use fails here with a clear error — and carries
//! connections that DNAT cannot: those from the host itself, notably to
//! 127.0.0.1 (DNAT to a bridge from loopback would need `route_localnet`,
//! which berth does not turn on).

use crate::error::{NetError, Result};
use crate::firewall::Proto;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// A running proxy; dropping it (or [`Proxy::stop`]) frees the port.
pub struct Proxy {
    pub proto: Proto,
    pub host: SocketAddrV4,
    task: Option<JoinHandle<()>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl Proxy {
    pub fn stop(self) {}

    /// Stops the proxy and waits until its socket is closed, so the port
    /// can be bound again as soon as this returns (a dropped proxy frees
    /// it a moment later, when the runtime drops the aborted task).
    pub async fn close(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Binds `host_ip:host_port` (port 0 = an ephemeral port) and forwards
    /// to `backend`. Must be called inside a tokio runtime.
    pub fn start(
        proto: Proto,
        host_ip: Ipv4Addr,
        host_port: u16,
        backend: SocketAddrV4,
    ) -> Result<Proxy> {
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
        match proto {
            Proto::Tcp => {
                let std = std::net::TcpListener::bind(addr).map_err(in_use)?;
                std.set_nonblocking(true)
                    .map_err(|e| NetError::io("nonblocking", e))?;
                let host = local_v4(
                    std.local_addr()
                        .map_err(|e| NetError::io("local_addr", e))?,
                );
                let l =
                    TcpListener::from_std(std).map_err(|e| NetError::io("tokio listener", e))?;
                let task = tokio::spawn(async move {
                    loop {
                        let Ok((mut c, _)) = l.accept().await else {
                            continue;
                        };
                        tokio::spawn(async move {
                            if let Ok(mut b) = TcpStream::connect(backend).await {
                                let _ = c.set_nodelay(true);
                                let _ = b.set_nodelay(true);
                                let _ = tokio::io::copy_bidirectional(&mut c, &mut b).await;
                            }
                        });
                    }
                });
                Ok(Proxy {
                    proto,
                    host,
                    task: Some(task),
                })
            }
            Proto::Udp => {
                let std = std::net::UdpSocket::bind(addr).map_err(in_use)?;
                std.set_nonblocking(true)
                    .map_err(|e| NetError::io("nonblocking", e))?;
                let host = local_v4(
                    std.local_addr()
                        .map_err(|e| NetError::io("local_addr", e))?,
                );
                let s = Arc::new(
                    UdpSocket::from_std(std).map_err(|e| NetError::io("tokio socket", e))?,
                );
                let task = tokio::spawn(udp_loop(s, backend));
                Ok(Proxy {
                    proto,
                    host,
                    task: Some(task),
                })
            }
        }
    }
}

fn local_v4(a: SocketAddr) -> SocketAddrV4 {
    match a {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => unreachable!("bound an IPv4 address"),
    }
}

/// One backend socket per client, dropped after a minute of silence.
async fn udp_loop(front: Arc<UdpSocket>, backend: SocketAddrV4) {
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
