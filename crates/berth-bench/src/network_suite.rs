//! The `network` suite, through the docker CLI, the same commands for both
//! engines:
//!
//! - container-to-container throughput over the default bridge: a busybox
//!   `nc -l` sink (fed by `sleep`, so it does not hang up at its own EOF),
//!   and a client piping `--net-mib` MiB of /dev/zero into
//!   `nc SINK_IP`, timed inside the client by busybox `time` (so container
//!   start-up is not counted); median of 3 rounds;
//! - connect latency to a port published on 127.0.0.1 (`-p
//!   127.0.0.1::80`, a busybox httpd): TCP connect alone, and connect +
//!   `GET /` + the whole answer, `--requests`-capped samples from the host.
//!   dockerd serves it through its userland proxy, berthd through its own.

use crate::report::{Failure, Figure};
use crate::stats::Latency;
use crate::suite::{interrupted, SuiteOutput};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DOCKER: &str = "/usr/local/bin/docker";

fn docker(socket: &Path, args: &[&str]) -> Result<String, String> {
    let o = Command::new(DOCKER)
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .env(
            "DOCKER_CONFIG",
            std::env::temp_dir().join("berth-bench-docker-config"),
        )
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running docker: {e}"))?;
    if o.status.success() {
        Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ))
    } else {
        Err(format!(
            "docker {}: {}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

/// Seconds from busybox `time`'s `real 0m 1.23s` (or `real 1.23s`).
pub fn parse_busybox_real(out: &str) -> Option<f64> {
    let line = out.lines().find(|l| l.trim_start().starts_with("real"))?;
    let rest = line.trim_start().strip_prefix("real")?.trim();
    let mut secs = 0.0;
    for part in rest.split_whitespace() {
        if let Some(m) = part.strip_suffix('m') {
            secs += m.parse::<f64>().ok()? * 60.0;
        } else if let Some(s) = part.strip_suffix('s') {
            secs += s.parse::<f64>().ok()?;
        } else {
            return None;
        }
    }
    Some(secs)
}

/// One round: a fresh sink, `mib` MiB through it; seconds of the transfer.
fn one_transfer(socket: &Path, mib: usize) -> Result<f64, String> {
    let sink = docker(
        socket,
        &[
            "run",
            "-d",
            "busybox",
            "sh",
            "-c",
            // busybox nc ends a connection at EOF on its own stdin: give it one that never ends.
            "sleep 3600 | nc -l -p 5001 > /dev/null",
        ],
    )?;
    let sink = sink.trim().to_string();
    let r = (|| {
        let ip = docker(
            socket,
            &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &sink],
        )?;
        let ip = ip.trim();
        if ip.is_empty() {
            return Err("the sink container has no address".to_string());
        }
        // The sink listens once its shell has run: give it a moment.
        std::thread::sleep(Duration::from_millis(300));
        let script = format!(
            "time sh -c 'dd if=/dev/zero bs=1048576 count={mib} 2>/dev/null | nc {ip} 5001'"
        );
        let out = docker(socket, &["run", "--rm", "busybox", "sh", "-c", &script])?;
        parse_busybox_real(&out).ok_or_else(|| format!("no time in {out:?}"))
    })();
    let _ = docker(socket, &["rm", "-f", &sink]);
    r
}

fn throughput(socket: &Path, mib: usize, out: &mut SuiteOutput) {
    let name = format!("network c2c throughput ({mib} MiB) MB/s");
    let mut rates = Vec::new();
    for _ in 0..3 {
        if interrupted() {
            return;
        }
        match one_transfer(socket, mib) {
            Ok(s) if s > 0.0 => rates.push(mib as f64 * 1.048_576 / s),
            Ok(_) => {}
            Err(e) => {
                out.failures.push(Failure { name, reason: e });
                return;
            }
        }
    }
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    match rates.get(rates.len() / 2) {
        Some(r) => out.figures.push(Figure::per_sec(name, *r)),
        None => out.failures.push(Failure {
            name,
            reason: "transfers too short to time".into(),
        }),
    }
}

fn get_once(port: u16) -> std::io::Result<usize> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n")?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    if !buf.starts_with(b"HTTP/1.") || !buf.windows(6).any(|w| w == b"200 OK") {
        return Err(std::io::Error::other(format!(
            "unexpected answer {:?}",
            String::from_utf8_lossy(&buf[..buf.len().min(80)])
        )));
    }
    Ok(buf.len())
}

fn latency(socket: &Path, samples: usize, out: &mut SuiteOutput) {
    let id = match docker(
        socket,
        &[
            "run",
            "-d",
            "-p",
            "127.0.0.1::80",
            "busybox",
            "sh",
            "-c",
            "mkdir -p /www && echo bench > /www/index.html && exec httpd -f -p 80 -h /www",
        ],
    ) {
        Ok(id) => id.trim().to_string(),
        Err(e) => {
            out.failures.push(Failure {
                name: "network published connect p50".into(),
                reason: e,
            });
            return;
        }
    };
    let r = (|| -> Result<(), String> {
        let port = docker(socket, &["port", &id, "80/tcp"])?;
        let port: u16 = port
            .lines()
            .next()
            .and_then(|l| l.rsplit(':').next())
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| format!("no published port in {port:?}"))?;
        // Ready: the first full answer.
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Err(e) = get_once(port) {
            if Instant::now() > deadline {
                return Err(format!("127.0.0.1:{port} never answered: {e}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut connects = Vec::with_capacity(samples);
        let start = Instant::now();
        for _ in 0..samples {
            let t = Instant::now();
            let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
            connects.push(t.elapsed());
            drop(s);
        }
        let wall = start.elapsed();
        let l = Latency::from_samples(connects, wall).ok_or("no samples")?;
        out.figures
            .push(Figure::micros("network published connect p50", l.p50));
        out.figures
            .push(Figure::micros("network published connect p99", l.p99));
        let mut gets = Vec::with_capacity(samples);
        let start = Instant::now();
        for _ in 0..samples {
            if interrupted() {
                return Err("interrupted".into());
            }
            let t = Instant::now();
            get_once(port).map_err(|e| e.to_string())?;
            gets.push(t.elapsed());
        }
        let wall = start.elapsed();
        let l = Latency::from_samples(gets, wall).ok_or("no samples")?;
        out.figures
            .push(Figure::micros("network published GET p50", l.p50));
        out.figures
            .push(Figure::micros("network published GET p99", l.p99));
        out.figures
            .push(Figure::per_sec("network published GET req/s", l.per_sec));
        Ok(())
    })();
    if let Err(e) = r {
        out.failures.push(Failure {
            name: "network published connect p50".into(),
            reason: e,
        });
    }
    let _ = docker(socket, &["rm", "-f", &id]);
}

/// The `network` suite against the engine on `socket`.
pub fn network(socket: &Path, mib: usize, samples: usize) -> SuiteOutput {
    let mut out = SuiteOutput::default();
    if let Err(e) = crate::docker_suites::load_busybox(socket) {
        out.failures.push(Failure {
            name: "network".into(),
            reason: format!("loading busybox: {e}"),
        });
        return out;
    }
    throughput(socket, mib, &mut out);
    latency(socket, samples, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busybox_time_output() {
        assert_eq!(
            parse_busybox_real("real\t0m 1.25s\nuser\t0m 0.01s\n"),
            Some(1.25)
        );
        assert_eq!(parse_busybox_real("x\nreal 1m 2.50s\n"), Some(62.5));
        assert_eq!(parse_busybox_real("nothing"), None);
    }
}
