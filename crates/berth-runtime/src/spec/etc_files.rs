//! /etc/hosts, /etc/hostname and /etc/resolv.conf, written by the daemon
//! and bind-mounted into the container.

use super::ResolvedMount;
use crate::{Result, RuntimeError};
use std::path::Path;

/// The network-identity files dockerd bind-mounts into a container.
#[derive(Debug, Clone, Default)]
pub struct EtcFiles<'a> {
    pub hostname: &'a str,
    pub domainname: &'a str,
    /// `HostConfig.ExtraHosts`: `name:ip` (also `name=ip`).
    pub extra_hosts: &'a [String],
    /// `HostConfig.Dns`, `DnsSearch`, `DnsOptions`; empty = derive from the host.
    pub dns: &'a [String],
    pub dns_search: &'a [String],
    pub dns_options: &'a [String],
    /// The container's own addresses (none with loopback-only networking).
    pub addresses: &'a [String],
}

/// Writes `hosts`, `hostname` and `resolv.conf` into `dir` (the
/// container's data dir) and returns the bind mounts for them. Without DNS
/// overrides, resolv.conf is the host's minus loopback nameservers (they
/// would point into the container's own netns).
pub fn write_etc_files(
    dir: &Path,
    f: &EtcFiles<'_>,
    host_resolv_conf: &str,
) -> Result<Vec<ResolvedMount>> {
    let io = |what: &str| RuntimeError::io(format!("writing {what}"));
    let hosts = hosts_file(f)?;
    let resolv = resolv_conf(f, host_resolv_conf);
    let files = [
        ("hosts", "/etc/hosts", hosts),
        ("hostname", "/etc/hostname", format!("{}\n", f.hostname)),
        ("resolv.conf", "/etc/resolv.conf", resolv),
    ];
    let mut mounts = Vec::new();
    for (name, dest, content) in files {
        let p = dir.join(name);
        berth_core::atomic::write_atomic(&p, content.as_bytes()).map_err(io(name))?;
        mounts.push(ResolvedMount {
            destination: dest.into(),
            typ: "bind".into(),
            source: p.to_string_lossy().into_owned(),
            options: vec!["rbind".into(), "rprivate".into()],
        });
    }
    Ok(mounts)
}

/// `/etc/hosts`: localhost, `ExtraHosts`, then the container's own addresses.
fn hosts_file(f: &EtcFiles<'_>) -> Result<String> {
    let fqdn = if f.domainname.is_empty() {
        f.hostname.to_string()
    } else {
        format!("{}.{}", f.hostname, f.domainname)
    };
    let mut hosts = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for eh in f.extra_hosts {
        let (name, ip) = eh
            .split_once('=')
            .or_else(|| eh.split_once(':'))
            .ok_or_else(|| {
                RuntimeError::InvalidParameter(format!(
                    "invalid extra host {eh:?}: expected name:ip"
                ))
            })?;
        hosts.push_str(&format!("{ip}\t{name}\n"));
    }
    for a in f.addresses {
        if f.hostname == fqdn {
            hosts.push_str(&format!("{a}\t{}\n", f.hostname));
        } else {
            hosts.push_str(&format!("{a}\t{fqdn} {}\n", f.hostname));
        }
    }
    Ok(hosts)
}

/// `/etc/resolv.conf`: the host's (minus loopback nameservers), or the
/// `Dns`, `DnsSearch` and `DnsOptions` overrides.
fn resolv_conf(f: &EtcFiles<'_>, host_resolv_conf: &str) -> String {
    let mut resolv = String::new();
    let mut nameservers = 0;
    for line in host_resolv_conf.lines() {
        let t = line.trim();
        if let Some(ns) = t.strip_prefix("nameserver") {
            let ns = ns.trim();
            if ns.starts_with("127.") || ns == "::1" || !f.dns.is_empty() {
                continue;
            }
            nameservers += 1;
        } else if (t.starts_with("search") && !f.dns_search.is_empty())
            || (t.starts_with("options") && !f.dns_options.is_empty())
        {
            continue;
        }
        resolv.push_str(line);
        resolv.push('\n');
    }
    for ns in f.dns {
        resolv.push_str(&format!("nameserver {ns}\n"));
        nameservers += 1;
    }
    if nameservers == 0 {
        // dockerd's fallback when the host only has loopback resolvers.
        resolv.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    if !f.dns_search.is_empty() {
        resolv.push_str(&format!("search {}\n", f.dns_search.join(" ")));
    }
    if !f.dns_options.is_empty() {
        resolv.push_str(&format!("options {}\n", f.dns_options.join(" ")));
    }
    resolv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etc_files() {
        let d = tempfile::tempdir().unwrap();
        let m = write_etc_files(
            d.path(),
            &EtcFiles {
                hostname: "box",
                extra_hosts: &["db:10.0.0.5".into()],
                ..Default::default()
            },
            "# host\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch example.org\n",
        )
        .unwrap();
        assert_eq!(
            m.iter().map(|m| m.destination.as_str()).collect::<Vec<_>>(),
            vec!["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]
        );
        let hosts = std::fs::read_to_string(d.path().join("hosts")).unwrap();
        assert!(hosts.starts_with("127.0.0.1\tlocalhost\n") && hosts.contains("10.0.0.5\tdb\n"));
        assert_eq!(
            std::fs::read_to_string(d.path().join("hostname")).unwrap(),
            "box\n"
        );
        assert_eq!(
            std::fs::read_to_string(d.path().join("resolv.conf")).unwrap(),
            "# host\nnameserver 192.0.2.1\nsearch example.org\n"
        );
        write_etc_files(
            d.path(),
            &EtcFiles {
                hostname: "box",
                dns: &["192.0.2.9".into()],
                ..Default::default()
            },
            "nameserver 127.0.0.53\n",
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("resolv.conf")).unwrap(),
            "nameserver 192.0.2.9\n"
        );
        assert!(write_etc_files(
            d.path(),
            &EtcFiles {
                hostname: "b",
                extra_hosts: &["bad".into()],
                ..Default::default()
            },
            ""
        )
        .is_err());
    }
}
