//! The real docker CLI against the image routes and a real store: load,
//! images, tag, inspect, history, save, import, rmi, prune, and the events
//! they publish.

use berth_core::events::RecordingSink;
use berth_engine::images;
use berth_image::ImageStore;
use berth_testkit::image::{busybox_archive, busybox_image, LayerBuilder};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

const DOCKER: &str = "/usr/local/bin/docker";

struct Daemon {
    sock: PathBuf,
    events: Arc<RecordingSink>,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn start() -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ImageStore::open(&dir.path().join("data")).unwrap());
    let events = Arc::new(RecordingSink::default());
    let routes = images::routes(store, events.clone());
    let app = axum::Router::new()
        .nest("/v1.47", routes.clone())
        .merge(routes)
        .route(
            "/_ping",
            axum::routing::get(|| async { ([("API-Version", "1.47"), ("OSType", "linux")], "OK") }),
        );
    let sock = dir.path().join("berth.sock");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt.block_on(async { tokio::net::UnixListener::bind(&sock).unwrap() });
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    Daemon {
        sock,
        events,
        _dir: dir,
        _rt: rt,
    }
}

impl Daemon {
    fn docker(&self, args: &[&str], stdin: Option<&Path>) -> (bool, String, String) {
        let mut c = Command::new(DOCKER);
        c.arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args);
        c.env("DOCKER_CONFIG", self._dir.path().join("cli"));
        c.stdin(match stdin {
            Some(p) => Stdio::from(std::fs::File::open(p).unwrap()),
            None => Stdio::null(),
        });
        let out = c.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.docker(args, None);
        assert!(ok, "docker {args:?} failed: {err}{out}");
        out
    }
    fn actions(&self) -> Vec<String> {
        self.events
            .events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.1.clone())
            .collect()
    }
}

#[test]
fn docker_cli_drives_the_image_routes() {
    if !Path::new(DOCKER).exists() {
        eprintln!("skipping: {DOCKER} is not installed");
        return;
    }
    let d = start();
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("busybox.tar");
    std::fs::write(&archive, busybox_archive()).unwrap();
    let id = busybox_image().id();

    let out = d.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    let out = d.ok(&[
        "images",
        "--no-trunc",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.ID}}",
    ]);
    assert_eq!(out.trim(), format!("busybox:latest {id}"));

    d.ok(&["tag", "busybox", "localhost:5000/a/b:t"]);
    let out = d.ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}} {{.RepoTags}}",
        "localhost:5000/a/b:t",
    ]);
    assert!(out.starts_with(&id), "{out}");
    assert!(out.contains("localhost:5000/a/b:t"), "{out}");
    let out = d.ok(&["history", "--no-trunc", "--format", "{{.ID}}", "busybox"]);
    assert_eq!(out.lines().next().unwrap(), id);

    // Save through the CLI, load the result into a separate store.
    let saved = tmp.path().join("saved.tar");
    d.ok(&[
        "save",
        "-o",
        saved.to_str().unwrap(),
        "busybox",
        "localhost:5000/a/b:t",
    ]);
    let other = tempfile::tempdir().unwrap();
    let s2 = ImageStore::open(other.path()).unwrap();
    s2.load(std::fs::File::open(&saved).unwrap(), &mut |_| {})
        .unwrap();
    assert_eq!(s2.resolve("localhost:5000/a/b:t").unwrap(), id);
    let (ok, _, err) = d.docker(
        &[
            "save",
            "-o",
            tmp.path().join("x.tar").to_str().unwrap(),
            "nope",
        ],
        None,
    );
    assert!(!ok && err.contains("No such image: nope"), "{err}");

    // Import from stdin with changes.
    let layer = tmp.path().join("rootfs.tar");
    std::fs::write(
        &layer,
        LayerBuilder::new().file("hello", b"hi", 0o644).build(),
    )
    .unwrap();
    let (ok, out, err) = d.docker(
        &[
            "import",
            "--change",
            "CMD [\"/hello\"]",
            "--change",
            "ENV A=b",
            "-m",
            "msg",
            "-",
            "imp:1",
        ],
        Some(&layer),
    );
    assert!(ok, "{err}");
    assert!(out.trim().starts_with("sha256:"), "{out}");
    let out = d.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Cmd}} {{.Comment}}",
        "imp:1",
    ]);
    assert_eq!(out.trim(), r#"["/hello"] msg"#);

    let out = d.ok(&["rmi", "localhost:5000/a/b:t"]);
    assert_eq!(out.trim(), "Untagged: localhost:5000/a/b:t");
    let (ok, _, err) = d.docker(&["rmi", "nope"], None);
    assert!(!ok && err.contains("No such image: nope"), "{err}");
    let out = d.ok(&["rmi", "imp:1"]);
    assert!(
        out.contains("Untagged: imp:1") && out.contains("Deleted: sha256:"),
        "{out}"
    );

    // Untag busybox, then prune the dangling image.
    d.ok(&["rmi", "-f", "busybox"]);
    let out = d.ok(&["images", "-q"]);
    assert!(
        out.trim().is_empty(),
        "busybox had one tag: rmi by name deletes it: {out}"
    );
    let out = d.ok(&["image", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");

    let actions = d.actions();
    for a in ["load", "tag", "save", "import", "untag", "delete", "prune"] {
        assert!(
            actions.iter().any(|x| x == a),
            "no {a} event in {actions:?}"
        );
    }
}
