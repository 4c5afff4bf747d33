//! Published ports.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_port_from_loopback_in_use_and_restart() {
    let _g = SERIAL.lock().await;
    let env = Env::new(3);
    let www = env.dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello from the netns\n").unwrap();
    let m = NetworkManager::start(env.cfg(3), env.sink.clone())
        .await
        .unwrap();
    let fw = m.firewall().clone();
    let mut r = attach_req("a", "");
    r.ports = vec![
        PortSpec {
            proto: Proto::Tcp,
            container_port: 8080,
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port: 0,
        },
        PortSpec {
            proto: Proto::Tcp,
            container_port: 8080,
            host_ip: None,
            host_port: 0,
        },
    ];
    let a = tokio::task::block_in_place(|| futures_executor(m.attach_container(r))).unwrap();
    let pa = a.netns_path.clone().unwrap();
    let httpd = Proc(spawn_in_netns(
        &pa,
        &[
            "/bin/busybox",
            "httpd",
            "-f",
            "-p",
            "8080",
            "-h",
            www.to_str().unwrap(),
        ],
    ));
    let lo = a.published[0].host_port;
    assert_eq!(a.published[0].host_ip, Ipv4Addr::LOCALHOST);
    let body = tokio::task::block_in_place(|| retry_get(&format!("127.0.0.1:{lo}")));
    assert!(body.contains("hello from the netns"), "{body}");
    // inspect's Ports
    let s = m
        .settings(&"a".repeat(64), &["8080/tcp".into(), "9/udp".into()])
        .await
        .unwrap();
    let v = serde_json::to_value(&s.ports).unwrap();
    assert_eq!(v["8080/tcp"][0]["HostIp"], "127.0.0.1");
    assert_eq!(v["8080/tcp"][0]["HostPort"], lo.to_string());
    assert_eq!(v["8080/tcp"][1]["HostIp"], "0.0.0.0");
    assert!(v["9/udp"].is_null());
    // another container reaches the published port through the gateway (DNAT)
    let b = m.attach_container(attach_req("b", "")).await.unwrap();
    let any = a.published[1].host_port;
    let out = berth_network::netns::run_in(b.netns_path.as_ref().unwrap(), move || {
        Ok(http_get(&format!("10.213.3.1:{any}")))
    })
    .unwrap()
    .unwrap();
    assert!(out.contains("hello from the netns"), "{out}");
    // the same host port again: a clear error, and nothing left of the attempt
    let mut r2 = attach_req("c", "");
    r2.ports = vec![PortSpec {
        proto: Proto::Tcp,
        container_port: 80,
        host_ip: Some(Ipv4Addr::LOCALHOST),
        host_port: lo,
    }];
    let links_before = env.our_links();
    let err = m.attach_container(r2).await.unwrap_err();
    assert!(
        err.to_string().contains("port is already allocated"),
        "{err}"
    );
    assert_eq!(
        berth_types::Error::from(err).kind,
        berth_types::ErrorKind::Conflict
    );
    assert_eq!(env.our_links(), links_before);
    assert_eq!(env.netns_count(), 2);

    // daemon restart: the container keeps its namespace, address and
    // ports, and the ports answer while no daemon runs (the proxy is a
    // process of its own and the DNAT rules stay)
    let rules = fw.rule_count().unwrap();
    let aid = "a".repeat(64);
    let pid = env.proxy_pid(&aid).expect("a pid file for a's proxy");
    m.shutdown().await.unwrap();
    drop(m);
    assert_eq!(
        fw.rule_count().unwrap(),
        rules,
        "rules kept for running containers"
    );
    let body = tokio::task::block_in_place(|| http_get(&format!("127.0.0.1:{lo}"))).unwrap();
    assert!(body.contains("hello from the netns"), "{body}");
    let m = NetworkManager::start(env.cfg(3), env.sink.clone())
        .await
        .unwrap();
    assert_eq!(
        env.proxy_pid(&aid),
        Some(pid),
        "the proxy is adopted, not replaced"
    );
    assert!(!exited(pid));
    let body = tokio::task::block_in_place(|| http_get(&format!("127.0.0.1:{lo}"))).unwrap();
    assert!(body.contains("hello from the netns"), "{body}");
    m.shutdown().await.unwrap();
    drop(m);
    // the proxy died meanwhile and someone took the other published port:
    // the next start serves what it can bind again and still starts
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap();
    while !exited(pid) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let squat = std::net::TcpListener::bind(("0.0.0.0", any)).unwrap();
    let m = NetworkManager::start(env.cfg(3), env.sink.clone())
        .await
        .unwrap();
    let s2 = m.settings(&aid, &[]).await.unwrap();
    assert_eq!(s2.ip_address, s.ip_address);
    assert_ne!(env.proxy_pid(&aid), Some(pid), "a new proxy");
    let body = tokio::task::block_in_place(|| retry_get(&format!("127.0.0.1:{lo}")));
    assert!(body.contains("hello"));
    drop(squat);
    assert!(ping(
        b.netns_path.as_ref().unwrap(),
        s2.ip_address.parse().unwrap()
    ));

    drop(httpd);
    let pid = env.proxy_pid(&aid).unwrap();
    m.detach_container(&aid).await.unwrap();
    assert!(exited(pid), "the proxy is gone when detach returns");
    assert_eq!(env.proxy_pid(&aid), None, "and so is its pid file");
    assert!(
        http_get(&format!("127.0.0.1:{lo}")).is_err(),
        "port freed on stop"
    );
    // the freed port can be bound again
    std::net::TcpListener::bind(("127.0.0.1", lo)).unwrap();
    m.detach_container(&"b".repeat(64)).await.unwrap();
    m.shutdown().await.unwrap();
    assert_eq!(env.our_links(), 0);
    assert_eq!(env.netns_count(), 0);
    assert_eq!(fw.rule_count().unwrap(), 0);
    let _ = BTreeMap::<u8, u8>::new();
}
