//! The image routes wired to the image store, publishing image events.

use berth_api::images::{ImageBackend, ImportOptions, ListOptions};
use berth_core::events::EventSink;
use berth_core::Filters;
use berth_image::ImageStore;
use berth_types::image::{
    DeleteItem, HistoryItem, ImageInspect, ImageSummary, ImagesDiskUsage, PruneReport,
};
use berth_types::{EventType, Result};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;

pub struct ImageService {
    pub store: Arc<ImageStore>,
    pub events: Arc<dyn EventSink>,
}

impl ImageService {
    /// dockerd's image events: the image's labels plus `name`.
    fn emit(&self, action: &str, id: &str, name: &str) {
        let mut attrs: BTreeMap<String, String> = self.store.labels_of(id);
        attrs.insert("name".into(), name.to_string());
        self.events.emit(EventType::Image, action, id, attrs);
    }
}

impl ImageService {
    /// untag and delete events, named by image ID as dockerd does.
    fn emit_removal(&self, out: &berth_image::RemoveOutcome) {
        let id = out.image_id.as_str();
        for item in &out.items {
            let action = match item {
                DeleteItem::Untagged(_) => "untag",
                DeleteItem::Deleted(d) if d == id => "delete",
                DeleteItem::Deleted(_) => continue, // a layer
            };
            let mut attrs = out.labels.clone();
            attrs.insert("name".into(), id.to_string());
            self.events.emit(EventType::Image, action, id, attrs);
        }
    }
}

impl ImageBackend for ImageService {
    fn list(&self, opts: &ListOptions) -> Result<Vec<ImageSummary>> {
        let mut v = self.store.list(&opts.filters)?;
        if opts.shared_size {
            let df = self.store.disk_usage();
            for s in &mut v {
                if let Some(d) = df.images.iter().find(|d| d.id == s.id) {
                    s.shared_size = d.shared_size;
                }
            }
        }
        Ok(v)
    }

    fn inspect(&self, name: &str) -> Result<ImageInspect> {
        Ok(self.store.inspect(name)?)
    }

    fn history(&self, name: &str) -> Result<Vec<HistoryItem>> {
        Ok(self.store.history(name)?)
    }

    fn tag(&self, name: &str, repo: &str, tag: &str) -> Result<()> {
        let (id, r) = self
            .store
            .tag(name, repo, Some(tag).filter(|t| !t.is_empty()))?;
        self.emit("tag", &id, &r.familiar());
        Ok(())
    }

    fn remove(&self, name: &str, force: bool, noprune: bool) -> Result<Vec<DeleteItem>> {
        let out = self.store.remove(name, force, noprune)?;
        self.emit_removal(&out);
        Ok(out.items)
    }

    fn prune(&self, filters: &Filters) -> Result<PruneReport> {
        let (outs, reclaimed) = self.store.prune(filters)?;
        let mut items = Vec::new();
        for out in outs {
            self.emit_removal(&out);
            items.extend(out.items);
        }
        let mut attrs = BTreeMap::new();
        attrs.insert("reclaimed".into(), reclaimed.to_string());
        self.events.emit(EventType::Image, "prune", "", attrs);
        Ok(PruneReport {
            images_deleted: if items.is_empty() { None } else { Some(items) },
            space_reclaimed: reclaimed,
        })
    }

    fn disk_usage(&self) -> Result<ImagesDiskUsage> {
        Ok(self.store.disk_usage())
    }

    fn load(
        &self,
        input: &mut dyn Read,
        _quiet: bool,
        progress: &mut dyn FnMut(&str),
    ) -> Result<()> {
        // dockerd prints the "Loaded image" lines whether quiet or not;
        // quiet only suppresses progress bars, which berth does not draw.
        let loaded = self.store.load(input, progress)?;
        for img in &loaded {
            self.emit("load", &img.id, &img.id);
        }
        Ok(())
    }

    fn save(&self, names: &[String], out: &mut dyn Write) -> Result<()> {
        let ids = self.store.save(names, out)?;
        for id in &ids {
            self.emit("save", id, id);
        }
        Ok(())
    }

    fn import(&self, input: &mut dyn Read, opts: &ImportOptions) -> Result<String> {
        let id = self.store.import(
            input,
            Some(opts.reference.as_str()).filter(|r| !r.is_empty()),
            &opts.changes,
            &opts.message,
        )?;
        self.emit("import", &id, &id);
        Ok(id)
    }
}

/// The `/images` routes (unversioned paths).
pub fn routes(store: Arc<ImageStore>, events: Arc<dyn EventSink>) -> axum::Router {
    berth_api::images::routes(Arc::new(ImageService { store, events }))
}
