//! `kill -9` in the middle of a load: the store must be consistent when it
//! is opened again. A child process (this test binary, running the ignored
//! helper below) loads from a pipe that the parent feeds and then kills.

use berth_image::ImageStore;
use berth_testkit::image::{save_archive, Compress, LayerBuilder, Layout, TestImage};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
#[ignore = "helper process for kill_9_mid_load_leaves_a_consistent_store"]
fn helper_load_from_stdin() {
    let Ok(root) = std::env::var("BERTH_CRASH_ROOT") else {
        return;
    };
    let s = ImageStore::open(Path::new(&root)).unwrap();
    s.load(std::io::stdin().lock(), &mut |_| {}).unwrap();
}

fn big_image() -> TestImage {
    let mut layers = Vec::new();
    for i in 0..12u32 {
        let data: Vec<u8> = (0..400_000u32)
            .map(|x| (x.wrapping_mul(2654435761) >> (i % 7)) as u8)
            .collect();
        let mut b = LayerBuilder::new().file(&format!("layer{i}.bin"), &data, 0o644);
        for j in 0..50 {
            b = b.file(&format!("d{i}/f{j}"), format!("{i}-{j}").as_bytes(), 0o644);
        }
        layers.push(b.build());
    }
    TestImage::new("crash:1", layers)
}

/// Checks the store directly on disk, then through a reopened store.
fn check_consistent(root: &Path, img: &TestImage) -> bool {
    let s = ImageStore::open(root).unwrap();
    let r = root.join("image");
    assert_eq!(
        fs::read_dir(r.join("tmp")).unwrap().count(),
        0,
        "tmp left over"
    );
    for e in fs::read_dir(r.join("layers")).unwrap().flatten() {
        assert!(e.path().join("meta.json").is_file(), "layer without meta");
        assert!(e.path().join("layer.tar").is_file(), "layer without tar");
    }
    for e in fs::read_dir(r.join("l")).unwrap().flatten() {
        assert!(
            e.path().join(".").exists() || fs::read_dir(e.path()).is_ok(),
            "dangling link"
        );
    }
    match s.resolve("crash:1") {
        Ok(id) => {
            assert_eq!(id, img.id());
            // Complete: every layer is there and its content is intact.
            let layers = fs::read_dir(r.join("layers")).unwrap().count();
            assert_eq!(layers, 12);
            let mut out = Vec::new();
            s.save(&["crash:1".into()], &mut out).unwrap();
            true
        }
        Err(_) => {
            assert_eq!(s.count(), 0);
            assert_eq!(
                fs::read_dir(r.join("layers")).unwrap().count(),
                0,
                "orphan layers"
            );
            assert_eq!(
                fs::read_dir(r.join("l")).unwrap().count(),
                0,
                "orphan links"
            );
            assert_eq!(
                fs::read_dir(r.join("blobs/sha256")).unwrap().count(),
                0,
                "orphan blobs"
            );
            false
        }
    }
}

#[test]
fn kill_9_mid_load_leaves_a_consistent_store() {
    let img = big_image();
    let archive = save_archive(
        std::slice::from_ref(&img),
        Layout::OciWithManifest,
        Compress::Gzip,
    );
    let exe = std::env::current_exe().unwrap();
    let d = tempfile::tempdir().unwrap();
    let mut completed = 0;
    // Cut the stream at several points, then also let it all through and
    // kill after growing delays (catching the unpack and commit phases).
    let plan: Vec<(usize, u64)> = [1, 3, 5, 7, 9]
        .iter()
        .map(|k| (archive.len() * k / 10, 150))
        .chain(
            [0u64, 20, 60, 120, 250, 500, 2000]
                .iter()
                .map(|ms| (archive.len(), *ms)),
        )
        .collect();
    for (cut, delay_ms) in plan {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "helper_load_from_stdin",
                "--test-threads=1",
            ])
            .env("BERTH_CRASH_ROOT", d.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        {
            let mut stdin = child.stdin.take().unwrap();
            let _ = stdin.write_all(&archive[..cut]);
            let _ = stdin.flush();
            std::thread::sleep(Duration::from_millis(delay_ms));
            child.kill().unwrap(); // SIGKILL
            drop(stdin);
        }
        child.wait().unwrap();
        if check_consistent(d.path(), &img) {
            completed += 1;
            // Start over from an empty store for the next round.
            let s = ImageStore::open(d.path()).unwrap();
            s.remove("crash:1", true, false).unwrap();
        }
    }
    eprintln!("{completed} of 12 kills came after the load had committed");
    // After all that, a load still works.
    let s = ImageStore::open(d.path()).unwrap();
    s.load(&archive[..], &mut |_| {}).unwrap();
    assert_eq!(s.resolve("crash:1").unwrap(), img.id());
}
