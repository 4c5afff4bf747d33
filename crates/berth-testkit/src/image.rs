//! Tiny test images: layer tars built in memory, and `docker save`
//! archives in the layouts dockerd writes, including a real `busybox:latest`
//! made from Debian's static `/bin/busybox` and its applet symlinks.

use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn hex_of(d: &str) -> &str {
    d.strip_prefix("sha256:").unwrap_or(d)
}

/// Builds one layer tar.
pub struct LayerBuilder {
    b: tar::Builder<Vec<u8>>,
}

impl Default for LayerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

fn hdr(typ: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(typ);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

impl LayerBuilder {
    pub fn new() -> Self {
        LayerBuilder {
            b: tar::Builder::new(Vec::new()),
        }
    }
    pub fn dir(mut self, path: &str) -> Self {
        let mut h = hdr(tar::EntryType::Directory, 0o755, 0);
        self.b.append_data(&mut h, path, std::io::empty()).unwrap();
        self
    }
    pub fn file(mut self, path: &str, data: &[u8], mode: u32) -> Self {
        let mut h = hdr(tar::EntryType::Regular, mode, data.len() as u64);
        self.b.append_data(&mut h, path, data).unwrap();
        self
    }
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = hdr(tar::EntryType::Symlink, 0o777, 0);
        self.b.append_link(&mut h, path, target).unwrap();
        self
    }
    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        let mut h = hdr(tar::EntryType::Link, 0o644, 0);
        self.b.append_link(&mut h, path, target).unwrap();
        self
    }
    /// `.wh.NAME` next to `path`'s file name: deletes `path` from below.
    pub fn whiteout(self, path: &str) -> Self {
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (format!("{d}/"), n),
            None => (String::new(), path),
        };
        self.file(&format!("{dir}.wh.{name}"), b"", 0o644)
    }
    /// Marks directory `dir` opaque.
    pub fn opaque(self, dir: &str) -> Self {
        self.file(&format!("{dir}/.wh..wh..opq"), b"", 0o644)
    }
    /// Appends an entry with a raw header whose name bytes are written
    /// as given (for hostile archives the builder would refuse).
    pub fn raw(mut self, typ: tar::EntryType, name: &[u8], link: &[u8], data: &[u8]) -> Self {
        let mut h = hdr(typ, 0o644, data.len() as u64);
        {
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name = [0; 100];
            gnu.name[..name.len()].copy_from_slice(name);
            gnu.linkname = [0; 100];
            gnu.linkname[..link.len()].copy_from_slice(link);
        }
        if matches!(typ, tar::EntryType::Char | tar::EntryType::Block) {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
        }
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }
    pub fn build(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

/// One image of an archive.
#[derive(Clone, Default)]
pub struct TestImage {
    pub tags: Vec<String>,
    pub layers: Vec<Vec<u8>>,
    pub cmd: Vec<String>,
    pub labels: Vec<(String, String)>,
    pub created: String,
    /// The image's `VOLUME`s.
    pub volumes: Vec<String>,
}

impl TestImage {
    pub fn new(tag: &str, layers: Vec<Vec<u8>>) -> Self {
        TestImage {
            tags: if tag.is_empty() {
                vec![]
            } else {
                vec![tag.to_string()]
            },
            layers,
            cmd: vec!["sh".into()],
            labels: vec![],
            created: "2024-01-01T00:00:00Z".into(),
            volumes: vec![],
        }
    }

    /// The layers after compression `comp` (identity by default).
    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| sha256(l)).collect()
    }

    pub fn config(&self) -> Vec<u8> {
        let labels: serde_json::Map<String, serde_json::Value> = self
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let mut config = json!({
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": self.cmd,
            "Labels": labels,
        });
        if !self.volumes.is_empty() {
            config["Volumes"] = self
                .volumes
                .iter()
                .map(|v| (v.clone(), json!({})))
                .collect();
        }
        serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "created": self.created,
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": self.diff_ids()},
            "history": self.layers.iter().enumerate().map(|(i, _)| json!({
                "created": self.created, "created_by": format!("layer {i}")
            })).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    /// The image ID dockerd gives this image.
    pub fn id(&self) -> String {
        sha256(&self.config())
    }
}

/// The layout of a `docker save` archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// dockerd 20.10: `<id>/layer.tar`, `<config-hex>.json`, manifest.json.
    Legacy,
    /// dockerd 25+: an OCI layout plus manifest.json.
    OciWithManifest,
    /// A plain OCI image layout (index.json only).
    Oci,
}

/// Layer compression in an archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compress {
    None,
    Gzip,
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn add(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    let mut h = hdr(tar::EntryType::Regular, 0o644, data.len() as u64);
    b.append_data(&mut h, name, data).unwrap();
}

/// Builds a `docker save` archive of `images`.
pub fn save_archive(images: &[TestImage], layout: Layout, compress: Compress) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut manifest = Vec::new();
    let mut index = Vec::new();
    let mut written = std::collections::HashSet::new();
    for img in images {
        let config = img.config();
        let id = sha256(&config);
        let mut layer_paths = Vec::new();
        let mut descs = Vec::new();
        for l in &img.layers {
            let blob = match compress {
                Compress::None => l.clone(),
                Compress::Gzip => gzip(l),
            };
            let d = sha256(&blob);
            let path = match layout {
                Layout::Legacy => format!("{}/layer.tar", hex_of(&sha256(l))),
                _ => format!("blobs/sha256/{}", hex_of(&d)),
            };
            if written.insert(path.clone()) {
                add(&mut b, &path, &blob);
            }
            let mt = match compress {
                Compress::None => "application/vnd.oci.image.layer.v1.tar",
                Compress::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            };
            descs.push(json!({"mediaType": mt, "digest": d, "size": blob.len()}));
            layer_paths.push(path);
        }
        let config_path = match layout {
            Layout::Legacy => format!("{}.json", hex_of(&id)),
            _ => format!("blobs/sha256/{}", hex_of(&id)),
        };
        if written.insert(config_path.clone()) {
            add(&mut b, &config_path, &config);
        }
        manifest.push(json!({"Config": config_path, "RepoTags": img.tags, "Layers": layer_paths}));
        if layout != Layout::Legacy {
            let m = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": id, "size": config.len()},
                "layers": descs,
            }))
            .unwrap();
            let md = sha256(&m);
            let p = format!("blobs/sha256/{}", hex_of(&md));
            if written.insert(p.clone()) {
                add(&mut b, &p, &m);
            }
            for t in &img.tags {
                let full = if t.contains('/') {
                    t.clone()
                } else {
                    format!("docker.io/library/{t}")
                };
                let tag = t.rsplit_once(':').map(|x| x.1).unwrap_or("latest");
                index.push(json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": md, "size": m.len(),
                    "annotations": {"io.containerd.image.name": full, "org.opencontainers.image.ref.name": tag},
                }));
            }
            if img.tags.is_empty() {
                index.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": m.len()}));
            }
        }
    }
    if layout != Layout::Legacy {
        add(
            &mut b,
            "index.json",
            &serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": index})).unwrap(),
        );
        add(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    }
    if layout != Layout::Oci {
        add(
            &mut b,
            "manifest.json",
            &serde_json::to_vec(&manifest).unwrap(),
        );
    }
    b.into_inner().unwrap()
}

/// The applets of `/bin/busybox`, as paths relative to `/`.
pub fn busybox_applets() -> Vec<String> {
    let out = std::process::Command::new("/bin/busybox")
        .arg("--list-full")
        .output()
        .expect("run /bin/busybox --list-full");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty() && *l != "bin/busybox")
        .map(str::to_string)
        .collect()
}

/// `busybox:latest` in two layers: the binary, then its applet links and
/// a few files in /etc.
pub fn busybox_image() -> TestImage {
    let bin = std::fs::read(Path::new("/bin/busybox")).expect("read /bin/busybox");
    let l1 = LayerBuilder::new()
        .dir("bin")
        .file("bin/busybox", &bin, 0o755)
        .build();
    let mut b = LayerBuilder::new();
    let mut dirs = std::collections::BTreeSet::new();
    let applets = busybox_applets();
    for a in &applets {
        if let Some((d, _)) = a.rsplit_once('/') {
            let mut acc = String::new();
            for c in d.split('/') {
                if !acc.is_empty() {
                    acc.push('/');
                }
                acc.push_str(c);
                dirs.insert(acc.clone());
            }
        }
    }
    for d in dirs.iter().chain(
        ["etc", "tmp", "root", "proc", "sys", "dev"]
            .map(String::from)
            .iter(),
    ) {
        b = b.dir(d);
    }
    for a in &applets {
        b = b.symlink(a, "/bin/busybox");
    }
    b = b
        .file(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
            0o644,
        )
        .file("etc/group", b"root:x:0:\nnogroup:x:65534:\n", 0o644)
        .file("etc/hostname", b"busybox\n", 0o644);
    TestImage::new("busybox:latest", vec![l1, b.build()])
}

/// A `docker save` archive (dockerd 25 layout) of `busybox:latest`.
pub fn busybox_archive() -> Vec<u8> {
    save_archive(&[busybox_image()], Layout::OciWithManifest, Compress::None)
}

/// A real dockerd (Debian's 20.10) on a temporary data root and socket,
/// for compatibility checks and benchmarks. Stopped when dropped.
pub struct RealDockerd {
    child: std::process::Child,
    pub dir: std::path::PathBuf,
}

pub const DOCKERD: &str = "/usr/sbin/dockerd";
pub const DOCKER_CLI: &str = "/usr/local/bin/docker";

impl RealDockerd {
    /// Starts dockerd, or says why it could not.
    pub fn start() -> Result<RealDockerd, String> {
        use std::process::{Command, Stdio};
        if !Path::new(DOCKERD).exists() || !Path::new(DOCKER_CLI).exists() {
            return Err("dockerd or the docker CLI is not installed".into());
        }
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::path::PathBuf::from(format!("/tmp/berth-dk-{}-{n}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let log = std::fs::File::create(dir.join("log")).map_err(|e| e.to_string())?;
        let child = Command::new(DOCKERD)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("pid"))
            .arg("-H")
            .arg(format!("unix://{}", dir.join("sock").display()))
            .args(["--iptables=false", "--bridge=none"])
            .stdout(Stdio::from(log.try_clone().map_err(|e| e.to_string())?))
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("spawn dockerd: {e}"))?;
        let d = RealDockerd { child, dir };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
        while std::time::Instant::now() < deadline {
            if d.docker(&["version"]).0 {
                return Ok(d);
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        let log = std::fs::read_to_string(d.dir.join("log")).unwrap_or_default();
        Err(format!(
            "dockerd did not start: {}",
            log.lines().last().unwrap_or("")
        ))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn socket(&self) -> std::path::PathBuf {
        self.dir.join("sock")
    }

    /// Runs the docker CLI against this daemon: (success, stdout+stderr).
    pub fn docker(&self, args: &[&str]) -> (bool, String) {
        let out = std::process::Command::new(DOCKER_CLI)
            .arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .args(args)
            .env("DOCKER_CONFIG", self.dir.join("cli"))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run docker");
        let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
        s.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), s)
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let (ok, out) = self.docker(args);
        assert!(ok, "docker {args:?}: {out}");
        out
    }
}

impl Drop for RealDockerd {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::process::Command::new("umount")
            .arg("-R")
            .arg(self.dir.join("data"))
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Peak resident memory (VmHWM) of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
