//! Routes of the Engine API that berth does not serve yet answer with a
//! message that names the missing feature, and the docker CLI shows it.

use berth_testkit::TestDaemon;
use std::sync::OnceLock;

fn daemon() -> &'static TestDaemon {
    static D: OnceLock<TestDaemon> = OnceLock::new();
    D.get_or_init(|| {
        let d = TestDaemon::start(env!("CARGO_BIN_EXE_berthd"), &[]);
        d.load_busybox();
        d.docker_ok(&["create", "--name", "c1", "busybox", "sleep", "60"]);
        d
    })
}

/// Runs the CLI, expects it to fail, and returns what it printed on stderr.
fn fails(args: &[&str]) -> String {
    let out = daemon().docker(args);
    assert!(!out.status.success(), "docker {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn cli_verbs_berth_lacks_say_so() {
    for (args, feature) in [
        (&["exec", "c1", "true"][..], "docker exec"),
        (&["cp", "c1:/etc/hostname", "-"][..], "docker cp"),
        (&["top", "c1"][..], "docker top"),
        (&["stats", "--no-stream", "c1"][..], "docker stats"),
        (&["diff", "c1"][..], "docker diff"),
        (&["commit", "c1", "x:y"][..], "docker commit"),
        (
            &["update", "--cpu-shares", "512", "c1"][..],
            "docker update",
        ),
        (&["export", "c1"][..], "docker export"),
        (
            &["login", "-u", "u", "-p", "p", "127.0.0.1:1"][..],
            "docker login",
        ),
    ] {
        let err = fails(args);
        assert!(
            err.contains(&format!("berth does not support {feature} yet")),
            "docker {args:?}: {err}"
        );
    }
}

#[test]
fn classic_build_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM busybox\n").unwrap();
    let out = daemon()
        .docker_cmd(&["build", "-q", dir.path().to_str().unwrap()])
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("berth does not support docker build yet"),
        "{err}"
    );
}

#[test]
fn swarm_commands_answer_like_a_node_outside_swarm() {
    let err = fails(&["service", "ls"]);
    assert!(err.contains("This node is not a swarm manager"), "{err}");
    let r = daemon().get("/v1.41/nodes");
    assert_eq!(r.status, 503);
}

#[test]
fn raw_routes_are_501_json_and_others_stay_404() {
    let d = daemon();
    let r = d.post_json("/v1.41/containers/c1/exec", r#"{"Cmd":["true"]}"#);
    assert_eq!(r.status, 501);
    assert_eq!(
        r.json()["message"],
        "berth does not support docker exec yet (POST /containers/{}/exec)"
    );
    let r = d.get("/images/search?term=busybox");
    assert_eq!(r.status, 501, "{}", r.text());
    let r = d.get("/v1.41/no/such/route");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "page not found");
}
