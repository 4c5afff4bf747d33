//! Starting a container, watching it exit, and the restart policy.

use super::net::NetPlan;
use super::{Containers, Live};
use berth_api::containers::Changed;
use berth_core::containers::ContainerRecord;
use berth_core::lifecycle::{Move, Status, Step};
use berth_runtime::spec::{self, EtcFiles, ResolvedMount, SpecOptions};
use berth_runtime::{ExitStatus, ShimClient, ShimConfig};
use berth_types::{Error, Result};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Shared = Arc<Mutex<ContainerRecord>>;

impl Containers {
    pub async fn start(self: &Arc<Self>, reference: &str) -> Result<Changed> {
        let c = self.store.get(reference)?;
        let id = c.lock().unwrap().id.clone();
        let live = self.live(&id);
        let _op = live.op.lock().await;
        let rec = c.lock().unwrap().clone();
        if rec.transition(Move::Start)? == Step::Unchanged {
            return Ok(Changed::No);
        }
        self.store.update(&c, |r| r.manually_stopped = false)?;
        self.start_locked(&c, &live).await?;
        Ok(Changed::Yes)
    }

    /// Where a container's rootfs is mounted: outside the shim's state dir,
    /// so removing that dir can never reach into a mounted rootfs.
    pub(super) fn rootfs_dir(&self, id: &str) -> std::path::PathBuf {
        self.exec_root.join("rootfs").join(&id[..id.len().min(24)])
    }

    /// Unmounts a container's rootfs if it is mounted.
    pub(super) async fn unmount_rootfs(&self, rec: &ContainerRecord) {
        let dir = self.rootfs_dir(&rec.id);
        let _ = tokio::task::spawn_blocking(move || {
            if berth_core::mountinfo::is_mountpoint(&dir) {
                if let Err(e) = berth_image::snapshot::unmount_rootfs(&dir) {
                    tracing::warn!("unmounting {}: {e}", dir.display());
                    return;
                }
            }
            let _ = std::fs::remove_dir(&dir);
        })
        .await;
    }

    /// Starts the container; the caller holds `live.op`. Boxed because the
    /// exit monitor it spawns may start the container again (restart policy).
    pub(super) fn start_locked<'a>(
        self: &'a Arc<Self>,
        c: &'a Shared,
        live: &'a Arc<Live>,
    ) -> futures_util::future::BoxFuture<'a, Result<()>> {
        Box::pin(self.start_locked_inner(c, live))
    }

    async fn start_locked_inner(self: &Arc<Self>, c: &Shared, live: &Arc<Live>) -> Result<()> {
        let rec = c.lock().unwrap().clone();
        // Every path here (start, restart, the restart policy, daemon
        // start-up) is a start: refused while the container is removed.
        rec.transition(Move::Start)?;
        match self.try_start(&rec, live).await {
            Ok(shim) => {
                let pid = shim.pid();
                let nanos = super::now_nanos();
                let rec = self.store.update(c, |r| {
                    r.apply(Move::Started);
                    r.state.pid = pid as i64;
                    r.state.started_at = berth_types::timestamp::format_nanos(nanos);
                    r.state.exit_code = 0;
                    r.state.error.clear();
                    r.state.oom_killed = false;
                    r.has_been_started = true;
                    r.started_nanos = nanos as i64;
                    r.clone()
                })?;
                *live.shim.lock().unwrap() = Some(shim.clone());
                self.emit(&rec, "start", &[]);
                let me = self.clone();
                let live = live.clone();
                tokio::spawn(async move {
                    let st = match shim.wait().await {
                        Ok(st) => st,
                        Err(e) => {
                            tracing::warn!("waiting for {}: {e}", shim.id());
                            ExitStatus {
                                exit_code: 255,
                                finished_at: super::now_rfc3339(),
                                oom_killed: false,
                            }
                        }
                    };
                    me.handle_exit(&rec.id, &live, Some(shim), st).await;
                });
                Ok(())
            }
            Err(e) => {
                self.unmount_volumes(&rec.id).await;
                self.detach_network(&rec.id).await;
                self.unmount_rootfs(&rec).await;
                let (e, code) = super::start_error::translate(&rec.path, e);
                let _ = self.store.update(c, |r| {
                    r.state.error = e.message.clone();
                    r.state.exit_code = code;
                    if r.status() == Status::Restarting {
                        r.apply(Move::Exited);
                    }
                });
                // Attaches waiting for this start get nothing: close them;
                // waiters see the failed start as an exit, and --rm applies.
                live.pending.lock().unwrap().clear();
                *live.last_exit.lock().unwrap() = code;
                live.exits.send_modify(|n| *n += 1);
                if rec.host_config.auto_remove {
                    self.auto_remove(rec.id.clone());
                }
                Err(e)
            }
        }
    }

    async fn try_start(&self, rec: &ContainerRecord, live: &Arc<Live>) -> Result<ShimClient> {
        let entry = self.runtimes.read().unwrap().get(&rec.runtime)?.clone();
        let data_dir = self.store.dir_of(&rec.id);
        let hc = &rec.host_config;
        let rootfs = self.mount_rootfs(rec).await?;

        // Volumes: mounted with this container's ID, filled from the image
        // on the first start; a plugin still starting is waited for.
        let vols = self
            .mount_volumes(
                &rec.id,
                &rec.mounts,
                hc,
                !rec.has_been_started,
                &rootfs,
                Some(super::volumes::PLUGIN_WAIT),
            )
            .await?;
        let mut mounts = super::volumes::spec_mounts(hc, &rec.mounts, &vols)?;
        super::workdir::ensure_working_dir(&rootfs, &rec.config.working_dir, &mounts)?;
        let net = self.attach_network(rec).await?;
        let (hostname, etc) = self.etc_files(rec, &net, &data_dir).await?;
        for m in etc {
            if !mounts.iter().any(|x| x.destination == m.destination) {
                mounts.push(m);
            }
        }
        let init_path = if hc.init == Some(true) {
            Some(spec::find_init_binary().ok_or_else(|| {
                Error::invalid("--init: no docker-init or tini-static binary found on this host")
            })?)
        } else {
            None
        };
        let mut config = rec.config.clone();
        config.hostname = hostname;
        let spec = spec::build_spec(
            &config,
            hc,
            &SpecOptions {
                id: rec.id.clone(),
                rootfs: rootfs.clone(),
                mounts,
                init_path,
                netns_path: net.att.netns_path.clone(),
                default_private_cgroupns: spec::host_is_cgroup_v2(),
            },
        )?;
        self.launch_shim(rec, entry, &spec, live).await
    }

    /// The rootfs: the image's layers plus this container's upper dir,
    /// mounted where [`Self::rootfs_dir`] says.
    async fn mount_rootfs(&self, rec: &ContainerRecord) -> Result<std::path::PathBuf> {
        let m = self.images.prepare_rootfs(&rec.image_id, &rec.id)?;
        let rootfs = self.rootfs_dir(&rec.id);
        let dir = rootfs.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            std::fs::create_dir_all(&dir)?;
            if !berth_core::mountinfo::is_mountpoint(&dir) {
                berth_image::snapshot::mount_rootfs(&m, &dir)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
        Ok(rootfs)
    }

    /// The container's hostname, and its /etc/hosts, hostname and
    /// resolv.conf (its own, or those of the container whose network it
    /// shares).
    async fn etc_files(
        &self,
        rec: &ContainerRecord,
        net: &NetPlan,
        data_dir: &std::path::Path,
    ) -> Result<(String, Vec<ResolvedMount>)> {
        let hc = &rec.host_config;
        let hostname = if let (true, Some(h)) = (rec.config.hostname.is_empty(), &net.hostname) {
            h.clone()
        } else if rec.config.hostname.is_empty() {
            rec.short_id().to_string()
        } else {
            rec.config.hostname.clone()
        };
        let host_resolv = tokio::fs::read_to_string("/etc/resolv.conf")
            .await
            .unwrap_or_default();
        let dns = if net.att.nameservers.is_empty() {
            hc.dns.clone()
        } else {
            net.att.nameservers.clone()
        };
        let mut dns_options = hc.dns_options.clone();
        dns_options.extend(net.att.dns_options.iter().cloned());
        let etc = match &net.shared_etc {
            Some(m) => m.clone(),
            None => spec::write_etc_files(
                data_dir,
                &EtcFiles {
                    hostname: &hostname,
                    domainname: &rec.config.domainname,
                    extra_hosts: hc.extra_hosts.as_deref().unwrap_or(&[]),
                    dns: &dns,
                    dns_search: &hc.dns_search,
                    dns_options: &dns_options,
                    addresses: &net.att.addresses,
                },
                &host_resolv,
            )?,
        };
        self.host_mode_resolv(rec, data_dir, &host_resolv)?;
        Ok((hostname, etc))
    }

    /// Writes the bundle and the shim's config, starts the shim, hands it
    /// the attaches waiting for this start, then starts the process.
    async fn launch_shim(
        &self,
        rec: &ContainerRecord,
        entry: berth_runtime::RuntimeEntry,
        spec: &oci_spec::runtime::Spec,
        live: &Arc<Live>,
    ) -> Result<ShimClient> {
        let paths = self.paths(&rec.id, &entry.name);
        let data_dir = self.store.dir_of(&rec.id);
        let hc = &rec.host_config;
        berth_runtime::shim::write_bundle(&paths.bundle, spec)
            .map_err(|e| Error::internal(format!("writing the OCI bundle: {e}")))?;
        let cfg = ShimConfig::for_container(&rec.id, entry, &paths, &rec.config, hc)?;
        // Kept beside the record, so logs stay readable after the shim is gone.
        berth_core::atomic::write_json(&data_dir.join("shim.json"), &cfg)
            .map_err(|e| Error::internal(format!("saving the shim config: {e}")))?;
        let shim = ShimClient::create(&self.exe, cfg).await?;

        // Attaches made before this start get their streams before the
        // process runs, so they miss nothing.
        let pending: Vec<_> = std::mem::take(&mut *live.pending.lock().unwrap());
        for p in pending {
            p.connect(&shim).await;
        }
        if let Err(e) = shim.start().await {
            let _ = shim.kill(libc::SIGKILL).await;
            let _ = shim.wait().await;
            let _ = shim.cleanup().await;
            return Err(e.into());
        }
        Ok(shim)
    }

    /// Records an exit: state, events, waiters, then the restart policy or
    /// `--rm`.
    pub(super) async fn handle_exit(
        self: &Arc<Self>,
        id: &str,
        live: &Arc<Live>,
        shim: Option<ShimClient>,
        st: ExitStatus,
    ) {
        let Ok(c) = self.store.get(id) else {
            return;
        };
        let rec = c.lock().unwrap().clone();
        self.unmount_volumes(id).await;
        self.detach_network(id).await;
        self.unmount_rootfs(&rec).await;
        if let Some(shim) = &shim {
            if let Err(e) = shim.cleanup().await {
                tracing::debug!("shim cleanup for {id}: {e}");
            }
        }
        let now = super::now_nanos() as i64;
        let exec_secs = if rec.started_nanos > 0 {
            ((now - rec.started_nanos).max(0) / 1_000_000_000).to_string()
        } else {
            "0".to_string()
        };
        let Ok(rec) = self.store.update(&c, |r| {
            r.apply(Move::Exited);
            r.state.exit_code = st.exit_code as i64;
            r.state.finished_at = if st.finished_at.is_empty() {
                super::now_rfc3339()
            } else {
                st.finished_at.clone()
            };
            r.state.oom_killed = st.oom_killed;
            r.clone()
        }) else {
            return;
        };
        *live.shim.lock().unwrap() = None;
        if st.oom_killed {
            self.emit(&rec, "oom", &[]);
        }
        self.emit(
            &rec,
            "die",
            &[
                ("exitCode", st.exit_code.to_string()),
                ("execDuration", exec_secs),
            ],
        );
        *live.last_exit.lock().unwrap() = st.exit_code as i64;
        live.exits.send_modify(|n| *n += 1);

        let ran = Duration::from_nanos((now - rec.started_nanos).max(0) as u64);
        if self.should_restart(&rec) {
            self.schedule_restart(&c, live, rec, ran);
        } else if rec.host_config.auto_remove {
            self.auto_remove(rec.id.clone());
        }
    }

    /// The restart policy's next start, after the supervisor's back-off,
    /// unless the container was stopped or removed meanwhile.
    fn schedule_restart(
        self: &Arc<Self>,
        c: &Shared,
        live: &Arc<Live>,
        rec: ContainerRecord,
        ran: Duration,
    ) {
        let delay = live.restarts.lock().unwrap().next_delay(ran);
        let _ = self.store.update(c, |r| r.apply(Move::ScheduleRestart));
        let me = self.clone();
        let live = live.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _op = live.op.lock().await;
            let Ok(c) = me.store.get(&rec.id) else { return };
            let still = {
                let r = c.lock().unwrap();
                r.status() == Status::Restarting && !r.manually_stopped
            };
            if !still {
                return;
            }
            let _ = me.store.update(&c, |r| r.restart_count += 1);
            if let Err(e) = me.start_locked(&c, &live).await {
                tracing::warn!("restarting {}: {}", rec.short_id(), e.message);
            }
        });
    }

    /// `--rm`: removes the container (and its anonymous volumes) in the
    /// background.
    fn auto_remove(self: &Arc<Self>, id: String) {
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.remove(&id, true, true).await {
                tracing::warn!("auto-removing {id}: {}", e.message);
            }
        });
    }

    fn should_restart(&self, rec: &ContainerRecord) -> bool {
        if rec.manually_stopped || rec.status() == Status::Removing {
            return false;
        }
        let p = &rec.host_config.restart_policy;
        match p.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => {
                rec.state.exit_code != 0
                    && (p.maximum_retry_count == 0 || rec.restart_count < p.maximum_retry_count)
            }
            _ => false,
        }
    }

    /// After a daemon start: reconnect to the shims of running containers,
    /// record exits that happened while the daemon was away, and start the
    /// containers whose restart policy asks for it.
    pub async fn restore(self: &Arc<Self>) {
        for c in self.store.handles() {
            let rec = c.lock().unwrap().clone();
            let live = self.live(&rec.id);
            if rec.state.running {
                let state_dir = self.paths(&rec.id, &rec.runtime).state_dir;
                let found = match ShimClient::open(&state_dir).await {
                    Ok(shim) => match shim.status().await {
                        Ok(berth_runtime::client::ShimStatus::Running(_))
                        | Ok(berth_runtime::client::ShimStatus::Created(_)) => Ok(shim),
                        Ok(berth_runtime::client::ShimStatus::Exited(st)) => Err((Some(shim), st)),
                        Err(_) => Err((Some(shim), lost())),
                    },
                    Err(_) => Err((None, lost())),
                };
                match found {
                    Ok(shim) => {
                        tracing::info!("reconnected to running container {}", rec.short_id());
                        *live.shim.lock().unwrap() = Some(shim.clone());
                        let me = self.clone();
                        let id = rec.id.clone();
                        tokio::spawn(async move {
                            let st = shim.wait().await.unwrap_or_else(|_| lost());
                            me.handle_exit(&id, &live, Some(shim), st).await;
                        });
                    }
                    Err((shim, st)) => {
                        tracing::info!(
                            "container {} exited while the daemon was down",
                            rec.short_id()
                        );
                        // Inline, so the state is right once the API
                        // answers. Unmounting a plugin volume here costs at
                        // most the plugin's activation window.
                        self.handle_exit(&rec.id, &live, shim, st).await;
                    }
                }
            } else if rec.has_been_started
                && !rec.manually_stopped
                && matches!(
                    rec.host_config.restart_policy.name.as_str(),
                    "always" | "unless-stopped"
                )
            {
                // In the background: a volume plugin this container needs
                // may still be starting, and start-up never waits on it.
                let me = self.clone();
                tokio::spawn(async move {
                    let _op = live.op.lock().await;
                    if let Err(e) = me.start_locked(&c, &live).await {
                        tracing::warn!("restarting {} at start-up: {}", rec.short_id(), e.message);
                    }
                });
            }
        }
    }
}

/// The exit of a container whose shim vanished without a record.
fn lost() -> ExitStatus {
    ExitStatus {
        exit_code: 255,
        finished_at: super::now_rfc3339(),
        oom_killed: false,
    }
}
