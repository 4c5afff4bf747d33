//! Reading the store: list, inspect, history, disk usage, and the filters they take.

use super::*;

impl ImageStore {
    /// Containers (or snapshots) using the image.
    pub fn used_by(&self, id: &str) -> Vec<String> {
        // The containers' check runs before the store's lock is taken.
        let mut out = self.users_outside(id);
        out.extend(Self::snapshot_users(&self.lock(), id));
        out.into_iter().collect()
    }

    pub(super) fn used_by_in(&self, st: &State, id: &str) -> Vec<String> {
        let mut out = self.users_outside(id);
        out.extend(Self::snapshot_users(st, id));
        out.into_iter().collect()
    }

    /// Who the registered usage check (the containers) says uses `id`.
    fn users_outside(&self, id: &str) -> BTreeSet<String> {
        let usage = self.usage.read().unwrap_or_else(|e| e.into_inner());
        usage
            .as_ref()
            .map(|check| check(id))
            .into_iter()
            .flatten()
            .collect()
    }

    fn snapshot_users(st: &State, id: &str) -> Vec<String> {
        st.snapshots
            .iter()
            .filter(|(_, s)| s.image_id == id)
            .map(|(c, _)| c.clone())
            .collect()
    }

    pub(super) fn summary_in(&self, st: &State, img: &Image) -> ImageSummary {
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
}

pub(super) fn label_not(filters: &berth_core::Filters, labels: &BTreeMap<String, String>) -> bool {
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
