//! IPv4 address management: subnets, the default pools dockerd hands
//! networks out of, and per-network address allocation.

use crate::error::{NetError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 subnet in CIDR form; the address is always the network address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Subnet> {
        if prefix > 30 {
            return Err(NetError::Invalid(format!(
                "subnet /{prefix} is too small for a network"
            )));
        }
        Ok(Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }
    pub fn netmask(&self) -> u32 {
        mask(self.prefix)
    }
    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix)
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.netmask() == u32::from(self.addr)
    }
    pub fn overlaps(&self, other: &Subnet) -> bool {
        let p = self.prefix.min(other.prefix);
        u32::from(self.addr) & mask(p) == u32::from(other.addr) & mask(p)
    }
    /// The `n`th address of the subnet (0 is the network address).
    pub fn nth(&self, n: u64) -> Option<Ipv4Addr> {
        (n < self.size()).then(|| Ipv4Addr::from(u32::from(self.addr) + n as u32))
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.netmask())
    }
    /// dockerd's default gateway: the first host address.
    pub fn first_host(&self) -> Ipv4Addr {
        self.nth(1).expect("prefix <= 30")
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = NetError;
    fn from_str(s: &str) -> Result<Subnet> {
        let bad = || {
            NetError::Invalid(format!(
                "invalid subnet {s:?}: want an IPv4 CIDR such as 10.1.0.0/24"
            ))
        };
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Subnet::new(addr, prefix)
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Parses `--bip`: the bridge's own address with the prefix, e.g.
/// `10.55.0.1/24` → (subnet 10.55.0.0/24, gateway 10.55.0.1).
pub fn parse_bip(s: &str) -> Result<(Subnet, Ipv4Addr)> {
    let subnet: Subnet = s.parse()?;
    let gw: Ipv4Addr = s
        .split_once('/')
        .map(|(a, _)| a)
        .unwrap_or(s)
        .parse()
        .map_err(|_| NetError::Invalid(format!("invalid --bip {s:?}")))?;
    if gw == subnet.addr || gw == subnet.broadcast() {
        return Err(NetError::Invalid(format!(
            "--bip {s}: the bridge needs a host address, not the network or broadcast address"
        )));
    }
    Ok((subnet, gw))
}

/// Parses `10.1.0.2/24` into the address and its subnet.
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, Subnet)> {
    let ip: Ipv4Addr = s
        .split_once('/')
        .map(|(a, _)| a)
        .unwrap_or(s)
        .parse()
        .map_err(|_| NetError::Invalid(format!("invalid IPv4 address {s:?}")))?;
    let subnet: Subnet = s.parse()?;
    Ok((ip, subnet))
}

/// One `default-address-pools` entry: a base split into subnets of `size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub base: Subnet,
    pub size: u8,
}

impl Pool {
    /// dockerd's built-in pools: 172.17-31.0.0/16, then 192.168.0.0/16 cut into /20s.
    pub fn defaults() -> Vec<Pool> {
        vec![
            Pool {
                base: Subnet {
                    addr: Ipv4Addr::new(172, 17, 0, 0),
                    prefix: 16,
                },
                size: 16,
            },
            Pool {
                base: Subnet {
                    addr: Ipv4Addr::new(172, 18, 0, 0),
                    prefix: 15,
                },
                size: 16,
            },
            Pool {
                base: Subnet {
                    addr: Ipv4Addr::new(172, 20, 0, 0),
                    prefix: 14,
                },
                size: 16,
            },
            Pool {
                base: Subnet {
                    addr: Ipv4Addr::new(172, 24, 0, 0),
                    prefix: 14,
                },
                size: 16,
            },
            Pool {
                base: Subnet {
                    addr: Ipv4Addr::new(172, 28, 0, 0),
                    prefix: 14,
                },
                size: 16,
            },
            Pool {
                base: Subnet {
                    addr: Ipv4Addr::new(192, 168, 0, 0),
                    prefix: 16,
                },
                size: 20,
            },
        ]
    }

    /// Parses daemon.json `default-address-pools` (`[{"base":"10.10.0.0/16","size":24}]`).
    pub fn parse_config(v: &serde_json::Value) -> Result<Vec<Pool>> {
        #[derive(Deserialize)]
        struct Raw {
            base: String,
            size: u8,
        }
        let raw: Vec<Raw> = serde_json::from_value(v.clone())
            .map_err(|e| NetError::Invalid(format!("default-address-pools: {e}")))?;
        raw.into_iter()
            .map(|r| {
                let base: Subnet = r.base.parse()?;
                if r.size < base.prefix || r.size > 30 {
                    return Err(NetError::Invalid(format!(
                        "default-address-pools: size {} does not fit base {}",
                        r.size, base
                    )));
                }
                Ok(Pool { base, size: r.size })
            })
            .collect()
    }

    fn subnets(&self) -> impl Iterator<Item = Subnet> + '_ {
        let count = 1u64 << (self.size - self.base.prefix);
        let step = 1u64 << (32 - self.size);
        (0..count).map(move |i| Subnet {
            addr: Ipv4Addr::from(u32::from(self.base.addr) + (i * step) as u32),
            prefix: self.size,
        })
    }
}

/// The first subnet from `pools` that overlaps none of `taken`.
pub fn pick_subnet(pools: &[Pool], taken: &[Subnet]) -> Result<Subnet> {
    pools
        .iter()
        .flat_map(|p| p.subnets())
        .find(|s| !taken.iter().any(|t| t.overlaps(s)))
        .ok_or_else(|| {
            NetError::Forbidden(
                "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
            )
        })
}

/// Addresses in use on one network; the gateway and network/broadcast
/// addresses are never handed out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocations {
    pub used: BTreeSet<Ipv4Addr>,
}

impl Allocations {
    /// Reserves `want` if given, otherwise the lowest free host address.
    pub fn allocate(
        &mut self,
        subnet: &Subnet,
        gateway: Ipv4Addr,
        want: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr> {
        if let Some(ip) = want {
            if !subnet.contains(ip) {
                return Err(NetError::Invalid(format!(
                    "requested address {ip} is not in the network's subnet {subnet}"
                )));
            }
            if ip == gateway
                || ip == subnet.addr
                || ip == subnet.broadcast()
                || self.used.contains(&ip)
            {
                return Err(NetError::Conflict(format!("Address already in use: {ip}")));
            }
            self.used.insert(ip);
            return Ok(ip);
        }
        for n in 1..subnet.size() - 1 {
            let ip = subnet.nth(n).expect("in range");
            if ip != gateway && !self.used.contains(&ip) {
                self.used.insert(ip);
                return Ok(ip);
            }
        }
        Err(NetError::Conflict(format!(
            "no available IPv4 addresses on network {subnet}"
        )))
    }

    pub fn release(&mut self, ip: Ipv4Addr) {
        self.used.remove(&ip);
    }
}

/// The IPv4 subnets routed on the host (from `/proc/net/route`), so a new
/// network never shadows a real one.
pub fn host_routes() -> Vec<Subnet> {
    let Ok(text) = std::fs::read_to_string("/proc/net/route") else {
        return Vec::new();
    };
    parse_proc_route(&text)
}

pub fn parse_proc_route(text: &str) -> Vec<Subnet> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let m = u32::from_str_radix(f.get(7)?, 16).ok()?;
            if m == 0 {
                return None; // the default route covers everything; it is no conflict
            }
            let prefix = u32::from_be(m).leading_ones() as u8;
            Some(Subnet {
                addr: Ipv4Addr::from(u32::from_be(dest)),
                prefix,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_parse_and_normalise() {
        let s: Subnet = "10.1.2.3/24".parse().unwrap();
        assert_eq!(s.to_string(), "10.1.2.0/24");
        assert_eq!(s.first_host(), Ipv4Addr::new(10, 1, 2, 1));
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 1, 2, 255));
        assert!("10.1.2.0".parse::<Subnet>().is_err());
        assert!("10.1.2.0/33".parse::<Subnet>().is_err());
        assert!("fd00::/64".parse::<Subnet>().is_err());
        assert!("10.0.0.0/31".parse::<Subnet>().is_err());
    }

    #[test]
    fn overlap() {
        let a: Subnet = "172.17.0.0/16".parse().unwrap();
        assert!(a.overlaps(&"172.17.5.0/24".parse().unwrap()));
        assert!(a.overlaps(&"172.0.0.0/8".parse().unwrap()));
        assert!(!a.overlaps(&"172.18.0.0/16".parse().unwrap()));
    }

    #[test]
    fn pools_skip_taken() {
        let taken = vec![
            "172.17.0.0/16".parse().unwrap(),
            "172.18.0.0/24".parse().unwrap(),
        ];
        assert_eq!(
            pick_subnet(&Pool::defaults(), &taken).unwrap().to_string(),
            "172.19.0.0/16"
        );
        let pools =
            Pool::parse_config(&serde_json::json!([{"base":"10.123.0.0/16","size":24}])).unwrap();
        assert_eq!(
            pick_subnet(&pools, &[]).unwrap().to_string(),
            "10.123.0.0/24"
        );
        assert_eq!(
            pick_subnet(&pools, &["10.123.0.0/24".parse().unwrap()])
                .unwrap()
                .to_string(),
            "10.123.1.0/24"
        );
        assert!(Pool::parse_config(&serde_json::json!([{"base":"10.0.0.0/16","size":8}])).is_err());
        let full = vec!["0.0.0.0/1".parse().unwrap(), "128.0.0.0/1".parse().unwrap()];
        assert!(pick_subnet(&pools, &full).is_err());
    }

    #[test]
    fn allocation() {
        let s: Subnet = "10.9.0.0/29".parse().unwrap();
        let gw = s.first_host();
        let mut a = Allocations::default();
        assert_eq!(
            a.allocate(&s, gw, None).unwrap(),
            Ipv4Addr::new(10, 9, 0, 2)
        );
        assert_eq!(
            a.allocate(&s, gw, Some(Ipv4Addr::new(10, 9, 0, 5)))
                .unwrap(),
            Ipv4Addr::new(10, 9, 0, 5)
        );
        assert!(a
            .allocate(&s, gw, Some(Ipv4Addr::new(10, 9, 0, 5)))
            .is_err());
        assert!(a.allocate(&s, gw, Some(gw)).is_err());
        assert!(a
            .allocate(&s, gw, Some(Ipv4Addr::new(10, 9, 1, 5)))
            .is_err());
        for want in [3, 4, 6] {
            assert_eq!(
                a.allocate(&s, gw, None).unwrap(),
                Ipv4Addr::new(10, 9, 0, want)
            );
        }
        assert!(a.allocate(&s, gw, None).is_err(), ".7 is broadcast");
        a.release(Ipv4Addr::new(10, 9, 0, 4));
        assert_eq!(
            a.allocate(&s, gw, None).unwrap(),
            Ipv4Addr::new(10, 9, 0, 4)
        );
    }

    #[test]
    fn bip_and_routes() {
        let (s, gw) = parse_bip("10.55.0.1/24").unwrap();
        assert_eq!(
            (s.to_string(), gw),
            ("10.55.0.0/24".into(), Ipv4Addr::new(10, 55, 0, 1))
        );
        assert!(parse_bip("10.55.0.0/24").is_err());
        let r =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(
            parse_proc_route(r),
            vec!["192.168.2.0/24".parse::<Subnet>().unwrap()]
        );
    }
}
