//! Published ports serving bytes to the host and to other containers.

use super::*;

#[test]
fn published_port_serves_the_host_and_is_freed() {
    let d = daemon();
    let _cleanup = Cleanup {
        d: &d,
        containers: &["pub1", "pub2"],
        networks: &[],
    };
    let port = free_port();
    let spec = format!("127.0.0.1:{port}:80");
    let id = httpd(&d, "pub1", &["-p", &spec], "hello-berth");
    let body = http_get(port).unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail()));
    assert!(body.ends_with("hello-berth\n"), "{body}");

    assert_eq!(
        d.docker_ok(&["port", "pub1"]).trim(),
        format!("80/tcp -> 127.0.0.1:{port}")
    );
    assert_eq!(
        inspect(&d, &id, "{{json .NetworkSettings.Ports}}"),
        format!(r#"{{"80/tcp":[{{"HostIp":"127.0.0.1","HostPort":"{port}"}}]}}"#)
    );
    assert_eq!(
        inspect(&d, &id, "{{json .HostConfig.PortBindings}}"),
        format!(r#"{{"80/tcp":[{{"HostIp":"127.0.0.1","HostPort":"{port}"}}]}}"#)
    );
    let ps = d.docker_ok(&["ps", "--filter", "name=pub1", "--format", "{{.Ports}}"]);
    assert_eq!(ps.trim(), format!("127.0.0.1:{port}->80/tcp"));

    // The port is taken: a clear error, and the container does not run.
    let o = d.docker(&[
        "run", "-d", "--name", "pub2", "-p", &spec, "busybox", "sleep", "30",
    ]);
    assert!(!o.status.success());
    let e = err(&o);
    assert!(
        e.contains(&port.to_string()) && (e.contains("already") || e.contains("in use")),
        "{e}"
    );
    assert_eq!(inspect(&d, "pub2", "{{.State.Running}}"), "false");
    d.docker_ok(&["rm", "-f", "pub2"]);

    // Stopping frees it: the host can bind it again.
    d.docker_ok(&["stop", "-t", "1", "pub1"]);
    assert!(
        TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "port {port} still held after stop"
    );
    assert_eq!(inspect(&d, "pub1", "{{json .NetworkSettings.Ports}}"), "{}");
    // And a restart publishes it again.
    d.docker_ok(&["start", "pub1"]);
    assert!(http_get(port).unwrap().ends_with("hello-berth\n"));
    d.docker_ok(&["rm", "-f", "pub1"]);
    assert!(TcpListener::bind(("127.0.0.1", port)).is_ok());
}

#[test]
fn publish_all_takes_the_exposed_ports() {
    let d = daemon();
    let _cleanup = Cleanup {
        d: &d,
        containers: &["puball"],
        networks: &[],
    };
    let id = httpd(&d, "puball", &["--expose", "80", "-P"], "from-P");
    let hp = inspect(
        &d,
        &id,
        "{{(index (index .NetworkSettings.Ports \"80/tcp\") 0).HostPort}}",
    );
    let hp: u16 = hp.parse().unwrap();
    assert!(hp > 0);
    let body = http_get(hp).unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail()));
    assert!(body.ends_with("from-P\n"), "{body}");
    let port = d.docker_ok(&["port", "puball", "80"]);
    assert!(port.contains(&format!(":{hp}")), "{port}");
    d.docker_ok(&["rm", "-f", "puball"]);
}

/// A port published on the bridge's own address is reachable from another
/// container, through the host (as with dockerd's proxy).
#[test]
fn published_port_is_reachable_from_other_containers() {
    let d = daemon();
    let _cleanup = Cleanup {
        d: &d,
        containers: &["pubx1"],
        networks: &[],
    };
    let port = free_port();
    let gw = gateway_of(&d);
    httpd(&d, "pubx1", &["-p", &format!("{gw}:{port}:80")], "across");
    // (busybox-static's wget crashes here now and then: plain nc instead.)
    let t = Instant::now();
    let o = loop {
        let o = d.docker(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc {gw} {port}"),
        ]);
        if out(&o).ends_with("across\n") || t.elapsed() > Duration::from_secs(15) {
            break o;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = out(&o);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}\n{}", err(&o));
    assert!(text.ends_with("\nacross\n"), "{text}\n{}", d.log_tail());
}
