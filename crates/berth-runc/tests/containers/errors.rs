//! Errors, agreement with runc, and timing beside it.

use super::*;

#[test]
fn a_missing_bundle_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("state");
    let log = tmp.path().join("log.json");
    let out = Command::new(BIN)
        .arg("--root")
        .arg(&root)
        .arg("--log")
        .arg(&log)
        .args([
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/nonexistent/bundle",
            "c1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/bundle/config.json not found"),
        "{stderr}"
    );
    // The log file carries the same error as a runc-style JSON line.
    let text = fs::read_to_string(&log).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(last["msg"]
        .as_str()
        .unwrap()
        .contains("config.json not found"));
    assert!(last["time"].is_string());
    assert!(!root.join("c1").exists());

    // runc fails the same way.
    let runc = Command::new(RUNC)
        .arg("--root")
        .arg(&root)
        .args(["create", "--bundle", "/nonexistent/bundle", "c1"])
        .output()
        .unwrap();
    assert_eq!(runc.status.code(), out.status.code());

    // Unknown subcommand and unknown container: exit 1 with a message.
    let out = Command::new(BIN)
        .arg("--root")
        .arg(&root)
        .args(["state", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let out = Command::new(BIN).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("berth-runc version"));
}

#[test]
fn runc_accepts_our_spec_and_we_accept_runcs() {
    let id = cid("cross");
    let b = bundle(&id, &["sh", "-c", "echo x"], false);
    // Our generated config.json works with runc...
    let out = b
        .cmd(RUNC, &["run", "--bundle", b.dir.to_str().unwrap(), &id])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "x\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ...and runc's works with us.
    fs::remove_file(b.dir.join("config.json")).unwrap();
    ok(&Command::new(RUNC)
        .args(["spec", "--rootless=false", "--bundle"])
        .arg(&b.dir)
        .output()
        .unwrap());
    let mut spec: Value =
        serde_json::from_slice(&fs::read(b.dir.join("config.json")).unwrap()).unwrap();
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = json!(["sh", "-c", "echo y"]);
    spec["linux"]["cgroupsPath"] = json!(format!("/berth-test/{id}"));
    fs::write(
        b.dir.join("config.json"),
        serde_json::to_vec(&spec).unwrap(),
    )
    .unwrap();
    let out = b.rt(&["run", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "y\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
}

/// Wall time of `run` of `true`, berth-runc against runc (printed, not asserted).
#[test]
fn timing_run_true_against_runc() {
    let id = cid("time");
    let b = bundle(&id, &["true"], false);
    let n = 5;
    let mut report = String::new();
    for bin in [BIN, RUNC] {
        let start = Instant::now();
        for _ in 0..n {
            let out = b
                .cmd(bin, &["run", "--bundle", b.dir.to_str().unwrap(), &id])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{bin}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let per = start.elapsed() / n;
        report.push_str(&format!("{bin}: {per:?} per run of `true`\n"));
    }
    eprintln!("{report}");
}

#[test]
fn a_failed_create_leaves_nothing_behind_and_says_why_once() {
    let id = cid("bad");
    let b = bundle(&id, &["/no/such/program"], false);
    let out = b.rt(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // runc's words, which dockerd and the docker CLI read (exit status 127).
    assert!(
        stderr.contains(r#"unable to start container process: exec: \"/no/such/program\": stat /no/such/program: no such file or directory"#),
        "{stderr}"
    );
    assert!(!b.root.join(&id).exists());
    assert!(!Path::new("/sys/fs/cgroup/pids/berth-test")
        .join(&id)
        .exists());

    // With a JSON log, libcontainer's own lines are kept there and ours comes last.
    let log = b.dir.join("log.json");
    let out = b
        .cmd(
            BIN,
            &["--log", log.to_str().unwrap(), "--log-format", "json"],
        )
        .args(["create", "--bundle", b.dir.to_str().unwrap(), &id])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() > 1, "{text}");
    let last = lines.last().unwrap();
    assert!(last["msg"]
        .as_str()
        .unwrap()
        .starts_with(&format!("cannot create container {id}")));
    assert!(!b.root.join(&id).exists());
}
