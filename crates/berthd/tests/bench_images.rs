//! Benchmark: `docker load` of a ~100 MB multi-layer image and `docker
//! save` of it, berth vs dockerd side by side, through the same docker CLI,
//! with each daemon's peak memory. berth runs as a child process (this
//! binary's ignored `helper_serve`), so its memory is measured alone.
//!
//! Run: `cargo test --release -p berthd --test bench_images -- --ignored
//! --nocapture bench_load_save`

#[path = "../src/images.rs"]
#[allow(dead_code)]
mod images;

use berth_image::ImageStore;
use berth_testkit::image::{
    peak_rss_kib, save_archive, Compress, LayerBuilder, Layout, RealDockerd, TestImage, DOCKER_CLI,
};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
#[ignore = "helper process for bench_load_save"]
fn helper_serve() {
    let (Ok(root), Ok(sock)) = (
        std::env::var("BERTH_BENCH_ROOT"),
        std::env::var("BERTH_BENCH_SOCK"),
    ) else {
        return;
    };
    let store = Arc::new(ImageStore::open(Path::new(&root)).unwrap());
    let events = Arc::new(berth_core::events::RecordingSink::default());
    let routes = images::routes(store, events);
    let app = axum::Router::new()
        .nest("/v1.47", routes.clone())
        .merge(routes)
        .route(
            "/_ping",
            axum::routing::get(|| async { ([("API-Version", "1.47"), ("OSType", "linux")], "OK") }),
        );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let l = tokio::net::UnixListener::bind(&sock).unwrap();
        axum::serve(l, app).await.unwrap();
    });
}

fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn docker(sock: &Path, args: &[&str]) -> Duration {
    let t = Instant::now();
    let out = Command::new(DOCKER_CLI)
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .args(args)
        .env("DOCKER_CONFIG", "/tmp/berth-bench-cli")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

#[test]
#[ignore = "benchmark; needs dockerd; run explicitly"]
fn bench_load_save() {
    let tmp = tempfile::tempdir().unwrap();
    // 5 layers of 20 MB incompressible data plus 200 small files each.
    let layers: Vec<Vec<u8>> = (0..5u64)
        .map(|i| {
            let mut b =
                LayerBuilder::new().file(&format!("big{i}.bin"), &noise(20 << 20, i + 1), 0o644);
            for j in 0..200 {
                b = b.file(
                    &format!("small{i}/{j}"),
                    format!("{i}.{j}").as_bytes(),
                    0o644,
                );
            }
            b.build()
        })
        .collect();
    let img = TestImage::new("bench:1", layers);
    let archive = tmp.path().join("bench.tar");
    std::fs::write(
        &archive,
        save_archive(std::slice::from_ref(&img), Layout::Legacy, Compress::None),
    )
    .unwrap();
    let size_mb = std::fs::metadata(&archive).unwrap().len() as f64 / 1e6;
    drop(img);

    // berth
    let sock = tmp.path().join("berth.sock");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "helper_serve", "--test-threads=1"])
        .env("BERTH_BENCH_ROOT", tmp.path().join("berth"))
        .env("BERTH_BENCH_SOCK", &sock)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    while !sock.exists() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let b_base = peak_rss_kib(child.id()).unwrap_or(0);
    let b_load = docker(&sock, &["load", "-i", archive.to_str().unwrap()]);
    let b_load_rss = peak_rss_kib(child.id()).unwrap_or(0);
    let out = tmp.path().join("b-out.tar");
    let b_save = docker(&sock, &["save", "-o", out.to_str().unwrap(), "bench:1"]);
    let b_rss = peak_rss_kib(child.id()).unwrap_or(0);
    child.kill().unwrap();
    child.wait().unwrap();

    // dockerd
    let d = match RealDockerd::start() {
        Ok(d) => d,
        Err(why) => {
            eprintln!("berth: load {b_load:?}, save {b_save:?}, peak RSS {b_rss} KiB; dockerd skipped: {why}");
            return;
        }
    };
    let d_base = peak_rss_kib(d.pid()).unwrap_or(0);
    let d_load = docker(&d.socket(), &["load", "-i", archive.to_str().unwrap()]);
    let d_load_rss = peak_rss_kib(d.pid()).unwrap_or(0);
    let out = tmp.path().join("d-out.tar");
    let d_save = docker(
        &d.socket(),
        &["save", "-o", out.to_str().unwrap(), "bench:1"],
    );
    let d_rss = peak_rss_kib(d.pid()).unwrap_or(0);

    let mbps = |t: Duration| size_mb / t.as_secs_f64();
    eprintln!("image: {size_mb:.1} MB, 5 layers");
    eprintln!("            load            save            peak RSS (KiB): start / after load / after save");
    eprintln!(
        "berthd   {:>6.2}s {:>6.1}MB/s  {:>6.2}s {:>6.1}MB/s   {b_base} / {b_load_rss} / {b_rss}",
        b_load.as_secs_f64(),
        mbps(b_load),
        b_save.as_secs_f64(),
        mbps(b_save)
    );
    eprintln!(
        "dockerd  {:>6.2}s {:>6.1}MB/s  {:>6.2}s {:>6.1}MB/s   {d_base} / {d_load_rss} / {d_rss}",
        d_load.as_secs_f64(),
        mbps(d_load),
        d_save.as_secs_f64(),
        mbps(d_save)
    );
}
