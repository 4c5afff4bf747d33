//! The image store: content-addressed configs, unpacked layers keyed by
//! chain ID, image records and the reference map, all under
//! `<data-root>/image/`:
//!
//! ```text
//! blobs/sha256/<hex>          image configs (the image ID is their digest)
//! layers/<chain-hex>/         one directory per layer, unpacked once, shared
//!     diff/                   the unpacked content (overlay lower dir)
//!     layer.tar               the uncompressed layer tar (for save)
//!     meta.json               diff ID, chain ID, parent, sizes, link name
//! l/<LINK>                    short symlink -> ../layers/<chain-hex>/diff
//! images/<id-hex>.json        one record per image
//! repositories.json           reference -> image ID
//! snapshots/<container>/      upper, work and meta.json of a container rootfs
//! tmp/                        work in progress; emptied on open
//! ```
//!
//! Every object is committed by a rename (directories) or an atomic write
//! (files), in an order that makes an image record the last thing written:
//! whatever a crash leaves without a record is garbage collected on open.

use crate::config::ImageConfig;
use crate::digest;
use crate::error::{ImageError, IoContext, Result};
use crate::reference::{glob_match, Reference};
use berth_core::atomic;
use berth_types::image::{
    DeleteItem, GraphDriver, HistoryItem, ImageInspect, ImageMetadata, ImageSummary,
    ImagesDiskUsage, RootFs,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// Which containers use an image (by image ID). The container subsystem
/// plugs this in; snapshots prepared through the store count as well.
pub type UsageCheck = Arc<dyn Fn(&str) -> Vec<String> + Send + Sync>;

/// The largest JSON document (config, manifest, index) read from an archive.
pub const MAX_JSON: u64 = 32 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerMeta {
    pub chain_id: String,
    pub diff_id: String,
    #[serde(default)]
    pub parent: Option<String>,
    /// Unpacked size (sum of regular files).
    pub size: u64,
    /// Size of the uncompressed layer tar.
    pub tar_size: u64,
    /// The short name under `l/`.
    pub link: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageMeta {
    pub id: String,
    #[serde(default)]
    pub last_tag_time: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Image {
    pub id: String,
    pub config: ImageConfig,
    pub chain_ids: Vec<String>,
    pub meta: ImageMeta,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SnapshotMeta {
    pub image_id: String,
    pub chain_ids: Vec<String>,
}

#[derive(Default)]
pub(crate) struct State {
    pub images: BTreeMap<String, Image>,
    /// Full reference (`docker.io/library/busybox:latest`) -> image ID.
    pub refs: BTreeMap<String, String>,
    pub layers: BTreeMap<String, LayerMeta>,
    /// Container ID -> snapshot.
    pub snapshots: BTreeMap<String, SnapshotMeta>,
}

impl State {
    pub fn refs_of(&self, id: &str) -> Vec<Reference> {
        self.refs
            .iter()
            .filter(|(_, v)| v.as_str() == id)
            .filter_map(|(k, _)| Reference::parse(k).ok())
            .collect()
    }

    pub fn size_of(&self, img: &Image) -> u64 {
        img.chain_ids
            .iter()
            .filter_map(|c| self.layers.get(c))
            .map(|l| l.size)
            .sum()
    }
}

/// What deleting produced: the image concerned and dockerd's answer items.
#[derive(Debug, Clone)]
pub struct RemoveOutcome {
    pub image_id: String,
    /// The image's labels (for event attributes, as the image may be gone).
    pub labels: BTreeMap<String, String>,
    pub items: Vec<DeleteItem>,
}

pub struct ImageStore {
    pub(crate) root: PathBuf,
    pub(crate) state: Mutex<State>,
    usage: RwLock<Option<UsageCheck>>,
}

pub(crate) fn hex(d: &str) -> &str {
    d.strip_prefix("sha256:").unwrap_or(d)
}

pub(crate) fn rand_name(len: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut r = rand::thread_rng();
    (0..len)
        .map(|_| CHARS[r.gen_range(0..CHARS.len())] as char)
        .collect()
}

fn read_json<T: serde::de::DeserializeOwned>(p: &Path) -> Result<T> {
    let data = fs::read(p).ctx(|| format!("read {}", p.display()))?;
    serde_json::from_slice(&data).map_err(|e| ImageError::json(p.display().to_string(), e))
}

impl ImageStore {
    /// Opens (creating) the store under `<data_root>/image`, cleaning up
    /// whatever an interrupted operation left behind.
    pub fn open(data_root: &Path) -> Result<ImageStore> {
        let root = data_root.join("image");
        for d in ["blobs/sha256", "layers", "l", "images", "snapshots", "tmp"] {
            fs::create_dir_all(root.join(d))
                .ctx(|| format!("create {}", root.join(d).display()))?;
        }
        let store = ImageStore {
            root,
            state: Mutex::new(State::default()),
            usage: RwLock::new(None),
        };
        store.recover()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Plugs in the container subsystem's "who uses this image" check.
    pub fn set_usage_check(&self, check: UsageCheck) {
        *self.usage.write().unwrap_or_else(|e| e.into_inner()) = Some(check);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn tmp_dir(&self, prefix: &str) -> Result<PathBuf> {
        let p = self
            .root
            .join("tmp")
            .join(format!("{prefix}-{}", rand_name(12)));
        fs::create_dir_all(&p).ctx(|| format!("create {}", p.display()))?;
        Ok(p)
    }

    pub(crate) fn blob_path(&self, d: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(hex(d))
    }
    pub(crate) fn layer_dir(&self, chain: &str) -> PathBuf {
        self.root.join("layers").join(hex(chain))
    }
    fn image_meta_path(&self, id: &str) -> PathBuf {
        self.root.join("images").join(format!("{}.json", hex(id)))
    }
    pub(crate) fn snapshot_dir(&self, cid: &str) -> PathBuf {
        self.root.join("snapshots").join(cid)
    }

    /// Brings the on-disk store to a consistent state and loads it.
    fn recover(&self) -> Result<()> {
        let tmp = self.root.join("tmp");
        for e in fs::read_dir(&tmp).ctx(|| "read tmp".into())?.flatten() {
            let p = e.path();
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
        let mut st = State::default();

        // Layers: a directory without its meta.json is not a layer.
        for e in fs::read_dir(self.root.join("layers"))
            .ctx(|| "read layers".into())?
            .flatten()
        {
            match read_json::<LayerMeta>(&e.path().join("meta.json")) {
                Ok(m) if hex(&m.chain_id) == e.file_name().to_string_lossy() => {
                    st.layers.insert(m.chain_id.clone(), m);
                }
                _ => self.discard_dir(&e.path()),
            }
        }

        // Images: need their config blob and every layer.
        for e in fs::read_dir(self.root.join("images"))
            .ctx(|| "read images".into())?
            .flatten()
        {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) != Some("json") {
                let _ = fs::remove_file(&p);
                continue;
            }
            let ok = (|| -> Result<Image> {
                let meta: ImageMeta = read_json(&p)?;
                let raw = fs::read(self.blob_path(&meta.id)).ctx(|| "read config".into())?;
                if digest::sha256_bytes(&raw) != meta.id {
                    return Err(ImageError::archive("config blob corrupt"));
                }
                let config: ImageConfig =
                    serde_json::from_slice(&raw).map_err(|e| ImageError::json("config", e))?;
                let chain_ids = digest::chain_ids(&config.rootfs.diff_ids);
                if chain_ids.iter().any(|c| !st.layers.contains_key(c)) {
                    return Err(ImageError::archive("missing layer"));
                }
                Ok(Image {
                    id: meta.id.clone(),
                    config,
                    chain_ids,
                    meta,
                })
            })();
            match ok {
                Ok(img) => {
                    st.images.insert(img.id.clone(), img);
                }
                Err(err) => {
                    tracing::warn!("dropping image record {}: {err}", p.display());
                    let _ = fs::remove_file(&p);
                }
            }
        }

        // References to images that exist.
        let repo_path = self.root.join("repositories.json");
        if repo_path.exists() {
            let refs: BTreeMap<String, String> = read_json(&repo_path).unwrap_or_default();
            let before = refs.len();
            st.refs = refs
                .into_iter()
                .filter(|(_, id)| st.images.contains_key(id))
                .collect();
            if st.refs.len() != before {
                atomic::write_json(&repo_path, &st.refs).ctx(|| "write repositories".into())?;
            }
        }

        // Snapshots.
        for e in fs::read_dir(self.root.join("snapshots"))
            .ctx(|| "read snapshots".into())?
            .flatten()
        {
            match read_json::<SnapshotMeta>(&e.path().join("meta.json")) {
                Ok(m) => {
                    st.snapshots
                        .insert(e.file_name().to_string_lossy().into_owned(), m);
                }
                Err(_) => self.discard_dir(&e.path()),
            }
        }

        // Unreferenced layers and blobs, stale and missing links.
        self.gc_layers(&mut st);
        let configs: HashSet<String> = st.images.keys().map(|k| hex(k).to_string()).collect();
        for e in fs::read_dir(self.root.join("blobs/sha256"))
            .ctx(|| "read blobs".into())?
            .flatten()
        {
            if !configs.contains(e.file_name().to_string_lossy().as_ref()) {
                let _ = fs::remove_file(e.path());
            }
        }
        let links: BTreeMap<String, String> = st
            .layers
            .values()
            .map(|l| (l.link.clone(), l.chain_id.clone()))
            .collect();
        for e in fs::read_dir(self.root.join("l"))
            .ctx(|| "read links".into())?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if !links.contains_key(&name) {
                let _ = fs::remove_file(e.path());
            }
        }
        for l in st.layers.values() {
            self.ensure_link(l)?;
        }
        *self.lock() = st;
        Ok(())
    }

    pub(crate) fn ensure_link(&self, l: &LayerMeta) -> Result<()> {
        let p = self.root.join("l").join(&l.link);
        let target = PathBuf::from("../layers")
            .join(hex(&l.chain_id))
            .join("diff");
        match fs::read_link(&p) {
            Ok(t) if t == target => Ok(()),
            _ => {
                let _ = fs::remove_file(&p);
                std::os::unix::fs::symlink(&target, &p).ctx(|| format!("link {}", p.display()))
            }
        }
    }

    /// Moves a directory into tmp/ and removes it: a crash in between
    /// leaves it in tmp/, which open empties.
    pub(crate) fn discard_dir(&self, p: &Path) {
        let dst = self.root.join("tmp").join(format!("gc-{}", rand_name(12)));
        let target = if fs::rename(p, &dst).is_ok() {
            dst
        } else {
            p.to_path_buf()
        };
        if let Err(e) = fs::remove_dir_all(&target) {
            tracing::warn!("remove {}: {e}", target.display());
        }
    }

    /// Removes layers no image or snapshot refers to. Returns their chain
    /// IDs and the unpacked size freed.
    pub(crate) fn gc_layers(&self, st: &mut State) -> (Vec<String>, u64) {
        let mut keep: HashSet<&str> = HashSet::new();
        for img in st.images.values() {
            keep.extend(img.chain_ids.iter().map(String::as_str));
        }
        for s in st.snapshots.values() {
            keep.extend(s.chain_ids.iter().map(String::as_str));
        }
        let dead: Vec<String> = st
            .layers
            .keys()
            .filter(|c| !keep.contains(c.as_str()))
            .cloned()
            .collect();
        let mut freed = 0;
        // Top layers first, so a crash never leaves a child without parent.
        let mut dead_sorted = dead.clone();
        dead_sorted.reverse();
        for c in &dead_sorted {
            if let Some(l) = st.layers.remove(c) {
                freed += l.size;
                let _ = fs::remove_file(self.root.join("l").join(&l.link));
                self.discard_dir(&self.layer_dir(c));
            }
        }
        (dead, freed)
    }

    pub(crate) fn write_refs(&self, st: &State) -> Result<()> {
        atomic::write_json(&self.root.join("repositories.json"), &st.refs)
            .ctx(|| "write repositories.json".into())
    }

    pub(crate) fn write_image_meta(&self, meta: &ImageMeta) -> Result<()> {
        atomic::write_json(&self.image_meta_path(&meta.id), meta)
            .ctx(|| "write image record".into())
    }

    /// Resolves a name (ID, ID prefix, `sha256:` ID, reference, or
    /// `name@digest`) to an image ID.
    pub(crate) fn resolve_in(&self, st: &State, name: &str) -> Result<String> {
        let not_found = || ImageError::NotFound(name.to_string());
        let by_prefix = |p: &str| -> Result<Option<String>> {
            let full = format!("sha256:{p}");
            let hits: Vec<&String> = st.images.keys().filter(|k| k.starts_with(&full)).collect();
            match hits.len() {
                0 => Ok(None),
                1 => Ok(Some(hits[0].clone())),
                _ => Err(ImageError::InvalidArgument(format!(
                    "multiple IDs found with provided prefix: {p}"
                ))),
            }
        };
        let is_hex = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        };
        if let Some(h) = name.strip_prefix("sha256:") {
            if is_hex(h) {
                return by_prefix(h)?.ok_or_else(not_found);
            }
        }
        if digest::is_hex64(name) {
            if let Some(id) = by_prefix(name)? {
                return Ok(id);
            }
        }
        if let Ok(r) = Reference::parse_tagged(name) {
            if let Some(id) = st.refs.get(&r.to_string()) {
                return Ok(id.clone());
            }
            if let Some(d) = &r.digest {
                if st.images.contains_key(d) {
                    return Ok(d.clone());
                }
                // `name@digest` where a tagged reference is also given
                let mut plain = r.clone();
                plain.tag = None;
                if let Some(id) = st.refs.get(&plain.to_string()) {
                    return Ok(id.clone());
                }
            }
        }
        if is_hex(name) {
            if let Some(id) = by_prefix(name)? {
                return Ok(id);
            }
        }
        Err(not_found())
    }

    pub fn resolve(&self, name: &str) -> Result<String> {
        let st = self.lock();
        self.resolve_in(&st, name)
    }

    pub fn get(&self, name: &str) -> Result<Image> {
        let st = self.lock();
        let id = self.resolve_in(&st, name)?;
        Ok(st.images[&id].clone())
    }

    /// Containers (or snapshots) using the image.
    pub fn used_by(&self, id: &str) -> Vec<String> {
        let mut out: BTreeSet<String> = BTreeSet::new();
        if let Some(check) = self
            .usage
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            out.extend(check(id));
        }
        let st = self.lock();
        out.extend(
            st.snapshots
                .iter()
                .filter(|(_, s)| s.image_id == id)
                .map(|(c, _)| c.clone()),
        );
        out.into_iter().collect()
    }

    fn used_by_in(&self, st: &State, id: &str) -> Vec<String> {
        let mut out: BTreeSet<String> = BTreeSet::new();
        if let Some(check) = self
            .usage
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            out.extend(check(id));
        }
        out.extend(
            st.snapshots
                .iter()
                .filter(|(_, s)| s.image_id == id)
                .map(|(c, _)| c.clone()),
        );
        out.into_iter().collect()
    }

    fn summary_in(&self, st: &State, img: &Image) -> ImageSummary {
        let refs = st.refs_of(&img.id);
        let size = st.size_of(img) as i64;
        ImageSummary {
            id: img.id.clone(),
            parent_id: String::new(),
            repo_tags: refs
                .iter()
                .filter(|r| r.digest.is_none())
                .map(Reference::familiar)
                .collect(),
            repo_digests: refs
                .iter()
                .filter(|r| r.digest.is_some())
                .map(|r| {
                    format!(
                        "{}@{}",
                        r.familiar_name(),
                        r.digest.as_deref().unwrap_or("")
                    )
                })
                .collect(),
            created: img.config.created_unix(),
            size,
            shared_size: -1,
            virtual_size: Some(size),
            labels: img.config.labels(),
            containers: -1,
        }
    }

    /// `GET /images/json`. Filters: dangling, label, label!, reference,
    /// before, since, until.
    pub fn list(&self, filters: &berth_core::Filters) -> Result<Vec<ImageSummary>> {
        filters
            .validate(&[
                "dangling",
                "label",
                "label!",
                "reference",
                "before",
                "since",
                "until",
            ])
            .map_err(|e| ImageError::InvalidArgument(e.message))?;
        let dangling = filters
            .bool_value("dangling")
            .map_err(|e| ImageError::InvalidArgument(e.message))?;
        let st = self.lock();
        let created_of = |name: &str| -> Result<i64> {
            let id = self.resolve_in(&st, name)?;
            Ok(st.images[&id].config.created_unix())
        };
        let before: Vec<i64> = filters
            .get("before")
            .map(created_of)
            .collect::<Result<_>>()?;
        let since: Vec<i64> = filters
            .get("since")
            .map(created_of)
            .collect::<Result<_>>()?;
        let until: Vec<i64> = filters
            .get("until")
            .map(parse_until)
            .collect::<Result<_>>()?;
        let mut out = Vec::new();
        for img in st.images.values() {
            let s = self.summary_in(&st, img);
            let created = s.created;
            if let Some(d) = dangling {
                if d != s.repo_tags.is_empty() {
                    continue;
                }
            }
            if !filters.match_labels("label", &s.labels) {
                continue;
            }
            if filters.contains("label!") && label_not(filters, &s.labels) {
                continue;
            }
            if before.iter().any(|b| created >= *b)
                || since.iter().any(|b| created <= *b)
                || until.iter().any(|u| created > *u)
            {
                continue;
            }
            if filters.contains("reference") {
                let refs = st.refs_of(&img.id);
                let hit = filters.get("reference").any(|pat| {
                    refs.iter().any(|r| {
                        glob_match(pat, &r.familiar_name())
                            || glob_match(pat, &r.familiar())
                            || glob_match(pat, &r.to_string())
                    })
                });
                if !hit {
                    continue;
                }
            }
            out.push(s);
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// `GET /images/{name}/json`.
    pub fn inspect(&self, name: &str) -> Result<ImageInspect> {
        let st = self.lock();
        let id = self.resolve_in(&st, name)?;
        let img = &st.images[&id];
        let s = self.summary_in(&st, img);
        let c = &img.config;
        let mut gd = BTreeMap::new();
        let dirs: Vec<String> = img
            .chain_ids
            .iter()
            .rev()
            .map(|ch| self.layer_dir(ch).join("diff").display().to_string())
            .collect();
        if let Some((top, lower)) = dirs.split_first() {
            gd.insert("UpperDir".to_string(), top.clone());
            if !lower.is_empty() {
                gd.insert("LowerDir".to_string(), lower.join(":"));
            }
        }
        Ok(ImageInspect {
            id: id.clone(),
            repo_tags: s.repo_tags,
            repo_digests: s.repo_digests,
            parent: String::new(),
            comment: c.comment.clone().unwrap_or_default(),
            created: c.created.clone(),
            docker_version: c.docker_version.clone().unwrap_or_default(),
            author: c.author.clone().unwrap_or_default(),
            config: c
                .config
                .as_ref()
                .map(|rc| serde_json::to_value(rc).unwrap_or_default())
                .unwrap_or(serde_json::Value::Null),
            architecture: c.architecture.clone(),
            variant: c.variant.clone(),
            os: c.os.clone(),
            os_version: c.os_version.clone(),
            size: s.size,
            virtual_size: Some(s.size),
            graph_driver: GraphDriver {
                name: "overlay2".into(),
                data: gd,
            },
            root_fs: RootFs {
                typ: "layers".into(),
                layers: c.rootfs.diff_ids.clone(),
            },
            metadata: ImageMetadata {
                last_tag_time: img.meta.last_tag_time.clone(),
            },
        })
    }

    /// `GET /images/{name}/history`, newest first.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryItem>> {
        let st = self.lock();
        let id = self.resolve_in(&st, name)?;
        let img = &st.images[&id];
        let sizes: Vec<u64> = img
            .chain_ids
            .iter()
            .map(|c| st.layers.get(c).map_or(0, |l| l.size))
            .collect();
        let mut items = Vec::new();
        let mut layer = 0usize;
        if img.config.history.is_empty() {
            for s in &sizes {
                items.push(HistoryItem {
                    id: "<missing>".into(),
                    created: img.config.created_unix(),
                    size: *s as i64,
                    ..Default::default()
                });
            }
        }
        for h in &img.config.history {
            let size = if h.empty_layer {
                0
            } else {
                let s = sizes.get(layer).copied().unwrap_or(0);
                layer += 1;
                s
            };
            items.push(HistoryItem {
                id: "<missing>".into(),
                created: h
                    .created
                    .as_deref()
                    .map(crate::config::parse_rfc3339)
                    .unwrap_or(0),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: Vec::new(),
                size: size as i64,
                comment: h.comment.clone().unwrap_or_default(),
            });
        }
        items.reverse();
        if let Some(top) = items.first_mut() {
            top.id = id.clone();
            top.tags = st
                .refs_of(&id)
                .iter()
                .filter(|r| r.digest.is_none())
                .map(Reference::familiar)
                .collect();
        }
        Ok(items)
    }

    /// `POST /images/{name}/tag`. Returns the image ID and the new
    /// reference.
    pub fn tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<(String, Reference)> {
        let full = match tag {
            Some(t) if !t.is_empty() => format!("{repo}:{t}"),
            _ => repo.to_string(),
        };
        let r = Reference::parse_tagged(&full)?;
        if r.digest.is_some() {
            return Err(ImageError::InvalidArgument(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        if digest::is_hex64(r.path.rsplit('/').next().unwrap_or("")) {
            return Err(ImageError::InvalidArgument(
                "refusing to create an ambiguous tag using digest algorithm as name".into(),
            ));
        }
        let mut st = self.lock();
        let id = self.resolve_in(&st, name)?;
        st.refs.insert(r.to_string(), id.clone());
        self.write_refs(&st)?;
        if let Some(img) = st.images.get_mut(&id) {
            img.meta.last_tag_time = Some(crate::config::now_rfc3339());
            let meta = img.meta.clone();
            self.write_image_meta(&meta)?;
        }
        Ok((id, r))
    }

    /// `DELETE /images/{name}`, following dockerd: a reference is untagged,
    /// and the image goes when no reference is left; an ID deletes the image
    /// (untagging all references, which needs `force` when there are
    /// several). An image a container uses is never deleted; without
    /// `force` that is a conflict. `noprune` concerns parent images, which
    /// images loaded or imported here do not have.
    pub fn remove(&self, name: &str, force: bool, _noprune: bool) -> Result<RemoveOutcome> {
        let mut st = self.lock();
        let id = self.resolve_in(&st, name)?;
        let short = hex(&id)[..12].to_string();
        let labels = st.images[&id].config.labels();
        let mut items = Vec::new();
        let refs = st.refs_of(&id);
        let used = self.used_by_in(&st, &id);
        let by_ref = Reference::parse_tagged(name)
            .ok()
            .filter(|r| st.refs.contains_key(&r.to_string()));
        let mut untag: Vec<Reference> = Vec::new();
        let mut delete = true;
        if let Some(r) = by_ref {
            let tags_left = refs.iter().filter(|x| **x != r).count();
            if tags_left == 0 && !used.is_empty() && !force {
                return Err(ImageError::Conflict(format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {short}",
                    used[0]
                )));
            }
            untag.push(r);
            if tags_left > 0 {
                delete = false;
            }
        } else {
            if refs.len() > 1 && !force {
                return Err(ImageError::Conflict(format!(
                    "conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
                )));
            }
            if !used.is_empty() && !force {
                return Err(ImageError::Conflict(format!(
                    "conflict: unable to delete {short} (must be forced) - image is being used by container {}",
                    used[0]
                )));
            }
            untag = refs;
        }
        if !used.is_empty() {
            delete = false;
        }
        for r in &untag {
            st.refs.remove(&r.to_string());
            items.push(DeleteItem::Untagged(r.familiar()));
        }
        if !untag.is_empty() {
            self.write_refs(&st)?;
        }
        if delete {
            items.extend(self.delete_image_in(&mut st, &id)?.0);
        }
        Ok(RemoveOutcome {
            image_id: id,
            labels,
            items,
        })
    }

    /// Removes an image record (its references must be gone already) and
    /// any layers nothing else uses.
    fn delete_image_in(&self, st: &mut State, id: &str) -> Result<(Vec<DeleteItem>, u64)> {
        let leftover: Vec<String> = st
            .refs
            .iter()
            .filter(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.clone())
            .collect();
        for k in leftover {
            st.refs.remove(&k);
        }
        match fs::remove_file(self.image_meta_path(id)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(ImageError::io("remove image record", e)),
        }
        st.images.remove(id);
        let _ = fs::remove_file(self.blob_path(id));
        let mut items = vec![DeleteItem::Deleted(id.to_string())];
        let (layers, freed) = self.gc_layers(st);
        items.extend(layers.into_iter().rev().map(DeleteItem::Deleted));
        Ok((items, freed))
    }

    /// `POST /images/prune`. Filters: dangling (default true), label,
    /// label!, until.
    pub fn prune(&self, filters: &berth_core::Filters) -> Result<(Vec<RemoveOutcome>, u64)> {
        filters
            .validate(&["dangling", "label", "label!", "until"])
            .map_err(|e| ImageError::InvalidArgument(e.message))?;
        let dangling_only = filters
            .bool_value("dangling")
            .map_err(|e| ImageError::InvalidArgument(e.message))?
            .unwrap_or(true);
        let until: Vec<i64> = filters
            .get("until")
            .map(parse_until)
            .collect::<Result<_>>()?;
        let mut st = self.lock();
        let candidates: Vec<String> = st
            .images
            .values()
            .filter(|img| {
                let refs = st.refs_of(&img.id);
                let labels = img.config.labels();
                (!dangling_only || refs.iter().all(|r| r.digest.is_some()))
                    && filters.match_labels("label", &labels)
                    && !(filters.contains("label!") && label_not(filters, &labels))
                    && until.iter().all(|u| img.config.created_unix() <= *u)
            })
            .map(|img| img.id.clone())
            .collect();
        let mut freed = 0;
        let mut out = Vec::new();
        for id in candidates {
            if !self.used_by_in(&st, &id).is_empty() {
                continue;
            }
            let labels = st.images[&id].config.labels();
            let mut items: Vec<DeleteItem> = st
                .refs_of(&id)
                .iter()
                .filter(|r| r.digest.is_none())
                .map(|r| DeleteItem::Untagged(r.familiar()))
                .collect();
            let (its, f) = self.delete_image_in(&mut st, &id)?;
            items.extend(its);
            freed += f;
            out.push(RemoveOutcome {
                image_id: id,
                labels,
                items,
            });
        }
        self.write_refs(&st)?;
        Ok((out, freed))
    }

    /// The images part of `GET /system/df`.
    pub fn disk_usage(&self) -> ImagesDiskUsage {
        let st = self.lock();
        let mut layer_users: BTreeMap<&str, usize> = BTreeMap::new();
        for img in st.images.values() {
            for c in &img.chain_ids {
                *layer_users.entry(c.as_str()).or_default() += 1;
            }
        }
        let images = st
            .images
            .values()
            .map(|img| {
                let mut s = self.summary_in(&st, img);
                s.shared_size = img
                    .chain_ids
                    .iter()
                    .filter(|c| layer_users.get(c.as_str()).copied().unwrap_or(0) > 1)
                    .filter_map(|c| st.layers.get(c))
                    .map(|l| l.size as i64)
                    .sum();
                s.containers = self.used_by_in(&st, &img.id).len() as i64;
                s
            })
            .collect();
        ImagesDiskUsage {
            layers_size: st.layers.values().map(|l| l.size as i64).sum(),
            images,
        }
    }

    /// Labels of an image, for event attributes.
    pub fn labels_of(&self, id: &str) -> BTreeMap<String, String> {
        self.lock()
            .images
            .get(id)
            .map(|i| i.config.labels())
            .unwrap_or_default()
    }

    /// Number of images (for `/info`).
    pub fn count(&self) -> usize {
        self.lock().images.len()
    }
}

fn label_not(filters: &berth_core::Filters, labels: &BTreeMap<String, String>) -> bool {
    filters.get("label!").any(|w| match w.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|lv| lv == v),
        None => labels.contains_key(w),
    })
}

/// `until`: Unix seconds, an RFC 3339 time (or one without an offset, read as
/// UTC), or a Go-style duration (`10m`, `1h30m`) before now; as Unix seconds.
/// The forms are those of `GET /events`' `since`/`until`.
pub fn parse_until(s: &str) -> Result<i64> {
    let nanos = berth_core::events::parse_time(s, berth_core::events::now_nanos())
        .map_err(|_| ImageError::InvalidArgument(format!("invalid until value {s:?}")))?;
    Ok(nanos.div_euclid(1_000_000_000))
}
