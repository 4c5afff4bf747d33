//! `docker volume ls`: berth's records merged with what every volume
//! driver lists, as dockerd merges them.

use super::{drivers, Record, VolumeStore};
use berth_core::Filters;
use berth_types::volume::Volume;
use berth_types::Result;
use std::collections::BTreeMap;

impl VolumeStore {
    /// `docker volume ls`: berth's volumes and every volume a driver
    /// reports (`VolumeDriver.List` of each plugin, asked at once); a
    /// driver that cannot list is a warning, not a failure. Filters
    /// `dangling`, `driver` (either name of a managed plugin), `label`,
    /// `name`.
    pub async fn list(&self, filters: &Filters) -> Result<(Vec<Volume>, Vec<String>)> {
        filters.validate(&["dangling", "driver", "label", "name"])?;
        let dangling = filters.bool_value("dangling")?;
        let set = self.all_drivers().await;
        let mut warnings = set.warnings;
        let listed = futures_util::future::join_all(set.drivers.iter().map(|d| async move {
            let r = d.list().await;
            let scope = match r {
                Ok(_) => d.scope().await.unwrap_or_default(),
                Err(_) => Default::default(),
            };
            (r, scope)
        }))
        .await;
        let recs: Vec<Record> = self.records.lock().unwrap().values().cloned().collect();
        // name → (volume, referenced)
        let mut all: BTreeMap<String, (Volume, bool)> = recs
            .iter()
            .map(|r| (r.name.clone(), (self.to_volume(r), !r.refs.is_empty())))
            .collect();
        for (d, (r, scope)) in set.drivers.iter().zip(listed) {
            let vols = match r {
                Ok(v) => v,
                Err(e) => {
                    warnings.push(format!("list {}: {}", d.name(), e.message));
                    continue;
                }
            };
            for dv in vols {
                match all.get_mut(&dv.name) {
                    // A volume berth knows stays as berth knows it; another
                    // driver's volume of the same name is left out (dockerd).
                    Some((v, _)) => {
                        if v.driver == d.name()
                            && d.host_data(&dv.name).is_none()
                            && !dv.mountpoint.is_empty()
                        {
                            v.mountpoint = dv.mountpoint;
                        }
                    }
                    None => {
                        let v = drivers::foreign_volume(d.name(), dv, scope);
                        all.insert(v.name.clone(), (v, false));
                    }
                }
            }
        }
        let vols = all
            .into_values()
            .filter(|(_, used)| dangling.is_none_or(|d| d != *used))
            .map(|(v, _)| v)
            .filter(|v| filters.any("driver", |f| self.same_driver(f, &v.driver)))
            .filter(|v| filters.any("name", |n| v.name.contains(n)))
            .filter(|v| filters.match_labels("label", &v.labels))
            .collect();
        Ok((vols, warnings))
    }
}
