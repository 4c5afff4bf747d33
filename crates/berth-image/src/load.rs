//! `docker load`: the legacy docker-save layout (manifest.json and layer
//! tars), dockerd 25+'s OCI layout with manifest.json, and a plain OCI image
//! layout. The archive is streamed to a work directory (each file hashed on
//! the way), then every layer is verified and unpacked, then everything is
//! committed by rename with the image records last.

use crate::config::ImageConfig;
use crate::digest;
use crate::error::{ImageError, IoContext, Result};
use crate::layer::{self, StagedLayer};
use crate::reference::Reference;
use crate::store::{ImageMeta, ImageStore, MAX_JSON};
use crate::tarsafe::BoundedHeaders;
use crate::unpack::normalise;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What one load added.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    pub id: String,
    pub tags: Vec<Reference>,
}

struct ArchiveFile {
    path: PathBuf,
    digest: String,
    size: u64,
}

#[derive(Default)]
struct Extracted {
    files: HashMap<String, ArchiveFile>,
    links: HashMap<String, String>,
}

impl Extracted {
    fn get(&self, name: &str) -> Result<&ArchiveFile> {
        let mut cur = normalise(name.as_bytes())?.join("/");
        for _ in 0..16 {
            if let Some(f) = self.files.get(&cur) {
                return Ok(f);
            }
            match self.links.get(&cur) {
                Some(t) => cur = t.clone(),
                None => break,
            }
        }
        Err(ImageError::archive(format!(
            "file {name} not found in archive"
        )))
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<(T, Vec<u8>)> {
        let f = self.get(name)?;
        if f.size > MAX_JSON {
            return Err(ImageError::archive(format!("{name} is too large")));
        }
        let raw = fs::read(&f.path).ctx(|| format!("read {name}"))?;
        let v = serde_json::from_slice(&raw).map_err(|e| ImageError::json(name, e))?;
        Ok((v, raw))
    }

    /// Checks that a blob named `blobs/sha256/<hex>` has that digest.
    fn verify_blob(&self, name: &str) -> Result<&ArchiveFile> {
        let f = self.get(name)?;
        let comps = normalise(name.as_bytes())?;
        if let [a, b, h] = comps.as_slice() {
            if a == "blobs" && b == "sha256" && f.digest != format!("sha256:{h}") {
                return Err(ImageError::DigestMismatch {
                    what: name.to_string(),
                    expected: format!("sha256:{h}"),
                    actual: f.digest.clone(),
                });
            }
        }
        Ok(f)
    }
}

#[derive(Deserialize)]
struct DockerManifest {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

#[derive(Deserialize, Clone)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: i64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize, Clone)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct OciManifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

struct Planned {
    config_raw: Vec<u8>,
    config: ImageConfig,
    id: String,
    layer_files: Vec<String>,
    tags: Vec<Reference>,
    digest_refs: Vec<Reference>,
}

pub(crate) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        "riscv64" => "riscv64",
        other => other,
    }
}

fn blob_name(d: &str) -> Result<String> {
    digest::hex_of(d)
        .map(|h| format!("blobs/sha256/{h}"))
        .ok_or_else(|| ImageError::archive(format!("unsupported digest {d}")))
}

/// Stage 1: streams the outer tar into `work`, one flat file per entry.
fn extract<R: Read>(input: R, work: &Path) -> Result<Extracted> {
    let mut ex = Extracted::default();
    let mut archive = tar::Archive::new(BoundedHeaders::new(input));
    let files_dir = work.join("files");
    fs::create_dir_all(&files_dir).ctx(|| "create work dir".into())?;
    let mut n = 0u64;
    // A stream that is not a tar archive is the client's error, not ours.
    let bad = |e: std::io::Error| ImageError::InvalidArchive(format!("reading the archive: {e}"));
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let comps = normalise(&entry.path_bytes())?;
        if comps.is_empty() {
            continue;
        }
        let name = comps.join("/");
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                n += 1;
                let path = files_dir.join(n.to_string());
                let (digest, size) = layer::write_hashed(&mut entry, &path)?;
                ex.files.insert(name, ArchiveFile { path, digest, size });
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                // Symlinks are relative to the entry's directory, hard links
                // to the archive root. Resolved lexically, never on disk.
                let mut base: Vec<String> =
                    if entry.header().entry_type() == tar::EntryType::Symlink {
                        comps[..comps.len() - 1].to_vec()
                    } else {
                        Vec::new()
                    };
                for c in target.split('/') {
                    match c {
                        "" | "." => {}
                        ".." => {
                            if base.pop().is_none() {
                                return Err(ImageError::archive(format!(
                                    "link {name} points outside the archive"
                                )));
                            }
                        }
                        c => base.push(c.to_string()),
                    }
                }
                ex.links.insert(name, base.join("/"));
            }
            _ => {}
        }
    }
    Ok(ex)
}

/// Stage 2: what images the archive holds.
fn plan(ex: &Extracted) -> Result<Vec<Planned>> {
    if ex.get("manifest.json").is_ok() {
        return plan_docker(ex);
    }
    if ex.get("index.json").is_err() {
        return Err(ImageError::archive(
            "neither manifest.json nor index.json found: not a docker save or OCI layout archive",
        ));
    }
    plan_oci(ex)
}

/// An image config blob, checked against its expected digest (and a legacy
/// `<hex>.json` name) and for the platform: (raw bytes, config, image ID).
fn read_config(
    ex: &Extracted,
    name: &str,
    expect: Option<&str>,
) -> Result<(Vec<u8>, ImageConfig, String)> {
    let f = ex.verify_blob(name)?;
    if let Some(e) = expect {
        if f.digest != e {
            return Err(ImageError::DigestMismatch {
                what: "image config".into(),
                expected: e.to_string(),
                actual: f.digest.clone(),
            });
        }
    }
    let (config, raw): (ImageConfig, Vec<u8>) = ex.read_json(name)?;
    let id = digest::sha256_bytes(&raw);
    // A legacy `<hex>.json` names the config by its digest too.
    if let Some(h) = name.strip_suffix(".json") {
        if digest::is_hex64(h) && format!("sha256:{h}") != id {
            return Err(ImageError::DigestMismatch {
                what: name.into(),
                expected: format!("sha256:{h}"),
                actual: id,
            });
        }
    }
    if !config.os.is_empty() && config.os != "linux" {
        return Err(ImageError::InvalidArgument(format!(
            "image operating system \"{}\" cannot be used on this platform",
            config.os
        )));
    }
    Ok((raw, config, id))
}

/// A `docker save` archive: `manifest.json` lists the images.
fn plan_docker(ex: &Extracted) -> Result<Vec<Planned>> {
    let mut out: Vec<Planned> = Vec::new();
    let (manifests, _): (Vec<DockerManifest>, _) = ex.read_json("manifest.json")?;
    for m in manifests {
        let (config_raw, config, id) = read_config(ex, &m.config, None)?;
        for l in &m.layers {
            ex.verify_blob(l)?;
        }
        let tags = m
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| Reference::parse_tagged(t))
            .collect::<Result<Vec<_>>>()?;
        out.push(Planned {
            config_raw,
            config,
            id,
            layer_files: m.layers,
            tags,
            digest_refs: Vec::new(),
        });
    }
    Ok(out)
}

/// An OCI layout: `index.json`, possibly nesting indexes (multi-platform).
fn plan_oci(ex: &Extracted) -> Result<Vec<Planned>> {
    let mut out: Vec<Planned> = Vec::new();
    let (index, _): (Index, _) = ex.read_json("index.json")?;
    // Flatten nested indexes (multi-platform), keeping the outer names.
    let mut todo: Vec<(Descriptor, BTreeMap<String, String>, u32)> = index
        .manifests
        .into_iter()
        .map(|d| {
            let a = d.annotations.clone();
            (d, a, 0)
        })
        .collect();
    let mut by_manifest: BTreeMap<String, usize> = BTreeMap::new();
    while let Some((d, names, depth)) = todo.pop() {
        if depth > 4 {
            return Err(ImageError::archive("index nesting too deep"));
        }
        let name = blob_name(&d.digest)?;
        if is_index(ex, &d, &name) {
            for sub in index_children(ex, &d, &name)? {
                todo.push((sub, names.clone(), depth + 1));
            }
            continue;
        }
        let f = ex.verify_blob(&name)?;
        if d.size >= 0 && f.size != d.size as u64 {
            return Err(ImageError::archive("manifest size mismatch"));
        }
        let tags = tags_of(&names);
        let digest_refs: Vec<Reference> = tags
            .iter()
            .map(|t| {
                let mut r = t.clone();
                r.tag = None;
                r.digest = Some(d.digest.clone());
                r
            })
            .collect();
        if let Some(&i) = by_manifest.get(&d.digest) {
            out[i].tags.extend(tags);
            out[i].digest_refs.extend(digest_refs);
            continue;
        }
        let (config_raw, config, id, layer_files) = read_manifest(ex, &name)?;
        by_manifest.insert(d.digest.clone(), out.len());
        out.push(Planned {
            config_raw,
            config,
            id,
            layer_files,
            tags,
            digest_refs,
        });
    }
    Ok(out)
}

fn is_index(ex: &Extracted, d: &Descriptor, name: &str) -> bool {
    d.media_type.contains("index")
        || d.media_type.contains("manifest.list")
        || (d.media_type.is_empty()
            && ex
                .read_json::<serde_json::Value>(name)
                .is_ok_and(|(v, _)| v.get("manifests").is_some()))
}

/// The manifests of a nested index that are for this platform and that the
/// archive carries.
fn index_children(ex: &Extracted, d: &Descriptor, name: &str) -> Result<Vec<Descriptor>> {
    let f = ex.verify_blob(name)?;
    if d.size >= 0 && f.size != d.size as u64 {
        return Err(ImageError::archive("index size mismatch"));
    }
    let (idx, _): (Index, _) = ex.read_json(name)?;
    let mut out = Vec::new();
    for sub in idx.manifests {
        if let Some(p) = &sub.platform {
            if p.os != "linux" || p.architecture != host_arch() {
                continue;
            }
        }
        if ex.get(&blob_name(&sub.digest)?).is_err() {
            continue; // a platform the archive does not carry
        }
        out.push(sub);
    }
    Ok(out)
}

/// The references an index entry's annotations name.
fn tags_of(names: &BTreeMap<String, String>) -> Vec<Reference> {
    let mut tags = Vec::new();
    if let Some(n) = names
        .get("io.containerd.image.name")
        .or_else(|| names.get("org.opencontainers.image.ref.name"))
    {
        if n.contains(['/', ':']) || !n.contains('.') {
            if let Ok(r) = Reference::parse_tagged(n) {
                if n.contains(['/', ':']) || names.contains_key("io.containerd.image.name") {
                    tags.push(r);
                }
            }
        }
    }
    tags
}

/// An OCI manifest blob: its config (raw, parsed, image ID) and its layer
/// blobs, each checked against its descriptor's size.
fn read_manifest(
    ex: &Extracted,
    name: &str,
) -> Result<(Vec<u8>, ImageConfig, String, Vec<String>)> {
    let (m, _): (OciManifest, _) = ex.read_json(name)?;
    let cname = blob_name(&m.config.digest)?;
    let (config_raw, config, id) = read_config(ex, &cname, Some(&m.config.digest))?;
    let mut layer_files = Vec::new();
    for l in &m.layers {
        let ln = blob_name(&l.digest)?;
        let f = ex.verify_blob(&ln)?;
        if l.size >= 0 && f.size != l.size as u64 {
            return Err(ImageError::archive(format!(
                "layer {} size mismatch",
                l.digest
            )));
        }
        layer_files.push(ln);
    }
    Ok((config_raw, config, id, layer_files))
}

impl ImageStore {
    /// Loads a `docker save` or OCI layout archive from `input`. `progress`
    /// receives dockerd's lines (`Loaded image: busybox:latest`).
    pub fn load<R: Read>(
        &self,
        input: R,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<LoadedImage>> {
        let work = self.tmp_dir("load")?;
        let res = self.load_in(input, &work, progress);
        self.discard_dir(&work);
        res
    }

    fn load_in<R: Read>(
        &self,
        input: R,
        work: &Path,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<LoadedImage>> {
        let ex = extract(input, work)?;
        let planned = plan(&ex)?;
        if planned.is_empty() {
            return Err(ImageError::archive("no images found in archive"));
        }

        let mut staged = self.stage_layers(&ex, &planned, work)?;
        layer::sync_store(&self.root);

        // Commit: layers, config blobs, image records, then references.
        let mut lines = Vec::new();
        let mut loaded = Vec::new();
        {
            let mut st = self.lock();
            for p in &planned {
                loaded.push(self.commit_planned(&mut st, p, &mut staged, &mut lines)?);
            }
            self.write_refs(&st)?;
        }
        for l in &lines {
            progress(l);
        }
        Ok(loaded)
    }

    /// Verifies and unpacks (into `work`) every layer of `planned` not
    /// already in the store, by chain ID.
    fn stage_layers(
        &self,
        ex: &Extracted,
        planned: &[Planned],
        work: &Path,
    ) -> Result<BTreeMap<String, StagedLayer>> {
        let mut staged: BTreeMap<String, StagedLayer> = BTreeMap::new();
        for p in planned {
            let diff_ids = &p.config.rootfs.diff_ids;
            if diff_ids.len() != p.layer_files.len() {
                return Err(ImageError::archive(format!(
                    "image {} lists {} layers but its config has {} diff IDs",
                    p.id,
                    p.layer_files.len(),
                    diff_ids.len()
                )));
            }
            let chains = digest::chain_ids(diff_ids);
            for (i, file) in p.layer_files.iter().enumerate() {
                let chain = &chains[i];
                if staged.contains_key(chain) || self.lock().layers.contains_key(chain) {
                    continue;
                }
                let f = ex.get(file)?;
                let parent = if i == 0 {
                    None
                } else {
                    Some(chains[i - 1].as_str())
                };
                let s = if f.path.exists() {
                    layer::stage_file(work, &f.path, &f.digest, parent, Some(&diff_ids[i]))?
                } else {
                    // Moved away already: the same file backs another layer
                    // position; read the staged tar instead.
                    let other = staged
                        .values()
                        .find(|s| s.meta.diff_id == diff_ids[i])
                        .ok_or_else(|| ImageError::archive("layer file reused inconsistently"))?;
                    let src = fs::File::open(other.dir.join("layer.tar"))
                        .ctx(|| "open staged layer".into())?;
                    layer::stage_stream(work, src, parent, Some(&diff_ids[i]))?
                };
                staged.insert(chain.clone(), s);
            }
        }
        Ok(staged)
    }

    /// Commits one planned image: its layers, config blob, record and
    /// references; the progress lines go to `lines`.
    fn commit_planned(
        &self,
        st: &mut crate::store::State,
        p: &Planned,
        staged: &mut BTreeMap<String, StagedLayer>,
        lines: &mut Vec<String>,
    ) -> Result<LoadedImage> {
        for chain in digest::chain_ids(&p.config.rootfs.diff_ids) {
            if let Some(s) = staged.remove(&chain) {
                self.commit_layer(st, s)?;
            } else if !st.layers.contains_key(&chain) {
                return Err(ImageError::Conflict(format!(
                    "layer {chain} was removed during the load; retry"
                )));
            }
        }
        if !st.images.contains_key(&p.id) {
            berth_core::atomic::write_atomic(&self.blob_path(&p.id), &p.config_raw)
                .ctx(|| "write config".into())?;
            let meta = ImageMeta {
                id: p.id.clone(),
                last_tag_time: None,
            };
            self.write_image_meta(&meta)?;
            st.images.insert(
                p.id.clone(),
                crate::store::Image {
                    id: p.id.clone(),
                    chain_ids: digest::chain_ids(&p.config.rootfs.diff_ids),
                    config: p.config.clone(),
                    meta,
                },
            );
        }
        for t in p.tags.iter().chain(p.digest_refs.iter()) {
            let key = t.to_string();
            if let Some(old) = st.refs.get(&key) {
                if *old != p.id && t.digest.is_none() {
                    lines.push(format!(
                        "The image {} already exists, renaming the old one with ID {old} to empty string",
                        t.familiar()
                    ));
                }
            }
            st.refs.insert(key, p.id.clone());
        }
        if p.tags.is_empty() {
            lines.push(format!("Loaded image ID: {}", p.id));
        }
        for t in &p.tags {
            lines.push(format!("Loaded image: {}", t.familiar()));
        }
        Ok(LoadedImage {
            id: p.id.clone(),
            tags: p.tags.clone(),
        })
    }
}
