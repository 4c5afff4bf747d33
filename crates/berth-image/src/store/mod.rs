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

mod query;
mod recover;
mod remove;

pub use query::parse_until;

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

    /// Number of images (for `/info`).
    pub fn count(&self) -> usize {
        self.lock().images.len()
    }
}
