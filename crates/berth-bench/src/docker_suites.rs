//! Suites that drive an engine through the real docker CLI: `images`
//! (`docker load` / `docker save` of a ~100 MB multi-layer image) and `run`
//! (`docker run --rm busybox true`, one after another and 20 at once, per
//! runtime). Both engines get exactly the same commands.

use crate::report::{Failure, Figure};
use crate::suite::SuiteOutput;
use berth_testkit::image::{
    busybox_archive, save_archive, Compress, LayerBuilder, Layout, TestImage,
};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DOCKER: &str = "/usr/local/bin/docker";

fn docker(socket: &Path) -> Command {
    let mut c = Command::new(DOCKER);
    c.arg("-H").arg(format!("unix://{}", socket.display()));
    c.env(
        "DOCKER_CONFIG",
        std::env::temp_dir().join("berth-bench-docker-config"),
    );
    c.stdin(Stdio::null());
    c
}

fn run_ok(mut c: Command) -> Result<(), String> {
    let o = c.output().map_err(|e| format!("running docker: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
    }
}

/// Loads `archive` through `docker load`.
fn load(socket: &Path, archive: &[u8]) -> Result<(), String> {
    let mut child = docker(socket)
        .args(["load", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(archive)
        .map_err(|e| e.to_string())?;
    let o = child.wait_with_output().map_err(|e| e.to_string())?;
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
    }
}

/// Loads the test busybox image (`busybox:latest`).
pub fn load_busybox(socket: &Path) -> Result<(), String> {
    load(socket, &busybox_archive())
}

/// A ~100 MB image of `layers` layers of incompressible data.
pub fn big_image(total: usize, layers: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let per = total / layers;
    let ls: Vec<Vec<u8>> = (0..layers)
        .map(|i| {
            let data: Vec<u8> = (0..per)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            LayerBuilder::new()
                .dir("data")
                .file(&format!("data/blob{i}"), &data, 0o644)
                .build()
        })
        .collect();
    save_archive(
        &[TestImage::new("bench/big:latest", ls)],
        Layout::Legacy,
        Compress::None,
    )
}

/// `images`: load and save throughput of a ~100 MB, 8-layer image.
pub fn images(socket: &Path) -> SuiteOutput {
    let mut out = SuiteOutput::default();
    let archive = big_image(100 << 20, 8);
    let mb = archive.len() as f64 / (1 << 20) as f64;
    let _ = run_ok({
        let mut c = docker(socket);
        c.args(["rmi", "-f", "bench/big:latest"]);
        c
    });
    let t = Instant::now();
    match load(socket, &archive) {
        Ok(()) => out.figures.push(Figure::per_sec(
            "images load MB/s",
            mb / t.elapsed().as_secs_f64(),
        )),
        Err(e) => out.failures.push(Failure {
            name: "images load MB/s".into(),
            reason: e,
        }),
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("saved.tar");
    let t = Instant::now();
    let mut c = docker(socket);
    c.args(["save", "-o"]).arg(&target).arg("bench/big:latest");
    match run_ok(c) {
        Ok(()) => {
            let size = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0) as f64;
            out.figures.push(Figure::per_sec(
                "images save MB/s",
                size / (1 << 20) as f64 / t.elapsed().as_secs_f64(),
            ))
        }
        Err(e) => out.failures.push(Failure {
            name: "images save MB/s".into(),
            reason: e,
        }),
    }
    out
}

fn run_true(socket: &Path, runtime: Option<&str>) -> Result<Duration, String> {
    let mut c = docker(socket);
    c.args(["run", "--rm"]);
    if let Some(r) = runtime {
        c.arg(format!("--runtime={r}"));
    }
    c.args(["busybox", "true"]);
    let t = Instant::now();
    run_ok(c)?;
    Ok(t.elapsed())
}

/// `run`: `docker run --rm busybox true`, median of `n` in a row and the
/// wall time of 20 at once, for the engine's default runtime and for runc.
pub fn run(socket: &Path, n: usize) -> SuiteOutput {
    let mut out = SuiteOutput::default();
    if let Err(e) = load(socket, &busybox_archive()) {
        out.failures.push(Failure {
            name: "run --rm true".into(),
            reason: format!("loading busybox: {e}"),
        });
        return out;
    }
    for (label, runtime) in [("default", None), ("runc", Some("runc"))] {
        let name = format!("run --rm true ({label}) p50");
        let mut times = Vec::new();
        let mut failed = None;
        let _ = run_true(socket, runtime); // warm-up
        for _ in 0..n.max(1) {
            match run_true(socket, runtime) {
                Ok(d) => times.push(d),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failed {
            out.failures.push(Failure { name, reason: e });
            continue;
        }
        times.sort();
        out.figures
            .push(Figure::micros(name, times[times.len() / 2]));
        let t = Instant::now();
        let handles: Vec<_> = (0..20)
            .map(|_| {
                let s = socket.to_path_buf();
                let r = runtime.map(str::to_string);
                std::thread::spawn(move || run_true(&s, r.as_deref()))
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        let wall = t.elapsed();
        let name = format!("run --rm true ({label}) x20 parallel");
        match results.into_iter().find_map(|r| match r {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some("a run thread panicked".into()),
        }) {
            None => out.figures.push(Figure::micros(name, wall)),
            Some(e) => out.failures.push(Failure { name, reason: e }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_image_has_the_asked_size_and_layers() {
        let a = big_image(1 << 20, 4);
        assert!(a.len() > 1 << 20 && a.len() < 2 << 20, "{}", a.len());
        let mut ar = tar::Archive::new(&a[..]);
        let layers = ar
            .entries()
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .unwrap()
                    .to_string_lossy()
                    .ends_with("layer.tar")
            })
            .count();
        assert_eq!(layers, 4);
    }
}
