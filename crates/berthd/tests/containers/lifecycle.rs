//! Lifecycle verbs and the state machine, ps filters, events, restart policies, names.

use super::*;

#[test]
fn lifecycle_verbs_and_errors() {
    let d = daemon();
    d.docker_ok(&["create", "--name", "verbs", "busybox", "sleep", "60"]);
    // A name clash is 409.
    let o = d.docker(&["create", "--name", "verbs", "busybox", "true"]);
    assert!(!o.status.success());
    assert!(err(&o).contains("is already in use"), "{}", err(&o));
    d.docker_ok(&["start", "verbs"]);
    d.docker_ok(&["pause", "verbs"]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Status}}", "verbs"])
            .trim(),
        "paused"
    );
    d.docker_ok(&["unpause", "verbs"]);
    d.docker_ok(&["rename", "verbs", "verbs2"]);
    let o = d.docker(&["rm", "verbs2"]);
    assert!(
        !o.status.success(),
        "removing a running container must fail"
    );
    d.docker_ok(&["kill", "--signal", "KILL", "verbs2"]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", "verbs2"])
            .trim(),
        "137"
    );
    let o = d.docker(&["kill", "verbs2"]);
    assert!(err(&o).contains("is not running"), "{}", err(&o));
    d.docker_ok(&["rm", "verbs2"]);

    // Missing image: 404. Bad mount: 400. Unknown runtime: 400.
    let r = d.post_json("/containers/create", r#"{"Image":"nosuchimage"}"#);
    assert_eq!(r.status, 404);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("No such image"));
    let r = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"Binds":["relative/path:/x"]}}"#,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"Runtime":"nope"}}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "unknown or invalid runtime name: nope");
    let r = d.post_json("/containers/create?name=a/b", r#"{"Image":"busybox"}"#);
    assert_eq!(r.status, 400);
    let r = d.get("/containers/nosuch/json");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "No such container: nosuch");
}

/// Moves the state machine refuses, with dockerd's status and message,
/// and the moves that change nothing (304).
#[test]
fn illegal_moves_are_refused_as_dockerd() {
    let d = daemon();
    d.docker_ok(&["create", "--name", "moves", "busybox", "sleep", "60"]);
    let id = d
        .docker_ok(&["inspect", "-f", "{{.Id}}", "moves"])
        .trim()
        .to_string();
    let post = |verb: &str| d.post_json(&format!("/containers/moves/{verb}"), "");
    let refused = |verb: &str, msg: String| {
        let r = post(verb);
        assert_eq!(r.status, 409, "{verb}: {}", r.text());
        assert_eq!(r.json()["message"], msg, "{verb}");
    };
    // Created: nothing runs, so nothing to pause, unpause or kill.
    refused("pause", format!("Container {id} is not running"));
    refused("unpause", format!("Container {id} is not paused"));
    refused("kill", format!("Container {id} is not running"));
    assert_eq!(post("stop").status, 304);
    assert_eq!(post("start").status, 204);
    assert_eq!(post("start").status, 304);
    refused("unpause", format!("Container {id} is not paused"));
    assert_eq!(post("pause").status, 204);
    refused("pause", format!("Container {id} is already paused"));
    refused(
        "start",
        "cannot start a paused container, try unpause instead".into(),
    );
    let r =
        berth_testkit::http::request(&d.socket, "DELETE", "/containers/moves", &[], b"").unwrap();
    assert_eq!(r.status, 409);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("container is paused: stop the container before removing or force remove"),
        "{}",
        r.text()
    );
    assert_eq!(post("unpause").status, 204);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Status}}", "moves"])
            .trim(),
        "running"
    );
    assert_eq!(post("stop?t=0").status, 204);
    assert_eq!(post("stop").status, 304);
    refused("pause", format!("Container {id} is not running"));
    d.docker_ok(&["rm", "moves"]);
}

#[test]
fn ps_filters() {
    let d = daemon();
    d.docker_ok(&[
        "run", "--name", "f-ok", "--label", "tier=a", "busybox", "true",
    ]);
    d.docker_ok(&["create", "--name", "f-new", "busybox", "true"]);
    let o = d.docker(&["run", "--name", "f-bad", "busybox", "sh", "-c", "exit 2"]);
    assert_eq!(o.status.code(), Some(2));
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ps", "-a", "--format", "{{.Names}}"];
        a.extend_from_slice(args);
        let mut v: Vec<String> = d
            .docker_ok(&a)
            .lines()
            .filter(|l| l.starts_with("f-"))
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&["--filter", "label=tier=a"]), vec!["f-ok"]);
    assert_eq!(names(&["--filter", "status=created"]), vec!["f-new"]);
    assert_eq!(names(&["--filter", "exited=2"]), vec!["f-bad"]);
    assert_eq!(
        names(&["--filter", "name=f-", "--filter", "status=exited"]),
        vec!["f-bad", "f-ok"]
    );
    assert!(names(&["--filter", "ancestor=busybox"]).len() >= 3);
    for n in ["f-ok", "f-new", "f-bad"] {
        d.docker_ok(&["rm", n]);
    }
}

#[test]
fn events_of_a_run_come_in_dockerd_order() {
    let d = daemon();
    let since = d.docker_ok(&["version", "-f", "{{.Server.Version}}"]);
    assert!(!since.is_empty());
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    let o = d.docker(&[
        "run", "--rm", "--name", "ev1", "--label", "k=v", "busybox", "sh", "-c", "exit 4",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", err(&o));
    let until = start + 30;
    let ev = d.docker_ok(&[
        "events",
        "--since",
        &start.to_string(),
        "--until",
        &(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1)
        .to_string(),
        "--filter",
        "container=ev1",
        "--format",
        "{{.Action}} {{index .Actor.Attributes \"name\"}} {{index .Actor.Attributes \"k\"}} {{index .Actor.Attributes \"exitCode\"}}",
    ]);
    let _ = until;
    let lines: Vec<&str> = ev.lines().collect();
    assert_eq!(
        lines,
        vec![
            "create ev1 v ",
            "attach ev1 v ",
            "start ev1 v ",
            "die ev1 v 4",
            "destroy ev1 v "
        ],
        "{ev}"
    );
}

#[test]
fn restart_policy_on_failure_retries() {
    let d = daemon();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "retry",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ]);
    let t = Instant::now();
    loop {
        let s = d.docker_ok(&[
            "inspect",
            "-f",
            "{{.RestartCount}} {{.State.Status}}",
            "retry",
        ]);
        if s.trim() == "2 exited" {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "still {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
    d.docker_ok(&["rm", "-f", "retry"]);
}

#[test]
fn always_policy_restarts_and_prune_removes_stopped() {
    let d = daemon();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "always1",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2; exit 1",
    ]);
    let t = Instant::now();
    loop {
        let n: i64 = d
            .docker_ok(&["inspect", "-f", "{{.RestartCount}}", "always1"])
            .trim()
            .parse()
            .unwrap();
        if n >= 2 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "always did not restart"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // An explicit stop ends the cycle.
    d.docker_ok(&["stop", "-t", "1", "always1"]);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Running}}", "always1"])
            .trim(),
        "false"
    );
    // prune removes stopped containers with the label, and only those.
    d.docker_ok(&[
        "create",
        "--name",
        "prune-me",
        "--label",
        "prune=yes",
        "busybox",
        "true",
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "prune-keep",
        "--label",
        "prune=yes",
        "busybox",
        "sleep",
        "30",
    ]);
    let o = d.docker_ok(&["container", "prune", "-f", "--filter", "label=prune=yes"]);
    assert!(o.contains("Deleted Containers"), "{o}");
    assert!(!d.docker(&["inspect", "prune-me"]).status.success());
    assert!(d.docker(&["inspect", "prune-keep"]).status.success());
    d.docker_ok(&["rm", "-f", "prune-keep", "always1"]);
}

/// Many unnamed creates at once all succeed: a generated name another
/// create took in the meantime is generated again (there are only 625
/// adjective_noun pairs, so collisions are common at this count).
#[test]
fn concurrent_unnamed_creates_never_collide() {
    let d = daemon();
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..120)
            .map(|_| {
                s.spawn(|| {
                    let r = d.post_json(
                        "/containers/create",
                        r#"{"Image":"busybox","Cmd":["true"],"Labels":{"race":"1"}}"#,
                    );
                    assert_eq!(r.status, 201, "{}", r.text());
                    r.json()["Id"].as_str().unwrap().to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let names = d.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        "label=race=1",
        "--format",
        "{{.Names}}",
    ]);
    let mut names: Vec<&str> = names.lines().collect();
    assert_eq!(names.len(), 120);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 120, "names are unique");
    let mut args = vec!["rm"];
    args.extend(ids.iter().map(String::as_str));
    d.docker_ok(&args);
}
