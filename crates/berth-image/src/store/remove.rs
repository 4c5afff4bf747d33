//! Changing references and removing images: tag, remove, prune.

use super::query::label_not;
use super::*;

impl ImageStore {
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
    pub(super) fn delete_image_in(
        &self,
        st: &mut State,
        id: &str,
    ) -> Result<(Vec<DeleteItem>, u64)> {
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
}
