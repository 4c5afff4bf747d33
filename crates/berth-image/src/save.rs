//! `docker save`: writes dockerd 25's layout, an OCI image layout plus the
//! legacy `manifest.json`, which both dockerd 20.10 and 25+ load. Layers are
//! stored uncompressed, so a layer's blob digest is its diff ID.

use crate::error::{ImageError, IoContext, Result};
use crate::reference::Reference;
use crate::store::{hex, ImageStore};
use serde_json::json;
use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

const MT_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MT_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MT_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MT_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

struct SaveImage {
    id: String,
    config_path: PathBuf,
    layers: Vec<(String, PathBuf, u64)>,
    tags: Vec<Reference>,
}

fn header(size: u64, mode: u32, typ: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(mode);
    h.set_entry_type(typ);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn add_bytes<W: Write>(b: &mut tar::Builder<W>, name: &str, data: &[u8]) -> Result<()> {
    let mut h = header(data.len() as u64, 0o644, tar::EntryType::Regular);
    b.append_data(&mut h, name, data)
        .ctx(|| format!("write {name}"))
}

impl ImageStore {
    /// Resolves the names of a save: an ID saves the image untagged, a
    /// tagged reference that tag, a bare repository every tag it has.
    fn save_plan(&self, names: &[String]) -> Result<Vec<SaveImage>> {
        if names.is_empty() {
            return Err(ImageError::InvalidArgument("no images specified".into()));
        }
        let st = self.lock();
        let mut order: Vec<String> = Vec::new();
        let mut tags: std::collections::BTreeMap<String, BTreeSet<Reference>> = Default::default();
        for name in names {
            let explicit = Reference::parse(name).ok();
            let id = match &explicit {
                Some(r) if r.tag.is_none() && r.digest.is_none() => {
                    let repo = r.name();
                    let all: Vec<(Reference, String)> = st
                        .refs
                        .iter()
                        .filter_map(|(k, v)| Reference::parse(k).ok().map(|r| (r, v.clone())))
                        .filter(|(r, _)| r.name() == repo && r.digest.is_none())
                        .collect();
                    if all.is_empty() {
                        let id = self.resolve_in(&st, name)?;
                        if !order.contains(&id) {
                            order.push(id.clone());
                        }
                        continue;
                    }
                    for (r, id) in all {
                        if !order.contains(&id) {
                            order.push(id.clone());
                        }
                        tags.entry(id).or_default().insert(r);
                    }
                    continue;
                }
                _ => self.resolve_in(&st, name)?,
            };
            if !order.contains(&id) {
                order.push(id.clone());
            }
            if let Some(r) = explicit.filter(|r| r.tag.is_some()) {
                if st.refs.get(&r.to_string()) == Some(&id) {
                    tags.entry(id).or_default().insert(r);
                }
            }
        }
        Ok(order
            .into_iter()
            .map(|id| {
                let img = &st.images[&id];
                SaveImage {
                    config_path: self.blob_path(&id),
                    layers: img
                        .chain_ids
                        .iter()
                        .map(|c| {
                            let l = &st.layers[c];
                            (
                                l.diff_id.clone(),
                                self.layer_dir(c).join("layer.tar"),
                                l.tar_size,
                            )
                        })
                        .collect(),
                    tags: tags
                        .remove(&id)
                        .map(|s| s.into_iter().collect())
                        .unwrap_or_default(),
                    id,
                }
            })
            .collect())
    }

    /// Writes a `docker save` tarball of `names` to `out`, streaming. Names
    /// are resolved before anything is written, so an unknown name fails
    /// with nothing sent. Returns the IDs saved.
    pub fn save<W: Write>(&self, names: &[String], out: W) -> Result<Vec<String>> {
        let plan = self.save_plan(names)?;
        let mut b = tar::Builder::new(out);
        b.mode(tar::HeaderMode::Deterministic);
        for dir in ["blobs/", "blobs/sha256/"] {
            let mut h = header(0, 0o755, tar::EntryType::Directory);
            b.append_data(&mut h, dir, std::io::empty())
                .ctx(|| "write dir".into())?;
        }
        let mut written: HashSet<String> = HashSet::new();
        let mut index = Vec::new();
        let mut legacy = Vec::new();
        for img in &plan {
            for (diff, path, size) in &img.layers {
                if written.insert(diff.clone()) {
                    let f = File::open(path).ctx(|| format!("open layer {diff}"))?;
                    let len = f.metadata().map(|m| m.len()).unwrap_or(*size);
                    let mut h = header(len, 0o644, tar::EntryType::Regular);
                    b.append_data(&mut h, format!("blobs/sha256/{}", hex(diff)), f)
                        .ctx(|| "write layer".into())?;
                }
            }
            let config = std::fs::read(&img.config_path).ctx(|| "read config".into())?;
            if written.insert(img.id.clone()) {
                add_bytes(&mut b, &format!("blobs/sha256/{}", hex(&img.id)), &config)?;
            }
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": MT_MANIFEST,
                "config": {"mediaType": MT_CONFIG, "digest": img.id, "size": config.len()},
                "layers": img.layers.iter().map(|(d, p, s)| {
                    let len = std::fs::metadata(p).map(|m| m.len()).unwrap_or(*s);
                    json!({"mediaType": MT_LAYER, "digest": d, "size": len})
                }).collect::<Vec<_>>(),
            });
            let mraw =
                serde_json::to_vec(&manifest).map_err(|e| ImageError::json("manifest", e))?;
            let mdigest = crate::digest::sha256_bytes(&mraw);
            if written.insert(mdigest.clone()) {
                add_bytes(&mut b, &format!("blobs/sha256/{}", hex(&mdigest)), &mraw)?;
            }
            let desc = |ann: Option<(&Reference, &str)>| {
                let mut d =
                    json!({"mediaType": MT_MANIFEST, "digest": mdigest, "size": mraw.len()});
                if let Some((r, tag)) = ann {
                    d["annotations"] = json!({
                        "io.containerd.image.name": r.to_string(),
                        "org.opencontainers.image.ref.name": tag,
                    });
                }
                d
            };
            if img.tags.is_empty() {
                index.push(desc(None));
            }
            for t in &img.tags {
                index.push(desc(Some((t, t.tag.as_deref().unwrap_or("latest")))));
            }
            legacy.push(json!({
                "Config": format!("blobs/sha256/{}", hex(&img.id)),
                "RepoTags": if img.tags.is_empty() { serde_json::Value::Null } else {
                    json!(img.tags.iter().map(Reference::familiar).collect::<Vec<_>>())
                },
                "Layers": img.layers.iter().map(|(d, _, _)| format!("blobs/sha256/{}", hex(d))).collect::<Vec<_>>(),
            }));
        }
        let index = json!({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": index});
        add_bytes(
            &mut b,
            "index.json",
            &serde_json::to_vec(&index).unwrap_or_default(),
        )?;
        add_bytes(
            &mut b,
            "manifest.json",
            &serde_json::to_vec(&legacy).unwrap_or_default(),
        )?;
        add_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let mut out = b.into_inner().ctx(|| "finish archive".into())?;
        out.flush().ctx(|| "flush".into())?;
        Ok(plan.into_iter().map(|i| i.id).collect())
    }
}
