//! `DELETE /containers/{id}` and `POST /containers/prune`.

use super::Containers;
use berth_api::containers::PruneReport;
use berth_core::lifecycle::{Move, Status};
use berth_core::Filters;
use berth_types::{Error, Result};
use std::sync::Arc;
use std::time::Duration;

impl Containers {
    pub async fn remove(
        self: &Arc<Self>,
        reference: &str,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        let c = self.store.get(reference)?;
        let id = c.lock().unwrap().id.clone();
        let live = self.live(&id);
        let _op = live.op.lock().await;
        let rec = c.lock().unwrap().clone();
        rec.transition(Move::Remove { force })?;
        if rec.status().is_running() {
            let seen = *live.exits.borrow();
            self.store.update(&c, |r| r.manually_stopped = true)?;
            if let Some(shim) = live.shim() {
                if rec.status() == Status::Paused {
                    let _ = shim.resume().await;
                }
                let _ = shim.kill(libc::SIGKILL).await;
                let mut rx = live.exits.subscribe();
                let _ =
                    tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|n| *n > seen)).await;
            }
        }
        // Killed above (or never running): the removal itself begins.
        self.store.update(&c, |r| {
            r.transition(Move::Remove { force: true })
                .map(|_| r.set_state(Status::Removing))
        })??;
        let rec = c.lock().unwrap().clone();
        self.unmount_rootfs(&rec).await;
        // Teardown keeps going past errors and reports the first.
        let mut first_err: Option<Error> = None;
        if let Err(e) = self.images.cleanup(&id) {
            first_err.get_or_insert(e.into());
        }
        let state_dir = self.paths(&id, &rec.runtime).state_dir;
        if let Err(e) = tokio::fs::remove_dir_all(&state_dir).await {
            if e.kind() != std::io::ErrorKind::NotFound {
                first_err.get_or_insert(e.into());
            }
        }
        self.unmount_volumes(&id).await;
        self.release_volumes(&id, volumes).await;
        if let Err(e) = self.store.remove(&id) {
            first_err.get_or_insert(e);
        }
        self.emit(&rec, "destroy", &[]);
        live.removed.send_replace(true);
        self.live.lock().unwrap().remove(&id);
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub async fn prune(self: &Arc<Self>, filters: Filters) -> Result<PruneReport> {
        let until = match filters.get("until").next() {
            Some(u) => Some(
                berth_core::events::parse_time(u, super::now_nanos() as i64)
                    .map_err(|e| Error::invalid(format!("invalid until filter: {}", e.message)))?,
            ),
            None => None,
        };
        let mut report = PruneReport::default();
        for rec in self.store.list() {
            if rec.state.running {
                continue;
            }
            if until.is_some_and(|u| rec.created_nanos >= u) {
                continue;
            }
            if !filters.match_labels("label", &rec.config.labels) {
                continue;
            }
            if filters.contains("label!")
                && filters.get("label!").any(|l| match l.split_once('=') {
                    Some((k, v)) => rec.config.labels.get(k).is_some_and(|x| x == v),
                    None => rec.config.labels.contains_key(l),
                })
            {
                continue;
            }
            let size = dir_size(&self.images.upper_dir(&rec.id));
            if self.remove(&rec.id, false, false).await.is_ok() {
                report.containers_deleted.push(rec.id.clone());
                report.space_reclaimed += size;
            }
        }
        let mut attrs = std::collections::BTreeMap::new();
        attrs.insert("reclaimed".to_string(), report.space_reclaimed.to_string());
        self.events
            .publish(berth_types::EventType::Container, "prune", "", attrs);
        Ok(report)
    }
}

/// Bytes in regular files under `dir` (not following symlinks).
pub fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                stack.push(e.path());
            } else if md.is_file() {
                total += md.len();
            }
        }
    }
    total
}
