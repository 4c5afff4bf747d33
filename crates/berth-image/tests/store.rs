//! The image store against real archives, real unpacking and real overlay
//! mounts (these tests run as root).

use berth_core::Filters;
use berth_image::{mount_rootfs, unmount_rootfs, ImageStore};
use berth_testkit::image::{
    busybox_archive, busybox_image, gzip, save_archive, sha256, Compress, LayerBuilder, Layout,
    TestImage,
};
use berth_types::image::DeleteItem;
use std::fs;
use std::path::Path;

fn store() -> (tempfile::TempDir, ImageStore) {
    let d = tempfile::tempdir().unwrap();
    let s = ImageStore::open(d.path()).unwrap();
    (d, s)
}

fn load(s: &ImageStore, data: &[u8]) -> berth_image::Result<Vec<String>> {
    let mut lines = Vec::new();
    s.load(data, &mut |l| lines.push(l.to_string()))?;
    Ok(lines)
}

fn entries(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(p)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Nothing but committed objects: empty tmp/, every layer and blob used.
fn assert_clean(root: &Path, images: usize) {
    let r = root.join("image");
    assert!(
        entries(&r.join("tmp")).is_empty(),
        "tmp not empty: {:?}",
        entries(&r.join("tmp"))
    );
    assert_eq!(entries(&r.join("images")).len(), images);
    assert_eq!(entries(&r.join("blobs/sha256")).len(), images);
    if images == 0 {
        assert!(entries(&r.join("layers")).is_empty());
        assert!(entries(&r.join("l")).is_empty());
    }
}

struct Mounted(tempfile::TempDir);
impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = unmount_rootfs(self.0.path());
    }
}

fn mount(s: &ImageStore, image: &str, cid: &str) -> Mounted {
    let m = s.prepare_rootfs(image, cid).unwrap();
    let target = tempfile::tempdir().unwrap();
    mount_rootfs(&m, target.path()).unwrap();
    Mounted(target)
}

#[test]
fn loads_busybox_in_every_layout_with_dockerd_ids() {
    let img = busybox_image();
    for (layout, comp) in [
        (Layout::Legacy, Compress::None),
        (Layout::OciWithManifest, Compress::None),
        (Layout::Oci, Compress::Gzip),
        (Layout::OciWithManifest, Compress::Gzip),
    ] {
        let (_d, s) = store();
        let lines = load(&s, &save_archive(std::slice::from_ref(&img), layout, comp)).unwrap();
        assert_eq!(lines, vec!["Loaded image: busybox:latest"], "{layout:?}");
        let i = s.inspect("busybox").unwrap();
        assert_eq!(i.id, img.id(), "{layout:?} {comp:?}");
        assert_eq!(i.repo_tags, vec!["busybox:latest"]);
        assert_eq!(i.root_fs.layers, img.diff_ids());
        assert_eq!(
            s.resolve("docker.io/library/busybox:latest").unwrap(),
            img.id()
        );
        assert_eq!(s.resolve(&img.id()[7..19]).unwrap(), img.id());
        let bydigest = format!("busybox@{}", img.id());
        assert_eq!(s.resolve(&bydigest).unwrap(), img.id());
        if layout == Layout::Oci {
            let dig = &i.repo_digests[0];
            assert!(dig.starts_with("busybox@sha256:"), "{dig}");
            assert_eq!(s.resolve(dig).unwrap(), img.id());
        }
    }
}

#[test]
fn zstd_layers_load() {
    let img = busybox_image();
    let mut b = tar::Builder::new(Vec::new());
    let config = img.config();
    let mut layers = Vec::new();
    for l in &img.layers {
        let z = zstd::encode_all(&l[..], 3).unwrap();
        let p = format!("blobs/sha256/{}", &sha256(&z)[7..]);
        let mut h = tar::Header::new_gnu();
        h.set_size(z.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, &p, &z[..]).unwrap();
        layers.push(p);
    }
    let cp = format!("blobs/sha256/{}", &img.id()[7..]);
    let mut h = tar::Header::new_gnu();
    h.set_size(config.len() as u64);
    b.append_data(&mut h, &cp, &config[..]).unwrap();
    let m = serde_json::json!([{"Config": cp, "RepoTags": ["z:1"], "Layers": layers}]);
    let m = serde_json::to_vec(&m).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(m.len() as u64);
    b.append_data(&mut h, "manifest.json", &m[..]).unwrap();
    let (_d, s) = store();
    load(&s, &b.into_inner().unwrap()).unwrap();
    assert_eq!(s.resolve("z:1").unwrap(), img.id());
}

#[test]
fn save_round_trips_through_berth() {
    let (_d, s) = store();
    load(&s, &busybox_archive()).unwrap();
    s.tag("busybox", "localhost:5000/a/b", Some("v1")).unwrap();
    let mut out = Vec::new();
    let ids = s
        .save(
            &["busybox".into(), "localhost:5000/a/b:v1".into()],
            &mut out,
        )
        .unwrap();
    assert_eq!(ids.len(), 1);
    let (_d2, s2) = store();
    let mut lines = load(&s2, &out).unwrap();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "Loaded image: busybox:latest",
            "Loaded image: localhost:5000/a/b:v1"
        ]
    );
    assert_eq!(s2.resolve("busybox").unwrap(), busybox_image().id());
    assert_eq!(
        s2.resolve("localhost:5000/a/b:v1").unwrap(),
        busybox_image().id()
    );
    // Saved twice, byte for byte the same.
    let mut again = Vec::new();
    s.save(
        &["busybox".into(), "localhost:5000/a/b:v1".into()],
        &mut again,
    )
    .unwrap();
    assert_eq!(out, again);
    assert!(s.save(&["nope".into()], Vec::new()).is_err());
}

#[test]
fn busybox_rootfs_mounts_and_runs() {
    let (_d, s) = store();
    load(&s, &busybox_archive()).unwrap();
    let m = mount(&s, "busybox", "c1");
    let root = m.0.path();
    assert!(root.join("bin/busybox").is_file());
    assert_eq!(
        fs::read_link(root.join("bin/ls")).unwrap(),
        Path::new("/bin/busybox")
    );
    let out = std::process::Command::new("chroot")
        .arg(root)
        .args([
            "/bin/sh",
            "-c",
            "echo hi > /tmp/x && cat /etc/hostname /tmp/x",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "busybox\nhi\n");
    drop(m);
    assert!(
        s.upper_dir("c1").join("tmp/x").exists(),
        "write went to the upper dir"
    );
    s.cleanup("c1").unwrap();
    assert!(!s.upper_dir("c1").exists());
}

#[test]
fn whiteouts_and_opaque_dirs_apply() {
    let l1 = LayerBuilder::new()
        .dir("a")
        .file("a/gone", b"1", 0o644)
        .file("a/kept", b"2", 0o644)
        .dir("d")
        .file("d/old", b"3", 0o644)
        .build();
    let l2 = LayerBuilder::new()
        .whiteout("a/gone")
        .dir("d")
        .opaque("d")
        .file("d/new", b"4", 0o644)
        .build();
    let img = TestImage::new("wh:1", vec![l1, l2]);
    let (_d, s) = store();
    load(&s, &save_archive(&[img], Layout::Legacy, Compress::None)).unwrap();
    let m = mount(&s, "wh:1", "c");
    let r = m.0.path();
    assert!(!r.join("a/gone").exists());
    assert_eq!(fs::read(r.join("a/kept")).unwrap(), b"2");
    assert!(!r.join("d/old").exists());
    assert_eq!(fs::read(r.join("d/new")).unwrap(), b"4");
}

#[test]
fn many_layers_mount_through_short_links() {
    let mut layers = vec![LayerBuilder::new()
        .file("bottom.txt", b"from the bottom", 0o644)
        .build()];
    for i in 1..130 {
        layers.push(
            LayerBuilder::new()
                .file(&format!("f{i}"), format!("{i}").as_bytes(), 0o644)
                .build(),
        );
    }
    let img = TestImage::new("tall:1", layers);
    let (_d, s) = store();
    load(
        &s,
        &save_archive(&[img], Layout::OciWithManifest, Compress::None),
    )
    .unwrap();
    let desc = s.prepare_rootfs("tall:1", "tall").unwrap();
    assert!(desc.cwd.is_some(), "130 absolute paths cannot fit one page");
    let m = mount(&s, "tall:1", "tall");
    assert_eq!(
        fs::read(m.0.path().join("bottom.txt")).unwrap(),
        b"from the bottom"
    );
    assert_eq!(fs::read(m.0.path().join("f129")).unwrap(), b"129");
}

#[test]
fn shared_layers_are_unpacked_once() {
    let base = LayerBuilder::new().file("base", b"b", 0o644).build();
    let a = TestImage::new(
        "a:1",
        vec![
            base.clone(),
            LayerBuilder::new().file("a", b"a", 0o644).build(),
        ],
    );
    let b = TestImage::new(
        "b:1",
        vec![base, LayerBuilder::new().file("b", b"b", 0o644).build()],
    );
    let (d, s) = store();
    load(
        &s,
        &save_archive(std::slice::from_ref(&a), Layout::Legacy, Compress::None),
    )
    .unwrap();
    load(&s, &save_archive(&[b], Layout::Legacy, Compress::None)).unwrap();
    assert_eq!(entries(&d.path().join("image/layers")).len(), 3);
    let df = s.disk_usage();
    assert_eq!(df.images.len(), 2);
    assert!(df.images.iter().all(|i| i.shared_size == 1));
    // Deleting one image keeps the shared layer.
    let out = s.remove("b:1", false, false).unwrap();
    assert_eq!(out.items[0], DeleteItem::Untagged("b:1".into()));
    assert!(matches!(out.items[1], DeleteItem::Deleted(_)));
    assert_eq!(entries(&d.path().join("image/layers")).len(), 2);
    assert_eq!(s.resolve("a:1").unwrap(), a.id());
}

#[test]
fn tag_untag_delete_and_conflicts() {
    let (d, s) = store();
    load(&s, &busybox_archive()).unwrap();
    let id = s.resolve("busybox").unwrap();
    s.tag("busybox", "mine", None).unwrap();
    s.tag(&id, "mine", Some("2")).unwrap();
    assert!(s
        .inspect("mine:latest")
        .unwrap()
        .metadata
        .last_tag_time
        .is_some());
    // By ID with several references: must force.
    let e = s.remove(&id, false, false).unwrap_err();
    assert!(e.to_string().contains("must be forced"), "{e}");
    // By reference with others left: only untag.
    let out = s.remove("mine", false, false).unwrap();
    assert_eq!(out.items, vec![DeleteItem::Untagged("mine:latest".into())]);
    assert!(s.resolve("mine").is_err());
    // A container uses it: the last reference cannot go without force.
    s.prepare_rootfs("busybox", "ctr").unwrap();
    s.remove("mine:2", false, false).unwrap();
    let e = s.remove("busybox", false, false).unwrap_err();
    assert!(e.to_string().contains("container ctr is using"), "{e}");
    assert_eq!(
        berth_types::Error::from(e).kind,
        berth_types::ErrorKind::Conflict
    );
    // Forced: untagged but kept for the container.
    let out = s.remove("busybox", true, false).unwrap();
    assert_eq!(
        out.items,
        vec![DeleteItem::Untagged("busybox:latest".into())]
    );
    assert!(s.resolve(&id).is_ok());
    s.cleanup("ctr").unwrap();
    // Now by ID: deleted with its layers.
    let out = s.remove(&id, false, false).unwrap();
    assert_eq!(out.items[0], DeleteItem::Deleted(id.clone()));
    assert_eq!(
        out.items.len(),
        3,
        "image and its two layers: {:?}",
        out.items
    );
    assert_clean(d.path(), 0);
    assert!(matches!(
        s.remove("busybox", false, false),
        Err(berth_image::ImageError::NotFound(_))
    ));
}

#[test]
fn list_filters_and_prune() {
    let mut old = TestImage::new(
        "old:1",
        vec![LayerBuilder::new().file("o", b"o", 0o644).build()],
    );
    old.created = "2020-01-01T00:00:00Z".into();
    old.labels = vec![("team".into(), "a".into())];
    let new = TestImage::new(
        "new:1",
        vec![LayerBuilder::new().file("n", b"n", 0o644).build()],
    );
    let dangling = TestImage::new("", vec![LayerBuilder::new().file("d", b"d", 0o644).build()]);
    let (d, s) = store();
    let lines = load(
        &s,
        &save_archive(
            &[old.clone(), new.clone(), dangling.clone()],
            Layout::OciWithManifest,
            Compress::None,
        ),
    )
    .unwrap();
    assert!(
        lines.contains(&format!("Loaded image ID: {}", dangling.id())),
        "{lines:?}"
    );
    let f = |j: &str| Filters::parse(j).unwrap();
    let ids =
        |j: &str| -> Vec<String> { s.list(&f(j)).unwrap().into_iter().map(|i| i.id).collect() };
    assert_eq!(ids("").len(), 3);
    assert_eq!(ids(r#"{"dangling":["true"]}"#), vec![dangling.id()]);
    assert_eq!(ids(r#"{"label":["team=a"]}"#), vec![old.id()]);
    assert_eq!(ids(r#"{"reference":["ne*"]}"#), vec![new.id()]);
    assert_eq!(ids(r#"{"before":["new:1"]}"#), vec![old.id()]);
    assert_eq!(ids(r#"{"since":["old:1"]}"#).len(), 2);
    assert!(s.list(&f(r#"{"bogus":["1"]}"#)).is_err());
    assert_eq!(s.history("old:1").unwrap()[0].tags, vec!["old:1"]);

    let (outs, _) = s.prune(&Filters::default()).unwrap();
    let deleted: Vec<String> = outs.iter().map(|o| o.image_id.clone()).collect();
    let items: Vec<DeleteItem> = outs.into_iter().flat_map(|o| o.items).collect();
    assert_eq!(deleted, vec![dangling.id()]);
    assert!(items.contains(&DeleteItem::Deleted(dangling.id())));
    let (outs, reclaimed) = s
        .prune(&f(r#"{"dangling":["false"],"label":["team=a"]}"#))
        .unwrap();
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].image_id, old.id());
    assert_eq!(outs[0].items[0], DeleteItem::Untagged("old:1".into()));
    assert_eq!(reclaimed, 1);
    assert_clean(d.path(), 1);
}

#[test]
fn import_with_changes() {
    let (_d, s) = store();
    let layer = gzip(&LayerBuilder::new().file("hello", b"world", 0o644).build());
    let id = s
        .import(
            &layer[..],
            Some("imported:v1"),
            &[
                "CMD [\"/hello\"]".into(),
                "ENV A=1".into(),
                "EXPOSE 80".into(),
                "LABEL x=y".into(),
                "USER 1000".into(),
                "WORKDIR /w".into(),
                "VOLUME /data".into(),
                "ENTRYPOINT [\"/e\"]".into(),
            ],
            "a message",
        )
        .unwrap();
    let i = s.inspect("imported:v1").unwrap();
    assert_eq!(i.id, id);
    assert_eq!(i.comment, "a message");
    assert_eq!(i.config["Cmd"], serde_json::json!(["/hello"]));
    assert_eq!(i.config["Entrypoint"], serde_json::json!(["/e"]));
    assert_eq!(i.config["Env"], serde_json::json!(["A=1"]));
    assert_eq!(i.config["User"], "1000");
    assert_eq!(i.config["WorkingDir"], "/w");
    assert!(i.config["ExposedPorts"]["80/tcp"].is_object());
    assert!(i.config["Volumes"]["/data"].is_object());
    assert_eq!(i.config["Labels"]["x"], "y");
    let m = mount(&s, &id, "imp");
    assert_eq!(fs::read(m.0.path().join("hello")).unwrap(), b"world");
    assert!(s.import(&layer[..], None, &["RUN x".into()], "").is_err());
}

#[test]
fn multi_platform_oci_index_picks_the_host_platform() {
    let img = busybox_image();
    let archive = save_archive(std::slice::from_ref(&img), Layout::Oci, Compress::Gzip);
    // Rewrite: index.json -> nested index (no media type) -> the manifest
    // for linux/amd64 plus an arm64 one the archive does not carry.
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut a = tar::Archive::new(&archive[..]);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().display().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        files.push((p, data));
    }
    let index: serde_json::Value =
        serde_json::from_slice(&files.iter().find(|(p, _)| p == "index.json").unwrap().1).unwrap();
    let mut m = index["manifests"][0].clone();
    let ann = m["annotations"].take();
    m.as_object_mut().unwrap().remove("annotations");
    m["platform"] = serde_json::json!({"architecture": "amd64", "os": "linux"});
    let missing = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{}", "0".repeat(64)), "size": 10,
        "platform": {"architecture": "arm64", "os": "linux"}});
    let nested =
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [missing, m]}))
            .unwrap();
    let nd = sha256(&nested);
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [
        {"digest": nd, "size": nested.len(), "annotations": ann}]});
    let mut b = tar::Builder::new(Vec::new());
    for (p, data) in files.iter().filter(|(p, _)| p != "index.json") {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        b.append_data(&mut h, p, &data[..]).unwrap();
    }
    for (p, data) in [
        (format!("blobs/sha256/{}", &nd[7..]), nested),
        ("index.json".to_string(), serde_json::to_vec(&top).unwrap()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        b.append_data(&mut h, &p, &data[..]).unwrap();
    }
    let (_d, s) = store();
    let lines = load(&s, &b.into_inner().unwrap()).unwrap();
    assert_eq!(lines, vec!["Loaded image: busybox:latest"]);
    assert_eq!(s.resolve("busybox").unwrap(), img.id());
}
