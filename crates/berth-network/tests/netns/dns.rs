//! The embedded DNS of user networks.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_network_dns_aliases_and_forwarding() {
    let _g = SERIAL.lock().await;
    let env = Env::new(2);
    let mut cfg = env.cfg(2);
    cfg.dns_upstreams = Some(vec![fake_upstream()]);
    let m = NetworkManager::start(cfg, env.sink.clone()).await.unwrap();
    let created = m
        .create_network(NetworkCreateRequest {
            name: format!("{}-net", env.tag),
            ipam: Some(Ipam {
                config: vec![IpamConfig {
                    subnet: "10.213.20.0/24".into(),
                    gateway: "10.213.20.254".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            labels: [("team".to_string(), "x".to_string())].into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let net = m.inspect(&created.id).await.unwrap();
    assert_eq!(net.ipam.config[0].gateway, "10.213.20.254");
    assert_eq!(net.labels["team"], "x");
    // overlapping subnet refused
    let dup = m
        .create_network(NetworkCreateRequest {
            name: format!("{}-dup", env.tag),
            ipam: Some(Ipam {
                config: vec![IpamConfig {
                    subnet: "10.213.20.128/25".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(dup.to_string().contains("overlaps"), "{dup}");

    let mut r1 = attach_req("a", &net.name);
    r1.endpoints.insert(
        net.name.clone(),
        EndpointSettings {
            aliases: Some(vec!["db".into()]),
            ipam_config: Some(serde_json::json!({"IPv4Address": "10.213.20.50"})),
            ..Default::default()
        },
    );
    let a1 = m.attach_container(r1).await.unwrap();
    assert_eq!(a1.nameservers, vec!["127.0.0.11".to_string()]);
    assert_eq!(a1.addresses, vec!["10.213.20.50".to_string()]);
    let b = m
        .attach_container(attach_req("b", &net.name))
        .await
        .unwrap();
    let pb = b.netns_path.clone().unwrap();
    let want: Ipv4Addr = "10.213.20.50".parse().unwrap();
    assert_eq!(dns_query(&pb, "db"), vec![want]);
    assert_eq!(dns_query(&pb, "c-a"), vec![want]);
    assert_eq!(dns_query(&pb, &format!("c-a.{}", net.name)), vec![want]);
    assert_eq!(dns_query(&pb, "aaaaaaaaaaaa"), vec![want], "short id");
    assert_eq!(
        dns_query(&pb, "elsewhere.example"),
        vec![Ipv4Addr::new(192, 0, 2, 7)],
        "forwarded upstream"
    );
    assert!(ping(&pb, want));
    // a container on the default bridge cannot see user-network names and gets no embedded DNS
    let c = m.attach_container(attach_req("c", "")).await.unwrap();
    assert!(c.nameservers.is_empty());
    // connect c to the user network: now it resolves db
    m.connect(&net.name, &"c".repeat(64), EndpointSettings::default())
        .await
        .unwrap();
    assert_eq!(dns_query(c.netns_path.as_ref().unwrap(), "db"), vec![want]);
    let sc = m.settings(&"c".repeat(64), &[]).await.unwrap();
    assert_eq!(sc.networks.len(), 2);
    assert!(sc.networks[&net.name].ip_address.starts_with("10.213.20."));
    // the network cannot go while in use
    let busy = m.remove(&net.name).await.unwrap_err();
    assert!(busy.to_string().contains("active endpoints"));
    m.disconnect(&net.name, &"c".repeat(64), false)
        .await
        .unwrap();
    for id in ["a", "b", "c"] {
        m.detach_container(&id.repeat(64)).await.unwrap();
    }
    // prune removes it (bridge/host/none stay)
    let pruned = m.prune(&Default::default()).await.unwrap();
    assert_eq!(pruned, vec![net.name.clone()]);
    assert!(m.inspect(&net.name).await.is_err());
    let names: Vec<String> = m
        .list(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(names, vec!["bridge", "host", "none"]);
    let actions: Vec<String> = env
        .sink
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.1.clone())
        .collect();
    for a in ["create", "connect", "disconnect", "destroy", "prune"] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    m.shutdown().await.unwrap();
    assert_eq!(env.our_links(), 0);
    assert_eq!(env.netns_count(), 0);
}
