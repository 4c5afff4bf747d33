//! A container's volumes: created and referenced at create, mounted (with
//! the container ID as the driver's mount ID) and filled from the image at
//! start, unmounted on exit, released at `rm` (anonymous ones removed with
//! `--rm` and `rm -v`).

use super::Containers;
use berth_plugins::CreateOptions;
use berth_runtime::spec::{self, ResolvedMount};
use berth_types::container::{ContainerConfig, HostConfig, Mount, MountPoint};
use berth_types::{Error, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a restarted container waits for a volume plugin that is not up
/// yet (at daemon start-up, say). Other API calls never wait on it.
pub const PLUGIN_WAIT: Duration = Duration::from_secs(20);

/// One volume a container asks for, before it exists.
struct Wanted {
    name: String,
    destination: String,
    driver: String,
    driver_opts: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    rw: bool,
    mode: String,
}

/// Mount points decided so far, the volumes still to be made or looked
/// up, and the destinations taken.
#[derive(Default)]
struct Plan {
    points: Vec<MountPoint>,
    wanted: Vec<Wanted>,
    taken: Vec<String>,
}

impl Plan {
    /// One `-v SRC:DST[:MODE]`: a host path is a bind, a name a volume.
    fn bind(&mut self, b: &str, hc: &HostConfig) -> Result<()> {
        let spec = spec::parse_bind(b)?;
        let mode = b.splitn(3, ':').nth(2).unwrap_or("").to_string();
        self.taken.push(spec.destination.clone());
        if spec.is_host_path() {
            self.points.push(MountPoint {
                typ: "bind".into(),
                source: spec.source,
                destination: spec.destination,
                mode,
                rw: !spec.read_only,
                propagation: spec.propagation.unwrap_or_else(|| "rprivate".into()),
                ..Default::default()
            });
        } else {
            self.wanted.push(Wanted {
                name: spec.source,
                destination: spec.destination,
                driver: hc.volume_driver.clone(),
                driver_opts: BTreeMap::new(),
                labels: BTreeMap::new(),
                rw: !spec.read_only,
                mode: if mode.is_empty() { "z".into() } else { mode },
            });
        }
        Ok(())
    }

    /// One `--mount`.
    fn mount(&mut self, m: &Mount, hc: &HostConfig) {
        self.taken.push(m.target.clone());
        match m.typ.as_str() {
            "bind" => self.points.push(MountPoint {
                typ: "bind".into(),
                source: m.source.clone(),
                destination: m.target.clone(),
                rw: !m.read_only,
                propagation: m
                    .bind_options
                    .as_ref()
                    .and_then(|b| b.propagation.clone())
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "rprivate".into()),
                ..Default::default()
            }),
            "volume" => {
                let vo = m.volume_options.clone().unwrap_or_default();
                let dc = vo.driver_config.unwrap_or_default();
                self.wanted.push(Wanted {
                    name: m.source.clone(),
                    destination: m.target.clone(),
                    driver: if dc.name.is_empty() {
                        hc.volume_driver.clone()
                    } else {
                        dc.name
                    },
                    driver_opts: dc.options,
                    labels: vo.labels.unwrap_or_default(),
                    rw: !m.read_only,
                    mode: String::new(),
                });
            }
            "tmpfs" => self.points.push(MountPoint {
                typ: "tmpfs".into(),
                destination: m.target.clone(),
                rw: !m.read_only,
                ..Default::default()
            }),
            _ => {}
        }
    }
}

/// The mount points of a container, in dockerd's order (binds, mounts,
/// then the image's and `-v /path` volumes), with the volumes still to be
/// made or looked up.
fn plan(config: &ContainerConfig, hc: &HostConfig) -> Result<(Vec<MountPoint>, Vec<Wanted>)> {
    let mut p = Plan::default();
    for b in hc.binds.iter().flatten() {
        p.bind(b, hc)?;
    }
    for m in hc.mounts.iter().flatten() {
        p.mount(m, hc);
    }
    p.taken
        .extend(hc.tmpfs.iter().flatten().map(|(d, _)| d.clone()));
    for dest in config.volumes.iter().flatten().map(|(d, _)| d) {
        if p.taken.iter().any(|t| same_path(t, dest)) {
            continue;
        }
        p.taken.push(dest.clone());
        p.wanted.push(Wanted {
            name: String::new(),
            destination: dest.clone(),
            driver: hc.volume_driver.clone(),
            driver_opts: BTreeMap::new(),
            labels: BTreeMap::new(),
            rw: true,
            mode: String::new(),
        });
    }
    Ok((p.points, p.wanted))
}

fn same_path(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Whether the image's content must not be copied into the volume at `dest`
/// (`-v vol:/dst:nocopy`, `--mount ...,volume-nocopy`).
fn no_copy(hc: &HostConfig, dest: &str) -> bool {
    let in_binds =
        hc.binds.iter().flatten().any(|b| {
            spec::parse_bind(b).is_ok_and(|s| s.nocopy && same_path(&s.destination, dest))
        });
    let in_mounts = hc.mounts.iter().flatten().any(|m| {
        m.typ == "volume"
            && same_path(&m.target, dest)
            && m.volume_options
                .as_ref()
                .and_then(|v| v.no_copy)
                .unwrap_or(false)
    });
    in_binds || in_mounts
}

impl Containers {
    /// At create: makes the volumes `-v`, `--mount` and the image ask for
    /// (named ones only if missing), references them for container `id`,
    /// and returns the container's mount points. On error, the references
    /// taken so far are dropped again.
    pub(super) async fn create_volumes(
        &self,
        id: &str,
        config: &ContainerConfig,
        hc: &HostConfig,
    ) -> Result<Vec<MountPoint>> {
        let (mut points, wanted) = plan(config, hc)?;
        for w in wanted {
            let made = async {
                let v = self
                    .volumes
                    .create(CreateOptions {
                        name: w.name.clone(),
                        driver: w.driver.clone(),
                        driver_opts: w.driver_opts.clone(),
                        labels: w.labels.clone(),
                    })
                    .await?;
                self.volumes.add_ref(&v.name, id)?;
                Ok::<_, Error>(v)
            }
            .await;
            let v = match made {
                Ok(v) => v,
                Err(mut e) => {
                    // A 404 from create makes the docker CLI try to pull the
                    // image: a missing driver is a bad parameter here.
                    if e.kind == berth_types::ErrorKind::NotFound {
                        e.kind = berth_types::ErrorKind::InvalidParameter;
                    }
                    for e in self.volumes.release_container(id, true).await {
                        tracing::warn!("releasing volumes of {id}: {}", e.message);
                    }
                    return Err(e);
                }
            };
            points.push(MountPoint {
                typ: "volume".into(),
                name: v.name,
                source: v.mountpoint,
                destination: w.destination,
                driver: v.driver,
                mode: w.mode,
                rw: w.rw,
                propagation: String::new(),
            });
        }
        Ok(points)
    }

    /// At start: waits (within `wait`) for plugin drivers that are not up
    /// yet, mounts every volume of the container, fills new, empty ones
    /// from the image at `rootfs`, and returns the bind mounts for the
    /// spec: those `resolve_mounts` does not produce itself (the image's
    /// and `-v /path` volumes) plus a lookup for the ones it does.
    pub(super) async fn mount_volumes(
        &self,
        id: &str,
        points: &[MountPoint],
        hc: &HostConfig,
        first_start: bool,
        rootfs: &Path,
        wait: Option<Duration>,
    ) -> Result<HashMap<String, PathBuf>> {
        let mut by_dest = HashMap::new();
        for p in points.iter().filter(|p| p.typ == "volume") {
            if let Some(bound) = wait {
                self.volumes.wait_for_driver(&p.driver, bound).await?;
            }
            let path = self
                .volumes
                .mount_at(&p.name, id, &p.destination, p.rw)
                .await?;
            if first_start && !no_copy(hc, &p.destination) {
                let (root, dest, vol) = (rootfs.to_path_buf(), p.destination.clone(), path.clone());
                let copied = tokio::task::spawn_blocking(move || {
                    berth_plugins::copyup::copy_image_content(&root, &dest, &vol)
                })
                .await
                .map_err(|e| Error::internal(e.to_string()))?;
                if let Err(e) = copied {
                    return Err(Error::new(
                        e.kind,
                        format!(
                            "copying the image's {} into volume {}: {}",
                            p.destination, p.name, e.message
                        ),
                    ));
                }
            }
            by_dest.insert(p.destination.trim_end_matches('/').to_string(), path);
        }
        Ok(by_dest)
    }

    /// Unmounts every volume container `id` has mounted (stop, kill, exit,
    /// a failed start). Errors are logged: the container is gone either way.
    pub(super) async fn unmount_volumes(&self, id: &str) {
        for name in self.volumes.mounted_by(id) {
            if let Err(e) = self.volumes.unmount(&name, id).await {
                tracing::warn!("unmounting volume {name} of {id}: {}", e.message);
            }
        }
    }

    /// At `rm`: drops the container's references; with `remove_anonymous`
    /// its anonymous volumes go too.
    pub(super) async fn release_volumes(&self, id: &str, remove_anonymous: bool) {
        for e in self.volumes.release_container(id, remove_anonymous).await {
            tracing::warn!("releasing volumes of {id}: {}", e.message);
        }
    }
}

/// The mounts for the OCI spec: binds, `--mount` and tmpfs from the host
/// config with volumes resolved through `vols` (destination → host path),
/// then the volumes no host-config entry names (the image's `VOLUME`s and
/// `-v /path`).
pub(super) fn spec_mounts(
    hc: &HostConfig,
    points: &[MountPoint],
    vols: &HashMap<String, PathBuf>,
) -> Result<Vec<ResolvedMount>> {
    let lookup = |dest: &str| vols.get(dest.trim_end_matches('/')).cloned();
    let mut mounts = spec::resolve_mounts(hc, |name, dest| {
        lookup(dest).ok_or_else(|| {
            berth_runtime::RuntimeError::InvalidParameter(format!(
                "volume {name:?} for {dest} is not mounted"
            ))
        })
    })?;
    for p in points.iter().filter(|p| p.typ == "volume") {
        if mounts
            .iter()
            .any(|m| same_path(&m.destination, &p.destination))
        {
            continue;
        }
        let Some(src) = lookup(&p.destination) else {
            continue;
        };
        mounts.push(ResolvedMount {
            destination: p.destination.clone(),
            typ: "bind".into(),
            source: src.to_string_lossy().into_owned(),
            options: vec![
                "rbind".into(),
                if p.rw { "rw" } else { "ro" }.into(),
                "rprivate".into(),
            ],
        });
    }
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(json: &str) -> HostConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn plan_orders_binds_mounts_then_image_volumes() {
        let config: ContainerConfig =
            serde_json::from_str(r#"{"Volumes":{"/data":{},"/img":{},"/t":{}}}"#).unwrap();
        let h = hc(r#"{
            "Binds":["/host:/h:ro","named:/data","n2:/x:ro,nocopy"],
            "Mounts":[{"Type":"volume","Target":"/m","VolumeOptions":{"NoCopy":true,"DriverConfig":{"Name":"drv","Options":{"a":"b"}}}},
                      {"Type":"tmpfs","Target":"/t"}],
            "VolumeDriver":"vd"}"#);
        let (points, wanted) = plan(&config, &h).unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].typ, "bind");
        assert_eq!(points[0].mode, "ro");
        assert!(!points[0].rw);
        assert_eq!(points[0].propagation, "rprivate");
        assert_eq!(points[1].typ, "tmpfs");
        let names: Vec<(&str, &str, &str)> = wanted
            .iter()
            .map(|w| (w.name.as_str(), w.destination.as_str(), w.driver.as_str()))
            .collect();
        // /data is named by -v, /t by tmpfs: only /img is anonymous.
        assert_eq!(
            names,
            vec![
                ("named", "/data", "vd"),
                ("n2", "/x", "vd"),
                ("", "/m", "drv"),
                ("", "/img", "vd")
            ]
        );
        assert_eq!(wanted[0].mode, "z");
        assert_eq!(wanted[1].mode, "ro,nocopy");
        assert!(!wanted[1].rw);
        assert_eq!(wanted[2].driver_opts.get("a").unwrap(), "b");
        assert!(no_copy(&h, "/x"));
        assert!(no_copy(&h, "/m/"));
        assert!(!no_copy(&h, "/data"));
        assert!(!no_copy(&h, "/img"));
    }

    #[test]
    fn spec_mounts_resolve_volumes_by_destination_and_add_image_volumes() {
        let h = hc(r#"{"Binds":["named:/data"]}"#);
        let points = vec![
            MountPoint {
                typ: "volume".into(),
                name: "named".into(),
                destination: "/data".into(),
                rw: true,
                ..Default::default()
            },
            MountPoint {
                typ: "volume".into(),
                name: "abc".into(),
                destination: "/img/".into(),
                rw: true,
                ..Default::default()
            },
        ];
        let mut vols = HashMap::new();
        vols.insert("/data".to_string(), PathBuf::from("/v/named/_data"));
        vols.insert("/img".to_string(), PathBuf::from("/v/abc/_data"));
        let m = spec_mounts(&h, &points, &vols).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].source, "/v/named/_data");
        assert_eq!(m[1].destination, "/img/");
        assert_eq!(m[1].source, "/v/abc/_data");
        assert_eq!(m[1].options, vec!["rbind", "rw", "rprivate"]);
        // A volume that was not mounted is an error, never a silent skip.
        let err = spec_mounts(&h, &points, &HashMap::new()).unwrap_err();
        assert!(err.message.contains("not mounted"), "{}", err.message);
    }
}
