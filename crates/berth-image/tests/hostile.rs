//! Hostile archives: each must fail (or be confined) without writing
//! outside the layer directory and without leaving anything half stored.

use berth_image::ImageStore;
use berth_testkit::image::{save_archive, Compress, LayerBuilder, Layout, TestImage};
use std::fs;
use std::path::Path;
use tar::EntryType;

fn load(s: &ImageStore, data: &[u8]) -> berth_image::Result<()> {
    s.load(data, &mut |_| {}).map(|_| ())
}

fn assert_empty_store(root: &Path) {
    for d in ["tmp", "images", "layers", "l", "blobs/sha256"] {
        let n = fs::read_dir(root.join("image").join(d)).unwrap().count();
        assert_eq!(n, 0, "{d} not empty after a failed load");
    }
}

/// Loads a one-layer image made of `layer`; returns the error text.
fn load_layer(layer: Vec<u8>) -> (tempfile::TempDir, ImageStore, berth_image::Result<()>) {
    let d = tempfile::tempdir().unwrap();
    let s = ImageStore::open(d.path()).unwrap();
    let img = TestImage::new("evil:1", vec![layer]);
    let r = load(&s, &save_archive(&[img], Layout::Legacy, Compress::None));
    (d, s, r)
}

fn expect_refused(layer: Vec<u8>, needle: &str) {
    let (d, _s, r) = load_layer(layer);
    let e = r.expect_err("hostile layer was accepted");
    assert!(e.to_string().contains(needle), "unexpected error: {e}");
    assert_eq!(
        berth_types::Error::from(e).kind,
        berth_types::ErrorKind::InvalidParameter
    );
    assert_empty_store(d.path());
}

#[test]
fn dot_dot_paths_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let name = format!("../../../../../../..{}/pwned", outside.path().display());
    let layer = LayerBuilder::new()
        .raw(EntryType::Regular, b"../escape", b"", b"x")
        .build();
    expect_refused(layer, "escapes the layer");
    let layer = LayerBuilder::new()
        .raw(EntryType::Regular, name.as_bytes(), b"", b"x")
        .build();
    expect_refused(layer, "escapes the layer");
    assert!(!outside.path().join("pwned").exists());
    let layer = LayerBuilder::new()
        .raw(EntryType::Regular, b"a/../../.wh.x", b"", b"")
        .build();
    expect_refused(layer, "escapes the layer");
}

#[test]
fn absolute_paths_stay_inside_the_layer() {
    let marker = format!("/tmp/berth-abs-{}", std::process::id());
    let layer = LayerBuilder::new()
        .raw(EntryType::Regular, marker.as_bytes(), b"", b"inside")
        .build();
    let (d, s, r) = load_layer(layer);
    r.unwrap();
    assert!(!Path::new(&marker).exists(), "wrote to the host's {marker}");
    let m = s.prepare_rootfs("evil:1", "c").unwrap();
    let lower = m.options[0].trim_start_matches("lowerdir=").to_string();
    assert_eq!(
        fs::read(Path::new(&lower).join(&marker[1..])).unwrap(),
        b"inside"
    );
    drop(d);
}

#[test]
fn symlink_escapes_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().display().to_string();
    // A symlink to a directory outside, then a file through it.
    let layer = LayerBuilder::new()
        .symlink("evil", &target)
        .raw(EntryType::Regular, b"evil/pwned", b"", b"x")
        .build();
    expect_refused(layer, "symlinked directory");
    // A relative symlink climbing out.
    let layer = LayerBuilder::new()
        .symlink("up", "../../../../../../../../..")
        .raw(EntryType::Regular, b"up/tmp/pwned", b"", b"x")
        .build();
    expect_refused(layer, "symlinked directory");
    // A symlinked parent made deeper in the tree.
    let layer = LayerBuilder::new()
        .dir("a")
        .symlink("a/b", &target)
        .raw(EntryType::Directory, b"a/b/c/", b"", b"")
        .build();
    expect_refused(layer, "symlinked directory");
    // Replacing a symlink with a file does not write through it.
    let victim = outside.path().join("victim");
    fs::write(&victim, b"safe").unwrap();
    let layer = LayerBuilder::new()
        .symlink("v", &victim.display().to_string())
        .file("v", b"overwritten", 0o644)
        .build();
    let (_d, _s, r) = load_layer(layer);
    r.unwrap();
    assert_eq!(fs::read(&victim).unwrap(), b"safe");
    assert!(fs::read_dir(outside.path()).unwrap().count() == 1);
}

#[test]
fn hardlink_escapes_are_refused() {
    let layer = LayerBuilder::new()
        .raw(EntryType::Link, b"h", b"../../../../etc/passwd", b"")
        .build();
    expect_refused(layer, "escapes the layer");
    // An absolute target is inside the layer, where it does not exist.
    let layer = LayerBuilder::new()
        .raw(EntryType::Link, b"h", b"/etc/passwd", b"")
        .build();
    expect_refused(layer, "not in the layer");
    // Through a symlinked directory.
    let layer = LayerBuilder::new()
        .symlink("s", "/etc")
        .raw(EntryType::Link, b"h", b"s/passwd", b"")
        .build();
    expect_refused(layer, "symlinked directory");
    // A legitimate hard link works.
    let layer = LayerBuilder::new()
        .file("a", b"data", 0o644)
        .hardlink("b", "a")
        .build();
    let (_d, _s, r) = load_layer(layer);
    r.unwrap();
}

#[test]
fn device_nodes_are_refused() {
    let layer = LayerBuilder::new()
        .raw(EntryType::Char, b"dev/mem", b"", b"")
        .build();
    expect_refused(layer, "device node");
    let layer = LayerBuilder::new()
        .raw(EntryType::Block, b"sda", b"", b"")
        .build();
    expect_refused(layer, "device node");
}

#[test]
fn huge_extension_headers_are_refused() {
    // A GNU long name claiming 8 GiB: must fail before buffering it.
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(EntryType::GNULongName);
    h.set_size(8 << 30);
    {
        let g = h.as_gnu_mut().unwrap();
        g.name[..13].copy_from_slice(b"././@LongLink");
    }
    h.set_cksum();
    let mut layer = h.as_bytes().to_vec();
    layer.extend(std::iter::repeat_n(b'a', 1 << 16));
    expect_refused(layer, "exceeds the limit");
    // The same in the outer archive.
    let d = tempfile::tempdir().unwrap();
    let s = ImageStore::open(d.path()).unwrap();
    let mut outer = h.as_bytes().to_vec();
    outer.extend(std::iter::repeat_n(b'a', 1 << 16));
    assert!(load(&s, &outer)
        .unwrap_err()
        .to_string()
        .contains("exceeds the limit"));
    assert_empty_store(d.path());
}

#[test]
fn digest_mismatch_aborts_and_stores_nothing() {
    let good = LayerBuilder::new().file("a", b"a", 0o644).build();
    let other = LayerBuilder::new().file("b", b"b", 0o644).build();
    let img = TestImage::new("m:1", vec![good.clone(), other.clone()]);
    // The archive carries a different second layer than the config says.
    let mut swapped = img.clone();
    swapped.layers[1] = LayerBuilder::new().file("b", b"tampered", 0o644).build();
    let archive = save_archive(&[swapped], Layout::Legacy, Compress::None);
    let config = img.config();
    let id_hex = &img.id()[7..];
    // Rebuild the manifest to point at the original config.
    let mut b = tar::Builder::new(Vec::new());
    let mut a = tar::Archive::new(&archive[..]);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().display().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if p.ends_with(".json") && p != "manifest.json" {
            let mut h = tar::Header::new_gnu();
            h.set_size(config.len() as u64);
            b.append_data(&mut h, format!("{id_hex}.json"), &config[..])
                .unwrap();
            continue;
        }
        if p == "manifest.json" {
            let mut m: serde_json::Value = serde_json::from_slice(&data).unwrap();
            m[0]["Config"] = format!("{id_hex}.json").into();
            data = serde_json::to_vec(&m).unwrap();
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        b.append_data(&mut h, &p, &data[..]).unwrap();
    }
    let d = tempfile::tempdir().unwrap();
    let s = ImageStore::open(d.path()).unwrap();
    let e = load(&s, &b.into_inner().unwrap()).unwrap_err();
    assert!(
        matches!(e, berth_image::ImageError::DigestMismatch { .. }),
        "{e}"
    );
    assert_empty_store(d.path());

    // An OCI blob whose content does not match its name.
    let mut archive = save_archive(&[img], Layout::Oci, Compress::None);
    let pos = archive
        .windows(good.len().min(600))
        .position(|w| w == &good[..good.len().min(600)])
        .unwrap();
    archive[pos + 600] ^= 0xff; // inside the first layer's file data
    let e = load(&s, &archive).unwrap_err();
    assert!(
        matches!(e, berth_image::ImageError::DigestMismatch { .. }),
        "{e}"
    );
    assert_empty_store(d.path());
}

#[test]
fn outer_links_cannot_escape() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "x/layer.tar", "../../../etc/passwd")
        .unwrap();
    let d = tempfile::tempdir().unwrap();
    let s = ImageStore::open(d.path()).unwrap();
    let e = load(&s, &b.into_inner().unwrap()).unwrap_err();
    assert!(e.to_string().contains("outside the archive"), "{e}");
    assert_empty_store(d.path());
}
