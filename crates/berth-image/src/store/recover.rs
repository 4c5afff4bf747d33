//! Crash recovery on open, and the garbage collection of layers, blobs and links.

use super::*;

impl ImageStore {
    /// Brings the on-disk store to a consistent state and loads it.
    pub(super) fn recover(&self) -> Result<()> {
        self.empty_tmp()?;
        let mut st = State::default();
        self.load_layers(&mut st)?;
        self.load_images(&mut st)?;
        self.load_refs(&mut st)?;
        self.load_snapshots(&mut st)?;
        self.gc_files(&mut st)?;
        *self.lock() = st;
        Ok(())
    }

    /// Whatever an interrupted operation left in tmp/.
    fn empty_tmp(&self) -> Result<()> {
        let tmp = self.root.join("tmp");
        for e in fs::read_dir(&tmp).ctx(|| "read tmp".into())?.flatten() {
            let p = e.path();
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
        Ok(())
    }

    fn load_layers(&self, st: &mut State) -> Result<()> {
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
        Ok(())
    }

    fn load_images(&self, st: &mut State) -> Result<()> {
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
        Ok(())
    }

    fn load_refs(&self, st: &mut State) -> Result<()> {
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
        Ok(())
    }

    fn load_snapshots(&self, st: &mut State) -> Result<()> {
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
        Ok(())
    }

    fn gc_files(&self, st: &mut State) -> Result<()> {
        // Unreferenced layers and blobs, stale and missing links.
        self.gc_layers(st);
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
}
