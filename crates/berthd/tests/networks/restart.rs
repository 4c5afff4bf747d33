//! Containers keeping their networking across a daemon restart.

use super::teardown::footprint;
use super::*;

#[test]
fn running_container_keeps_networking_across_restart() {
    let mut d = daemon_alone();
    let p = free_port();
    let id = httpd(
        &d,
        "survivor",
        &["-p", &format!("127.0.0.1:{p}:80")],
        "still-here",
    );
    assert!(http_get(p).unwrap().ends_with("still-here\n"));
    let ip = inspect(&d, &id, "{{.NetworkSettings.IPAddress}}");
    let before = footprint(&d);
    d.restart();
    assert_eq!(inspect(&d, &id, "{{.State.Running}}"), "true");
    assert_eq!(inspect(&d, &id, "{{.NetworkSettings.IPAddress}}"), ip);
    let body = http_get(p).unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail()));
    assert!(body.ends_with("still-here\n"), "{body}");
    assert_eq!(footprint(&d), before);
    assert_eq!(
        d.docker_ok(&["port", "survivor"]).trim(),
        format!("80/tcp -> 127.0.0.1:{p}")
    );

    // Dies while the daemon is down: the restarted daemon finds it dead
    // and tears its networking down (namespace, veth, port).
    let pid: i32 = inspect(&d, &id, "{{.State.Pid}}").parse().unwrap();
    assert!(pid > 0);
    d.stop();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    d.launch().unwrap();
    assert_eq!(inspect(&d, &id, "{{.State.Running}}"), "false");
    let after = footprint(&d);
    assert_eq!(after.veths, before.veths - 1, "{after:?} {before:?}");
    assert_eq!(after.netns, before.netns - 1, "{after:?} {before:?}");
    assert!(
        TcpListener::bind(("127.0.0.1", p)).is_ok(),
        "port {p} still held by the restarted daemon"
    );
    d.docker_ok(&["rm", "-f", "survivor"]);
    assert!(TcpListener::bind(("127.0.0.1", p)).is_ok());
}

#[test]
fn connections_are_kept_in_the_container_across_restarts() {
    let d = daemon();
    let _cleanup = Cleanup {
        d: &d,
        containers: &["keep1", "keep2"],
        networks: &["keepnet"],
    };
    let (subnet, p) = unique_subnet();
    d.docker_ok(&["network", "create", "--subnet", &subnet, "keepnet"]);
    // Connected while stopped: joined at start, with its static address.
    d.docker_ok(&["create", "--name", "keep1", "busybox", "sleep", "60"]);
    let ip = format!("{p}.50");
    d.docker_ok(&["network", "connect", "--ip", &ip, "keepnet", "keep1"]);
    d.docker_ok(&["start", "keep1"]);
    let fmt = "{{.NetworkSettings.Networks.keepnet.IPAddress}} {{.NetworkSettings.Networks.bridge.IPAddress}}";
    let both = inspect(&d, "keep1", fmt);
    assert!(
        both.starts_with(&format!("{ip} {}.", prefix_of(&d))),
        "{both}"
    );
    // Connected while running: still there after stop and start.
    d.docker_ok(&["run", "-d", "--name", "keep2", "busybox", "sleep", "60"]);
    d.docker_ok(&["network", "connect", "--alias", "k2", "keepnet", "keep2"]);
    d.docker_ok(&["stop", "-t", "0", "keep2"]);
    assert_eq!(
        inspect(
            &d,
            "keep2",
            "{{.NetworkSettings.Networks.keepnet.IPAddress}}"
        ),
        ""
    );
    d.docker_ok(&["start", "keep2"]);
    let o = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "keepnet",
        "busybox",
        "sh",
        "-c",
        "ping -c1 -W3 k2 >/dev/null && echo OK",
    ]);
    assert_eq!(o.trim(), "OK");
    // Disconnected while running: not rejoined at the next start.
    d.docker_ok(&["network", "disconnect", "keepnet", "keep2"]);
    d.docker_ok(&["restart", "-t", "0", "keep2"]);
    assert_eq!(
        inspect(
            &d,
            "keep2",
            "{{with .NetworkSettings.Networks.keepnet}}joined{{end}}"
        ),
        ""
    );
    d.docker_ok(&["rm", "-f", "keep1", "keep2"]);
    d.docker_ok(&["network", "rm", "keepnet"]);
}
