//! Runtimes and specs: custom wrappers, failures, spec settings, seccomp, OOM.

use super::*;

#[tokio::test]
async fn custom_runtime_wrapper_is_used() {
    let runc = need_runc!();
    let env = Env::new();
    let args_log = env.p("wrapper-args.log");
    let wrapper = script(
        env.tmp.path(),
        "my_runtime",
        &format!(
            "#!/bin/sh\necho \"$@\" >> {}\nexec {} \"$@\"\n",
            args_log.display(),
            runc.display()
        ),
    );
    let mut reg = berth_runtime::RuntimeRegistry::new(SHIM_EXE);
    reg.add_flag(&format!("custom={}", wrapper.display()))
        .unwrap();
    let entry = reg.get("custom").unwrap().clone();
    let cfg = env.config(entry, r#"{"Cmd":["true"]}"#);
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    client.start().await.unwrap();
    assert_eq!(client.wait().await.unwrap().exit_code, 0);
    let logged = std::fs::read_to_string(&args_log).unwrap();
    let lines: Vec<&str> = logged.lines().collect();
    assert!(
        lines[0].starts_with("--root ") && lines[0].contains(" create --bundle "),
        "{logged}"
    );
    assert!(lines[0].ends_with(&env.id), "{logged}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("start {}", env.id))),
        "{logged}"
    );
    assert!(lines.iter().any(|l| l.contains("delete")), "{logged}");
}

#[tokio::test]
async fn failing_runtime_reports_stderr_and_leaves_nothing() {
    let _runc = need_runc!();
    let env = Env::new();
    let bad = script(
        env.tmp.path(),
        "bad_runtime",
        "#!/bin/sh\necho \"bad runtime says no to $*\" >&2\nexit 3\n",
    );
    let cfg = env.config(
        RuntimeEntry {
            name: "bad".into(),
            path: bad,
            runtime_args: vec![],
        },
        r#"{"Cmd":["true"]}"#,
    );
    let err = ShimClient::create(Path::new(SHIM_EXE), cfg)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RuntimeError::RuntimeFailed(_)), "{err:?}");
    assert!(
        msg.contains("bad runtime says no to") && msg.contains("create"),
        "{msg}"
    );
    assert!(!env.state_dir().exists(), "state dir left behind");

    // A binary that does not exist.
    let cfg = env.config(
        RuntimeEntry {
            name: "gone".into(),
            path: "/nonexistent/runtime".into(),
            runtime_args: vec![],
        },
        r#"{"Cmd":["true"]}"#,
    );
    let msg = ShimClient::create(Path::new(SHIM_EXE), cfg)
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("/nonexistent/runtime"), "{msg}");
    assert!(!env.state_dir().exists());

    // runc itself failing: the command is not in the rootfs.
    let cfg = env.config(runc_entry(runc_path()), r#"{"Cmd":["/no/such/cmd"]}"#);
    let msg = ShimClient::create(Path::new(SHIM_EXE), cfg)
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("/no/such/cmd"), "{msg}");
    assert!(!env.state_dir().exists());
    assert!(!runc_state_exists(&env), "runc state left behind");
    assert!(!Path::new("/sys/fs/cgroup/pids/berth")
        .join(&env.id)
        .exists());
}

#[tokio::test]
async fn spec_settings_take_effect_in_the_container() {
    let _ = need_runc!();
    let env = Env::new();
    let (st, out) = run_to_end(
        &env,
        r#"{"Cmd":["sh","-c","id; hostname; grep CapBnd /proc/self/status; touch /x || echo ro-ok; cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null; unshare -n true || echo unshare-denied; ip link 2>/dev/null | grep -c '^[0-9]'; grep NoNewPrivs /proc/self/status; echo $HOME; cat /etc/hostname; grep -c localhost /etc/hosts"],
            "User":"nobody","Hostname":"box",
            "HostConfig":{"ReadonlyRootfs":true,"PidsLimit":50,"Memory":67108864,
                          "SecurityOpt":["no-new-privileges"]}}"#,
    )
    .await;
    assert_eq!(st.exit_code, 0, "{out}");
    assert!(
        out.contains("uid=65534(nobody) gid=65534(nogroup)"),
        "{out}"
    );
    assert!(out.contains("\nbox\n"), "{out}");
    // dockerd's default bounding set.
    assert!(out.contains("CapBnd:\t00000000a80425fb"), "{out}");
    assert!(out.contains("ro-ok"), "{out}");
    assert!(out.contains("\n50\n"), "{out}");
    assert!(out.contains("unshare-denied"), "{out}");
    // Loopback only.
    assert!(out.contains("\n1\n"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.contains("/home\nbox\n2\n"), "{out}");
}

#[tokio::test]
async fn seccomp_default_unconfined_and_custom_profiles() {
    let _ = need_runc!();
    let probe =
        "grep Seccomp: /proc/self/status; mkdir /tmp/d && echo mkdir-ok || echo mkdir-denied";
    // Default: a filter is installed; mkdir is allowed.
    let env = Env::new();
    let (_, out) = run_to_end(&env, &format!(r#"{{"Cmd":["sh","-c","{probe}"]}}"#)).await;
    assert!(
        out.contains("Seccomp:\t2") && out.contains("mkdir-ok"),
        "{out}"
    );
    // unconfined: no filter.
    let env = Env::new();
    let (_, out) = run_to_end(
        &env,
        &format!(r#"{{"Cmd":["sh","-c","{probe}"],"HostConfig":{{"SecurityOpt":["seccomp=unconfined"]}}}}"#),
    )
    .await;
    assert!(out.contains("Seccomp:\t0"), "{out}");
    // A Docker-format profile (what the CLI sends for seccomp=FILE) that denies mkdir.
    let profile = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    });
    let req = serde_json::json!({
        "Cmd": ["sh", "-c", probe],
        "HostConfig": {"SecurityOpt": [format!("seccomp={profile}")]}
    });
    let env = Env::new();
    let (_, out) = run_to_end(&env, &req.to_string()).await;
    assert!(
        out.contains("Seccomp:\t2") && out.contains("mkdir-denied"),
        "{out}"
    );
    // Without SYS_ADMIN, unshare is refused; with it, the profile lets it through.
    let env = Env::new();
    let (_, out) = run_to_end(
        &env,
        r#"{"Cmd":["sh","-c","unshare -m true && echo allowed || echo blocked"]}"#,
    )
    .await;
    assert!(out.contains("blocked"), "{out}");
    let env = Env::new();
    let (_, out) = run_to_end(
        &env,
        r#"{"Cmd":["sh","-c","unshare -m true && echo allowed || echo blocked"],"HostConfig":{"CapAdd":["SYS_ADMIN"]}}"#,
    )
    .await;
    assert!(out.contains("allowed"), "{out}");
}

#[tokio::test]
async fn oom_kill_is_recorded() {
    let _ = need_runc!();
    let env = Env::new();
    let (st, out) = run_to_end(
        &env,
        r#"{"Cmd":["tail","/dev/zero"],"HostConfig":{"Memory":8388608,"MemorySwap":8388608}}"#,
    )
    .await;
    assert_eq!(st.exit_code, 137, "{out}");
    assert!(st.oom_killed, "{st:?}");
}

#[tokio::test]
async fn failing_start_cleans_up() {
    let runc = need_runc!();
    let env = Env::new();
    // A wrapper whose `start` fails after a successful `create`.
    let wrapper = script(
        env.tmp.path(),
        "start_fails",
        &format!(
            "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = start ] && {{ echo 'start refused by policy' >&2; exit 1; }}; done\nexec {} \"$@\"\n",
            runc.display()
        ),
    );
    let cfg = env.config(
        RuntimeEntry {
            name: "sf".into(),
            path: wrapper,
            runtime_args: vec![],
        },
        r#"{"Cmd":["true"]}"#,
    );
    let client = ShimClient::create(Path::new(SHIM_EXE), cfg).await.unwrap();
    let msg = client.start().await.unwrap_err().to_string();
    assert!(msg.contains("start refused by policy"), "{msg}");
    assert_eq!(client.wait().await.unwrap().exit_code, 137);
    assert!(!runc_state_exists(&env));
}
