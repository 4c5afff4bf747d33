//! Addresses on the bridge, user networks (static addresses, aliases, DNS), --internal, and the host/none/container modes.

use super::*;

#[test]
fn bridge_gives_an_address_and_reaches_the_gateway() {
    let d = daemon();
    let _cleanup = Cleanup {
        d: &d,
        containers: &["br-inspect"],
        networks: &[],
    };
    let gw = gateway_of(&d);
    // A server on the gateway address (the daemon's own bridge).
    let l = TcpListener::bind((gw.as_str(), 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let mut b = [0u8; 512];
            let _ = s.read(&mut b);
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nfrom-host");
        }
    });
    let script = format!(
        "ip -4 -o addr show eth0; ip route; cat /etc/hostname; ping -c1 -W3 {gw} >/dev/null && echo PING-OK; wget -q -O- http://{gw}:{port}/"
    );
    let o = d.docker(&["run", "--rm", "busybox", "sh", "-c", &script]);
    let text = out(&o);
    assert!(o.status.success(), "{text}\n{}\n{}", err(&o), d.log_tail());
    let prefix = prefix_of(&d);
    assert!(
        text.contains(&format!("inet {prefix}.")),
        "no address in {prefix}.0/24: {text}"
    );
    assert!(text.contains(&format!("default via {gw}")), "{text}");
    assert!(text.contains("PING-OK"), "{text}");
    assert!(text.ends_with("from-host"), "{text}");

    // inspect agrees with what the container saw.
    let id = d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "br-inspect",
        "busybox",
        "sleep",
        "60",
    ]);
    let id = id.trim();
    let ip = inspect(&d, id, "{{.NetworkSettings.IPAddress}}");
    assert!(ip.starts_with(&format!("{prefix}.")), "{ip}");
    assert_eq!(inspect(&d, id, "{{.NetworkSettings.Gateway}}"), gw);
    assert_eq!(
        inspect(&d, id, "{{.NetworkSettings.Networks.bridge.IPAddress}}"),
        ip
    );
    assert_eq!(inspect(&d, id, "{{.HostConfig.NetworkMode}}"), "bridge");
    let mac = inspect(&d, id, "{{.NetworkSettings.MacAddress}}");
    // The same namespace, seen from a container that joins it.
    let o = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "container:br-inspect",
        "busybox",
        "sh",
        "-c",
        "ip -4 -o addr show eth0; cat /sys/class/net/eth0/address; hostname",
    ]);
    assert!(o.contains(&format!("inet {ip}/24")), "{o}");
    assert!(o.contains(&mac), "{mac} not in {o}");
    assert!(o.contains(&id[..12]), "container: shares the hostname: {o}");
    d.docker_ok(&["rm", "-f", "br-inspect"]);
}

#[test]
fn user_network_static_ip_aliases_and_dns() {
    let d = daemon();
    let _cleanup = Cleanup {
        d: &d,
        containers: &["web1"],
        networks: &["usernet1"],
    };
    let (subnet, p) = unique_subnet();
    let net = "usernet1";
    let nid = d.docker_ok(&["network", "create", "--subnet", &subnet, net]);
    let nid = nid.trim();
    assert_eq!(
        d.docker_ok(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Subnet}}",
            net
        ])
        .trim(),
        subnet
    );
    let ip = format!("{p}.77");
    httpd(
        &d,
        "web1",
        &["--network", net, "--ip", &ip, "--network-alias", "webalias"],
        "by-name",
    );
    assert_eq!(
        inspect(
            &d,
            "web1",
            &format!("{{{{.NetworkSettings.Networks.{net}.IPAddress}}}}")
        ),
        ip
    );
    assert_eq!(
        inspect(
            &d,
            "web1",
            &format!("{{{{.NetworkSettings.Networks.{net}.NetworkID}}}}")
        ),
        nid
    );
    let script = "cat /etc/resolv.conf; nslookup web1 127.0.0.11; ping -c1 -W3 webalias >/dev/null && echo PING-ALIAS; wget -q -O- http://web1/; wget -q -O- http://webalias/";
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        net,
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    let text = out(&o);
    assert!(o.status.success(), "{text}\n{}\n{}", err(&o), d.log_tail());
    assert!(text.contains("nameserver 127.0.0.11"), "{text}");
    assert!(text.contains(&format!("Address: {ip}")), "{text}");
    assert!(text.contains("PING-ALIAS"), "{text}");
    assert_eq!(text.matches("by-name").count(), 2, "{text}");
    // Not on the default bridge: the name does not resolve there.
    let o = d.docker(&["run", "--rm", "busybox", "nslookup", "web1"]);
    assert!(!out(&o).contains(&ip), "{}", out(&o));
    // A network in use cannot go; after the container it can.
    assert!(!d.docker(&["network", "rm", net]).status.success());
    d.docker_ok(&["rm", "-f", "web1"]);
    d.docker_ok(&["network", "rm", net]);
}

#[test]
fn internal_network_reaches_peers_only() {
    let d = daemon();
    let _cleanup = Cleanup {
        d: &d,
        containers: &["int-peer"],
        networks: &["intnet"],
    };
    let (subnet, _) = unique_subnet();
    d.docker_ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &subnet,
        "intnet",
    ]);
    assert_eq!(
        d.docker_ok(&["network", "inspect", "-f", "{{.Internal}}", "intnet"])
            .trim(),
        "true"
    );
    httpd(&d, "int-peer", &["--network", "intnet"], "inside");
    let gw = gateway_of(&d);
    let script = format!(
        "for i in 1 2 3 4 5 6 7 8 9 10; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 int-peer 80 | grep inside && break; sleep 0.3; done; ip route; ping -c1 -W2 {gw} >/dev/null && echo ESCAPED; true"
    );
    let o = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "intnet",
        "busybox",
        "sh",
        "-c",
        &script,
    ]);
    assert!(o.contains("inside"), "{o}");
    assert!(!o.contains("default via"), "{o}");
    assert!(!o.contains("ESCAPED"), "{o}");
    d.docker_ok(&["rm", "-f", "int-peer"]);
    d.docker_ok(&["network", "rm", "intnet"]);
}

#[test]
fn host_none_and_etc_files() {
    let d = daemon();
    let _cleanup = Cleanup {
        d: &d,
        containers: &["not-running"],
        networks: &[],
    };
    // none: loopback only.
    let o = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(o.split_whitespace().collect::<Vec<_>>(), vec!["lo"]);
    // host: the host's interfaces, its hostname.
    let o = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "sh",
        "-c",
        "ls /sys/class/net; hostname",
    ]);
    assert!(o.lines().any(|l| l == d.bridge), "{o}");
    let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
    assert_eq!(o.lines().last().unwrap(), host);
    // host: the host's resolv.conf as it is (loopback resolvers included).
    let o = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert_eq!(o, std::fs::read_to_string("/etc/resolv.conf").unwrap());
    // --hostname, --add-host, --dns in the managed files.
    let o = d.docker_ok(&[
        "run",
        "--rm",
        "--hostname",
        "boxy",
        "--add-host",
        "extra.example:10.9.8.7",
        "--dns",
        "10.1.2.3",
        "busybox",
        "sh",
        "-c",
        "hostname; cat /etc/hostname /etc/hosts /etc/resolv.conf",
    ]);
    assert!(o.starts_with("boxy\nboxy\n"), "{o}");
    assert!(o.contains("10.9.8.7\textra.example"), "{o}");
    assert!(
        o.lines()
            .any(|l| l.starts_with(&prefix_of(&d)) && l.ends_with("boxy")),
        "own address in /etc/hosts: {o}"
    );
    assert!(o.contains("nameserver 10.1.2.3"), "{o}");
    // container: mode needs a running container and takes no ports.
    d.docker(&["create", "--name", "not-running", "busybox", "true"]);
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:not-running",
        "busybox",
        "true",
    ]);
    assert!(!o.status.success());
    d.docker_ok(&["rm", "-f", "not-running"]);
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:nosuch",
        "busybox",
        "true",
    ]);
    assert!(!o.status.success());
    assert!(err(&o).contains("No such container: nosuch"), "{}", err(&o));
    let o = d.docker(&["run", "--rm", "--network", "nosuchnet", "busybox", "true"]);
    assert!(!o.status.success());
    assert!(
        err(&o).contains("network nosuchnet not found"),
        "{}",
        err(&o)
    );
    assert!(!err(&o).contains("Unable to find image"), "{}", err(&o));
}
