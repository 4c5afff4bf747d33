//! What a plugin sees and decides: denials, bodies, uploads, path tricks, hijacked streams.

use super::*;

#[test]
fn a_plugin_denies_one_operation_and_allows_the_rest() {
    let s = setup();
    let d = &s.d;
    d.docker_ok(&["volume", "create", "keep"]);
    let o = d.docker(&["volume", "rm", "keep"]);
    assert!(!o.status.success(), "volume rm went through");
    let msg = format!(
        "Error response from daemon: authorization denied by plugin {}: DELETE /volumes/keep is not allowed by policy",
        s.rust.name
    );
    assert!(stderr(&o).contains(&msg), "{}", stderr(&o));
    assert!(volume_names(d).contains(&"keep".to_string()));
    // The CLI's 403, raw.
    let r = request(&d.socket, "DELETE", "/v1.41/volumes/keep", &[], b"").unwrap();
    assert_eq!(r.status, 403);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("authorization denied by plugin"));
    // The chain is in /info.
    let info = d.docker_ok(&["info", "--format", "{{json .Plugins.Authorization}}"]);
    assert_eq!(
        serde_json::from_str::<Value>(&info).unwrap(),
        serde_json::json!([s.rust.name, s.py.name])
    );

    // What the plugins got for the create: method, URI, body, headers,
    // no user over the unix socket, then the response.
    for p in [&s.rust, &s.py] {
        let reqs = p.seen("AuthZReq", "POST", "/volumes/create");
        let r = reqs
            .iter()
            .find(|r| {
                let body = r["RequestBody"].as_str().unwrap_or("");
                let body = decode_b64(body);
                serde_json::from_slice::<Value>(&body).is_ok_and(|b| b["Name"] == "keep")
            })
            .unwrap_or_else(|| panic!("{} never saw the create: {reqs:?}", p.name));
        assert!(
            r["RequestUri"].as_str().unwrap().starts_with("/v1.")
                && r["RequestUri"]
                    .as_str()
                    .unwrap()
                    .ends_with("/volumes/create"),
            "{r}"
        );
        assert!(r.get("User").is_none(), "{r}");
        assert!(r.get("UserAuthNMethod").is_none(), "{r}");
        assert_eq!(r["RequestHeaders"]["Content-Type"], "application/json");
        assert!(r["RequestHeaders"]["User-Agent"]
            .as_str()
            .unwrap()
            .starts_with("Docker-Client/"));
        let res = p.seen("AuthZRes", "POST", "/volumes/create");
        assert!(
            res.iter().any(|r| r["ResponseStatusCode"] == 201
                && String::from_utf8_lossy(&decode_b64(r["ResponseBody"].as_str().unwrap()))
                    .contains("\"Name\":\"keep\"")),
            "{} got no AuthZRes for the create: {res:?}",
            p.name
        );
    }
    // The denial came from the first plugin; the second was never asked.
    assert!(!s
        .rust
        .seen("AuthZReq", "DELETE", "/volumes/keep")
        .is_empty());
    assert!(s.py.seen("AuthZReq", "DELETE", "/volumes/keep").is_empty());
    // /_ping is authorized too.
    assert!(!s.py.seen("AuthZReq", "GET", "/_ping").is_empty());
}

#[test]
fn every_plugin_must_allow_and_chunked_bodies_are_seen() {
    let s = setup();
    let d = &s.d;
    // The first plugin allows, the second denies.
    let o = d.docker(&["volume", "create", "py-denied"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!(
            "authorization denied by plugin {}: python says no to py-denied",
            s.py.name
        )),
        "{}",
        stderr(&o)
    );
    // A chunked body is read whole and shown: the same denial.
    let chunked_create = |name: &str| {
        let body = format!(r#"{{"Name":"{name}","Labels":{{"via":"chunks"}}}}"#);
        request(
            &d.socket,
            "POST",
            "/v1.41/volumes/create",
            &[
                ("Content-Type", "application/json"),
                ("Transfer-Encoding", "chunked"),
            ],
            &chunked(body.as_bytes(), 5),
        )
        .unwrap()
    };
    let r = chunked_create("py-denied");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(!volume_names(d).contains(&"py-denied".to_string()));
    let r = chunked_create("chunky");
    assert_eq!(r.status, 201, "{}", r.text());
    let seen = s.rust.seen("AuthZReq", "POST", "/v1.41/volumes/create");
    let r = seen
        .iter()
        .find(|r| {
            decode_b64(r["RequestBody"].as_str().unwrap_or(""))
                == br#"{"Name":"chunky","Labels":{"via":"chunks"}}"#
        })
        .expect("the chunked body reached the plugin whole");
    assert!(
        r["RequestHeaders"].get("Transfer-Encoding").is_none(),
        "{r}"
    );
    let v = d.docker_ok(&["volume", "inspect", "chunky", "--format", "{{.Labels.via}}"]);
    assert_eq!(v.trim(), "chunks");
}

#[test]
fn oversized_and_smuggled_bodies_never_get_through() {
    let s = setup();
    let d = &s.d;
    let big = format!(
        r#"{{"Image":"busybox","Labels":{{"pad":"{}"}},"HostConfig":{{"Privileged":true}}}}"#,
        "x".repeat(2 << 20)
    );
    let r = request(
        &d.socket,
        "POST",
        "/v1.41/containers/create?name=huge-declared",
        &[("Content-Type", "application/json")],
        big.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("exceeds 1048576 bytes"));
    let r = request(
        &d.socket,
        "POST",
        "/v1.41/containers/create?name=huge-chunked",
        &[
            ("Content-Type", "application/json"),
            ("Transfer-Encoding", "chunked"),
        ],
        &chunked(big.as_bytes(), 64 << 10),
    )
    .unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
    // Neither plugin ever saw those requests (so never a body-less version),
    // and nothing was created.
    for p in [&s.rust, &s.py] {
        assert!(p.seen("AuthZReq", "POST", "huge-").is_empty());
    }
    let ps = d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!ps.contains("huge-"), "{ps}");

    // CVE-2024-41110's shape: Content-Length 0 with a body behind it. The
    // bytes after the empty body are not a body; they never create "smuggled".
    let _ = request(
        &d.socket,
        "POST",
        "/v1.41/volumes/create",
        &[
            ("Content-Type", "application/json"),
            ("Content-Length", "0"),
        ],
        br#"{"Name":"smuggled"}"#,
    );
    assert!(!volume_names(d).contains(&"smuggled".to_string()));
    // An empty body is checked as such.
    let r = request(
        &d.socket,
        "POST",
        "/v1.41/volumes/create?zero",
        &[("Content-Length", "0")],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let seen = s
        .rust
        .seen("AuthZReq", "POST", "/v1.41/volumes/create?zero");
    assert_eq!(seen.len(), 1);
    assert!(seen[0].get("RequestBody").is_none(), "{}", seen[0]);
}

#[test]
fn uploads_are_authorized_on_their_request_line_and_headers() {
    let s = setup();
    let d = &s.d;
    // A build context is a tar stream: the plugin decides without it, and
    // a denial reaches the client even while it is still sending.
    let tar = vec![0u8; 3 << 20];
    let r = request(
        &d.socket,
        "POST",
        "/v1.41/build?t=denied",
        &[("Content-Type", "application/x-tar")],
        &tar,
    )
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        format!(
            "authorization denied by plugin {}: POST /build is not allowed by policy",
            s.rust.name
        )
    );
    let seen = s.rust.seen("AuthZReq", "POST", "/v1.41/build?t=denied");
    assert_eq!(seen.len(), 1);
    assert!(seen[0].get("RequestBody").is_none());
    assert_eq!(
        seen[0]["RequestHeaders"]["Content-Type"],
        "application/x-tar"
    );
    assert_eq!(seen[0]["RequestHeaders"]["Content-Length"], "3145728");
}

#[test]
fn version_prefixes_and_path_tricks_cannot_dodge_the_check() {
    let s = setup();
    let d = &s.d;
    d.docker_ok(&["volume", "create", "v2"]);
    for path in [
        "/volumes/v2",
        "/v1.41/volumes/v2",
        "/v1.24/volumes/v2",
        "/volumes/v2/",
    ] {
        let r = request(&d.socket, "DELETE", path, &[], b"").unwrap();
        assert_eq!(r.status, 403, "{path}: {}", r.text());
        // The plugin was asked about exactly what was sent.
        assert_eq!(
            s.rust.seen("AuthZReq", "DELETE", path).last().unwrap()["RequestUri"],
            path
        );
    }
    for path in [
        "/v1.41/../volumes/v2",
        "/v1.41/./volumes/v2",
        "//volumes/v2",
        "/v1.41//volumes/v2",
        "/v1.41/volumes/%76%32",
        "/v1.41/volumes/v%32",
        "/v1.41%2fvolumes/v2",
        "/v1.41/volumes/v2?force=%31",
    ] {
        let r = request(&d.socket, "DELETE", path, &[], b"").unwrap();
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert!(
            r.text().contains("invalid request path"),
            "{path}: {}",
            r.text()
        );
    }
    // A prefix berth does not strip is not routed either.
    let r = request(&d.socket, "DELETE", "/V1.41/volumes/v2", &[], b"").unwrap();
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(volume_names(d).contains(&"v2".to_string()));
    // The authorized URI is the routed one: an allowed GET of the same
    // volume with a prefix reaches the handler and the plugin saw it as sent.
    let r = request(&d.socket, "GET", "/v1.41/volumes/v2", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["Name"], "v2");
    assert_eq!(
        s.py.seen("AuthZReq", "GET", "/v1.41/volumes/v2")
            .last()
            .unwrap()["RequestUri"],
        "/v1.41/volumes/v2"
    );
}

#[test]
fn hijacked_attach_is_checked_before_the_upgrade() {
    let s = setup();
    let d = &s.d;
    // docker load streams its tar through the layer.
    d.load_busybox();
    let o = d.docker(&["run", "--rm", "busybox", "echo", "through"]);
    assert!(o.status.success(), "{}\n{}", stderr(&o), d.log_tail());
    assert_eq!(String::from_utf8_lossy(&o.stdout), "through\n");
    // The allowed attach was put to AuthZRes as a 101, without a body.
    let res = s.rust.seen("AuthZRes", "POST", "/attach?");
    assert!(
        res.iter()
            .any(|r| r["ResponseStatusCode"] == 101 && r.get("ResponseBody").is_none()),
        "{res:?}"
    );

    d.docker_ok(&["run", "-d", "--name", "noattach", "busybox", "sleep", "60"]);
    let o = d.docker(&["attach", "--no-stdin", "noattach"]);
    assert!(!o.status.success(), "attach went through");
    // The CLI reports a refused upgrade by its status only.
    assert!(stderr(&o).contains("received 403"), "{}", stderr(&o));
    let r = request(
        &d.socket,
        "POST",
        "/v1.41/containers/noattach/attach?stream=1&stdout=1",
        &[("Connection", "Upgrade"), ("Upgrade", "tcp")],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .ends_with("POST /containers/noattach/attach is not allowed by policy"),
        "{}",
        r.text()
    );
    assert!(!s
        .rust
        .seen("AuthZReq", "POST", "/containers/noattach/attach")
        .is_empty());
    d.docker_ok(&["rm", "-f", "noattach"]);
}
