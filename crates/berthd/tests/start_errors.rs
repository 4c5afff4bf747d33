//! What a user sees when a container's command or working directory is not
//! what the image has, on the embedded runtime and on runc alike, through
//! a real berthd and the docker CLI: dockerd's exit statuses (127 for a
//! command not found, 126 for one that cannot be run), its HTTP status and
//! words for the failed start, and a working directory the image lacks made
//! before the container starts.

use berth_testkit::image::{busybox_image, save_archive, Compress, LayerBuilder, Layout};
use berth_testkit::TestDaemon;
use std::io::Write;
use std::process::Stdio;
use std::sync::OnceLock;

/// One daemon on the embedded runtime (the default), with busybox and an
/// image holding a script without execute bits.
fn daemon() -> &'static TestDaemon {
    static D: OnceLock<TestDaemon> = OnceLock::new();
    D.get_or_init(|| {
        let d = TestDaemon::start(env!("CARGO_BIN_EXE_berthd"), &[]);
        d.load_busybox();
        let mut img = busybox_image();
        img.tags = vec!["noexec:latest".into()];
        img.layers.push(
            LayerBuilder::new()
                .file("bin/noexec", b"#!/bin/sh\necho ran\n", 0o644)
                .build(),
        );
        let mut child = d
            .docker_cmd(&["load", "-q"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let tar = save_archive(&[img], Layout::OciWithManifest, Compress::None);
        child.stdin.take().unwrap().write_all(&tar).unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        d
    })
}

/// The embedded runtime, and runc when this host has it (said loudly when
/// it has not: then only the embedded runtime is checked).
fn runtimes() -> Vec<&'static str> {
    let info = daemon().docker_ok(&["info", "--format", "{{json .Runtimes}}"]);
    let mut out = vec!["berth-runc"];
    if info.contains("\"runc\"") {
        out.push("runc");
    } else {
        eprintln!("WARNING: runc is not installed here; only the embedded runtime is checked");
    }
    out
}

fn err(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn command_not_found_exits_127_and_not_executable_126() {
    let d = daemon();
    for rt in runtimes() {
        let o = d.docker(&["run", "--rm", "--runtime", rt, "busybox", "nosuchcmd"]);
        assert_eq!(o.status.code(), Some(127), "{rt}: {}", err(&o));
        assert!(
            err(&o).contains(r#"exec: "nosuchcmd": executable file not found in $PATH"#),
            "{rt}: {}",
            err(&o)
        );
        let o = d.docker(&["run", "--rm", "--runtime", rt, "busybox", "/no/such/cmd"]);
        assert_eq!(o.status.code(), Some(127), "{rt}: {}", err(&o));
        let o = d.docker(&["run", "--rm", "--runtime", rt, "noexec", "/bin/noexec"]);
        assert_eq!(o.status.code(), Some(126), "{rt}: {}", err(&o));
        assert!(
            err(&o).contains(r#"exec: "/bin/noexec": permission denied"#),
            "{rt}: {}",
            err(&o)
        );
        // A directory cannot be run either.
        let o = d.docker(&["run", "--rm", "--runtime", rt, "busybox", "/etc"]);
        assert_eq!(o.status.code(), Some(126), "{rt}: {}", err(&o));
    }
}

#[test]
fn failed_start_is_dockerds_400_and_records_the_exit_code() {
    let d = daemon();
    for rt in runtimes() {
        let name = format!("badcmd-{rt}");
        let _ = d.docker(&["rm", "-f", &name]);
        d.docker_ok(&[
            "create",
            "--name",
            &name,
            "--runtime",
            rt,
            "busybox",
            "nosuchcmd",
        ]);
        let r = d.post_json(&format!("/containers/{name}/start"), "");
        assert_eq!(r.status, 400, "{rt}: {}", r.text());
        let msg = r.json()["message"].as_str().unwrap().to_string();
        assert!(
            msg.starts_with("failed to create shim task: OCI runtime create failed: "),
            "{rt}: {msg}"
        );
        assert!(
            msg.ends_with(r#"exec: "nosuchcmd": executable file not found in $PATH: unknown"#),
            "{rt}: {msg}"
        );
        let st = d.docker_ok(&[
            "inspect",
            "-f",
            "{{.State.ExitCode}}|{{.State.Error}}",
            &name,
        ]);
        assert_eq!(st.trim(), format!("127|{msg}"), "{rt}");
        d.docker_ok(&["rm", &name]);
    }
}

#[test]
fn working_dir_the_image_lacks_is_created() {
    let d = daemon();
    for rt in runtimes() {
        // Owned by root whatever the user, mode 0755, as dockerd 20.10 makes it.
        let o = d.docker(&[
            "run",
            "--rm",
            "--runtime",
            rt,
            "-u",
            "1234:4321",
            "-w",
            "/no/such/dir",
            "busybox",
            "sh",
            "-c",
            "pwd; stat -c %u:%g:%a /no/such/dir",
        ]);
        assert!(o.status.success(), "{rt}: {}\n{}", err(&o), d.log_tail());
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "/no/such/dir\n0:0:755\n",
            "{rt}"
        );
        // Inside a volume: made in the volume.
        let vol = format!("wd-{rt}");
        let o = d.docker(&[
            "run",
            "--rm",
            "--runtime",
            rt,
            "-v",
            &format!("{vol}:/data"),
            "-w",
            "/data/sub",
            "busybox",
            "pwd",
        ]);
        assert!(o.status.success(), "{rt}: {}", err(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "/data/sub\n", "{rt}");
        d.docker_ok(&["volume", "rm", &vol]);
    }
}
