//! Enable, disable, supervision (a crashed plugin is restarted with
//! back-off), and the plugins' part in daemon start-up and shutdown.

use super::{Entry, Plugins};
use crate::supervisor::{Backoff, Restarts};
use berth_plugins::managed;
use berth_runtime::{ExitStatus, ShimClient};
use berth_types::{Error, Result};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a stopping plugin gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long a plugin that missed the start-up wait is still waited for.
const LATE_READY: Duration = Duration::from_secs(600);

impl Plugins {
    /// Puts the plugin into the registry under its names.
    fn register(&self, e: &Entry) {
        let name = e.name();
        let sock = self.socket_path(e);
        let scope = berth_plugins::PathScope {
            rootfs: e.dir.join("rootfs"),
            propagated: (!e.config.propagated_mount.is_empty()).then(|| {
                (
                    e.config.propagated_mount.clone(),
                    super::run::propagated_dir(&e.dir),
                )
            }),
        };
        self.registry.add_named(
            &Self::registry_names(&name),
            berth_plugins::NamedEndpoint {
                endpoint: berth_plugins::Endpoint {
                    name: name.clone(),
                    addr: berth_plugins::discovery::Addr::Unix(sock.clone()),
                    tls: None,
                    source: sock,
                },
                implements: managed::subsystems(&e.config),
                scope: Some(scope),
            },
        );
    }

    fn mark_running(&self, e: &Entry, shim: &ShimClient) {
        e.set_run(|r| {
            r.status = "running".into();
            r.pid = shim.pid() as i64;
            r.started_at = super::now_rfc3339();
        });
    }

    /// `docker plugin enable`: runs the plugin and waits up to `timeout` for
    /// `Plugin.Activate`; only then is it enabled.
    pub async fn enable(self: &Arc<Self>, name: &str, timeout: Duration) -> Result<()> {
        let e = self.find(name)?;
        let _op = e.op.lock().await;
        if e.rec().enabled {
            return Err(Error::conflict(format!(
                "plugin \"{}\" is already enabled",
                e.name()
            )));
        }
        let epoch = e.bump_epoch();
        e.set_run(|r| {
            *r = Default::default();
            r.status = "starting".into();
        });
        let shim = match self.launch(&e).await {
            Ok(s) => s,
            Err(err) => {
                e.set_run(|r| {
                    r.status = "stopped".into();
                    r.last_error = err.message.clone();
                });
                return Err(err);
            }
        };
        if let Err(err) = self.wait_ready(&e, &shim, timeout).await {
            self.stop_process(&shim, Duration::from_secs(1)).await;
            e.set_run(|r| {
                r.status = "stopped".into();
                r.last_error = err.message.clone();
            });
            return Err(err);
        }
        e.rec.lock().unwrap().enabled = true;
        if let Err(err) = self.save(&e) {
            self.stop_process(&shim, STOP_GRACE).await;
            e.rec.lock().unwrap().enabled = false;
            return Err(err);
        }
        self.mark_running(&e, &shim);
        *e.shim.lock().unwrap() = Some(shim.clone());
        self.register(&e);
        tokio::spawn(self.clone().supervise(e.clone(), epoch, Some(shim)));
        self.emit("enable", &e);
        Ok(())
    }

    /// `docker plugin disable [-f]`.
    pub async fn disable(self: &Arc<Self>, name: &str, force: bool) -> Result<()> {
        let e = self.find(name)?;
        self.disable_entry(&e, force).await
    }

    pub(super) async fn disable_entry(self: &Arc<Self>, e: &Arc<Entry>, force: bool) -> Result<()> {
        let _op = e.op.lock().await;
        if !e.rec().enabled {
            return Err(Error::conflict(format!(
                "plugin \"{}\" is already disabled",
                e.name()
            )));
        }
        if !force {
            let users = self.volumes_using(e);
            if !users.is_empty() {
                return Err(Error::conflict(format!(
                    "plugin \"{}\" is in use by volume{} {}: remove {} first, or disable with --force",
                    e.name(),
                    if users.len() == 1 { "" } else { "s" },
                    users.join(", "),
                    if users.len() == 1 { "it" } else { "them" },
                )));
            }
        }
        e.rec.lock().unwrap().enabled = false;
        self.save(e)?;
        self.stop_entry(e).await;
        self.notify_disabled(e);
        self.emit("disable", e);
        Ok(())
    }

    /// Stops the plugin's process and takes it out of the registry, leaving
    /// its `enabled` flag alone. The caller holds `e.op`.
    async fn stop_entry(&self, e: &Entry) {
        e.bump_epoch();
        self.registry.remove_named(&Self::registry_names(&e.name()));
        let shim = e.shim.lock().unwrap().take();
        if let Some(shim) = shim {
            self.stop_process(&shim, STOP_GRACE).await;
        }
        let _ = std::fs::remove_dir_all(self.socket_dir(e));
        e.set_run(|r| {
            r.status = "stopped".into();
            r.pid = 0;
        });
    }

    /// Watches a running plugin; when it dies, restarts it with back-off
    /// until it is stopped on purpose (its epoch moves on).
    async fn supervise(self: Arc<Self>, e: Arc<Entry>, epoch: u64, mut shim: Option<ShimClient>) {
        let mut restarts = Restarts::new(Backoff::PLUGIN);
        loop {
            // How long the process ran; zero when the last start failed.
            let mut ran = Duration::ZERO;
            if let Some(s) = shim.take() {
                let started = Instant::now();
                let st = s.wait().await.unwrap_or(ExitStatus {
                    exit_code: 255,
                    finished_at: String::new(),
                    oom_killed: false,
                });
                if e.epoch() != epoch {
                    return;
                }
                let tail = self.log_tail(&e);
                let _ = s.cleanup().await;
                ran = started.elapsed();
                tracing::warn!(
                    "plugin {} exited with code {}; restarting it",
                    e.name(),
                    st.exit_code
                );
                e.set_run(|r| {
                    r.status = "restarting".into();
                    r.pid = 0;
                    r.last_error = format!("exited with code {}{tail}", st.exit_code);
                });
                *e.shim.lock().unwrap() = None;
            }
            restarts.wait(ran).await;
            let _op = e.op.lock().await;
            if e.epoch() != epoch {
                return;
            }
            let started = match self.launch(&e).await {
                Ok(s) => s,
                Err(err) => {
                    tracing::warn!("restarting plugin {}: {}", e.name(), err.message);
                    e.set_run(|r| r.last_error = err.message.clone());
                    continue;
                }
            };
            e.set_run(|r| r.restart_count += 1);
            self.mark_running(&e, &started);
            *e.shim.lock().unwrap() = Some(started.clone());
            // A fresh client: the old one's breaker may be open.
            self.register(&e);
            shim = Some(started);
        }
    }

    /// Daemon start-up: starts every enabled plugin, waiting for each at
    /// most `start_wait` (all at once, so the whole wait is bounded by it).
    /// A plugin not ready by then stays enabled and keeps being started in
    /// the background.
    pub async fn start_enabled(self: &Arc<Self>) {
        let bound = self.opts.start_wait;
        let tasks: Vec<_> = self
            .all()
            .into_iter()
            .filter(|e| e.rec().enabled)
            .map(|e| {
                let me = self.clone();
                tokio::spawn(async move { me.start_one(e, bound).await })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    }

    async fn start_one(self: Arc<Self>, e: Arc<Entry>, bound: Duration) {
        let _op = e.op.lock().await;
        let epoch = e.bump_epoch();
        e.set_run(|r| r.status = "starting".into());
        self.register(&e);
        let shim = match self.launch(&e).await {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(
                    "plugin {} did not start: {}; retrying in the background",
                    e.name(),
                    err.message
                );
                e.set_run(|r| {
                    r.status = "restarting".into();
                    r.last_error = err.message.clone();
                });
                tokio::spawn(self.clone().supervise(e.clone(), epoch, None));
                return;
            }
        };
        *e.shim.lock().unwrap() = Some(shim.clone());
        match self.wait_ready(&e, &shim, bound).await {
            Ok(()) => {
                self.mark_running(&e, &shim);
                tracing::info!("plugin {} started", e.name());
            }
            Err(err) => {
                tracing::warn!(
                    "plugin {} not ready within {:.1}s ({}); it stays enabled and keeps starting",
                    e.name(),
                    bound.as_secs_f64(),
                    err.message
                );
                e.set_run(|r| {
                    r.pid = shim.pid() as i64;
                    r.last_error = err.message.clone();
                });
                // Marked running when it does answer (a crash meanwhile is
                // the supervisor's business).
                let (me, e2, s2) = (self.clone(), e.clone(), shim.clone());
                tokio::spawn(async move {
                    let ready = me.wait_ready(&e2, &s2, LATE_READY).await.is_ok();
                    if ready && e2.epoch() == epoch {
                        me.mark_running(&e2, &s2);
                        tracing::info!("plugin {} started (late)", e2.name());
                    }
                });
            }
        }
        tokio::spawn(self.clone().supervise(e.clone(), epoch, Some(shim)));
    }

    /// Daemon shutdown: stops every running plugin (they stay enabled and
    /// start again with the daemon). Errors are logged, never fatal.
    pub async fn shutdown(self: &Arc<Self>) {
        let tasks: Vec<_> = self
            .all()
            .into_iter()
            .filter(|e| e.rec().enabled)
            .map(|e| {
                let me = self.clone();
                tokio::spawn(async move {
                    let _op = e.op.lock().await;
                    me.stop_entry(&e).await;
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    }
}
