//! The embedded DNS server of user-defined networks. Like dockerd's, it
//! listens on 127.0.0.11:53 inside each attached container's namespace,
//! answers the names and aliases of containers sharing a network with the
//! asker, and forwards every other query to the host's resolvers.

use crate::error::{NetError, Result};
use simple_dns::rdata::{RData, A};
use simple_dns::{Packet, PacketFlag, ResourceRecord, CLASS, QTYPE, RCODE, TYPE};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

pub const LISTEN: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 11), 53);

/// Looks a (lower-cased, dot-less) name up for the asking container;
/// `None` = not ours, forward it.
pub type Lookup = Arc<dyn Fn(&str) -> Option<Vec<Ipv4Addr>> + Send + Sync>;

/// A running server; dropping it stops it.
pub struct DnsServer {
    task: JoinHandle<()>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DnsServer {
    /// Binds 127.0.0.11:53 inside the namespace at `netns` and serves it
    /// from the current tokio runtime (forwarded queries leave from the
    /// daemon's own namespace).
    pub fn start(netns: &Path, lookup: Lookup, upstreams: Vec<SocketAddr>) -> Result<DnsServer> {
        let std = crate::netns::run_in(netns, || {
            let s = std::net::UdpSocket::bind(LISTEN)
                .map_err(|e| NetError::io("binding 127.0.0.11:53", e))?;
            s.set_nonblocking(true)
                .map_err(|e| NetError::io("nonblocking", e))?;
            Ok(s)
        })?;
        Self::serve(std, lookup, upstreams)
    }

    /// Serves an already bound socket.
    pub fn serve(
        std: std::net::UdpSocket,
        lookup: Lookup,
        upstreams: Vec<SocketAddr>,
    ) -> Result<DnsServer> {
        let sock = Arc::new(UdpSocket::from_std(std).map_err(|e| NetError::io("tokio socket", e))?);
        let upstreams = Arc::new(upstreams);
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                    continue;
                };
                let query = buf[..n].to_vec();
                let (sock, lookup, upstreams) = (sock.clone(), lookup.clone(), upstreams.clone());
                tokio::spawn(async move {
                    let reply = match answer(&query, &*lookup) {
                        Answer::Local(r) => Some(r),
                        Answer::Forward => forward(&query, &upstreams)
                            .await
                            .or_else(|| servfail(&query)),
                        Answer::Drop => None,
                    };
                    if let Some(r) = reply {
                        let _ = sock.send_to(&r, from).await;
                    }
                });
            }
        });
        Ok(DnsServer { task })
    }
}

#[derive(Debug, PartialEq)]
pub enum Answer {
    Local(Vec<u8>),
    Forward,
    Drop,
}

/// Decides a query: answers it from `lookup` or says to forward it.
pub fn answer(query: &[u8], lookup: &dyn Fn(&str) -> Option<Vec<Ipv4Addr>>) -> Answer {
    let Ok(q) = Packet::parse(query) else {
        return Answer::Drop;
    };
    let Some(question) = q.questions.first() else {
        return Answer::Drop;
    };
    let name = question
        .qname
        .to_string()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let Some(ips) = lookup(&name) else {
        return Answer::Forward;
    };
    let mut r = Packet::new_reply(q.id());
    r.set_flags(PacketFlag::RECURSION_AVAILABLE);
    if q.has_flags(PacketFlag::RECURSION_DESIRED) {
        r.set_flags(PacketFlag::RECURSION_DESIRED);
    }
    r.questions.push(question.clone());
    if question.qtype == QTYPE::TYPE(TYPE::A) {
        for ip in ips {
            r.answers.push(ResourceRecord::new(
                question.qname.clone(),
                CLASS::IN,
                600,
                RData::A(A { address: ip.into() }),
            ));
        }
    }
    // A name we own with another type: NOERROR, no answers (no AAAA here).
    match r.build_bytes_vec() {
        Ok(b) => Answer::Local(b),
        Err(_) => Answer::Drop,
    }
}

fn servfail(query: &[u8]) -> Option<Vec<u8>> {
    let q = Packet::parse(query).ok()?;
    let mut r = Packet::new_reply(q.id());
    *r.rcode_mut() = RCODE::ServerFailure;
    r.questions.extend(q.questions.iter().cloned());
    r.build_bytes_vec().ok()
}

async fn forward(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let bind: SocketAddr = if up.is_ipv4() {
            "0.0.0.0:0".parse().unwrap()
        } else {
            "[::]:0".parse().unwrap()
        };
        let Ok(s) = UdpSocket::bind(bind).await else {
            continue;
        };
        if s.send_to(query, up).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 65535];
        if let Ok(Ok((n, from))) =
            tokio::time::timeout(Duration::from_secs(4), s.recv_from(&mut buf)).await
        {
            if from == *up {
                buf.truncate(n);
                return Some(buf);
            }
        }
    }
    None
}

/// The resolvers of a resolv.conf, as forwarding targets (port 53).
pub fn upstreams_from_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ns| ns.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, t: TYPE) -> Vec<u8> {
        let mut p = Packet::new_query(7);
        p.set_flags(PacketFlag::RECURSION_DESIRED);
        p.questions.push(simple_dns::Question::new(
            simple_dns::Name::new_unchecked(name),
            t.into(),
            CLASS::IN.into(),
            false,
        ));
        p.build_bytes_vec().unwrap()
    }

    fn lookup(n: &str) -> Option<Vec<Ipv4Addr>> {
        (n == "web").then(|| vec![Ipv4Addr::new(10, 1, 0, 2)])
    }

    #[test]
    fn answers_known_names_and_forwards_the_rest() {
        let Answer::Local(r) = answer(&query("Web.", TYPE::A), &lookup) else {
            panic!()
        };
        let p = Packet::parse(&r).unwrap();
        assert_eq!(p.id(), 7);
        assert_eq!(p.answers.len(), 1);
        assert_eq!(
            p.answers[0].rdata,
            RData::A(A {
                address: u32::from(Ipv4Addr::new(10, 1, 0, 2))
            })
        );
        let Answer::Local(r) = answer(&query("web", TYPE::AAAA), &lookup) else {
            panic!()
        };
        assert!(Packet::parse(&r).unwrap().answers.is_empty());
        assert_eq!(
            answer(&query("example.org", TYPE::A), &lookup),
            Answer::Forward
        );
        assert_eq!(answer(b"junk", &lookup), Answer::Drop);
    }

    #[test]
    fn resolv_conf_upstreams() {
        let u = upstreams_from_resolv_conf("# x\nnameserver 10.0.0.2\nsearch a\nnameserver ::1\n");
        assert_eq!(
            u,
            vec!["10.0.0.2:53".parse().unwrap(), "[::1]:53".parse().unwrap()]
        );
    }
}
