//! `GET /containers/json` and `GET /containers/{id}/json`.

use super::remove::dir_size;
use super::Containers;
use berth_api::containers::ListOptions;
use berth_core::containers::ContainerRecord;
use berth_core::lifecycle::Status;
use berth_types::container::{
    ContainerJson, ContainerSummary, GraphDriverData, SummaryHostConfig, SummaryNetworkSettings,
};
use berth_types::{Error, Result};

/// "Up 5 seconds", "Exited (0) 3 minutes ago", "Created": dockerd's words.
pub fn human_status(rec: &ContainerRecord, now_nanos: i64) -> String {
    let since = |rfc: &str| -> String {
        let t = berth_types::timestamp::parse_nanos(rfc).unwrap_or(0) as i64;
        human_duration(((now_nanos - t).max(0) / 1_000_000_000) as u64)
    };
    match rec.shown_status() {
        Status::Running => format!("Up {}", since(&rec.state.started_at)),
        Status::Paused => format!("Up {} (Paused)", since(&rec.state.started_at)),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            rec.state.exit_code,
            since(&rec.state.finished_at)
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            rec.state.exit_code,
            since(&rec.state.finished_at)
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Created => "Created".into(),
    }
}

fn human_duration(secs: u64) -> String {
    match secs {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 120 => "About a minute".into(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 7200 => "About an hour".into(),
        s if s < 48 * 3600 => format!("{} hours", s / 3600),
        s if s < 14 * 86400 => format!("{} days", s / 86400),
        s if s < 60 * 86400 => format!("{} weeks", s / (7 * 86400)),
        s if s < 730 * 86400 => format!("{} months", s / (30 * 86400)),
        s => format!("{} years", s / (365 * 86400)),
    }
}

/// The state name `docker ps --filter status=` matches.
fn status_name(rec: &ContainerRecord) -> &'static str {
    rec.shown_status().as_str()
}

impl Containers {
    fn matches(
        &self,
        rec: &ContainerRecord,
        o: &ListOptions,
        before: Option<i64>,
        since: Option<i64>,
    ) -> Result<bool> {
        let f = &o.filters;
        let name = rec.name.trim_start_matches('/');
        Ok(f.any("id", |v| rec.id.starts_with(v))
            && f.any("name", |v| name.contains(v.trim_start_matches('/')))
            && f.match_labels("label", &rec.config.labels)
            && f.any("status", |v| v == status_name(rec))
            && f.any("exited", |v| {
                rec.has_been_started
                    && !rec.state.running
                    && v.parse::<i64>().is_ok_and(|c| c == rec.state.exit_code)
            })
            && f.any("ancestor", |v| {
                rec.image_ref == v
                    || rec.image_id == v
                    || rec.image_id.trim_start_matches("sha256:").starts_with(v)
                    || self.images.resolve(v).is_ok_and(|id| id == rec.image_id)
            })
            && before.is_none_or(|b| rec.created_nanos < b)
            && since.is_none_or(|s| rec.created_nanos > s))
    }

    fn created_of(&self, reference: &str) -> Result<i64> {
        let c = self.store.get(reference)?;
        let t = c.lock().unwrap().created_nanos;
        Ok(t)
    }

    pub async fn list(&self, o: ListOptions) -> Result<Vec<ContainerSummary>> {
        for v in o.filters.get("status") {
            if ![
                "created",
                "restarting",
                "running",
                "removing",
                "paused",
                "exited",
                "dead",
            ]
            .contains(&v)
            {
                return Err(Error::invalid(format!("invalid filter 'status={v}'")));
            }
        }
        for v in o.filters.get("exited") {
            if v.parse::<i64>().is_err() {
                return Err(Error::invalid(format!("invalid filter 'exited={v}'")));
            }
        }
        let before = match o.filters.get("before").next() {
            Some(r) => Some(self.created_of(r)?),
            None => None,
        };
        let since = match o.filters.get("since").next() {
            Some(r) => Some(self.created_of(r)?),
            None => None,
        };
        let now = super::now_nanos() as i64;
        // Newest first, as dockerd lists them.
        let mut recs = self.store.list();
        recs.reverse();
        let all = o.all || o.limit.is_some_and(|l| l > 0) || before.is_some() || since.is_some();
        let mut out = Vec::new();
        for rec in recs {
            if !all
                && !rec.state.running
                && !o.filters.contains("status")
                && !o.filters.contains("exited")
            {
                continue;
            }
            if !self.matches(&rec, &o, before, since)? {
                continue;
            }
            out.push(self.summary(&rec, now, o.size));
            if o.limit.is_some_and(|l| l > 0 && out.len() as i64 >= l) {
                break;
            }
        }
        self.fill_summaries(&mut out).await;
        Ok(out)
    }

    fn summary(&self, rec: &ContainerRecord, now: i64, size: bool) -> ContainerSummary {
        let mut command = std::iter::once(rec.path.as_str())
            .chain(rec.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        if command.is_empty() {
            command = String::new();
        }
        ContainerSummary {
            id: rec.id.clone(),
            names: vec![rec.name.clone()],
            image: rec.image_ref.clone(),
            image_id: rec.image_id.clone(),
            command,
            created: rec.created_nanos / 1_000_000_000,
            ports: Vec::new(),
            size_rw: size.then(|| dir_size(&self.images.upper_dir(&rec.id)) as i64),
            size_root_fs: None,
            labels: rec.config.labels.clone(),
            state: status_name(rec).to_string(),
            status: human_status(rec, now),
            host_config: SummaryHostConfig {
                network_mode: network_mode(rec),
                annotations: rec.host_config.annotations.clone(),
            },
            network_settings: SummaryNetworkSettings::default(),
            mounts: rec.mounts.clone(),
        }
    }

    /// The containers part of `/system/df`: every container with its size.
    pub fn disk_usage(&self) -> Vec<ContainerSummary> {
        let now = super::now_nanos() as i64;
        let mut recs = self.store.list();
        recs.reverse();
        recs.iter().map(|r| self.summary(r, now, true)).collect()
    }

    pub async fn inspect(&self, reference: &str, size: bool) -> Result<ContainerJson> {
        let c = self.store.get(reference)?;
        let rec = c.lock().unwrap().clone();
        let paths = self.paths(&rec.id, &rec.runtime);
        let data_dir = self.store.dir_of(&rec.id);
        let mut graph = GraphDriverData {
            name: "overlay2".into(),
            ..Default::default()
        };
        let upper = self.images.upper_dir(&rec.id);
        graph
            .data
            .insert("UpperDir".into(), upper.display().to_string());
        if let Some(snap) = upper.parent() {
            graph
                .data
                .insert("WorkDir".into(), snap.join("work").display().to_string());
        }
        graph.data.insert(
            "MergedDir".into(),
            self.rootfs_dir(&rec.id).display().to_string(),
        );
        let mut host_config = rec.host_config.clone();
        if host_config.network_mode.is_empty() || host_config.network_mode == "default" {
            host_config.network_mode = network_mode(&rec);
        }
        let mut state = rec.state.clone();
        state.status = rec.shown_status().as_str().into();
        let upper_size = size.then(|| dir_size(&upper) as i64);
        Ok(ContainerJson {
            id: rec.id.clone(),
            created: rec.created.clone(),
            path: rec.path.clone(),
            args: rec.args.clone(),
            state,
            image: rec.image_id.clone(),
            resolv_conf_path: data_dir.join("resolv.conf").display().to_string(),
            hostname_path: data_dir.join("hostname").display().to_string(),
            hosts_path: data_dir.join("hosts").display().to_string(),
            log_path: paths.log_path.display().to_string(),
            name: rec.name.clone(),
            restart_count: rec.restart_count,
            driver: "overlay2".into(),
            platform: "linux".into(),
            mount_label: String::new(),
            process_label: String::new(),
            app_armor_profile: String::new(),
            exec_ids: None,
            host_config,
            graph_driver: graph,
            size_rw: upper_size,
            size_root_fs: None,
            mounts: rec.mounts.clone(),
            config: rec.config.clone(),
            network_settings: self.network_settings(&rec).await,
        })
    }
}

fn network_mode(rec: &ContainerRecord) -> String {
    match rec.host_config.network_mode.as_str() {
        "" | "default" => "bridge".into(),
        m => m.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_dockerd() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3 * 3600), "3 hours");
    }
}
