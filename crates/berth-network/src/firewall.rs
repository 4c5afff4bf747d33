//! NAT and filtering: masquerade for outbound traffic, DNAT for published
//! ports, isolation of internal networks. berth owns one nftables table
//! (`table ip berth`) — or, on hosts without nft, its own `BERTH-*`
//! iptables chains — and rewrites it whole from the current state, so
//! nothing is ever left half-applied and teardown is one deletion.

use crate::error::{NetError, Result};
use crate::ipam::Subnet;
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

/// What a bridge network needs from the firewall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetRule {
    pub bridge: String,
    pub subnet: Subnet,
    /// No traffic in or out of the bridge except between its members.
    pub internal: bool,
    /// Masquerade traffic leaving the subnet (`com.docker.network.bridge.enable_ip_masquerade`).
    pub masquerade: bool,
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortRule {
    pub proto: Proto,
    /// `None` = every host address.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// Which packet filter the host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Nftables,
    Iptables,
    /// `--iptables=false`: berth leaves the firewall alone.
    Disabled,
}

impl Backend {
    /// nftables when the `nft` tool works, else iptables.
    pub fn detect() -> Backend {
        let ok = |cmd: &str, args: &[&str]| {
            Command::new(cmd)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        if ok("nft", &["list", "tables"]) {
            Backend::Nftables
        } else if ok("iptables", &["-t", "nat", "-S", "POSTROUTING"]) {
            Backend::Iptables
        } else {
            Backend::Disabled
        }
    }
}

/// The firewall of one daemon: a backend and the name of berth's table
/// (tests use their own name so they never touch a running daemon's).
#[derive(Debug, Clone)]
pub struct Firewall {
    pub backend: Backend,
    /// nft table name, also the iptables chain prefix upper-cased
    /// (`berth` → `BERTH-POSTROUTING`, ...).
    pub table: String,
}

impl Firewall {
    pub fn new(backend: Backend, table: &str) -> Firewall {
        Firewall {
            backend,
            table: table.to_string(),
        }
    }

    /// Replaces berth's rules with exactly `nets` and `ports`.
    pub fn apply(&self, nets: &[NetRule], ports: &[PortRule]) -> Result<()> {
        match self.backend {
            Backend::Disabled => Ok(()),
            Backend::Nftables => {
                run_stdin("nft", &["-f", "-"], &render_nft(&self.table, nets, ports))
            }
            Backend::Iptables => self.apply_iptables(nets, ports),
        }
    }

    /// Removes everything berth added.
    pub fn teardown(&self) -> Result<()> {
        match self.backend {
            Backend::Disabled => Ok(()),
            Backend::Nftables => {
                // "table ... ; delete table ..." deletes whether or not it existed.
                run_stdin(
                    "nft",
                    &["-f", "-"],
                    &format!("table ip {t}\ndelete table ip {t}\n", t = self.table),
                )
            }
            Backend::Iptables => self.teardown_iptables(),
        }
    }

    /// How many rules berth has installed (for leak checks).
    pub fn rule_count(&self) -> Result<usize> {
        match self.backend {
            Backend::Disabled => Ok(0),
            Backend::Nftables => {
                let out = Command::new("nft")
                    .args(["-a", "list", "table", "ip", &self.table])
                    .output()
                    .map_err(|e| NetError::io("running nft", e))?;
                if !out.status.success() {
                    return Ok(0);
                }
                Ok(String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|l| {
                        l.contains("# handle")
                            && !l.trim_start().starts_with("chain")
                            && !l.trim_start().starts_with("table")
                    })
                    .count())
            }
            Backend::Iptables => {
                let mut n = 0;
                for (t, c) in self.ipt_chains() {
                    let out = Command::new("iptables")
                        .args(["-t", t, "-S", &c])
                        .output()
                        .map_err(|e| NetError::io("running iptables", e))?;
                    if out.status.success() {
                        n += String::from_utf8_lossy(&out.stdout)
                            .lines()
                            .filter(|l| l.starts_with("-A"))
                            .count();
                    }
                }
                Ok(n)
            }
        }
    }

    fn ipt_chains(&self) -> Vec<(&'static str, String)> {
        let p = self.table.to_uppercase();
        vec![
            ("nat", format!("{p}-PREROUTING")),
            ("nat", format!("{p}-POSTROUTING")),
            ("filter", format!("{p}-FORWARD")),
        ]
    }

    fn apply_iptables(&self, nets: &[NetRule], ports: &[PortRule]) -> Result<()> {
        let p = self.table.to_uppercase();
        for (t, c) in self.ipt_chains() {
            // create (ignore "exists"), then flush
            let _ = ipt(&["-t", t, "-N", &c]);
            ipt(&["-t", t, "-F", &c])?;
        }
        for (t, parent, c) in [
            ("nat", "PREROUTING", format!("{p}-PREROUTING")),
            ("nat", "POSTROUTING", format!("{p}-POSTROUTING")),
            ("filter", "FORWARD", format!("{p}-FORWARD")),
        ] {
            let mut args = vec!["-t", t, "-C", parent];
            let extra: Vec<&str> = if parent == "PREROUTING" {
                vec!["-m", "addrtype", "--dst-type", "LOCAL"]
            } else {
                vec![]
            };
            args.extend(extra.iter().copied());
            args.extend(["-j", c.as_str()]);
            if ipt(&args).is_err() {
                args[2] = "-I";
                ipt(&args)?;
            }
        }
        let post = format!("{p}-POSTROUTING");
        let pre = format!("{p}-PREROUTING");
        let fwd = format!("{p}-FORWARD");
        for n in nets {
            ipt_net_rules(&post, &fwd, n)?;
        }
        for r in ports {
            ipt_port_rule(&pre, r)?;
        }
        Ok(())
    }

    fn teardown_iptables(&self) -> Result<()> {
        let p = self.table.to_uppercase();
        for (t, parent, c) in [
            ("nat", "PREROUTING", format!("{p}-PREROUTING")),
            ("nat", "POSTROUTING", format!("{p}-POSTROUTING")),
            ("filter", "FORWARD", format!("{p}-FORWARD")),
        ] {
            let extra: &[&str] = if parent == "PREROUTING" {
                &["-m", "addrtype", "--dst-type", "LOCAL"]
            } else {
                &[]
            };
            let mut args = vec!["-t", t, "-D", parent];
            args.extend(extra);
            args.extend(["-j", c.as_str()]);
            while ipt(&args).is_ok() {}
            let _ = ipt(&["-t", t, "-F", &c]);
            let _ = ipt(&["-t", t, "-X", &c]);
        }
        Ok(())
    }
}

fn ipt(args: &[&str]) -> Result<()> {
    let out = Command::new("iptables")
        .arg("-w")
        .args(args)
        .output()
        .map_err(|e| NetError::io("running iptables", e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetError::Firewall(format!(
            "iptables {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn run_stdin(cmd: &str, args: &[&str], input: &str) -> Result<()> {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetError::io(format!("running {cmd}"), e))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(input.as_bytes())
        .map_err(|e| NetError::io(format!("writing to {cmd}"), e))?;
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::io(format!("waiting for {cmd}"), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetError::Firewall(format!(
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The whole nftables table for the given state, as one atomic script.
pub fn render_nft(table: &str, nets: &[NetRule], ports: &[PortRule]) -> String {
    let mut s = format!("table ip {table}\ndelete table ip {table}\ntable ip {table} {{\n");
    s.push_str("  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump ports\n  }\n");
    s.push_str("  chain ports {\n");
    for r in ports {
        // Loopback-bound ports are served by the userland proxy only.
        if r.host_ip.is_some_and(|ip| ip.is_loopback()) {
            continue;
        }
        let daddr = r
            .host_ip
            .map(|ip| format!("ip daddr {ip} "))
            .unwrap_or_default();
        s.push_str(&format!(
            "    {daddr}{} dport {} dnat to {}:{}\n",
            r.proto.as_str(),
            r.host_port,
            r.container_ip,
            r.container_port
        ));
    }
    s.push_str("  }\n");
    s.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    for n in nets {
        if n.masquerade && !n.internal {
            s.push_str(&format!(
                "    ip saddr {} oifname != \"{}\" masquerade\n",
                n.subnet, n.bridge
            ));
        }
        // hairpin: a container reaching a published port of its own bridge
        s.push_str(&format!(
            "    ip saddr {} oifname \"{}\" ct status dnat masquerade\n",
            n.subnet, n.bridge
        ));
    }
    s.push_str("  }\n");
    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    for n in nets.iter().filter(|n| n.internal) {
        s.push_str(&format!("    iifname \"{b}\" oifname != \"{b}\" drop\n    oifname \"{b}\" iifname != \"{b}\" drop\n", b = n.bridge));
    }
    s.push_str("  }\n}\n");
    s
}

/// The masquerade and isolation rules of one network.
fn ipt_net_rules(post: &str, fwd: &str, n: &NetRule) -> Result<()> {
    let s = n.subnet.to_string();
    if n.internal {
        ipt(&[
            "-t", "filter", "-A", fwd, "-i", &n.bridge, "!", "-o", &n.bridge, "-j", "DROP",
        ])?;
        ipt(&[
            "-t", "filter", "-A", fwd, "-o", &n.bridge, "!", "-i", &n.bridge, "-j", "DROP",
        ])?;
    } else if n.masquerade {
        ipt(&[
            "-t",
            "nat",
            "-A",
            post,
            "-s",
            &s,
            "!",
            "-o",
            &n.bridge,
            "-j",
            "MASQUERADE",
        ])?;
    }
    ipt(&[
        "-t",
        "nat",
        "-A",
        post,
        "-s",
        &s,
        "-o",
        &n.bridge,
        "-m",
        "conntrack",
        "--ctstate",
        "DNAT",
        "-j",
        "MASQUERADE",
    ])?;
    Ok(())
}

/// The DNAT rule of one published port (loopback ports have none).
fn ipt_port_rule(pre: &str, r: &PortRule) -> Result<()> {
    if r.host_ip.is_some_and(|ip| ip.is_loopback()) {
        return Ok(());
    }
    let dport = r.host_port.to_string();
    let to = format!("{}:{}", r.container_ip, r.container_port);
    let mut args = vec!["-t", "nat", "-A", pre, "-p", r.proto.as_str()];
    let hip;
    if let Some(ip) = r.host_ip {
        hip = ip.to_string();
        args.extend(["-d", hip.as_str()]);
    }
    args.extend([
        "--dport",
        dport.as_str(),
        "-j",
        "DNAT",
        "--to-destination",
        to.as_str(),
    ]);
    ipt(&args)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nft_script() {
        let nets = vec![
            NetRule {
                bridge: "berth0".into(),
                subnet: "172.17.0.0/16".parse().unwrap(),
                internal: false,
                masquerade: true,
            },
            NetRule {
                bridge: "br-1".into(),
                subnet: "10.9.0.0/24".parse().unwrap(),
                internal: true,
                masquerade: true,
            },
        ];
        let ports = vec![
            PortRule {
                proto: Proto::Tcp,
                host_ip: None,
                host_port: 8080,
                container_ip: "172.17.0.2".parse().unwrap(),
                container_port: 80,
            },
            PortRule {
                proto: Proto::Udp,
                host_ip: Some("127.0.0.1".parse().unwrap()),
                host_port: 53,
                container_ip: "172.17.0.2".parse().unwrap(),
                container_port: 53,
            },
        ];
        let s = render_nft("berth", &nets, &ports);
        assert!(s.starts_with("table ip berth\ndelete table ip berth\n"));
        assert!(s.contains("tcp dport 8080 dnat to 172.17.0.2:80"));
        assert!(
            !s.contains("dport 53"),
            "loopback ports go through the proxy"
        );
        assert!(s.contains("ip saddr 172.17.0.0/16 oifname != \"berth0\" masquerade"));
        assert!(!s.contains("ip saddr 10.9.0.0/24 oifname != \"br-1\" masquerade"));
        assert!(s.contains("iifname \"br-1\" oifname != \"br-1\" drop"));
    }
}
