//! `docker import`: one layer from a (possibly compressed) tar stream, and
//! a config built from the `--change` instructions.

use crate::config::{apply_changes, now_rfc3339, History, ImageConfig, RootFs, RunConfig};
use crate::digest;
use crate::error::{ImageError, IoContext, Result};
use crate::layer;
use crate::load::host_arch;
use crate::reference::Reference;
use crate::store::{Image, ImageMeta, ImageStore};
use std::io::Read;

impl ImageStore {
    /// Imports `input` as a one-layer image, tagged `reference` when given.
    /// Returns the new image ID.
    pub fn import<R: Read>(
        &self,
        input: R,
        reference: Option<&str>,
        changes: &[String],
        message: &str,
    ) -> Result<String> {
        let tag = match reference.filter(|r| !r.is_empty()) {
            Some(r) => {
                let r = Reference::parse_tagged(r)?;
                if r.digest.is_some() {
                    return Err(ImageError::InvalidArgument(
                        "cannot import digest reference".into(),
                    ));
                }
                Some(r)
            }
            None => None,
        };
        let mut run = RunConfig::default();
        apply_changes(&mut run, changes).map_err(ImageError::InvalidArgument)?;
        let work = self.tmp_dir("import")?;
        let res = (|| {
            let staged = layer::stage_stream(&work, input, None, None)?;
            let created = now_rfc3339();
            let comment = if message.is_empty() {
                None
            } else {
                Some(message.to_string())
            };
            let config = ImageConfig {
                architecture: host_arch().to_string(),
                os: "linux".into(),
                created: Some(created.clone()),
                comment: comment.clone(),
                config: Some(run),
                rootfs: RootFs {
                    typ: "layers".into(),
                    diff_ids: vec![staged.meta.diff_id.clone()],
                },
                history: vec![History {
                    created: Some(created),
                    comment: Some(if message.is_empty() {
                        "Imported from -".to_string()
                    } else {
                        message.to_string()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            };
            let raw = serde_json::to_vec(&config).map_err(|e| ImageError::json("config", e))?;
            let id = digest::sha256_bytes(&raw);
            layer::sync_store(&self.root);
            let mut st = self.lock();
            let chain = staged.meta.chain_id.clone();
            self.commit_layer(&mut st, staged)?;
            if !st.images.contains_key(&id) {
                berth_core::atomic::write_atomic(&self.blob_path(&id), &raw)
                    .ctx(|| "write config".into())?;
                let meta = ImageMeta {
                    id: id.clone(),
                    last_tag_time: None,
                };
                self.write_image_meta(&meta)?;
                st.images.insert(
                    id.clone(),
                    Image {
                        id: id.clone(),
                        config,
                        chain_ids: vec![chain],
                        meta,
                    },
                );
            }
            if let Some(t) = &tag {
                st.refs.insert(t.to_string(), id.clone());
                self.write_refs(&st)?;
            }
            Ok(id)
        })();
        self.discard_dir(&work);
        res
    }
}
