//! Links, addresses and routes over rtnetlink: the bridge, a veth pair per
//! endpoint with the container's end moved into its namespace.

use crate::error::{NetError, Result};
use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Runs a future on a private current-thread runtime; used on threads that
/// have joined another network namespace (a netlink socket belongs to the
/// namespace of the thread that opened it).
pub fn block_on<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| NetError::io("building a netlink runtime", e))?
        .block_on(f)
}

/// A netlink connection in the namespace of the thread that opened it.
pub struct Netlink {
    h: Handle,
}

impl Netlink {
    /// Must be called inside a tokio runtime.
    pub fn connect() -> Result<Netlink> {
        let (conn, h, _) =
            rtnetlink::new_connection().map_err(|e| NetError::io("opening a netlink socket", e))?;
        tokio::spawn(conn);
        Ok(Netlink { h })
    }

    pub async fn index(&self, name: &str) -> Result<Option<u32>> {
        let mut s = self.h.link().get().match_name(name.to_string()).execute();
        match s.try_next().await {
            Ok(Some(m)) => Ok(Some(m.header.index)),
            Ok(None) => Ok(None),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => Ok(None),
            Err(e) => Err(NetError::netlink(format!("looking up link {name}"), e)),
        }
    }

    async fn must_index(&self, name: &str) -> Result<u32> {
        self.index(name)
            .await?
            .ok_or_else(|| NetError::NotFound(format!("no link named {name}")))
    }

    pub async fn link_names(&self) -> Result<Vec<String>> {
        let mut s = self.h.link().get().execute();
        let mut out = Vec::new();
        while let Some(m) = s
            .try_next()
            .await
            .map_err(|e| NetError::netlink("listing links", e))?
        {
            out.extend(name_of(&m));
        }
        Ok(out)
    }

    pub async fn set_up(&self, name: &str) -> Result<()> {
        let i = self.must_index(name).await?;
        self.h
            .link()
            .set(LinkUnspec::new_with_index(i).up().build())
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("setting {name} up"), e))
    }

    /// Creates the bridge unless it exists, gives it `gw/prefix` and `mtu`
    /// and brings it up. Returns whether it was created.
    pub async fn ensure_bridge(
        &self,
        name: &str,
        gw: Ipv4Addr,
        prefix: u8,
        mtu: u32,
    ) -> Result<bool> {
        let created = match self.index(name).await? {
            Some(_) => false,
            None => {
                self.h
                    .link()
                    .add(LinkBridge::new(name).mtu(mtu).build())
                    .execute()
                    .await
                    .map_err(|e| NetError::netlink(format!("creating bridge {name}"), e))?;
                true
            }
        };
        let i = self.must_index(name).await?;
        self.add_address(i, gw, prefix).await?;
        self.h
            .link()
            .set(LinkUnspec::new_with_index(i).up().build())
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("setting {name} up"), e))?;
        Ok(created)
    }

    /// Adds an address unless the link has it already.
    pub async fn add_address(&self, index: u32, ip: Ipv4Addr, prefix: u8) -> Result<()> {
        match self
            .h
            .address()
            .add(index, ip.into(), prefix)
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => Ok(()),
            Err(e) => Err(NetError::netlink(
                format!("adding address {ip}/{prefix}"),
                e,
            )),
        }
    }

    /// Deletes a link; a missing link is not an error.
    pub async fn delete(&self, name: &str) -> Result<()> {
        let Some(i) = self.index(name).await? else {
            return Ok(());
        };
        match self.h.link().del(i).execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => Ok(()),
            Err(e) => Err(NetError::netlink(format!("deleting link {name}"), e)),
        }
    }

    /// Creates the veth pair `host`/`peer` and attaches `host` to `bridge`;
    /// `peer` stays in this namespace until [`move_to_netns`](Self::move_to_netns).
    pub async fn add_veth(&self, host: &str, peer: &str, bridge: &str, mtu: u32) -> Result<()> {
        let br = self.must_index(bridge).await?;
        self.h
            .link()
            .add(LinkVeth::new(host, peer).mtu(mtu).build())
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("creating veth {host}"), e))?;
        let r = async {
            let hi = self.must_index(host).await?;
            self.h
                .link()
                .set(
                    LinkUnspec::new_with_index(hi)
                        .controller(br)
                        .mtu(mtu)
                        .up()
                        .build(),
                )
                .execute()
                .await
                .map_err(|e| NetError::netlink(format!("attaching {host} to {bridge}"), e))
        }
        .await;
        if r.is_err() {
            let _ = self.delete(host).await;
        }
        r
    }

    /// Moves the link `name` into the namespace at `netns`.
    pub async fn move_to_netns(&self, name: &str, netns: &Path) -> Result<()> {
        let i = self.must_index(name).await?;
        let f = std::fs::File::open(netns)
            .map_err(|e| NetError::io(format!("opening {}", netns.display()), e))?;
        self.h
            .link()
            .set(
                LinkUnspec::new_with_index(i)
                    .setns_by_fd(f.as_raw_fd())
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("moving {name} into {}", netns.display()), e))
    }

    /// Inside the container's namespace: renames `peer` to `ifname`, sets
    /// its MAC, address, MTU, brings it up and (when `gateway` is given)
    /// routes the default through it.
    pub async fn configure_peer(
        &self,
        peer: &str,
        ifname: &str,
        mac: [u8; 6],
        ip: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
    ) -> Result<()> {
        let i = self.must_index(peer).await?;
        self.h
            .link()
            .set(
                LinkUnspec::new_with_index(i)
                    .name(ifname.to_string())
                    .address(mac.to_vec())
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("renaming {peer} to {ifname}"), e))?;
        self.add_address(i, ip, prefix).await?;
        self.h
            .link()
            .set(LinkUnspec::new_with_index(i).up().build())
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("setting {ifname} up"), e))?;
        if let Some(gw) = gateway {
            let route = RouteMessageBuilder::<Ipv4Addr>::new()
                .gateway(gw)
                .output_interface(i)
                .build();
            match self.h.route().add(route).execute().await {
                Ok(()) => {}
                Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => {}
                Err(e) => return Err(NetError::netlink(format!("default route via {gw}"), e)),
            }
        }
        Ok(())
    }
}

fn name_of(m: &LinkMessage) -> Option<String> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

/// dockerd's MAC scheme: 02:42 followed by the IPv4 address.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn mac_string(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses `02:42:0a:00:00:02`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}
