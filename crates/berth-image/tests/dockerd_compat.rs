//! Compatibility with the real dockerd (Debian's 20.10): what berth saves,
//! dockerd loads with the same image IDs (and runs); what dockerd saves,
//! berth loads with the same IDs. Skipped, with the reason printed, when
//! dockerd is not installed or does not start.

use berth_image::ImageStore;
use berth_testkit::image::{
    busybox_image, save_archive, Compress, LayerBuilder, Layout, RealDockerd, TestImage,
};

#[test]
fn berth_and_dockerd_load_each_others_archives() {
    let dockerd = match RealDockerd::start() {
        Ok(d) => d,
        Err(why) => {
            eprintln!("skipping dockerd compatibility test: {why}");
            return;
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&tmp.path().join("berth")).unwrap();

    // Two images sharing a base layer, one with whiteouts.
    let base = LayerBuilder::new()
        .dir("d")
        .file("d/a", b"a", 0o644)
        .file("d/b", b"b", 0o644)
        .build();
    let top = LayerBuilder::new()
        .whiteout("d/a")
        .file("d/c", b"c", 0o644)
        .build();
    let wh = TestImage::new("berth-wh:1", vec![base.clone(), top]);
    let other = TestImage::new(
        "berth-other:1",
        vec![base, LayerBuilder::new().file("o", b"o", 0o644).build()],
    );
    let bb = busybox_image();
    store
        .load(
            &save_archive(
                &[bb.clone(), wh.clone(), other.clone()],
                Layout::Legacy,
                Compress::Gzip,
            )[..],
            &mut |_| {},
        )
        .unwrap();

    // berth -> dockerd
    let saved = tmp.path().join("berth-save.tar");
    store
        .save(
            &[
                "busybox:latest".into(),
                "berth-wh:1".into(),
                "berth-other:1".into(),
            ],
            std::fs::File::create(&saved).unwrap(),
        )
        .unwrap();
    let out = dockerd.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    for img in [&bb, &wh, &other] {
        let id = dockerd.ok(&["image", "inspect", "--format", "{{.Id}}", &img.tags[0]]);
        assert_eq!(
            id.trim(),
            img.id(),
            "dockerd gave {} another ID",
            img.tags[0]
        );
    }
    let (ran, out) = dockerd.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo ran-in-dockerd",
    ]);
    if ran {
        assert!(out.contains("ran-in-dockerd"), "{out}");
    } else {
        eprintln!("note: dockerd could not run a container here: {out}");
    }

    // dockerd -> berth: dockerd's own save (legacy layout, shared layers as
    // symlinks) of the same images and of one dockerd created.
    let layer = tmp.path().join("rootfs.tar");
    std::fs::write(&layer, LayerBuilder::new().file("x", b"x", 0o644).build()).unwrap();
    let imported = dockerd.ok(&[
        "import",
        "--change",
        "CMD [\"/x\"]",
        layer.to_str().unwrap(),
        "from-dockerd:1",
    ]);
    let imported = imported.trim().to_string();
    dockerd.ok(&["tag", "busybox", "localhost:5000/a/b:t"]);
    let dsaved = tmp.path().join("dockerd-save.tar");
    dockerd.ok(&[
        "save",
        "-o",
        dsaved.to_str().unwrap(),
        "busybox:latest",
        "berth-wh:1",
        "berth-other:1",
        "from-dockerd:1",
        "localhost:5000/a/b:t",
    ]);
    let fresh = ImageStore::open(&tmp.path().join("berth2")).unwrap();
    let mut lines = Vec::new();
    fresh
        .load(std::fs::File::open(&dsaved).unwrap(), &mut |l| {
            lines.push(l.to_string())
        })
        .unwrap();
    assert!(
        lines.contains(&"Loaded image: localhost:5000/a/b:t".to_string()),
        "{lines:?}"
    );
    for img in [&bb, &wh, &other] {
        assert_eq!(fresh.resolve(&img.tags[0]).unwrap(), img.id());
    }
    assert_eq!(fresh.resolve("from-dockerd:1").unwrap(), imported);
    assert_eq!(fresh.resolve("localhost:5000/a/b:t").unwrap(), bb.id());
    let i = fresh.inspect("from-dockerd:1").unwrap();
    assert_eq!(i.config["Cmd"], serde_json::json!(["/x"]));
}
